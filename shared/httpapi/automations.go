package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/integration"
)

// AutomationStore keeps an org's automation settings.
type AutomationStore interface {
	Settings(ctx context.Context, orgID string) (automation.Settings, error)
	PutSettings(ctx context.Context, orgID string, st automation.Settings) error
}

func (s *Server) registerAutomations() {
	if s.deps.Automations == nil {
		return
	}
	huma.Register(s.api, huma.Operation{
		OperationID: "get-automations", Method: http.MethodGet, Path: "/v1/automations", Tags: []string{"automations"},
		Summary: "The organisation's automations (owner, admin)", Security: bearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getAutomations)
	huma.Register(s.api, huma.Operation{
		OperationID: "put-automations", Method: http.MethodPut, Path: "/v1/automations", Tags: []string{"automations"},
		Summary:     "Replace the organisation's automations (owner, admin)",
		Description: "lead_ads_welcome sends an approved UTILITY template to each new Lead Ads lead; after_hours replies to WhatsApp messages that arrive outside business hours, at most once per lead per closed period. Both go through the same consent gates as any send.",
		Security:    bearerSecurity, MaxBodyBytes: maxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.putAutomations)
}

type automationsOutput struct{ Body automation.Settings }

func (s *Server) getAutomations(ctx context.Context, _ *struct{}) (*automationsOutput, error) {
	p := caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.deny(ctx, "automation.read", "automation", "", "only an owner or admin can see automations")
	}
	st, err := s.deps.Automations.Settings(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.internal(ctx, "read automations", err)
	}
	return &automationsOutput{Body: st}, nil
}

func (s *Server) putAutomations(ctx context.Context, in *struct{ Body automation.Settings }) (*automationsOutput, error) {
	p := caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.deny(ctx, "automation.update", "automation", "", "only an owner or admin can change automations")
	}
	st := in.Body
	if err := st.Validate(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return nil, fieldProblem(field, msg)
	}
	if st.LeadAds.Enabled {
		if err := s.checkWelcomeTemplate(ctx, st.LeadAds); err != nil {
			return nil, err
		}
	}
	st.UpdatedAt = s.deps.Now().UTC()
	if err := s.deps.Automations.PutSettings(ctx, p.User.OrgID, st); err != nil {
		return nil, s.internal(ctx, "save automations", err)
	}
	s.record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "automation.update", TargetType: "automation",
		Details: map[string]string{"lead_ads_welcome": boolString(st.LeadAds.Enabled), "after_hours": boolString(st.AfterHours.Enabled)}})
	return &automationsOutput{Body: st}, nil
}

// checkWelcomeTemplate requires the Lead Ads welcome to name an approved
// UTILITY template (the lead asked to be contacted, not marketed to) whose
// body takes as many parameters as are configured.
func (s *Server) checkWelcomeTemplate(ctx context.Context, w automation.LeadAdsWelcome) error {
	if s.deps.Messaging == nil {
		return nil
	}
	numbers, err := s.activeNumbers(ctx, caller(ctx).User.OrgID)
	if err != nil {
		return err
	}
	var number *integration.Integration
	for i := range numbers {
		if w.PhoneNumberID == "" || numbers[i].ExternalID == w.PhoneNumberID {
			number = &numbers[i]
			break
		}
	}
	if number == nil {
		return problem(http.StatusUnprocessableEntity, "no_active_integration", "connect an active WhatsApp number before enabling the Lead Ads welcome")
	}
	spec, ok, err := s.templates.Lookup(ctx, *number, w.Template, w.Language)
	switch {
	case err != nil:
		return s.sendErr(ctx, err)
	case !ok || !strings.EqualFold(spec.Status, "APPROVED"):
		return fieldProblem("lead_ads_welcome.template", "is not an approved template of this number")
	case !strings.EqualFold(spec.Category, "UTILITY"):
		return fieldProblem("lead_ads_welcome.template", "must be a UTILITY template: a Lead Ads lead asked to be contacted, not marketed to")
	case spec.Counts.Body != len(w.Parameters):
		return fieldProblem("lead_ads_welcome.parameters", "the template body takes a different number of parameters")
	}
	return nil
}

func boolString(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
