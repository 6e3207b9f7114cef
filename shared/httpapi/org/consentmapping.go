package org

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
)

// Audit actions of the consent mapping.
const (
	actionConsentMappingRead   = "consent_mapping.read"
	actionConsentMappingUpdate = "consent_mapping.update"
)

func (s *server) registerConsentMapping(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-org-consent-mapping", Method: http.MethodGet, Path: "/v1/org/consent-mapping", Tags: []string{"org"},
		Summary:  "Which Lead Ads form answers are opt-ins (owner, admin)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getConsentMapping)
	huma.Register(api, huma.Operation{
		OperationID: "put-org-consent-mapping", Method: http.MethodPut, Path: "/v1/org/consent-mapping", Tags: []string{"org"},
		Summary: "Replace which Lead Ads form answers are opt-ins (owner, admin)",
		Description: "Each rule maps a Lead Ads form question (its key in the lead's field_data, with the answers that mean yes) " +
			"or a custom disclaimer checkbox (its checkbox_key; ticked means yes) to an opt-in of a channel (whatsapp, email) and " +
			"purpose (service, marketing, all), optionally for one form only. Each new Lead Ads lead whose answer means yes gets " +
			"the opt-in in its consent ledger (source lead_ads_form, evidence the leadgen id and question key), written with the lead. " +
			"Leads that arrived before a rule are not changed.",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.putConsentMapping)
}

type consentMappingOutput struct{ Body conversation.ConsentMapping }

func mappingOut(m conversation.ConsentMapping) *consentMappingOutput {
	if m.Rules == nil {
		m.Rules = []conversation.ConsentRule{}
	}
	return &consentMappingOutput{Body: m}
}

func (s *server) getConsentMapping(ctx context.Context, _ *struct{}) (*consentMappingOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, actionConsentMappingRead, "consent_mapping", "", "only an owner or admin can see the consent mapping")
	}
	m, err := s.deps.ConsentMapping.ConsentMapping(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read consent mapping", err)
	}
	return mappingOut(m), nil
}

func (s *server) putConsentMapping(ctx context.Context, in *struct{ Body conversation.ConsentMapping }) (*consentMappingOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, actionConsentMappingUpdate, "consent_mapping", "", "only an owner or admin can change the consent mapping")
	}
	m := conversation.ConsentMapping{Rules: in.Body.Rules}
	for i := range m.Rules {
		r := &m.Rules[i]
		r.Question, r.Disclaimer, r.FormID = strings.TrimSpace(r.Question), strings.TrimSpace(r.Disclaimer), strings.TrimSpace(r.FormID)
	}
	if err := m.Validate(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return nil, httpapi.FieldProblem(field, msg)
	}
	m.UpdatedAt, m.UpdatedBy = s.Now().UTC(), p.User.ID
	if err := s.deps.ConsentMapping.PutConsentMapping(ctx, p.User.OrgID, m); err != nil {
		return nil, s.Internal(ctx, "save consent mapping", err)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: actionConsentMappingUpdate, TargetType: "consent_mapping",
		Details: map[string]string{"rules": strconv.Itoa(len(m.Rules))}})
	return mappingOut(m), nil
}
