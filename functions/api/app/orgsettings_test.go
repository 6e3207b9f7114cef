package app_test

import (
	"strings"
	"testing"
)

func TestOrgSettings(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Settings Co")
	admin := e.member(t, owner, "admin")
	viewer := e.member(t, owner, "viewer")

	// GIVEN a new org: its name from sign-up, the default country, nothing else
	r := e.do(t, "GET", "/v1/org", viewer.Access, nil)
	expect(t, r, 200)
	if r.str("id") != owner.OrgID || r.str("name") != "Settings Co" || r.str("default_country") != "IN" ||
		r.Body["timezone"] != nil || r.Body["updated_at"] != nil {
		t.Fatalf("new org settings: %s", r.Raw)
	}

	// WHEN a viewer tries to change them THEN 403, audited, nothing changes
	expect(t, e.do(t, "PATCH", "/v1/org", viewer.Access, map[string]any{"name": "Mine now"}), 403)

	// WHEN an admin changes them
	r = e.do(t, "PATCH", "/v1/org", admin.Access, map[string]any{
		"name": "  Settings Co Pvt ", "timezone": "America/Los_Angeles", "default_country": "us",
		"business_hours": map[string]any{"mon": []map[string]string{{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}}, "sat": []map[string]string{{"start": "10:00", "end": "14:00"}}},
	})
	// THEN the answer and every later read have them, cleaned
	expect(t, r, 200)
	for _, got := range []response{r, e.do(t, "GET", "/v1/org", viewer.Access, nil)} {
		if got.str("name") != "Settings Co Pvt" || got.str("timezone") != "America/Los_Angeles" || got.str("default_country") != "US" ||
			got.Body["updated_at"] == nil ||
			!strings.Contains(got.Raw, `"business_hours":{"mon":[{"start":"09:00","end":"12:00"},{"start":"13:00","end":"17:00"}],"sat":[{"start":"10:00","end":"14:00"}]}`) {
			t.Fatalf("settings after the change: %s", got.Raw)
		}
	}
	// AND only the fields given change
	r = e.do(t, "PATCH", "/v1/org", owner.Access, map[string]any{"timezone": "Asia/Kolkata"})
	expect(t, r, 200)
	if r.str("name") != "Settings Co Pvt" || r.str("timezone") != "Asia/Kolkata" || r.str("default_country") != "US" || !strings.Contains(r.Raw, `"sat":[`) {
		t.Fatalf("partial change: %s", r.Raw)
	}

	// AND invalid values are 422 naming the field, and change nothing
	for body, field := range map[string]string{
		`{"timezone":"Mars/Olympus"}`:      "body.timezone",
		`{"timezone":"Local"}`:             "body.timezone",
		`{"default_country":"ZZ"}`:         "body.default_country",
		`{"default_country":"IND"}`:        "body.default_country",
		`{"name":""}`:                      "body.name",
		`{"business_hours":{"monday":[]}}`: "body.business_hours",
		`{"business_hours":{"mon":[{"start":"9:00","end":"17:00"}]}}`:                                  "body.business_hours.mon[0].start",
		`{"business_hours":{"mon":[{"start":"17:00","end":"09:00"}]}}`:                                 "body.business_hours.mon[0].end",
		`{"business_hours":{"tue":[{"start":"09:00","end":"13:00"},{"start":"12:00","end":"18:00"}]}}`: "body.business_hours.tue[1]",
	} {
		r := e.do(t, "PATCH", "/v1/org", owner.Access, body)
		expect(t, r, 422)
		if !strings.Contains(r.Raw, `"location":"`+field) {
			t.Errorf("PATCH %s: %s, want an error at %s", body, r.Raw, field)
		}
	}
	if r := e.do(t, "GET", "/v1/org", owner.Access, nil); r.str("timezone") != "Asia/Kolkata" || r.str("default_country") != "US" {
		t.Fatalf("refused changes were kept: %s", r.Raw)
	}

	// AND the changes and the refusal are audited, without the org's name
	audit := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	if strings.Count(audit.Raw, `"org.settings_update"`) < 3 || !strings.Contains(audit.Raw, `"default_country_to":"US"`) ||
		!strings.Contains(audit.Raw, `"timezone_to":"Asia/Kolkata"`) || strings.Contains(audit.Raw, "Settings Co Pvt") {
		t.Fatalf("audit trail: %s", audit.Raw)
	}
}

// TestDefaultCountryReadsPhones: a phone number written without a country
// code is read in the org's default country, from the next token on.
func TestDefaultCountryReadsPhones(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Country Co")
	const local = "(650) 555-0123"

	// GIVEN the default country IN: a number without its code is an Indian one
	if r := e.createLead(t, owner, map[string]any{"name": "Ann", "phone": local}); r.str("phone") != "+916505550123" {
		t.Fatalf("local number in IN: %s", r.Raw)
	}
	// WHEN the owner makes it US and signs in again
	expect(t, e.do(t, "PATCH", "/v1/org", owner.Access, map[string]any{"default_country": "US"}), 200)
	owner = e.login(t, owner.Email)

	// THEN the number is read as a US one, on create and on change
	r := e.createLead(t, owner, map[string]any{"name": "Ann B", "phone": "650-555-0142"})
	if r.str("phone") != "+16505550142" {
		t.Fatalf("created lead phone: %s", r.Raw)
	}
	id := r.str("id")
	r = e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"phone": "650 555 0199"})
	expect(t, r, 200)
	if r.str("phone") != "+16505550199" {
		t.Fatalf("changed lead phone: %s", r.Raw)
	}
	// AND a number with its country code is read as written
	if r := e.createLead(t, owner, map[string]any{"name": "Ravi", "phone": "+91 98450 12345"}); r.str("phone") != "+919845012345" {
		t.Fatalf("international number: %s", r.Raw)
	}
}
