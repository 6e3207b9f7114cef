// Package httpapi is the platform of the Leadluence HTTP API served by the
// api and account functions: the huma server, authentication, RFC 9457
// problems, sealed list cursors, the health route and the audit helpers
// that every area of the API shares. The areas (identity, leads,
// integrations, messaging, campaigns, ...) live in the packages below this
// one and register their own routes on the server's huma.API with a *Kit;
// functions/api/app and functions/account/app each assemble theirs
// (functions/httpfn builds the server both use). huma generates the OpenAPI 3.1 document from the Go types and
// validates every request against it; package apigw adapts the server to
// API Gateway events.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/ratelimit"
)

// Users reads the caller on every authenticated request.
type Users interface {
	GetUser(ctx context.Context, orgID, userID string) (account.User, error)
}

// Check is one dependency probe for the health route.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Config holds the platform's collaborators, built once per cold start.
type Config struct {
	// Tokens verifies access tokens; the cursor key is derived from it.
	Tokens *auth.Tokens
	// Users loads the caller of an authenticated request.
	Users Users
	// Audit stores the audit trail (Kit.Record).
	Audit audit.Recorder
	Log   *slog.Logger
	// Checks are run by GET /v1/health.
	Checks []Check
	// Now is the clock (default time.Now).
	Now func() time.Time
	// APIKeys authenticates requests made with an API key; nil refuses
	// them.
	APIKeys APIKeys
	// APIKeyRequestsPerMinute is the rate of each API key's token bucket
	// (account.APIKeyBucket; DefaultAPIKeyRequestsPerMinute when 0).
	APIKeyRequestsPerMinute int
	// Plans takes each authenticated request from its org's request
	// bucket (plan.Requests: plan.APIRequestsPerMinute); nil limits
	// nothing.
	Plans Plans
	// Clients counts the requests of each client address to the operations
	// of ClientLimits; nil counts none.
	Clients ClientCounter
	// ClientLimits are the per-client-address limits by operation id
	// (DefaultClientLimits when nil).
	ClientLimits map[string]ClientLimit
	// Part, when set, makes the server one part of an API whose routes
	// several functions serve: it serves its areas' routes only, neither
	// GET /openapi.json nor GET /v1/health (the part that has them serves
	// them).
	Part bool
	// Prepare, when set, is called before a request that may need the
	// platform secrets (Tokens' secret among them), so that a function
	// loads them on first use rather than at its cold start: before every
	// operation except the health route and a request to an operation
	// needing a caller that carries no credential (answered 401 without
	// them); never for GET /openapi.json. An error answers 500 and is
	// logged; the next request calls Prepare again.
	Prepare func(ctx context.Context) error
	// Document, when set, is what GET /openapi.json serves (JSON) instead
	// of the server's own document: the whole API's document when the
	// server serves only some of its routes.
	Document func() ([]byte, error)
}

// Plans limits an org's requests to its plan's rate (plan.Requests).
type Plans interface {
	// TakeRequest takes one request of the org under plan on (nil: the
	// org's plan); a *plan.LimitError when its bucket is empty.
	TakeRequest(ctx context.Context, orgID string, on *plan.Plan) error
}

// MaxBodyBytes bounds every request body; operations with a body set it as
// their huma MaxBodyBytes.
const MaxBodyBytes = 64 << 10

// Server is the HTTP API: an http.Handler over huma with the platform's
// routes (/openapi.json, /v1/health) and the authentication middleware.
// The areas add their routes to API() with Kit().
type Server struct {
	cfg Config
	api huma.API
	mux *http.ServeMux
	kit *Kit
	// touched limits the writes of API keys' last use.
	touched touched
	// bodyOnce sets maxBody, the largest body any operation takes.
	bodyOnce sync.Once
	maxBody  int64
	// keyBuckets limits each API key's requests (token buckets in
	// Config.APIKeys).
	keyBuckets *ratelimit.Limiter
}

func init() {
	huma.NewError = newProblem
}

// New builds the server with the platform's routes; the areas register
// theirs afterwards.
func New(c Config) *Server {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ClientLimits == nil {
		c.ClientLimits = DefaultClientLimits
	}
	cfg := huma.DefaultConfig("Leadluence API", "1.0.0")
	// No docs UI, no schema links in bodies, no extra routes: the API serves
	// exactly the routes in infra/topology.
	cfg.DocsPath, cfg.SchemasPath, cfg.OpenAPIPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Lead management for businesses: accounts, access control, audit trail and leads."
	cfg.Info.License = &huma.License{Name: "Proprietary", Identifier: "LicenseRef-Leadluence-Proprietary"}
	// The document is served by the API it describes, at its root (the
	// stage's base URL, or http://127.0.0.1:8080 under make dev).
	cfg.Servers = []*huma.Server{{URL: "/", Description: "The API serving this document: paths are relative to its base URL."}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "A user's access token (a JWT), or an API key (ll_live_...) on the lead routes its scopes allow."},
		"apiKey": {Type: "apiKey", In: "header", Name: APIKeyHeader,
			Description: "An API key (ll_live_...), instead of Authorization: Bearer, on the lead routes its scopes allow; not with an Authorization header."},
	}
	cfg.OnAddOperation = append(cfg.OnAddOperation, documentPlatformResponses)
	mux := http.NewServeMux()
	s := &Server{cfg: c, mux: mux, api: humago.New(mux, cfg),
		kit: &Kit{audit: c.Audit, log: c.Log, now: c.Now, tokens: c.Tokens}}
	if c.APIKeys != nil {
		s.keyBuckets = &ratelimit.Limiter{Store: c.APIKeys, Now: c.Now}
	}
	s.api.UseMiddleware(s.authenticate, s.limitClients)
	if !c.Part {
		mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
		s.registerHealth()
	}
	return s
}

// PublicSecurity is the Security of every operation that needs no caller
// (sign-up, login, health, ...): an explicit empty list, so the document
// says `security: []` rather than leaving it unsaid.
var PublicSecurity = []map[string][]string{}

// GatewayThrottled is the answer of API Gateway when a stage or route
// throttle refuses a request (infra/topology HTTPAPI), before the api runs.
type GatewayThrottled struct {
	Message string `json:"message" example:"Too Many Requests"`
}

// documentPlatformResponses adds to an operation what the platform answers
// on every route besides the operation's own: 401 when it needs a bearer
// token (the authenticate middleware) and 429 when the gateway's throttle
// refuses the request. An operation that declares its own 401 or 429 keeps
// it.
func documentPlatformResponses(oapi *huma.OpenAPI, op *huma.Operation) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	if len(op.Security) > 0 && op.Responses["401"] == nil {
		// The problem+json content of the operation's own errors.
		codes := slices.Sorted(maps.Keys(op.Responses))
		for _, code := range codes {
			if r := op.Responses[code]; r != nil && r.Content["application/problem+json"] != nil {
				op.Responses["401"] = &huma.Response{
					Description: "No valid bearer token, or the caller's account is inactive",
					Content:     map[string]*huma.MediaType{"application/problem+json": r.Content["application/problem+json"]},
				}
				break
			}
		}
	}
	if _, ok := APIKeyRoutes[op.OperationID]; ok && len(op.Security) > 0 {
		// A route an API key may call takes it in either header.
		op.Security = append(slices.Clone(op.Security), map[string][]string{"apiKey": {}})
	}
	if op.Responses["429"] == nil {
		op.Responses["429"] = &huma.Response{
			Description: "Throttled by the API's gateway (stage or route throttle); retry later",
			Content: map[string]*huma.MediaType{"application/json": {
				Schema: oapi.Components.Schemas.Schema(reflect.TypeOf(GatewayThrottled{}), true, ""),
			}},
		}
	}
}

// API is the huma API the areas register their operations on.
func (s *Server) API() huma.API { return s.api }

// Kit is the platform's helpers for the areas' handlers.
func (s *Server) Kit() *Kit { return s.kit }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Log.ErrorContext(r.Context(), "panic serving request", "route", r.Method+" "+r.URL.Path, "panic", v)
			writeProblem(w, internalProblem())
		}
	}()
	if limit := s.bodyLimit(); r.ContentLength > limit {
		writeProblem(w, NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d KiB", limit>>10)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// bodyLimit is the largest body any operation takes (at least
// MaxBodyBytes): a body over it is refused before it is routed, and huma
// holds each operation to its own MaxBodyBytes (the CSV imports take
// files of megabytes, every other body at most MaxBodyBytes).
func (s *Server) bodyLimit() int64 {
	s.bodyOnce.Do(func() {
		s.maxBody = MaxBodyBytes
		for _, item := range s.api.OpenAPI().Paths {
			for _, op := range []*huma.Operation{item.Post, item.Put, item.Patch, item.Delete} {
				if op != nil {
					s.maxBody = max(s.maxBody, op.MaxBodyBytes)
				}
			}
		}
	})
	return s.maxBody
}

// OpenAPI returns the generated OpenAPI document of the server's own
// routes (with Config.Part, not the whole API's).
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Routes returns "METHOD /path" for every route the server answers.
func (s *Server) Routes() []string {
	var out []string
	if !s.cfg.Part {
		out = append(out, "GET /openapi.json")
	}
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

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Document != nil {
		b, err := s.cfg.Document()
		if err != nil {
			s.cfg.Log.ErrorContext(r.Context(), "openapi document", "err", err)
			writeProblem(w, internalProblem())
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oai.openapi+json")
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.oai.openapi+json")
	_ = json.NewEncoder(w).Encode(s.api.OpenAPI())
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
