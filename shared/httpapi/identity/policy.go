package identity

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/policy"
)

// PolicyService is what the policy routes need of policy.Service.
type PolicyService interface {
	Versions(ctx context.Context) (current, upcoming *policy.Version, err error)
	Notice(ctx context.Context, u account.User) (*policy.Version, error)
	Acknowledge(ctx context.Context, u account.User, versionID string) error
}

// PolicyVersionOut is a privacy policy version.
type PolicyVersionOut struct {
	Version     string    `json:"version"`
	Effective   string    `json:"effective" doc:"The day it applies from (YYYY-MM-DD, UTC)."`
	Summary     string    `json:"summary" doc:"What changed."`
	PublishedAt time.Time `json:"published_at"`
}

// PolicyOut is the privacy policy version in force and the upcoming one.
type PolicyOut struct {
	Current  *PolicyVersionOut `json:"current" doc:"The version in force; null before the first applies."`
	Upcoming *PolicyVersionOut `json:"upcoming" doc:"The next version, published at least 14 days before it applies; null when none."`
}

// PolicyAcknowledgementIn acknowledges a version.
type PolicyAcknowledgementIn struct {
	Version string `json:"version" minLength:"1" maxLength:"32"`
}

func policyVersionOut(v *policy.Version) *PolicyVersionOut {
	if v == nil {
		return nil
	}
	return &PolicyVersionOut{Version: v.ID, Effective: v.Effective.UTC().Format(policy.DateLayout), Summary: v.Summary, PublishedAt: v.PublishedAt}
}

func (s *server) registerPolicy(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-policy", Method: http.MethodGet, Path: "/v1/policy", Tags: []string{"policy"}, Security: httpapi.PublicSecurity,
		Summary: "The privacy policy version in force and the upcoming one",
	}, s.getPolicy)
	huma.Register(api, huma.Operation{
		OperationID: "acknowledge-policy", Method: http.MethodPost, Path: "/v1/me/policy-acknowledgement", Tags: []string{"policy"},
		Summary: "Acknowledge a privacy policy version for the caller's organisation (owner only)", DefaultStatus: http.StatusNoContent,
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.acknowledgePolicy)
}

func (s *server) getPolicy(ctx context.Context, _ *struct{}) (*struct{ Body PolicyOut }, error) {
	cur, next, err := s.deps.Policy.Versions(ctx)
	if err != nil {
		return nil, s.Internal(ctx, "read policy versions", err)
	}
	return &struct{ Body PolicyOut }{Body: PolicyOut{Current: policyVersionOut(cur), Upcoming: policyVersionOut(next)}}, nil
}

func (s *server) acknowledgePolicy(ctx context.Context, in *struct{ Body PolicyAcknowledgementIn }) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	err := s.deps.Policy.Acknowledge(ctx, p.User, in.Body.Version)
	switch {
	case errors.Is(err, policy.ErrNotOwner):
		return nil, s.Deny(ctx, audit.ActionPolicyAcknowledge, "policy", in.Body.Version, err.Error())
	case errors.Is(err, policy.ErrNotFound):
		return nil, httpapi.FieldProblem("version", "is not a published policy version")
	case err != nil:
		return nil, s.Internal(ctx, "acknowledge policy", err)
	}
	return nil, nil
}
