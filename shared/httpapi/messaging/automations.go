package messaging

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/sendproblem"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/watemplate"
)

// AutomationStore keeps an org's automation settings.
type AutomationStore interface {
	Settings(ctx context.Context, orgID string) (automation.Settings, error)
	PutSettings(ctx context.Context, orgID string, st automation.Settings) error
}

func (s *server) registerAutomations(api huma.API) {
	if s.deps.Automations == nil {
		return
	}
	huma.Register(api, huma.Operation{
		OperationID: "get-automations", Method: http.MethodGet, Path: "/v1/automations", Tags: []string{"automations"},
		Summary: "The organisation's automations (owner, admin)", Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getAutomations)
	huma.Register(api, huma.Operation{
		OperationID: "put-automations", Method: http.MethodPut, Path: "/v1/automations", Tags: []string{"automations"},
		Summary:     "Replace the organisation's automations (owner, admin)",
		Description: "lead_ads_welcome sends an approved UTILITY template to each new Lead Ads lead with a recorded WhatsApp opt-in (map the form's consent question with PUT /v1/org/consent-mapping; without an opt-in the welcome is refused as consent_required); after_hours replies to WhatsApp messages that arrive outside business hours, at most once per lead per closed period; reengagement names the approved template (name, language, category marketing or utility) offered on a WhatsApp message that failed with error 131047, and with auto_send queues it once per such message. All go through the same consent gates as any send.",
		Security:    httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.putAutomations)
}

type automationsOutput struct{ Body automation.Settings }

func (s *server) getAutomations(ctx context.Context, _ *struct{}) (*automationsOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "automation.read", "automation", "", "only an owner or admin can see automations")
	}
	st, err := s.deps.Automations.Settings(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read automations", err)
	}
	return &automationsOutput{Body: st}, nil
}

func (s *server) putAutomations(ctx context.Context, in *struct{ Body automation.Settings }) (*automationsOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "automation.update", "automation", "", "only an owner or admin can change automations")
	}
	st := in.Body
	if err := st.Validate(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return nil, httpapi.FieldProblem(field, msg)
	}
	if st.LeadAds.Enabled {
		if err := s.checkWelcomeTemplate(ctx, st.LeadAds); err != nil {
			return nil, err
		}
	}
	if st.Reengagement.AutoSend {
		category, err := s.checkReengagementTemplate(ctx, st.Reengagement)
		if err != nil {
			return nil, err
		}
		st.Reengagement.Category = category
	}
	st.UpdatedAt = s.Now().UTC()
	if err := s.deps.Automations.PutSettings(ctx, p.User.OrgID, st); err != nil {
		return nil, s.Internal(ctx, "save automations", err)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "automation.update", TargetType: "automation",
		Details: map[string]string{"lead_ads_welcome": boolString(st.LeadAds.Enabled), "after_hours": boolString(st.AfterHours.Enabled),
			"reengagement_auto_send": boolString(st.Reengagement.AutoSend)}})
	return &automationsOutput{Body: st}, nil
}

// checkWelcomeTemplate requires the Lead Ads welcome to name an approved
// UTILITY template (the lead asked to be contacted, not marketed to) whose
// body takes as many parameters as are configured.
func (s *server) checkWelcomeTemplate(ctx context.Context, w automation.LeadAdsWelcome) error {
	numbers, err := s.activeNumbers(ctx, httpapi.Caller(ctx).User.OrgID)
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
		return httpapi.NewProblem(http.StatusUnprocessableEntity, "no_active_integration", "connect an active WhatsApp number before enabling the Lead Ads welcome")
	}
	spec, ok, err := s.deps.Templates.Lookup(ctx, *number, w.Template, w.Language)
	switch {
	case err != nil:
		return sendproblem.Err(ctx, s.Kit, err)
	case !ok || !strings.EqualFold(spec.Status, "APPROVED"):
		return httpapi.FieldProblem("lead_ads_welcome.template", "is not an approved template of this number")
	case !strings.EqualFold(spec.Category, "UTILITY"):
		return httpapi.FieldProblem("lead_ads_welcome.template", "must be a UTILITY template: a Lead Ads lead asked to be contacted, not marketed to")
	case spec.Counts.Body != len(w.Parameters):
		return httpapi.FieldProblem("lead_ads_welcome.parameters", "the template body takes a different number of parameters")
	}
	return nil
}

// checkReengagementTemplate requires the automatic re-engagement template
// to be an approved MARKETING or UTILITY template of one of the org's
// active numbers that takes no parameters, and returns its category as
// automation.Reengagement.Category spells it (Meta's word, not the
// caller's, decides which opt-in the lead needs).
func (s *server) checkReengagementTemplate(ctx context.Context, r automation.Reengagement) (string, error) {
	numbers, err := s.activeNumbers(ctx, httpapi.Caller(ctx).User.OrgID)
	if err != nil {
		return "", err
	}
	if len(numbers) == 0 {
		return "", httpapi.NewProblem(http.StatusUnprocessableEntity, "no_active_integration", "connect an active WhatsApp number before turning on re-engagement")
	}
	for _, number := range numbers {
		spec, ok, err := s.deps.Templates.Lookup(ctx, number, r.Template, r.Language)
		if err != nil {
			return "", sendproblem.Err(ctx, s.Kit, err)
		}
		if !ok || !strings.EqualFold(spec.Status, "APPROVED") {
			continue
		}
		category := strings.ToLower(spec.Category)
		switch {
		case category != "marketing" && category != "utility":
			return "", httpapi.FieldProblem("reengagement.template", "must be a MARKETING or UTILITY template")
		case spec.Counts != (watemplate.Counts{}):
			return "", httpapi.FieldProblem("reengagement.template", "must take no parameters: it is sent as it is")
		}
		return category, nil
	}
	return "", httpapi.FieldProblem("reengagement.template", "is not an approved template of a connected number")
}

func boolString(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
