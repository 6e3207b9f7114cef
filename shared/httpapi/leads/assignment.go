package leads

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
)

// AssignmentService is what the assignment rule routes need of
// lead.Service.
type AssignmentService interface {
	AssignmentRule(ctx context.Context, a lead.Actor) (lead.AssignmentRule, error)
	SetAssignmentRule(ctx context.Context, a lead.Actor, r lead.AssignmentRule) (lead.AssignmentRule, error)
}

// AssignmentRuleIn sets the org's assignment rule.
type AssignmentRuleIn struct {
	Type          string   `json:"type" enum:"round_robin,none" doc:"round_robin gives each new lead nobody assigned to the next of user_ids; none turns assignment off."`
	UserIDs       []string `json:"user_ids,omitempty" maxItems:"100" doc:"The users taking turns, in order (round_robin: 1 to 100 active users who may work leads)."`
	OnlyAvailable bool     `json:"only_available,omitempty" doc:"Skip users who marked themselves unavailable (PATCH /v1/me)."`
}

// AssignmentRuleOut is the org's assignment rule.
type AssignmentRuleOut struct {
	Type          string     `json:"type" enum:"round_robin,none"`
	UserIDs       []string   `json:"user_ids"`
	OnlyAvailable bool       `json:"only_available"`
	UpdatedAt     *time.Time `json:"updated_at" doc:"Null when never set."`
	UpdatedBy     *string    `json:"updated_by"`
}

type assignmentRuleOutput struct{ Body AssignmentRuleOut }

func ruleOut(r lead.AssignmentRule) *assignmentRuleOutput {
	o := AssignmentRuleOut{Type: r.Type, UserIDs: r.UserIDs, OnlyAvailable: r.OnlyAvailable, UpdatedBy: httpapi.Optional(r.UpdatedBy)}
	if o.UserIDs == nil {
		o.UserIDs = []string{}
	}
	if !r.UpdatedAt.IsZero() {
		at := r.UpdatedAt.UTC()
		o.UpdatedAt = &at
	}
	return &assignmentRuleOutput{Body: o}
}

func (s *server) registerAssignment(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-assignment-rule", Method: http.MethodGet, Path: "/v1/assignment-rule", Tags: []string{"leads"},
		Summary:  "How new leads nobody assigned are assigned (owner, admin, manager)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getAssignmentRule)
	huma.Register(api, huma.Operation{
		OperationID: "put-assignment-rule", Method: http.MethodPut, Path: "/v1/assignment-rule", Tags: []string{"leads"},
		Summary: "Set how new leads nobody assigned are assigned (owner, admin)",
		Description: "round_robin: each lead created without an assignee (through the API, from a Lead Ads submission, from the first " +
			"WhatsApp message of a new number) goes to the next of user_ids that is active (and available, with only_available); " +
			"nobody eligible leaves it unassigned. none turns it off. Deactivating a user hands its open leads back to the rule.",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.putAssignmentRule)
}

func (s *server) getAssignmentRule(ctx context.Context, _ *struct{}) (*assignmentRuleOutput, error) {
	r, err := s.deps.Assignment.AssignmentRule(ctx, actor(ctx))
	if err != nil {
		return nil, problem(ctx, s.Kit, "read assignment rule", err)
	}
	return ruleOut(r), nil
}

func (s *server) putAssignmentRule(ctx context.Context, in *struct{ Body AssignmentRuleIn }) (*assignmentRuleOutput, error) {
	r, err := s.deps.Assignment.SetAssignmentRule(ctx, actor(ctx), lead.AssignmentRule{Type: in.Body.Type, UserIDs: in.Body.UserIDs,
		OnlyAvailable: in.Body.OnlyAvailable})
	if err != nil {
		return nil, problem(ctx, s.Kit, "save assignment rule", err)
	}
	return ruleOut(r), nil
}
