package app_test

import "testing"

func TestConsentMapping(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Mapping Realty")
	manager := e.member(t, owner, "manager")

	r := e.do(t, "GET", "/v1/org/consent-mapping", owner.Access, nil)
	expect(t, r, 200)
	if rules, _ := r.Body["rules"].([]any); rules == nil || len(rules) != 0 {
		t.Fatalf("fresh mapping %s", r.Raw)
	}
	body := map[string]any{"rules": []map[string]any{
		{"question": " may_we_whatsapp_you? ", "yes": []string{"Yes", "Haan"}, "channel": "whatsapp", "purpose": "service"},
		{"disclaimer": "offers_by_email", "channel": "email", "purpose": "marketing", "form_id": "1006393297382416"},
	}}
	r = e.do(t, "PUT", "/v1/org/consent-mapping", owner.Access, body)
	expect(t, r, 200)
	rules, _ := r.Body["rules"].([]any)
	if len(rules) != 2 || rules[0].(map[string]any)["question"] != "may_we_whatsapp_you?" || r.str("updated_by") != owner.UserID {
		t.Fatalf("saved mapping %s", r.Raw)
	}
	if got := e.do(t, "GET", "/v1/org/consent-mapping", owner.Access, nil); len(got.Body["rules"].([]any)) != 2 {
		t.Fatalf("read back %s", got.Raw)
	}
	problemCode(t, e.do(t, "PUT", "/v1/org/consent-mapping", manager.Access, body), 403, "forbidden")

	for _, bad := range []map[string]any{
		{"question": "q", "channel": "whatsapp", "purpose": "service"},
		{"question": "q", "disclaimer": "d", "yes": []string{"y"}, "channel": "whatsapp", "purpose": "service"},
		{"disclaimer": "d", "yes": []string{"y"}, "channel": "whatsapp", "purpose": "service"},
	} {
		problemCode(t, e.do(t, "PUT", "/v1/org/consent-mapping", owner.Access, map[string]any{"rules": []map[string]any{bad}}), 422, "validation_failed")
	}
	expect(t, e.do(t, "PUT", "/v1/org/consent-mapping", owner.Access, map[string]any{"rules": []map[string]any{
		{"question": "q", "yes": []string{"y"}, "channel": "sms", "purpose": "service"}}}), 422)

	a := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, a, 200)
	updates := 0
	for _, it := range a.items() {
		d, _ := it["details"].(map[string]any)
		if it["action"] == "consent_mapping.update" && it["actor_id"] == owner.UserID && d["rules"] == "2" {
			updates++
		}
	}
	if updates != 1 {
		t.Fatalf("%d audited mapping changes, want 1", updates)
	}
}
