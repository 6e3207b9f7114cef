package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/watemplate"
)

// WhatsApp message templates: GET /v1/whatsapp/templates lists them from
// the Graph API, and template sends (single messages, campaigns) are
// checked with package watemplate, whose Catalog keeps a short-lived copy
// of each template list for sends. This file maps its refusals to
// problems.

// TemplateSource lists the message templates of a WABA (the Graph API).
type TemplateSource interface {
	Templates(ctx context.Context, wabaID, token string) ([]meta.Template, error)
}

// Opener opens tokens sealed for an org (package envelope).
type Opener interface {
	Open(ctx context.Context, orgID string, sealed []byte) ([]byte, error)
}

// templateCache keeps the template lists of the messaging routes
// (MessagingDeps) for sends.
type templateCache = watemplate.Cache

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

func (s *Server) registerTemplates() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-whatsapp-templates", Method: http.MethodGet, Path: "/v1/whatsapp/templates", Tags: []string{"messages"},
		Summary: "The WhatsApp message templates of the organisation's numbers, synced from Meta",
		Description: "Asks the Graph API for the templates of every WhatsApp Business Account the organisation has an active " +
			"number of, and returns them with their category, status and how many parameters each part takes. " +
			"Sending a template (POST /v1/leads/{id}/messages, type template) is checked against these counts.",
		Security: bearerSecurity, Errors: []int{http.StatusConflict, http.StatusBadGateway},
	}, s.listTemplates)
}

func (s *Server) listTemplates(ctx context.Context, _ *struct{}) (*struct{ Body TemplateList }, error) {
	org := caller(ctx).User.OrgID
	numbers, err := s.activeNumbers(ctx, org)
	if err != nil {
		return nil, err
	}
	if len(numbers) == 0 {
		return nil, errNoIntegration()
	}
	out := &struct{ Body TemplateList }{Body: TemplateList{Items: []TemplateOut{}}}
	done := map[string]bool{}
	for _, n := range numbers {
		if done[n.WABAID] {
			continue
		}
		done[n.WABAID] = true
		list, err := s.templates.Fetch(ctx, n)
		if err != nil {
			return nil, s.sendErr(ctx, err)
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
func (s *Server) activeNumbers(ctx context.Context, orgID string) ([]integration.Integration, error) {
	all, err := s.deps.Messaging.Store.ListIntegrations(ctx, orgID)
	if err != nil {
		return nil, s.internal(ctx, "list integrations", err)
	}
	return integration.ActiveWhatsApp(all), nil
}

// newCatalog is the template catalog of the messaging routes, keeping its
// lists in d.templates.
func newCatalog(d *MessagingDeps, now func() time.Time) *watemplate.Catalog {
	return &watemplate.Catalog{Source: d.Graph, Opener: d.Opener, Cache: &d.templates, Now: now}
}

// checkTemplate validates a template send against the template (see
// watemplate.Catalog.Check) and returns the spec and the template object
// of the Cloud API request; refusals are problems.
func (s *Server) checkTemplate(ctx context.Context, n integration.Integration, in *TemplateIn) (watemplate.Spec, *waTemplate, error) {
	send := watemplate.Send{Name: in.Name, Language: in.Language}
	for _, c := range in.Components {
		sc := watemplate.SendComponent{Type: c.Type, Index: c.Index}
		for _, p := range c.Parameters {
			sc.Parameters = append(sc.Parameters, p.Text)
		}
		send.Components = append(send.Components, sc)
	}
	sp, t, err := s.templates.Check(ctx, n, send)
	if err != nil {
		return watemplate.Spec{}, nil, s.sendErr(ctx, err)
	}
	return sp, t, nil
}

// sendErr maps the refusals met when preparing a WhatsApp send to
// problems (see sendProblem); other errors are a logged 500.
func (s *Server) sendErr(ctx context.Context, err error) error {
	if p, ok := s.sendProblem(ctx, err); ok {
		return p
	}
	return s.internal(ctx, "prepare whatsapp send", err)
}

// sendProblem maps a refusal of packages watemplate and integration to a
// problem: a template send that does not match its template (422 with the
// check's code), a template list Meta refused or failed (409 / 502; a
// token we could not open is a 500), no active number to send from (409
// no_active_integration). ok is false for any other error.
func (s *Server) sendProblem(ctx context.Context, err error) (error, bool) {
	var ce *watemplate.CheckError
	var fe *watemplate.FetchError
	var ie *integration.InactiveNumberError
	switch {
	case errors.As(err, &ce):
		return codedFieldProblem(ce.Code, ce.Field, ce.Message), true
	case errors.As(err, &fe):
		return s.metaError(ctx, fe), true
	case errors.As(err, &ie):
		p := problem(http.StatusConflict, "no_active_integration", "WhatsApp number "+ie.PhoneNumberID+" is not an active number of this organisation")
		p.Errors = []*huma.ErrorDetail{{Message: "is not an active WhatsApp number of this organisation", Location: "body.phone_number_id", Value: ie.PhoneNumberID}}
		return p, true
	case errors.Is(err, integration.ErrNoActiveWhatsApp):
		return errNoIntegration(), true
	}
	return nil, false
}

// metaError maps a failed template list to a problem.
func (s *Server) metaError(ctx context.Context, fe *watemplate.FetchError) error {
	number, err := fe.PhoneNumberID, fe.Err
	if errors.Is(err, watemplate.ErrOpenToken) {
		return s.internal(ctx, "open integration token", err)
	}
	var ge *meta.GraphError
	if errors.As(err, &ge) && ge.TokenInvalid() {
		s.deps.Log.WarnContext(ctx, "graph api refused the token", "number", number, "err", err)
		return problem(http.StatusConflict, "integration_token_invalid",
			"Meta refused the access token of WhatsApp number "+number+"; reconnect it with POST /v1/integrations/whatsapp-numbers")
	}
	if errors.As(err, &ge) && ge.Permanent() {
		s.deps.Log.WarnContext(ctx, "graph api refused template list", "number", number, "err", err)
		return problem(http.StatusConflict, "meta_refused",
			"Meta refused to list the templates of WhatsApp number "+number+" ("+ge.Message+"); check the number's WhatsApp Business Account")
	}
	s.deps.Log.WarnContext(ctx, "graph api template list", "number", number, "err", err)
	return problem(http.StatusBadGateway, "meta_unavailable", "could not read the templates from Meta; try again")
}

// codedFieldProblem is a 422 on one body field with its own code.
func codedFieldProblem(code, field, message string) *Problem {
	p := fieldProblem(field, message)
	p.Code, p.Type = code, problemTypeBase+code
	return p
}
