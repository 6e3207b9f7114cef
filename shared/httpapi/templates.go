package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
)

// WhatsApp message templates are read from the Graph API with the token of
// one of the org's active numbers of each WhatsApp Business Account (WABA).
// They are not stored in the table: GET /v1/whatsapp/templates always asks
// Meta (that is the sync), and sending a template checks it against a copy
// kept in memory for templateTTL, asking Meta again when the template is
// missing or not approved in that copy, so a template approved a minute ago
// can be sent at once.

// TemplateSource lists the message templates of a WABA (the Graph API).
type TemplateSource interface {
	Templates(ctx context.Context, wabaID, token string) ([]meta.Template, error)
}

// Opener opens tokens sealed for an org (package envelope).
type Opener interface {
	Open(ctx context.Context, orgID string, sealed []byte) ([]byte, error)
}

const (
	// templateTTL is how long a template list is trusted for sends.
	templateTTL = 5 * time.Minute
	// templateRefetchAfter stops a burst of sends of an unknown template
	// from asking Meta more than once every few seconds.
	templateRefetchAfter = 5 * time.Second
	// graphTimeout bounds one template list call to Meta.
	graphTimeout = 5 * time.Second
)

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

// templateButton is a button of a template that takes parameters.
type templateButton struct {
	Index   int
	SubType string // url, copy_code
	Params  int
}

// templateSpec is what sending a template must match.
type templateSpec struct {
	meta.Template
	WABAID      string
	MediaHeader bool
	Counts      ParameterCounts
	Buttons     []templateButton
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// placeholders counts the distinct {{n}} (or named {{x}}) placeholders.
func placeholders(text string) int {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

func specOf(wabaID string, t meta.Template) templateSpec {
	sp := templateSpec{Template: t, WABAID: wabaID}
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			if f := strings.ToUpper(c.Format); f != "" && f != "TEXT" {
				sp.MediaHeader = true
				sp.Counts.Header = 1
			} else {
				sp.Counts.Header = placeholders(c.Text)
			}
		case "BODY":
			sp.Counts.Body = placeholders(c.Text)
		case "BUTTONS":
			var buttons []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			}
			if len(c.Buttons) > 0 {
				_ = json.Unmarshal(c.Buttons, &buttons) // unknown shapes count as no parameters
			}
			for i, b := range buttons {
				var tb templateButton
				switch strings.ToUpper(b.Type) {
				case "URL":
					tb = templateButton{Index: i, SubType: "url", Params: placeholders(b.URL)}
				case "OTP":
					tb = templateButton{Index: i, SubType: "url", Params: 1}
				case "COPY_CODE":
					tb = templateButton{Index: i, SubType: "copy_code", Params: 1}
				}
				if tb.Params > 0 {
					sp.Buttons = append(sp.Buttons, tb)
					sp.Counts.Buttons += tb.Params
				}
			}
		}
	}
	return sp
}

// templateCache keeps each WABA's template list of an org for sends.
type templateCache struct {
	mu      sync.Mutex
	entries map[string]templateEntry
}

type templateEntry struct {
	at   time.Time
	list []meta.Template
}

func (c *templateCache) get(orgID, wabaID string) (templateEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[orgID+"|"+wabaID]
	return e, ok
}

func (c *templateCache) put(orgID, wabaID string, e templateEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]templateEntry{}
	}
	// Bounded: one Lambda instance serves few orgs, but never grow forever.
	if len(c.entries) >= 1000 {
		clear(c.entries)
	}
	c.entries[orgID+"|"+wabaID] = e
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
		list, err := s.fetchTemplates(ctx, n)
		if err != nil {
			return nil, s.metaError(ctx, n, err)
		}
		for _, t := range list {
			sp := specOf(n.WABAID, t)
			out.Body.Items = append(out.Body.Items, TemplateOut{Name: t.Name, Language: t.Language, Category: t.Category,
				Status: t.Status, WABAID: n.WABAID, ParameterCounts: sp.Counts})
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
	var out []integration.Integration
	for _, in := range all {
		if in.Kind == integration.KindWhatsApp && in.Status == integration.StatusActive && len(in.SealedToken) > 0 {
			out = append(out, in)
		}
	}
	slices.SortStableFunc(out, func(a, b integration.Integration) int { return b.ConnectedAt.Compare(a.ConnectedAt) })
	return out, nil
}

// fetchTemplates asks Meta for the templates of a number's WABA with its
// token and keeps the answer for sends.
func (s *Server) fetchTemplates(ctx context.Context, n integration.Integration) ([]meta.Template, error) {
	d := s.deps.Messaging
	token, err := d.Opener.Open(ctx, n.OrgID, n.SealedToken)
	if err != nil {
		return nil, fmt.Errorf("%w of %s: %w", errOpenToken, n.ExternalID, err)
	}
	cctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	list, err := d.Graph.Templates(cctx, n.WABAID, string(token))
	if err != nil {
		return nil, fmt.Errorf("templates of waba %s: %w", n.WABAID, err)
	}
	d.templates.put(n.OrgID, n.WABAID, templateEntry{at: s.deps.Now(), list: list})
	return list, nil
}

// errOpenToken marks a token that could not be opened (KMS), which is ours
// to fix, not Meta's.
var errOpenToken = errors.New("open token")

// metaError maps a failed template list to a problem.
func (s *Server) metaError(ctx context.Context, n integration.Integration, err error) error {
	if errors.Is(err, errOpenToken) {
		return s.internal(ctx, "open integration token", err)
	}
	var ge *meta.GraphError
	if errors.As(err, &ge) && ge.TokenInvalid() {
		s.deps.Log.WarnContext(ctx, "graph api refused the token", "number", n.ExternalID, "err", err)
		return problem(http.StatusConflict, "integration_token_invalid",
			"Meta refused the access token of WhatsApp number "+n.ExternalID+"; reconnect it with POST /v1/integrations/whatsapp-numbers")
	}
	if errors.As(err, &ge) && ge.Permanent() {
		s.deps.Log.WarnContext(ctx, "graph api refused template list", "number", n.ExternalID, "err", err)
		return problem(http.StatusConflict, "meta_refused",
			"Meta refused to list the templates of WhatsApp number "+n.ExternalID+" ("+ge.Message+"); check the number's WhatsApp Business Account")
	}
	s.deps.Log.WarnContext(ctx, "graph api template list", "number", n.ExternalID, "err", err)
	return problem(http.StatusBadGateway, "meta_unavailable", "could not read the templates from Meta; try again")
}

// lookupTemplate finds an approved template by name and language for a
// number, asking Meta again when the cached copy is old or lacks it.
func (s *Server) lookupTemplate(ctx context.Context, n integration.Integration, name, language string) (templateSpec, bool, error) {
	d := s.deps.Messaging
	find := func(list []meta.Template) (templateSpec, bool) {
		i := slices.IndexFunc(list, func(t meta.Template) bool { return t.Name == name && t.Language == language })
		if i < 0 {
			return templateSpec{}, false
		}
		return specOf(n.WABAID, list[i]), true
	}
	now := s.deps.Now()
	e, cached := d.templates.get(n.OrgID, n.WABAID)
	if cached && now.Sub(e.at) < templateTTL {
		sp, ok := find(e.list)
		if (ok && strings.EqualFold(sp.Status, "APPROVED")) || now.Sub(e.at) < templateRefetchAfter {
			return sp, ok, nil
		}
	}
	list, err := s.fetchTemplates(ctx, n)
	if err != nil {
		return templateSpec{}, false, s.metaError(ctx, n, err)
	}
	sp, ok := find(list)
	return sp, ok, nil
}

// checkTemplate validates a template send against the template: it exists
// in that language, is approved, and each part gets exactly as many
// parameters as it has placeholders. It returns the spec and the template
// object of the Cloud API request.
func (s *Server) checkTemplate(ctx context.Context, n integration.Integration, in *TemplateIn) (templateSpec, *waTemplate, error) {
	sp, ok, err := s.lookupTemplate(ctx, n, in.Name, in.Language)
	if err != nil {
		return templateSpec{}, nil, err
	}
	if !ok {
		return templateSpec{}, nil, codedFieldProblem("unknown_template", "template.name",
			fmt.Sprintf("no template %q in language %q on the WhatsApp Business Account of number %s; see GET /v1/whatsapp/templates",
				in.Name, in.Language, n.ExternalID))
	}
	if !strings.EqualFold(sp.Status, "APPROVED") {
		return templateSpec{}, nil, codedFieldProblem("template_not_approved", "template.name",
			fmt.Sprintf("template %q (%s) is %s; only APPROVED templates can be sent", in.Name, in.Language, sp.Status))
	}
	if sp.MediaHeader {
		return templateSpec{}, nil, codedFieldProblem("template_not_supported", "template.name",
			"templates with a media header cannot be sent through this API yet")
	}
	out := &waTemplate{Name: in.Name, Language: waLanguage{Code: in.Language}}
	got := ParameterCounts{}
	var headerAt, bodyAt = -1, -1
	var buttons []int // request component index of each button component
	for i, c := range in.Components {
		switch c.Type {
		case "header":
			if headerAt >= 0 {
				return templateSpec{}, nil, templateParamProblem(fmt.Sprintf("template.components[%d]", i), "only one header component")
			}
			headerAt, got.Header = i, len(c.Parameters)
		case "body":
			if bodyAt >= 0 {
				return templateSpec{}, nil, templateParamProblem(fmt.Sprintf("template.components[%d]", i), "only one body component")
			}
			bodyAt, got.Body = i, len(c.Parameters)
		case "button":
			buttons = append(buttons, i)
		}
	}
	if got.Header != sp.Counts.Header {
		return templateSpec{}, nil, paramCountProblem(in, headerAt, "header", got.Header, sp.Counts.Header)
	}
	if got.Body != sp.Counts.Body {
		return templateSpec{}, nil, paramCountProblem(in, bodyAt, "body", got.Body, sp.Counts.Body)
	}
	if got.Header > 0 {
		out.Components = append(out.Components, waComponent{Type: "header", Parameters: textParams(in.Components[headerAt].Parameters, "text")})
	}
	if got.Body > 0 {
		out.Components = append(out.Components, waComponent{Type: "body", Parameters: textParams(in.Components[bodyAt].Parameters, "text")})
	}
	// Button components name their button by index, or else fill the
	// template's dynamic buttons in order.
	used := map[int]bool{}
	for k, ci := range buttons {
		c := in.Components[ci]
		field := fmt.Sprintf("template.components[%d]", ci)
		var tb templateButton
		if c.Index != nil {
			j := slices.IndexFunc(sp.Buttons, func(b templateButton) bool { return b.Index == *c.Index })
			if j < 0 {
				return templateSpec{}, nil, templateParamProblem(field+".index",
					fmt.Sprintf("button %d of template %q takes no parameters", *c.Index, in.Name))
			}
			tb = sp.Buttons[j]
		} else {
			if k >= len(sp.Buttons) {
				return templateSpec{}, nil, templateParamProblem(field,
					fmt.Sprintf("template %q has %d button(s) with parameters, this is button component %d", in.Name, len(sp.Buttons), k+1))
			}
			tb = sp.Buttons[k]
		}
		if used[tb.Index] {
			return templateSpec{}, nil, templateParamProblem(field, fmt.Sprintf("button %d is given twice", tb.Index))
		}
		used[tb.Index] = true
		if len(c.Parameters) != tb.Params {
			return templateSpec{}, nil, templateParamProblem(field+".parameters",
				fmt.Sprintf("button %d of template %q takes %d parameter(s), got %d", tb.Index, in.Name, tb.Params, len(c.Parameters)))
		}
		kind := "text"
		if tb.SubType == "copy_code" {
			kind = "coupon_code"
		}
		out.Components = append(out.Components, waComponent{Type: "button", SubType: tb.SubType, Index: strconv.Itoa(tb.Index),
			Parameters: textParams(c.Parameters, kind)})
	}
	if len(used) != len(sp.Buttons) {
		return templateSpec{}, nil, templateParamProblem("template.components",
			fmt.Sprintf("template %q has %d button(s) with parameters (%d parameter(s) in all); give a button component for each",
				in.Name, len(sp.Buttons), sp.Counts.Buttons))
	}
	return sp, out, nil
}

func textParams(ps []TemplateParamIn, kind string) []waParam {
	out := make([]waParam, 0, len(ps))
	for _, p := range ps {
		if kind == "coupon_code" {
			out = append(out, waParam{Type: kind, CouponCode: p.Text})
		} else {
			out = append(out, waParam{Type: kind, Text: p.Text})
		}
	}
	return out
}

func paramCountProblem(in *TemplateIn, at int, part string, got, want int) error {
	field := "template.components"
	if at >= 0 {
		field = fmt.Sprintf("template.components[%d].parameters", at)
	}
	return templateParamProblem(field, fmt.Sprintf("the %s of template %q takes %d parameter(s), got %d", part, in.Name, want, got))
}

func templateParamProblem(field, message string) error {
	return codedFieldProblem("template_parameters", field, message)
}

// codedFieldProblem is a 422 on one body field with its own code.
func codedFieldProblem(code, field, message string) *Problem {
	p := fieldProblem(field, message)
	p.Code, p.Type = code, problemTypeBase+code
	return p
}
