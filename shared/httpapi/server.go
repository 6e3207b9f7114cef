// Package httpapi is the Leadluence HTTP API served by the api function:
// accounts, access control, the audit trail and leads. It is a plain
// http.Handler built with huma, which generates the OpenAPI 3.1 document
// from the Go types and validates every request against it; package apigw
// adapts it to API Gateway events.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/watemplate"
)

// Store is what the API needs from storage.
type Store interface {
	CreateOrg(ctx context.Context, o account.Org, owner account.User) error
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
	CreateUser(ctx context.Context, u account.User) error
	GetUser(ctx context.Context, orgID, userID string) (account.User, error)
	GetUserByEmail(ctx context.Context, email string) (account.User, error)
	ListUsers(ctx context.Context, orgID string) ([]account.User, error)
	UpdateUser(ctx context.Context, u account.User) error

	StartSession(ctx context.Context, t account.RefreshToken, familyExpires time.Time) error
	GetRefreshToken(ctx context.Context, id string) (account.RefreshToken, bool, error)
	RotateRefreshToken(ctx context.Context, old, next account.RefreshToken) error
	RevokeSession(ctx context.Context, userID, familyID string) error
	RevokeAllSessions(ctx context.Context, userID string) error

	LoginFailures(ctx context.Context, emailHash string) (int, time.Time, error)
	RecordLoginFailure(ctx context.Context, emailHash string, window time.Duration) error
	ClearLoginFailures(ctx context.Context, emailHash string) error

	CreateLead(ctx context.Context, l lead.Lead) error
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	UpdateLead(ctx context.Context, old, next lead.Lead) error
	DeleteLead(ctx context.Context, l lead.Lead) error
	ListLeads(ctx context.Context, orgID string, f lead.Filter, limit int, from page.Cursor) (lead.Page, error)

	audit.Recorder
	ListAudit(ctx context.Context, orgID string, limit int, from page.Cursor) ([]audit.Record, page.Cursor, error)
}

// Check is one dependency probe for the health route.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Deps are the API's collaborators, built once per cold start.
type Deps struct {
	Store  Store
	Tokens *auth.Tokens
	Log    *slog.Logger
	// Checks are run by GET /v1/health.
	Checks []Check
	// DefaultRegion reads phones without a country code (ISO 3166, "IN").
	DefaultRegion string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Integrations, when set, serves the Meta integration routes.
	Integrations *IntegrationDeps
	// Automations, when set, serves the automation settings routes.
	Automations AutomationStore
	// Messaging, when set, serves sending, conversations and templates.
	Messaging *MessagingDeps
	// EmailSender, when set, serves the org's own sender address, which
	// emails then go from once SES has verified it.
	EmailSender *EmailSenderDeps
}

// Login throttling: after this many failures for one email inside the
// window, logins for it answer 429 until the window ends.
const (
	maxLoginFailures = 5
	loginWindow      = 15 * time.Minute
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// Server is the HTTP API.
type Server struct {
	deps    Deps
	api     huma.API
	mux     *http.ServeMux
	cursors cursorCodec
	// templates checks template sends (with Deps.Messaging).
	templates *watemplate.Catalog
	// campaigns runs campaign pages (when the messaging store stores
	// campaigns).
	campaigns *campaign.Pages
}

func init() {
	huma.NewError = newProblem
}

// New builds the API and registers every route.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.DefaultRegion == "" {
		d.DefaultRegion = "IN"
	}
	cfg := huma.DefaultConfig("Leadluence API", "1.0.0")
	// No docs UI, no schema links in bodies, no extra routes: the API serves
	// exactly the routes in infra/topology.
	cfg.DocsPath, cfg.SchemasPath, cfg.OpenAPIPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Lead management for businesses: accounts, access control, audit trail and leads."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	mux := http.NewServeMux()
	s := &Server{deps: d, mux: mux, api: humago.New(mux, cfg), cursors: cursorCodec{key: d.Tokens.Derive("cursor")}}
	if d.Messaging != nil {
		s.templates = newCatalog(d.Messaging, d.Now)
	}
	s.api.UseMiddleware(s.authenticate)
	mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	s.registerHealth()
	s.registerAuth()
	s.registerUsers()
	s.registerLeads()
	s.registerAudit()
	s.registerIntegrations()
	s.registerMessaging()
	s.registerCampaigns()
	s.registerAutomations()
	s.registerEmailSender()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.deps.Log.ErrorContext(r.Context(), "panic serving request", "route", r.Method+" "+r.URL.Path, "panic", v)
			writeProblem(w, internalProblem())
		}
	}()
	if r.ContentLength > maxBodyBytes {
		writeProblem(w, problem(http.StatusRequestEntityTooLarge, "body_too_large", "request body over 64 KiB"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// OpenAPI returns the generated OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Routes returns "METHOD /path" for every route the server answers.
func (s *Server) Routes() []string {
	out := []string{"GET /openapi.json"}
	for path, item := range s.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{
			"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete,
		} {
			if op != nil {
				out = append(out, method+" "+path)
			}
		}
	}
	return out
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/vnd.oai.openapi+json")
	_ = json.NewEncoder(w).Encode(s.api.OpenAPI())
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// principal is the authenticated caller.
type principal struct {
	User    account.User
	Session string
	Region  string
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

var bearerSecurity = []map[string][]string{{"bearer": {}}}

// authenticate records the caller's address and, on operations that need
// it, verifies the bearer token and loads the caller. Tokens are checked
// locally (no KMS call); the user is re-read so a deactivated user or a
// changed role takes effect at once.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	ctx = huma.WithValue(ctx, clientKey, client{IP: ctx.RemoteAddr(), UserAgent: truncate(ctx.Header("User-Agent"), 256)})
	if len(ctx.Operation().Security) == 0 {
		next(ctx)
		return
	}
	token, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	if !ok {
		s.writeErr(ctx, errUnauthorized())
		return
	}
	claims, err := s.deps.Tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		s.writeErr(ctx, errUnauthorized())
		return
	}
	u, err := s.deps.Store.GetUser(ctx.Context(), claims.OrgID, claims.Subject)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !u.Active) {
		s.writeErr(ctx, errUnauthorized())
		return
	}
	if err != nil {
		s.deps.Log.ErrorContext(ctx.Context(), "load caller", "err", err)
		s.writeErr(ctx, errInternal())
		return
	}
	next(huma.WithValue(ctx, principalKey, principal{User: u, Session: claims.SessionID, Region: claims.Region}))
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

func caller(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey).(principal)
	return p
}

func clientOf(ctx context.Context) client {
	c, _ := ctx.Value(clientKey).(client)
	return c
}

// record appends to the audit trail. A failure to audit is logged, never
// hidden, but does not undo the action that already happened.
func (s *Server) record(ctx context.Context, r audit.Record) {
	c := clientOf(ctx)
	r.ID = ulid.Make().String()
	r.At = s.deps.Now().UTC()
	r.SourceIP, r.UserAgent = c.IP, c.UserAgent
	if r.Outcome == "" {
		r.Outcome = audit.OutcomeSuccess
	}
	if err := s.deps.Store.AppendAudit(ctx, r); err != nil {
		s.deps.Log.ErrorContext(ctx, "append audit", "action", r.Action, "err", err)
	}
}

// deny records a permission denial and returns the 403 problem.
func (s *Server) deny(ctx context.Context, action, targetType, targetID, why string) error {
	p := caller(ctx)
	s.record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: audit.ActionPermissionDenied,
		TargetType: targetType, TargetID: targetID, Outcome: audit.OutcomeDenied,
		Details: map[string]string{"attempted": action, "role": string(p.User.Role)}})
	return errForbidden(why)
}

// internal logs an unexpected error and returns a bland 500.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	s.deps.Log.ErrorContext(ctx, what, "err", err)
	return errInternal()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
