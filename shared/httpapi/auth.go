package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/ratelimit"
)

// Principal is the authenticated caller.
type Principal struct {
	User account.User
	// Session is the refresh-token family of the access token.
	Session string
	// Region is the org's default region from the token: it reads phone
	// numbers without a country code.
	Region string
	// APIKey is the API key the request came with; nil for a user's
	// token. The key acts as User, a stand-in with the id
	// "api_key:<id>" (the actor of the audit trail) and the role manager,
	// limited to the routes of the key's scopes (APIKeyRoutes).
	APIKey *account.APIKey
	// Limit is the access token's limit (auth.LimitMFAEnrol), "" for none.
	Limit string
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
		if ctx.Operation().OperationID != healthOperation && !s.prepare(ctx) {
			return
		}
		next(ctx)
		return
	}
	token, ok := credential(ctx)
	if !ok {
		s.writeErr(ctx, Unauthorized())
		return
	}
	if !s.prepare(ctx) {
		return
	}
	if auth.IsAPIKey(token) {
		s.authenticateAPIKey(ctx, token, next)
		return
	}
	claims, err := s.cfg.Tokens.Verify(token)
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
	if claims.Limit != "" && !enrolOnlyOperations[ctx.Operation().OperationID] {
		s.writeErr(ctx, MFAEnrolmentRequired())
		return
	}
	if !s.takeRequest(ctx, u.OrgID, nil) {
		return
	}
	next(huma.WithValue(ctx, principalKey, Principal{User: u, Session: claims.SessionID, Region: claims.Region, Limit: claims.Limit}))
}

// prepare calls Config.Prepare (the platform secrets, loaded on first
// use); on failure it answers 500 and reports false.
func (s *Server) prepare(ctx huma.Context) bool {
	if s.cfg.Prepare == nil {
		return true
	}
	if err := s.cfg.Prepare(ctx.Context()); err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "load platform secrets", "err", err)
		s.writeErr(ctx, internalProblem())
		return false
	}
	return true
}

// APIKeyHeader carries an API key as an alternative to
// `Authorization: Bearer ll_live_...`.
const APIKeyHeader = "X-Api-Key" //nolint:gosec // G101: a header name, not a credential

// credential returns the request's bearer token or API key: the
// Authorization header's bearer token, or the X-Api-Key header, which may
// carry only an API key. A request with both, or with neither, has none.
func credential(ctx huma.Context) (string, bool) {
	authz, key := ctx.Header("Authorization"), strings.TrimSpace(ctx.Header(APIKeyHeader))
	if key != "" {
		if authz != "" || !auth.IsAPIKey(key) {
			return "", false
		}
		return key, true
	}
	token, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// takeRequest takes an authenticated request from its org's request
// bucket (on is the plan when the org was read already, else it is looked
// up); when it is empty it answers 429 plan_limit with Retry-After and
// returns false.
func (s *Server) takeRequest(ctx huma.Context, orgID string, on *plan.Plan) bool {
	if s.cfg.Plans == nil {
		return true
	}
	err := s.cfg.Plans.TakeRequest(ctx.Context(), orgID, on)
	if le, ok := plan.IsLimit(err); ok {
		p, retry := PlanLimit(le, http.StatusTooManyRequests, s.cfg.Now())
		ctx.SetHeader("Retry-After", strconv.Itoa(retry))
		s.writeErr(ctx, p)
		return false
	}
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "count request against the plan", "err", err)
		s.writeErr(ctx, internalProblem())
		return false
	}
	return true
}

// enrolOnlyOperations are what an enrol-only token (auth.LimitMFAEnrol)
// may call: read the caller, enrol and confirm two-factor sign-in.
var enrolOnlyOperations = map[string]bool{"me": true, "enrol-mfa": true, "confirm-mfa": true}

// MFAEnrolmentRequired is the problem of an owner or admin whose org
// requires two-factor sign-in before it turned it on.
func MFAEnrolmentRequired() error {
	return NewProblem(http.StatusForbidden, "mfa_enrolment_required",
		"the organisation requires two-factor sign-in of owners and admins: turn it on (POST /v1/me/mfa, then POST /v1/me/mfa/confirm) and log in again")
}

// APIKeyRoutes maps the operations an API key may call to the scope each
// needs; every other operation is 403 for a key.
var APIKeyRoutes = map[string]account.APIKeyScope{
	"create-lead": account.ScopeLeadsWrite,
	"list-leads":  account.ScopeLeadsRead,
	"get-lead":    account.ScopeLeadsRead,
}

// APIKeys finds the API key of a request, keeps each key's request bucket
// and records its use (dynamostore.Store).
type APIKeys interface {
	APIKeyByHash(ctx context.Context, hash string) (account.APIKey, error)
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
	TouchAPIKey(ctx context.Context, k account.APIKey, at time.Time, every time.Duration) error
	ratelimit.Store
}

// DefaultAPIKeyRequestsPerMinute is an API key's request limit when
// Config sets none.
const DefaultAPIKeyRequestsPerMinute = 120

// apiKeyTouchEvery is how often a key's last use is written at most.
const apiKeyTouchEvery = time.Minute

// touched remembers when this instance last wrote each key's last use, so
// a busy key costs no write per request (the store's condition keeps it to
// one a minute across instances).
type touched struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (t *touched) due(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.at[id]; ok && now.Sub(last) < apiKeyTouchEvery {
		return false
	}
	if t.at == nil || len(t.at) > 10000 {
		t.at = map[string]time.Time{}
	}
	t.at[id] = now
	return true
}

// authenticateAPIKey serves a request made with an API key: the key is
// found by its hash (one GetItem), its org must be open, the operation
// must be one of its scopes' and the key's token bucket
// (account.APIKeyBucket) must hold a request.
func (s *Server) authenticateAPIKey(ctx huma.Context, token string, next func(huma.Context)) {
	if s.cfg.APIKeys == nil {
		s.writeErr(ctx, Unauthorized())
		return
	}
	hash, err := auth.HashAPIKey(token)
	if err != nil {
		s.writeErr(ctx, Unauthorized())
		return
	}
	k, err := s.cfg.APIKeys.APIKeyByHash(ctx.Context(), hash)
	if errors.Is(err, account.ErrNotFound) {
		s.writeErr(ctx, Unauthorized())
		return
	}
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "load api key", "err", err)
		s.writeErr(ctx, internalProblem())
		return
	}
	org, err := s.cfg.APIKeys.GetOrg(ctx.Context(), k.OrgID)
	if errors.Is(err, account.ErrNotFound) {
		s.writeErr(ctx, Unauthorized())
		return
	}
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "load api key org", "err", err)
		s.writeErr(ctx, internalProblem())
		return
	}
	if org.Closed() {
		s.writeErr(ctx, OrgClosed())
		return
	}
	p := Principal{User: account.User{ID: k.ActorID(), OrgID: k.OrgID, Name: "API key", Role: account.RoleManager, Active: true},
		Region: org.DefaultRegion, APIKey: &k}
	pctx := huma.WithValue(ctx, principalKey, p)
	op := ctx.Operation().OperationID
	if scope, ok := APIKeyRoutes[op]; !ok || !k.Has(scope) {
		s.kit.Record(pctx.Context(), audit.Record{OrgID: k.OrgID, ActorID: k.ActorID(), Action: audit.ActionPermissionDenied,
			TargetType: "api_key", TargetID: k.ID, Outcome: audit.OutcomeDenied, Details: map[string]string{"attempted": op, "scope": string(scope)}})
		s.writeErr(ctx, Forbidden("the API key's scopes do not include this route"))
		return
	}
	now := s.cfg.Now()
	limit := s.cfg.APIKeyRequestsPerMinute
	if limit <= 0 {
		limit = DefaultAPIKeyRequestsPerMinute
	}
	d, err := s.keyBuckets.Take(ctx.Context(), account.APIKeyBucketKey(k.ID), account.APIKeyBucket(limit))
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "take api key request", "err", err)
		s.writeErr(ctx, internalProblem())
		return
	}
	if !d.Allowed {
		retry := max(int(math.Ceil(d.RetryAt.Sub(now).Seconds())), 1)
		ctx.SetHeader("Retry-After", strconv.Itoa(retry))
		s.writeErr(ctx, NewProblem(http.StatusTooManyRequests, "rate_limited",
			"the API key may make "+strconv.Itoa(limit)+" requests a minute; try again after the Retry-After seconds"))
		return
	}
	orgPlan := plan.Of(plan.Name(org.Plan))
	if !s.takeRequest(ctx, k.OrgID, &orgPlan) {
		return
	}
	if s.touched.due(k.ID, now) {
		if err := s.cfg.APIKeys.TouchAPIKey(ctx.Context(), k, now, apiKeyTouchEvery); err != nil {
			s.cfg.Log.ErrorContext(ctx.Context(), "touch api key", "err", err)
		}
	}
	next(pctx)
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
