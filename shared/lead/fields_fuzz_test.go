package lead_test

import (
	"encoding/json"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

// FuzzFieldDef checks custom field definitions (the body of POST
// /v1/custom-fields after decoding) and values against them: no panic; a
// value's canonical form is canonical again (so filters and unique guards
// see one form per value), and a valid definition's options are accepted
// as values.
func FuzzFieldDef(f *testing.F) {
	f.Add("budget", "Budget", "number", `[]`, " 8.5e6 ")
	f.Add("city", "City", "single_select", `[{"value":"pune","label":"Pune"},{"value":"goa"}]`, "PUNE")
	f.Add("amenities", "", "multi_select", `[{"value":"gym"},{"value":"pool"}]`, "pool, gym,gym")
	f.Add("visit_on", "Visit", "date", `null`, "2027-02-30")
	f.Add("vip", "VIP", "boolean", `[]`, "Yes")
	f.Add("Bad", "x", "colour", `[{"value":"a,b"}]`, "")
	f.Fuzz(func(t *testing.T, key, label, typ, options, value string) {
		def := lead.FieldDef{Key: key, Label: label, Type: lead.FieldType(typ)}
		_ = json.Unmarshal([]byte(options), &def.Options)
		if lead.ValidateFieldDef(def) != nil {
			return
		}
		for _, o := range def.Options {
			if c, msg := def.CanonicalValue(o.Value); msg != "" || c != o.Value {
				t.Fatalf("option %q of %+v: %q %q", o.Value, def, c, msg)
			}
		}
		c, msg := def.CanonicalValue(value)
		if msg != "" {
			return
		}
		if again, msg := def.CanonicalValue(c); msg != "" || again != c {
			t.Fatalf("%+v: %q canonical %q, then %q %q", def, value, c, again, msg)
		}
		l := lead.Lead{CustomFields: map[string]string{key: value}}
		if err := lead.CheckCustomFields(lead.FieldDefs{Fields: []lead.FieldDef{def}}, nil, &l); err != nil && c != "" {
			t.Fatalf("%+v: %q canonical %q but refused: %v", def, value, c, err)
		}
	})
}
