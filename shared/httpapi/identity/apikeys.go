package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
)

// API keys for lead capture: an owner or admin with a verified email makes
// one (shown once), lists and revokes them. A key authenticates as
// `Authorization: Bearer ll_live_...` on the lead routes of its scopes
// (httpapi.APIKeyRoutes).

// APIKeyIn creates an API key.
type APIKeyIn struct {
	Name   string   `json:"name" minLength:"1" maxLength:"100" doc:"What the key is for (a web form, a landing page)."`
	Scopes []string `json:"scopes" minItems:"1" maxItems:"2" uniqueItems:"true" enum:"leads:write,leads:read" doc:"leads:write: POST /v1/leads; leads:read: GET /v1/leads and GET /v1/leads/{id}."`
}

// APIKeyOut is an API key as lists show it: never the key.
type APIKeyOut struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	Prefix     string     `json:"prefix" doc:"The key's first characters, to tell keys apart."`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at" doc:"Updated at most once a minute; null until first used."`
}

// NewAPIKeyOut is a new key: the key itself is shown only now.
type NewAPIKeyOut struct {
	APIKeyOut
	Key string `json:"key" doc:"ll_live_...: send it as Authorization: Bearer <key>. Shown only now; only a hash is stored."`
}

// APIKeyList is the org's keys, newest first.
type APIKeyList struct {
	Items []APIKeyOut `json:"items"`
}

func apiKeyOut(k account.APIKey) APIKeyOut {
	scopes := make([]string, 0, len(k.Scopes))
	for _, sc := range k.Scopes {
		scopes = append(scopes, string(sc))
	}
	out := APIKeyOut{ID: k.ID, Name: k.Name, Scopes: scopes, Prefix: k.Prefix, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt}
	if !k.LastUsedAt.IsZero() {
		at := k.LastUsedAt
		out.LastUsedAt = &at
	}
	return out
}

func (s *server) registerAPIKeys(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-api-key", Method: http.MethodPost, Path: "/v1/api-keys", Tags: []string{"api-keys"},
		Summary: "Create an API key for lead capture (owner, admin; email verified)", DefaultStatus: http.StatusCreated,
		Description: "The key is in this answer only. It authenticates as Authorization: Bearer ll_live_... on the routes of its scopes (others are 403), acts in the audit trail as api_key:<id>, creates leads with source api unless the body names one, and may make a limited number of requests a minute (429 rate_limited with Retry-After over it). The caller's own email must be verified (403 email_unverified).",
		Security:    httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.createAPIKey)
	huma.Register(api, huma.Operation{
		OperationID: "list-api-keys", Method: http.MethodGet, Path: "/v1/api-keys", Tags: []string{"api-keys"},
		Summary: "List the organisation's API keys (owner, admin)", Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.listAPIKeys)
	huma.Register(api, huma.Operation{
		OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/v1/api-keys/{id}", Tags: []string{"api-keys"},
		Summary: "Revoke an API key at once (owner, admin)", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.revokeAPIKey)
}

func (s *server) createAPIKey(ctx context.Context, in *struct{ Body APIKeyIn }) (*struct {
	Status int
	Body   NewAPIKeyOut
}, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, audit.ActionAPIKeyCreate, "api_key", "", "only an owner or admin can create API keys")
	}
	if !p.User.CanManageAPIKeys() {
		s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: audit.ActionPermissionDenied, TargetType: "api_key",
			Outcome: audit.OutcomeDenied, Details: map[string]string{"attempted": audit.ActionAPIKeyCreate, "reason": "email_unverified"}})
		return nil, httpapi.NewProblem(http.StatusForbidden, "email_unverified", "verify your own email address before creating API keys (POST /v1/auth/verify-email/resend mails the link again)")
	}
	var scopes []account.APIKeyScope
	for _, sc := range in.Body.Scopes {
		scope := account.APIKeyScope(sc)
		if !scope.Valid() {
			return nil, httpapi.FieldProblem("body.scopes", "unknown scope "+sc)
		}
		scopes = append(scopes, scope)
	}
	raw, hash, prefix, err := auth.NewAPIKey()
	if err != nil {
		return nil, s.Internal(ctx, "new api key", err)
	}
	k := account.APIKey{ID: ulid.Make().String(), OrgID: p.User.OrgID, Name: strings.TrimSpace(in.Body.Name), Scopes: scopes, Prefix: prefix,
		Hash: hash, CreatedBy: p.User.ID, CreatedAt: s.Now().UTC()}
	if err := s.deps.Store.CreateAPIKey(ctx, k); err != nil {
		return nil, s.Internal(ctx, "create api key", err)
	}
	s.Record(ctx, audit.Record{OrgID: k.OrgID, ActorID: p.User.ID, Action: audit.ActionAPIKeyCreate, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"scopes": strings.Join(in.Body.Scopes, ",")}})
	return &struct {
		Status int
		Body   NewAPIKeyOut
	}{Status: http.StatusCreated, Body: NewAPIKeyOut{APIKeyOut: apiKeyOut(k), Key: raw}}, nil
}

func (s *server) listAPIKeys(ctx context.Context, _ *struct{}) (*struct{ Body APIKeyList }, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "api_key.list", "api_key", "", "only an owner or admin can see API keys")
	}
	keys, err := s.deps.Store.ListAPIKeys(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "list api keys", err)
	}
	out := &struct{ Body APIKeyList }{Body: APIKeyList{Items: make([]APIKeyOut, 0, len(keys))}}
	for _, k := range keys {
		out.Body.Items = append(out.Body.Items, apiKeyOut(k))
	}
	return out, nil
}

func (s *server) revokeAPIKey(ctx context.Context, in *struct {
	ID string `path:"id" maxLength:"64"`
}) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, audit.ActionAPIKeyRevoke, "api_key", in.ID, "only an owner or admin can revoke API keys")
	}
	k, err := s.deps.Store.GetAPIKey(ctx, p.User.OrgID, in.ID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("api key")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read api key", err)
	}
	switch err := s.deps.Store.RevokeAPIKey(ctx, k); {
	case errors.Is(err, account.ErrNotFound):
		return nil, httpapi.NotFound("api key")
	case err != nil:
		return nil, s.Internal(ctx, "revoke api key", err)
	}
	s.Record(ctx, audit.Record{OrgID: k.OrgID, ActorID: p.User.ID, Action: audit.ActionAPIKeyRevoke, TargetType: "api_key", TargetID: k.ID})
	return nil, nil
}
