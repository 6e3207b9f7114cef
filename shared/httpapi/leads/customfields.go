package leads

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
)

// FieldService is what the custom field routes need of lead.FieldService.
type FieldService interface {
	List(ctx context.Context, u account.User) ([]lead.FieldDef, error)
	Create(ctx context.Context, u account.User, f lead.FieldDef) (lead.FieldDef, error)
	Update(ctx context.Context, u account.User, key string, p lead.FieldPatch) (lead.FieldDef, error)
	Delete(ctx context.Context, u account.User, key string) error
}

// FieldOptionIO is one option of a select field.
type FieldOptionIO struct {
	Value string `json:"value" minLength:"1" maxLength:"64" doc:"What a lead stores; fixed once defined, no comma."`
	Label string `json:"label,omitempty" maxLength:"100" doc:"What people see; defaults to the value."`
}

// FieldDefOut is a custom field definition as the API shows it.
type FieldDefOut struct {
	Key       string          `json:"key"`
	Label     string          `json:"label"`
	Type      string          `json:"type" enum:"text,number,date,single_select,multi_select,boolean"`
	Required  bool            `json:"required"`
	Unique    bool            `json:"unique"`
	Options   []FieldOptionIO `json:"options"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// FieldDefIn defines a custom field.
type FieldDefIn struct {
	Key      string          `json:"key" minLength:"1" maxLength:"40" doc:"^[a-z][a-z0-9_]{0,39}$; the key in a lead's custom_fields."`
	Label    string          `json:"label,omitempty" maxLength:"100" doc:"Defaults to the key."`
	Type     string          `json:"type" enum:"text,number,date,single_select,multi_select,boolean"`
	Required bool            `json:"required,omitempty" doc:"Every lead written through the API must have a value."`
	Unique   bool            `json:"unique,omitempty" doc:"No two leads of the org have the same value (text ignoring case; text, number and date only). Only for a key no lead holds yet."`
	Options  []FieldOptionIO `json:"options,omitempty" maxItems:"50" doc:"The choices of a select field (required for selects, none for other types)."`
}

// FieldDefPatch changes a custom field definition.
type FieldDefPatch struct {
	Label         *string           `json:"label,omitempty" minLength:"1" maxLength:"100"`
	Required      *bool             `json:"required,omitempty" doc:"Checked on later writes only; leads already stored are not changed."`
	AddOptions    []FieldOptionIO   `json:"add_options,omitempty" maxItems:"50" doc:"Options appended to a select field."`
	RenameOptions map[string]string `json:"rename_options,omitempty" doc:"Option value to its new label; the value leads store stays."`
}

// FieldDefList is an org's custom field definitions.
type FieldDefList struct {
	Items []FieldDefOut `json:"items"`
}

type fieldPath struct {
	Key string `path:"key" maxLength:"40"`
}

func fieldOut(f lead.FieldDef) FieldDefOut {
	out := FieldDefOut{Key: f.Key, Label: f.Label, Type: string(f.Type), Required: f.Required, Unique: f.Unique,
		Options: make([]FieldOptionIO, 0, len(f.Options)), CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
	for _, o := range f.Options {
		out.Options = append(out.Options, FieldOptionIO(o))
	}
	return out
}

func optionsIn(in []FieldOptionIO) []lead.FieldOption {
	out := make([]lead.FieldOption, 0, len(in))
	for _, o := range in {
		out = append(out, lead.FieldOption(o))
	}
	return out
}

func (s *server) registerFields(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-custom-fields", Method: http.MethodGet, Path: "/v1/custom-fields", Tags: []string{"custom fields"},
		Summary: "The organisation's custom field definitions", Security: httpapi.BearerSecurity,
	}, s.listFields)
	huma.Register(api, huma.Operation{
		OperationID: "create-custom-field", Method: http.MethodPost, Path: "/v1/custom-fields", Tags: []string{"custom fields"},
		Summary: "Define a custom field of leads (owner, admin)", DefaultStatus: http.StatusCreated,
		Description: "Every lead written through the API is checked against the definitions: a value of the wrong type, " +
			"not an option, or a missing required field is 422 naming body.custom_fields.<key>; a unique value another lead holds is 409. " +
			"At most 100 definitions per organisation (10 unique).",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createField)
	huma.Register(api, huma.Operation{
		OperationID: "update-custom-field", Method: http.MethodPatch, Path: "/v1/custom-fields/{key}", Tags: []string{"custom fields"},
		Summary: "Change a custom field's label, required flag or options (owner, admin)", Security: httpapi.BearerSecurity,
		MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors:       []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.updateField)
	huma.Register(api, huma.Operation{
		OperationID: "delete-custom-field", Method: http.MethodDelete, Path: "/v1/custom-fields/{key}", Tags: []string{"custom fields"},
		Summary: "Delete a custom field definition (owner, admin)", DefaultStatus: http.StatusNoContent,
		Description: "Leads keep their values for the key, as untyped text; the field's unique guards are removed.",
		Security:    httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deleteField)
}

// fieldProblem maps an error of lead.FieldService to a problem.
func fieldProblem(ctx context.Context, k *httpapi.Kit, what string, err error) error {
	var de *lead.DeniedError
	var fe *lead.FieldError
	switch {
	case errors.As(err, &de):
		return k.Deny(ctx, de.Action, "custom_field", de.LeadID, de.Reason)
	case errors.As(err, &fe):
		return httpapi.FieldProblem(fe.Field, fe.Message)
	case errors.Is(err, lead.ErrFieldNotFound):
		return httpapi.NotFound("custom field")
	case errors.Is(err, lead.ErrFieldExists):
		return httpapi.NewProblem(http.StatusConflict, "custom_field_exists", "a custom field with this key is already defined")
	case errors.Is(err, lead.ErrFieldInUse):
		return httpapi.NewProblem(http.StatusConflict, "custom_field_in_use",
			"leads already hold values for this key; a unique field needs a key no lead uses yet")
	case errors.Is(err, lead.ErrFieldDefsChanged):
		return httpapi.NewProblem(http.StatusConflict, "custom_fields_changed", "the custom fields changed meanwhile; retry")
	}
	return k.Internal(ctx, what, err)
}

func (s *server) listFields(ctx context.Context, _ *struct{}) (*struct{ Body FieldDefList }, error) {
	defs, err := s.deps.Fields.List(ctx, httpapi.Caller(ctx).User)
	if err != nil {
		return nil, fieldProblem(ctx, s.Kit, "list custom fields", err)
	}
	out := &struct{ Body FieldDefList }{Body: FieldDefList{Items: make([]FieldDefOut, 0, len(defs))}}
	for _, f := range defs {
		out.Body.Items = append(out.Body.Items, fieldOut(f))
	}
	return out, nil
}

func (s *server) createField(ctx context.Context, in *struct{ Body FieldDefIn }) (*struct{ Body FieldDefOut }, error) {
	b := in.Body
	f, err := s.deps.Fields.Create(ctx, httpapi.Caller(ctx).User, lead.FieldDef{Key: b.Key, Label: b.Label, Type: lead.FieldType(b.Type),
		Required: b.Required, Unique: b.Unique, Options: optionsIn(b.Options)})
	if err != nil {
		return nil, fieldProblem(ctx, s.Kit, "create custom field", err)
	}
	return &struct{ Body FieldDefOut }{Body: fieldOut(f)}, nil
}

func (s *server) updateField(ctx context.Context, in *struct {
	Key  string `path:"key" maxLength:"40"`
	Body FieldDefPatch
}) (*struct{ Body FieldDefOut }, error) {
	b := in.Body
	f, err := s.deps.Fields.Update(ctx, httpapi.Caller(ctx).User, in.Key, lead.FieldPatch{Label: b.Label, Required: b.Required,
		AddOptions: optionsIn(b.AddOptions), RenameOptions: b.RenameOptions})
	if err != nil {
		return nil, fieldProblem(ctx, s.Kit, "update custom field", err)
	}
	return &struct{ Body FieldDefOut }{Body: fieldOut(f)}, nil
}

func (s *server) deleteField(ctx context.Context, in *fieldPath) (*struct{}, error) {
	if err := s.deps.Fields.Delete(ctx, httpapi.Caller(ctx).User, in.Key); err != nil {
		return nil, fieldProblem(ctx, s.Kit, "delete custom field", err)
	}
	return nil, nil
}
