package app_test

import (
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/meta"
)

func TestAutomationSettings(t *testing.T) {
	e := newMsgEnv(t)
	// A template for re-engagement (below), listed before the welcome's
	// checks fill the template cache.
	e.sim.AddTemplate(waWABA, meta.Template{Name: "still_interested", Language: "en_US", Category: "MARKETING", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "Are you still looking for a flat? Reply to continue."},
	}})
	owner := e.signup(t, "Automation Co")
	manager := e.member(t, owner, "manager")

	// Nothing configured: everything off.
	r := e.do(t, "GET", "/v1/automations", owner.Access, nil)
	expect(t, r, 200)
	if strings.Contains(r.Raw, `"enabled":true`) {
		t.Fatalf("fresh org has automations on: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/automations", manager.Access, nil), 403)

	afterHours := map[string]any{"after_hours": map[string]any{"enabled": true, "text": "We're closed; we'll reply at 10 am.",
		"hours": map[string]any{"time_zone": "Asia/Kolkata", "days": map[string]any{"monday": map[string]string{"open": "10:00", "close": "19:00"}}}}}
	expect(t, e.do(t, "PUT", "/v1/automations", manager.Access, afterHours), 403)
	r = e.do(t, "PUT", "/v1/automations", owner.Access, afterHours)
	expect(t, r, 200)
	got := e.do(t, "GET", "/v1/automations", owner.Access, nil)
	if !strings.Contains(got.Raw, "we'll reply at 10 am") || !strings.Contains(got.Raw, "Asia/Kolkata") {
		t.Fatalf("settings not kept: %s", got.Raw)
	}

	bad := map[string]any{"after_hours": map[string]any{"enabled": true, "text": "x", "hours": map[string]any{"time_zone": "Mars/Olympus"}}}
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, bad), 422)

	// The Lead Ads welcome needs an approved UTILITY template of a connected number.
	welcome := func(name string, params ...string) map[string]any {
		return map[string]any{"lead_ads_welcome": map[string]any{"enabled": true, "template": name, "language": "en_US", "parameters": params}}
	}
	r = e.do(t, "PUT", "/v1/automations", owner.Access, welcome("order_update", "name", "ad_id", "which_city?"))
	expect(t, r, 422)
	if !strings.Contains(r.Raw, "no_active_integration") {
		t.Fatalf("without a number: %s", r.Raw)
	}
	e.connect(t, owner)
	r = e.do(t, "PUT", "/v1/automations", owner.Access, welcome("spring_sale", "name"))
	expect(t, r, 422)
	if !strings.Contains(r.Raw, "UTILITY") {
		t.Fatalf("marketing template accepted: %s", r.Raw)
	}
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, welcome("order_update", "name")), 422)
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, welcome("order_update", "name", "ad_id", "which_city?")), 200)

	// Automatic re-engagement needs an approved template without
	// parameters; its category is Meta's, whatever the request said.
	reengage := func(name string) map[string]any {
		return map[string]any{"reengagement": map[string]any{"auto_send": true, "template": name, "language": "en_US", "category": "utility"}}
	}
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, map[string]any{"reengagement": map[string]any{"auto_send": true}}), 422)
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, reengage("spring_sale")), 422)
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, reengage("no_such_template")), 422)
	expect(t, e.do(t, "PUT", "/v1/automations", owner.Access, reengage("still_interested")), 200)
	got = e.do(t, "GET", "/v1/automations", owner.Access, nil)
	if !strings.Contains(got.Raw, `"reengagement":{"auto_send":true,"template":"still_interested","language":"en_US","category":"marketing"}`) {
		t.Fatalf("re-engagement not kept with Meta's category: %s", got.Raw)
	}

	audit := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	if !strings.Contains(audit.Raw, "automation.update") {
		t.Fatal("automation changes are not audited")
	}
}
