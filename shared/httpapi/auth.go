package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
)

// Principal is the authenticated caller.
type Principal struct {
	User account.User
	// Session is the refresh-token family of the access token.
	Session string
	// Region is the org's default region from the token: it reads phone
	// numbers without a country code.
	Region string
}

// RegionOr returns the caller's region, or fallback when the token has none.
func (p Principal) RegionOr(fallback string) string {
	if p.Region != "" {
		return p.Region
	}
	return fallback
}

type ctxKey int

const (
	principalKey ctxKey = iota
	clientKey
)

// client is where a request came from, for the audit trail.
type client struct {
	IP        string
	UserAgent string
}

// BearerSecurity is the Security of every operation that needs a caller:
// the middleware verifies the bearer token of those and loads the caller.
var BearerSecurity = []map[string][]string{{"bearer": {}}}

// authenticate records the caller's address and, on operations that need
// it, verifies the bearer token and loads the caller. Tokens are checked
// locally (no KMS call); the user is re-read so a deactivated user or a
// changed role takes effect at once, and so does the closure of the org.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	ctx = huma.WithValue(ctx, clientKey, client{IP: ctx.RemoteAddr(), UserAgent: truncate(ctx.Header("User-Agent"), 256)})
	if len(ctx.Operation().Security) == 0 {
		next(ctx)
		return
	}
	token, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	if !ok {
		s.writeErr(ctx, Unauthorized())
		return
	}
	claims, err := s.cfg.Tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		s.writeErr(ctx, Unauthorized())
		return
	}
	u, err := s.cfg.Users.GetUser(ctx.Context(), claims.OrgID, claims.Subject)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !u.Active) {
		s.writeErr(ctx, Unauthorized())
		return
	}
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "load caller", "err", err)
		s.writeErr(ctx, internalProblem())
		return
	}
	// The org's closure rides on the user item just read (org_closed_at),
	// and so does the revocation of the tokens issued before it.
	if !u.OrgClosedAt.IsZero() {
		s.writeErr(ctx, OrgClosed())
		return
	}
	if !u.AccessRevokedAt.IsZero() && (claims.IssuedAt == nil || !claims.IssuedAt.After(u.AccessRevokedAt)) {
		s.writeErr(ctx, Unauthorized())
		return
	}
	next(huma.WithValue(ctx, principalKey, Principal{User: u, Session: claims.SessionID, Region: claims.Region}))
}

func (s *Server) writeErr(ctx huma.Context, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = internalProblem()
	}
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

// Caller returns the authenticated caller of the request; the zero
// Principal on operations without BearerSecurity.
func Caller(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey).(Principal)
	return p
}

func clientOf(ctx context.Context) client {
	c, _ := ctx.Value(clientKey).(client)
	return c
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ClientIP is the address the request came from ("" outside a request),
// for per-client limits; it is personal data, so hash it before storing.
func ClientIP(ctx context.Context) string { return clientOf(ctx).IP }
