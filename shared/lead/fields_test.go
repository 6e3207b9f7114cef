package lead_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

var testDefs = lead.FieldDefs{Version: 1, Fields: []lead.FieldDef{
	{Key: "budget", Label: "Budget", Type: lead.FieldNumber, Required: true},
	{Key: "pan", Label: "PAN", Type: lead.FieldText, Unique: true},
	{Key: "city", Label: "City", Type: lead.FieldSingleSelect, Options: []lead.FieldOption{{Value: "pune", Label: "Pune"}}},
}}

func fieldsOf(err error) []string {
	var fes lead.FieldErrors
	if !errors.As(err, &fes) {
		return nil
	}
	var out []string
	for _, fe := range fes {
		out = append(out, fe.Field)
	}
	return out
}

func TestCheckCustomFieldsOnCreate(t *testing.T) {
	l := lead.Lead{CustomFields: map[string]string{"city": "Mumbai", "other": "kept"}}
	if got := fieldsOf(lead.CheckCustomFields(testDefs, nil, &l)); !slices.Equal(got, []string{"custom_fields.budget", "custom_fields.city"}) {
		t.Fatalf("errors %v", got)
	}
	l = lead.Lead{CustomFields: map[string]string{"budget": "1e3", "city": "PUNE", "pan": "x1", "other": "kept", "cleared": ""}}
	if err := lead.CheckCustomFields(testDefs, nil, &l); err != nil {
		t.Fatal(err)
	}
	if l.CustomFields["budget"] != "1000" || l.CustomFields["city"] != "pune" || l.CustomFields["other"] != "kept" || !slices.Equal(l.UniqueFields, []string{"pan"}) {
		t.Fatalf("checked %+v", l)
	}
}

// An update checks what it changes only; an unchanged value that came in
// unguarded stays so.
func TestCheckCustomFieldsOnUpdate(t *testing.T) {
	old := lead.Lead{CustomFields: map[string]string{"city": "Mumbai", "pan": "x1"}}
	next := old
	next.CustomFields = map[string]string{"city": "Mumbai", "pan": "x1", "note": "n"}
	if err := lead.CheckCustomFields(testDefs, &old, &next); err != nil || len(next.UniqueFields) != 0 {
		t.Fatalf("unchanged: %v %v", err, next.UniqueFields)
	}
	next.CustomFields = map[string]string{"city": "Mumbai", "pan": "x2"}
	if err := lead.CheckCustomFields(testDefs, &old, &next); err != nil || !slices.Equal(next.UniqueFields, []string{"pan"}) {
		t.Fatalf("changed pan: %v %v", err, next.UniqueFields)
	}
	withBudget := lead.Lead{CustomFields: map[string]string{"budget": "5"}}
	next = withBudget
	next.CustomFields = map[string]string{}
	if got := fieldsOf(lead.CheckCustomFields(testDefs, &withBudget, &next)); !slices.Equal(got, []string{"custom_fields.budget"}) {
		t.Fatalf("removing a required value: %v", got)
	}
}
