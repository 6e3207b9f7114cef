package app_test

import (
	"strings"
	"testing"
)

func TestOrgRetentionSettings(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Retention Co")
	manager := e.member(t, owner, "manager")

	r := e.do(t, "GET", "/v1/org/retention", owner.Access, nil)
	expect(t, r, 200)
	if !strings.Contains(r.Raw, `"content_days":90`) || !strings.Contains(r.Raw, `"is_default":true`) || !strings.Contains(r.Raw, `"max_content_days":365`) {
		t.Fatalf("fresh org: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/org/retention", manager.Access, nil), 403)
	expect(t, e.do(t, "PUT", "/v1/org/retention", manager.Access, map[string]any{"content_days": 30}), 403)

	// Shorter than the default is allowed; longer than the policy is not.
	r = e.do(t, "PUT", "/v1/org/retention", owner.Access, map[string]any{"content_days": 30})
	expect(t, r, 200)
	if !strings.Contains(r.Raw, `"content_days":30`) || !strings.Contains(r.Raw, `"is_default":false`) {
		t.Fatalf("after PUT 30: %s", r.Raw)
	}
	r = e.do(t, "PUT", "/v1/org/retention", owner.Access, map[string]any{"content_days": 400})
	expect(t, r, 422)
	if !strings.Contains(r.Raw, "retention_too_long") {
		t.Fatalf("too long: %s", r.Raw)
	}
	expect(t, e.do(t, "PUT", "/v1/org/retention", owner.Access, map[string]any{"content_days": -1}), 422)
	if got := e.do(t, "GET", "/v1/org/retention", owner.Access, nil); !strings.Contains(got.Raw, `"content_days":30`) {
		t.Fatalf("refused change was kept: %s", got.Raw)
	}

	audit := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	if !strings.Contains(audit.Raw, "retention.settings_update") {
		t.Fatal("retention changes are not audited")
	}
}
