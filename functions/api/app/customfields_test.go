package app_test

import (
	"fmt"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
)

var fieldSeq atomic.Int64

// fieldKey is a fresh custom field key.
func fieldKey() string { return fmt.Sprintf("f%d", fieldSeq.Add(1)) }

// errorLocations lists a problem's errors[].location.
func errorLocations(r response) []string {
	list, _ := r.Body["errors"].([]any)
	var out []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["location"]))
		}
	}
	return out
}

// leadNames lists the names of a listing's leads.
func leadNames(r response) []string {
	var out []string
	for _, it := range r.items() {
		out = append(out, fmt.Sprint(it["name"]))
	}
	slices.Sort(out)
	return out
}

func TestCustomFieldDefinitions(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Fields Realty")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")

	def := func(body map[string]any) response { return e.do(t, "POST", "/v1/custom-fields", owner.Access, body) }
	expect(t, def(map[string]any{"key": "budget", "label": "Budget", "type": "number", "required": true}), 201)
	r := def(map[string]any{"key": "city", "type": "single_select", "options": []map[string]string{{"value": "pune", "label": "Pune"}, {"value": "goa"}}})
	expect(t, r, 201)
	if r.str("label") != "city" {
		t.Fatalf("label defaults to the key: %s", r.Raw)
	}
	expect(t, def(map[string]any{"key": "amenities", "type": "multi_select", "options": []map[string]string{{"value": "gym"}, {"value": "pool"}, {"value": "garden"}}}), 201)
	expect(t, def(map[string]any{"key": "visit_on", "type": "date"}), 201)
	expect(t, def(map[string]any{"key": "vip", "type": "boolean"}), 201)
	expect(t, def(map[string]any{"key": "pan", "type": "text", "unique": true}), 201)

	for _, bad := range []map[string]any{
		{"key": "Budget", "type": "text"},
		{"key": "9lives", "type": "text"},
		{"key": "plan", "type": "single_select"},
		{"key": "plan", "type": "text", "options": []map[string]string{{"value": "a"}}},
		{"key": "plan", "type": "boolean", "unique": true},
		{"key": "plan", "type": "single_select", "options": []map[string]string{{"value": "a"}, {"value": "A"}}},
		{"key": "plan", "type": "single_select", "options": []map[string]string{{"value": "a,b"}}},
		{"key": "plan", "type": "colour"},
	} {
		if r := def(bad); r.Status != 422 {
			t.Fatalf("%v: %d %s", bad, r.Status, r.Raw)
		}
	}
	problemCode(t, def(map[string]any{"key": "city", "type": "text"}), 409, "custom_field_exists")
	problemCode(t, e.do(t, "POST", "/v1/custom-fields", manager.Access, map[string]any{"key": "x", "type": "text"}), 403, "forbidden")
	problemCode(t, e.do(t, "DELETE", "/v1/custom-fields/city", agent.Access, nil), 403, "forbidden")
	list := e.do(t, "GET", "/v1/custom-fields", agent.Access, nil)
	expect(t, list, 200)
	if n := len(list.items()); n != 6 {
		t.Fatalf("%d definitions: %s", n, list.Raw)
	}

	// Validation on create: every bad field at once, each named.
	r = e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Bad", "phone": "+919876500001",
		"custom_fields": map[string]string{"city": "mumbai", "visit_on": "tomorrow", "vip": "maybe"}})
	expect(t, r, 422)
	if got, want := errorLocations(r), []string{"body.custom_fields.budget", "body.custom_fields.city", "body.custom_fields.vip", "body.custom_fields.visit_on"}; !slices.Equal(got, want) {
		t.Fatalf("errors at %v, want %v: %s", got, want, r.Raw)
	}
	// Canonical values; an undefined key stays untyped text.
	r = e.createLead(t, owner, map[string]any{"name": "Asha Rao", "phone": "+91 98765 43210", "email": "asha.rao@example.com", "tags": []string{"hot", "2bhk"},
		"custom_fields": map[string]string{"budget": " 8.50e6 ", "city": "Pune", "amenities": "pool, gym", "visit_on": "2027-01-05", "vip": "TRUE", "pan": "ABCDE1234F", "note": "anything"}})
	asha := r.str("id")
	cf := r.Body["custom_fields"].(map[string]any)
	for k, want := range map[string]string{"budget": "8500000", "city": "pune", "amenities": "gym,pool", "vip": "true", "note": "anything"} {
		if cf[k] != want {
			t.Fatalf("custom_fields.%s = %v, want %s: %s", k, cf[k], want, r.Raw)
		}
	}
	// Unique: another lead with the same value (any case) is 409 naming it.
	r = e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Ravi Kumar", "phone": "+919876500002",
		"custom_fields": map[string]string{"budget": "1", "pan": "abcde1234f"}})
	problemCode(t, r, 409, "duplicate_lead")
	if r.str("existing_lead_id") != asha || r.str("detail") != "a lead with this custom_fields.pan already exists" {
		t.Fatalf("duplicate: %s", r.Raw)
	}
	ravi := e.createLead(t, owner, map[string]any{"name": "Ravi Kumar", "phone": "+919876500002", "email": "ravi@example.com", "tags": []string{"hot"},
		"custom_fields": map[string]string{"budget": "1", "city": "goa", "amenities": "garden"}}).str("id")
	problemCode(t, e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"custom_fields": map[string]string{"budget": "1", "pan": "ABCDE1234F"}}), 409, "duplicate_lead")
	// A patch checks what it changes: removing a required value is 422.
	r = e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"custom_fields": map[string]string{"city": "goa"}})
	expect(t, r, 422)
	if got := errorLocations(r); !slices.Equal(got, []string{"body.custom_fields.budget"}) {
		t.Fatalf("errors at %v: %s", got, r.Raw)
	}
	expect(t, e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"status": "contacted"}), 200)

	// Filters and search.
	e.createLead(t, owner, map[string]any{"name": "Meera Iyer", "email": "meera@example.org", "tags": []string{"2bhk"},
		"custom_fields": map[string]string{"budget": "3", "city": "pune", "amenities": "gym"}})
	for q, want := range map[string][]string{
		"tag=hot":                             {"Asha Rao", "Ravi Kumar"},
		"tag=hot&tag=2bhk":                    {"Asha Rao"},
		"tag=HOT&tag=nothing":                 nil,
		"cf.city=Pune":                        {"Asha Rao", "Meera Iyer"},
		"cf.amenities=gym":                    {"Asha Rao", "Meera Iyer"},
		"cf.amenities=pool&cf.city=pune":      {"Asha Rao"},
		"cf.budget=8500000.0":                 {"Asha Rao"},
		"cf.note=anything":                    {"Asha Rao"},
		"q=" + url.QueryEscape("rao"):         {"Asha Rao"},
		"q=" + url.QueryEscape("RAV"):         {"Ravi Kumar"},
		"q=" + url.QueryEscape("meera@ex"):    {"Meera Iyer"},
		"q=" + url.QueryEscape("98765 43210"): {"Asha Rao"},
		"q=" + url.QueryEscape("+91-98765-0"): {"Ravi Kumar"},
		"q=" + url.QueryEscape("iyer") + "&tag=2bhk&cf.city=pune": {"Meera Iyer"},
	} {
		r := e.do(t, "GET", "/v1/leads?"+q, owner.Access, nil)
		expect(t, r, 200)
		if got := leadNames(r); !slices.Equal(got, want) {
			t.Fatalf("GET /v1/leads?%s: %v, want %v", q, got, want)
		}
	}
	r = e.do(t, "GET", "/v1/leads?cf.budget=lots", owner.Access, nil)
	expect(t, r, 422)
	if got := errorLocations(r); !slices.Equal(got, []string{"query.cf.budget"}) {
		t.Fatalf("errors at %v: %s", got, r.Raw)
	}
	// Paging with a filter: every match once, across pages.
	var seen []string
	cursor := ""
	for range 10 {
		r := e.do(t, "GET", "/v1/leads?limit=1&cf.city=pune&cursor="+url.QueryEscape(cursor), owner.Access, nil)
		expect(t, r, 200)
		seen = append(seen, leadNames(r)...)
		if cursor = r.str("next_cursor"); cursor == "" {
			break
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"Asha Rao", "Meera Iyer"}) {
		t.Fatalf("paged: %v", seen)
	}

	// Changing definitions: a new option, a renamed label (the stored value stays).
	r = e.do(t, "PATCH", "/v1/custom-fields/city", owner.Access, map[string]any{"add_options": []map[string]string{{"value": "delhi"}},
		"rename_options": map[string]string{"goa": "North Goa"}, "required": true})
	expect(t, r, 200)
	if opts := r.Body["options"].([]any); len(opts) != 3 || opts[1].(map[string]any)["label"] != "North Goa" || r.Body["required"] != true {
		t.Fatalf("patched: %s", r.Raw)
	}
	expect(t, e.do(t, "PATCH", "/v1/custom-fields/city", owner.Access, map[string]any{"rename_options": map[string]string{"mumbai": "x"}}), 422)
	expect(t, e.do(t, "PATCH", "/v1/custom-fields/vip", owner.Access, map[string]any{"add_options": []map[string]string{{"value": "x"}}}), 422)
	expect(t, e.do(t, "PATCH", "/v1/custom-fields/nope", owner.Access, map[string]any{"label": "x"}), 404)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"custom_fields": map[string]string{"budget": "2", "city": "delhi"}}), 200)

	// A required field defined later flags the leads without it; their
	// other changes go on.
	expect(t, def(map[string]any{"key": "language", "type": "text", "required": true}), 201)
	r = e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"status": "qualified"})
	expect(t, r, 200)
	if issues, _ := r.Body["custom_field_issues"].([]any); len(issues) != 1 || issues[0].(map[string]any)["field"] != "custom_fields.language" {
		t.Fatalf("issues: %s", r.Raw)
	}
	expect(t, e.do(t, "DELETE", "/v1/custom-fields/language", owner.Access, nil), 204)

	// Deleting a lead frees its unique values.
	expect(t, e.do(t, "DELETE", "/v1/leads/"+asha, owner.Access, nil), 204)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"custom_fields": map[string]string{"budget": "2", "city": "delhi", "pan": "ABCDE1234F", "note": "call later"}}), 200)
	// A unique field needs a key no lead holds; deleting one keeps the values.
	problemCode(t, def(map[string]any{"key": "note", "type": "text", "unique": true}), 409, "custom_field_in_use")
	expect(t, e.do(t, "DELETE", "/v1/custom-fields/pan", owner.Access, nil), 204)
	expect(t, e.do(t, "DELETE", "/v1/custom-fields/pan", owner.Access, nil), 404)
	r = e.do(t, "GET", "/v1/leads/"+ravi, owner.Access, nil)
	if r.Body["custom_fields"].(map[string]any)["pan"] != "ABCDE1234F" {
		t.Fatalf("value after the definition's deletion: %s", r.Raw)
	}
	expect(t, e.do(t, "PATCH", "/v1/leads/"+ravi, owner.Access, map[string]any{"custom_fields": map[string]string{"budget": "2", "city": "delhi", "pan": "other"}}), 200)
	expect(t, e.createLead(t, owner, map[string]any{"name": "Pan Again", "phone": "+919876500009", "custom_fields": map[string]string{"budget": "2", "city": "goa", "pan": "ABCDE1234F"}}), 201)

	a := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, a, 200)
	actions := map[string]int{}
	for _, it := range a.items() {
		if it["target_type"] == "custom_field" {
			actions[fmt.Sprint(it["action"])]++
		}
	}
	if actions["custom_field.create"] != 7 || actions["custom_field.update"] != 1 || actions["custom_field.delete"] != 2 || actions["permission.denied"] != 2 {
		t.Fatalf("audited: %v", actions)
	}
}
