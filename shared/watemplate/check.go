package watemplate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/leadluence/backend/shared/integration"
)

// Send is a template send to check: the template's name and language and
// the parameter values of each of its parts.
type Send struct {
	Name       string
	Language   string
	Components []SendComponent
}

// SendComponent gives the parameter values of one part of a template.
type SendComponent struct {
	// Type is header, body or button.
	Type string
	// Index names a button by its position among the template's buttons;
	// nil fills the template's buttons that take parameters, in order.
	Index *int
	// Parameters are the values, in placeholder order.
	Parameters []string
}

// Payload is the template object of a WhatsApp Cloud API message
// (type template).
type Payload struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

// Language is a Payload's language.
type Language struct {
	Code string `json:"code"`
}

// Component is a part of a Payload with its parameters.
type Component struct {
	Type       string      `json:"type"`
	SubType    string      `json:"sub_type,omitempty"`
	Index      string      `json:"index,omitempty"`
	Parameters []Parameter `json:"parameters"`
}

// Parameter is one placeholder value of a Component.
type Parameter struct {
	Type       string `json:"type"`
	Text       string `json:"text,omitempty"`
	CouponCode string `json:"coupon_code,omitempty"`
}

// Codes of CheckErrors.
const (
	// CodeUnknown: no template of that name and language.
	CodeUnknown = "unknown_template"
	// CodeNotApproved: the template is not APPROVED.
	CodeNotApproved = "template_not_approved"
	// CodeNotSupported: the template has a media header.
	CodeNotSupported = "template_not_supported"
	// CodeParameters: a part gets the wrong parameters.
	CodeParameters = "template_parameters"
)

// CheckError is a send that does not match its template.
type CheckError struct {
	// Code says what is wrong (CodeUnknown, ...).
	Code string
	// Field names what is at fault as a path in a message whose template
	// is the Send: template.name, template.components[1].parameters, ...
	Field string
	// Message says what is wrong with Field, in plain language.
	Message string
}

// Error implements error.
func (e *CheckError) Error() string { return e.Code + ": " + e.Field + " " + e.Message }

func paramError(field, message string) *CheckError {
	return &CheckError{Code: CodeParameters, Field: field, Message: message}
}

// Check validates send s of number n against its template: it exists in
// that language, is approved, and each part gets exactly as many
// parameters as it has placeholders. It returns the template's spec and
// the template object of the Cloud API request. A mismatch is a
// *CheckError; failing to read the templates, a *FetchError.
func (c *Catalog) Check(ctx context.Context, n integration.Integration, s Send) (Spec, *Payload, error) {
	sp, ok, err := c.Lookup(ctx, n, s.Name, s.Language)
	if err != nil {
		return Spec{}, nil, err
	}
	if !ok {
		return Spec{}, nil, &CheckError{Code: CodeUnknown, Field: "template.name",
			Message: fmt.Sprintf("no template %q in language %q on the WhatsApp Business Account of number %s; see GET /v1/whatsapp/templates",
				s.Name, s.Language, n.ExternalID)}
	}
	if !strings.EqualFold(sp.Status, "APPROVED") {
		return Spec{}, nil, &CheckError{Code: CodeNotApproved, Field: "template.name",
			Message: fmt.Sprintf("template %q (%s) is %s; only APPROVED templates can be sent", s.Name, s.Language, sp.Status)}
	}
	if sp.MediaHeader {
		return Spec{}, nil, &CheckError{Code: CodeNotSupported, Field: "template.name",
			Message: "templates with a media header cannot be sent through this API yet"}
	}
	out, err := payload(sp, s)
	if err != nil {
		return Spec{}, nil, err
	}
	return sp, out, nil
}

// payload matches the parts of s against spec sp and builds the template
// object.
func payload(sp Spec, s Send) (*Payload, error) {
	out := &Payload{Name: s.Name, Language: Language{Code: s.Language}}
	got := Counts{}
	var headerAt, bodyAt = -1, -1
	var buttons []int // index in s.Components of each button part
	for i, p := range s.Components {
		switch p.Type {
		case "header":
			if headerAt >= 0 {
				return nil, paramError(fmt.Sprintf("template.components[%d]", i), "only one header component")
			}
			headerAt, got.Header = i, len(p.Parameters)
		case "body":
			if bodyAt >= 0 {
				return nil, paramError(fmt.Sprintf("template.components[%d]", i), "only one body component")
			}
			bodyAt, got.Body = i, len(p.Parameters)
		case "button":
			buttons = append(buttons, i)
		}
	}
	if got.Header != sp.Counts.Header {
		return nil, countError(s, headerAt, "header", got.Header, sp.Counts.Header)
	}
	if got.Body != sp.Counts.Body {
		return nil, countError(s, bodyAt, "body", got.Body, sp.Counts.Body)
	}
	if got.Header > 0 {
		out.Components = append(out.Components, Component{Type: "header", Parameters: params(s.Components[headerAt].Parameters, "text")})
	}
	if got.Body > 0 {
		out.Components = append(out.Components, Component{Type: "body", Parameters: params(s.Components[bodyAt].Parameters, "text")})
	}
	// Button components name their button by index, or else fill the template's
	// dynamic buttons in order.
	used := map[int]bool{}
	for k, pi := range buttons {
		p := s.Components[pi]
		field := fmt.Sprintf("template.components[%d]", pi)
		var tb Button
		if p.Index != nil {
			j := slices.IndexFunc(sp.Buttons, func(b Button) bool { return b.Index == *p.Index })
			if j < 0 {
				return nil, paramError(field+".index", fmt.Sprintf("button %d of template %q takes no parameters", *p.Index, s.Name))
			}
			tb = sp.Buttons[j]
		} else {
			if k >= len(sp.Buttons) {
				return nil, paramError(field,
					fmt.Sprintf("template %q has %d button(s) with parameters, this is button component %d", s.Name, len(sp.Buttons), k+1))
			}
			tb = sp.Buttons[k]
		}
		if used[tb.Index] {
			return nil, paramError(field, fmt.Sprintf("button %d is given twice", tb.Index))
		}
		used[tb.Index] = true
		if len(p.Parameters) != tb.Params {
			return nil, paramError(field+".parameters",
				fmt.Sprintf("button %d of template %q takes %d parameter(s), got %d", tb.Index, s.Name, tb.Params, len(p.Parameters)))
		}
		kind := "text"
		if tb.SubType == "copy_code" {
			kind = "coupon_code"
		}
		out.Components = append(out.Components, Component{Type: "button", SubType: tb.SubType, Index: strconv.Itoa(tb.Index),
			Parameters: params(p.Parameters, kind)})
	}
	if len(used) != len(sp.Buttons) {
		return nil, paramError("template.components",
			fmt.Sprintf("template %q has %d button(s) with parameters (%d parameter(s) in all); give a button component for each",
				s.Name, len(sp.Buttons), sp.Counts.Buttons))
	}
	return out, nil
}

func params(values []string, kind string) []Parameter {
	out := make([]Parameter, 0, len(values))
	for _, v := range values {
		if kind == "coupon_code" {
			out = append(out, Parameter{Type: kind, CouponCode: v})
		} else {
			out = append(out, Parameter{Type: kind, Text: v})
		}
	}
	return out
}

func countError(s Send, at int, part string, got, want int) *CheckError {
	field := "template.components"
	if at >= 0 {
		field = fmt.Sprintf("template.components[%d].parameters", at)
	}
	return paramError(field, fmt.Sprintf("the %s of template %q takes %d parameter(s), got %d", part, s.Name, want, got))
}
