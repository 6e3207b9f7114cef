package messaging

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/sendproblem"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/watemplate"
)

// WhatsApp message templates: GET /v1/whatsapp/templates lists them from
// the Graph API, and template sends (single messages, campaigns) are
// checked with package watemplate, whose Catalog keeps a short-lived copy
// of each template list for sends. Package sendproblem maps its refusals
// to problems.

// waTemplate is the template object of a WhatsApp Cloud API message.
type waTemplate = watemplate.Payload

// ParameterCounts is how many parameters each part of a template takes.
type ParameterCounts struct {
	Header  int `json:"header" doc:"Placeholders in a TEXT header (a media header counts 1)."`
	Body    int `json:"body" doc:"Placeholders in the body."`
	Buttons int `json:"buttons" doc:"Parameters over all buttons: the placeholder of each dynamic URL button, 1 for a copy-code or one-time-password button."`
}

// TemplateOut is a WhatsApp message template as the API shows it.
type TemplateOut struct {
	Name            string          `json:"name"`
	Language        string          `json:"language" doc:"Meta's locale code, e.g. en_US."`
	Category        string          `json:"category" doc:"As Meta reports it: MARKETING, UTILITY or AUTHENTICATION. Sending a MARKETING template also needs marketing consent."`
	Status          string          `json:"status" doc:"As Meta reports it: APPROVED, PENDING, REJECTED, PAUSED, DISABLED. Only APPROVED templates can be sent."`
	WABAID          string          `json:"waba_id" doc:"The WhatsApp Business Account the template belongs to."`
	ParameterCounts ParameterCounts `json:"parameter_counts"`
}

// TemplateList is the org's templates.
type TemplateList struct {
	Items []TemplateOut `json:"items"`
}

func (s *server) registerTemplates(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-whatsapp-templates", Method: http.MethodGet, Path: "/v1/whatsapp/templates", Tags: []string{"messages"},
		Summary: "The WhatsApp message templates of the organisation's numbers, synced from Meta",
		Description: "Asks the Graph API for the templates of every WhatsApp Business Account the organisation has an active " +
			"number of, and returns them with their category, status and how many parameters each part takes. " +
			"Sending a template (POST /v1/leads/{id}/messages, type template) is checked against these counts.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusConflict, http.StatusBadGateway},
	}, s.listTemplates)
}

func (s *server) listTemplates(ctx context.Context, _ *struct{}) (*struct{ Body TemplateList }, error) {
	org := httpapi.Caller(ctx).User.OrgID
	numbers, err := s.activeNumbers(ctx, org)
	if err != nil {
		return nil, err
	}
	if len(numbers) == 0 {
		return nil, sendproblem.NoIntegration()
	}
	out := &struct{ Body TemplateList }{Body: TemplateList{Items: []TemplateOut{}}}
	done := map[string]bool{}
	for _, n := range numbers {
		if done[n.WABAID] {
			continue
		}
		done[n.WABAID] = true
		list, err := s.deps.Templates.Fetch(ctx, n)
		if err != nil {
			return nil, sendproblem.Err(ctx, s.Kit, err)
		}
		for _, t := range list {
			c := watemplate.SpecOf(n.WABAID, t).Counts
			out.Body.Items = append(out.Body.Items, TemplateOut{Name: t.Name, Language: t.Language, Category: t.Category,
				Status: t.Status, WABAID: n.WABAID, ParameterCounts: ParameterCounts{Header: c.Header, Body: c.Body, Buttons: c.Buttons}})
		}
	}
	slices.SortFunc(out.Body.Items, func(a, b TemplateOut) int {
		return strings.Compare(a.Name+"\x00"+a.Language+"\x00"+a.WABAID, b.Name+"\x00"+b.Language+"\x00"+b.WABAID)
	})
	return out, nil
}

// activeNumbers returns the org's active WhatsApp integrations, most
// recently connected first.
func (s *server) activeNumbers(ctx context.Context, orgID string) ([]integration.Integration, error) {
	all, err := s.deps.Store.ListIntegrations(ctx, orgID)
	if err != nil {
		return nil, s.Internal(ctx, "list integrations", err)
	}
	return integration.ActiveWhatsApp(all), nil
}

// checkTemplate validates a template send against the template (see
// watemplate.Catalog.Check) and returns the spec and the template object
// of the Cloud API request; refusals are problems.
func (s *server) checkTemplate(ctx context.Context, n integration.Integration, in *TemplateIn) (watemplate.Spec, *waTemplate, error) {
	send := watemplate.Send{Name: in.Name, Language: in.Language}
	for _, c := range in.Components {
		sc := watemplate.SendComponent{Type: c.Type, Index: c.Index}
		for _, p := range c.Parameters {
			sc.Parameters = append(sc.Parameters, p.Text)
		}
		send.Components = append(send.Components, sc)
	}
	sp, t, err := s.deps.Templates.Check(ctx, n, send)
	if err != nil {
		return watemplate.Spec{}, nil, sendproblem.Err(ctx, s.Kit, err)
	}
	return sp, t, nil
}
