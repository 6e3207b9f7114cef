package app_test

import (
	"net/url"
	"strings"
	"testing"
)

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Audit Co")
	admin := e.member(t, owner, "admin")
	viewer := e.member(t, owner, "viewer")
	e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": viewer.Email, "password": "wrong-password!"})
	lead := e.createLead(t, owner, map[string]any{"name": "Audited", "phone": "9876543210"}).str("id")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+lead, owner.Access, map[string]any{"status": "won"}), 200)
	expect(t, e.do(t, "DELETE", "/v1/leads/"+lead, viewer.Access, nil), 403)
	expect(t, e.do(t, "DELETE", "/v1/leads/"+lead, owner.Access, nil), 204)

	expect(t, e.do(t, "GET", "/v1/audit", viewer.Access, nil), 403)
	r := e.do(t, "GET", "/v1/audit?limit=100", admin.Access, nil)
	expect(t, r, 200)
	seen := map[string]map[string]any{}
	for _, it := range r.items() {
		if _, ok := seen[it["action"].(string)]; !ok {
			seen[it["action"].(string)] = it
		}
	}
	for _, action := range []string{"auth.signup", "auth.login", "auth.login_failed", "user.create", "lead.create", "lead.update", "lead.delete", "permission.denied"} {
		rec, ok := seen[action]
		if !ok {
			t.Errorf("audit trail lacks %s", action)
			continue
		}
		if rec["source_ip"] == "" || rec["user_agent"] != "leadluence-tests/1.0" || rec["at"] == "" {
			t.Errorf("%s record lacks ip/agent/time: %v", action, rec)
		}
	}
	deniedDelete := false
	for _, it := range r.items() {
		d, _ := it["details"].(map[string]any)
		if it["action"] == "permission.denied" && d["attempted"] == "lead.delete" {
			deniedDelete = it["actor_id"] == viewer.UserID && it["target_id"] == lead && it["outcome"] == "denied"
		}
	}
	if !deniedDelete {
		t.Errorf("no denial record for the viewer's delete of %s", lead)
	}
	if d := seen["lead.delete"]; d != nil && (d["actor_id"] != owner.UserID || d["target_id"] != lead) {
		t.Errorf("delete record %v", d)
	}
	for _, secret := range []string{password, "wrong-password!", owner.Access, owner.Refresh, viewer.Email, "argon2", "+919876543210"} {
		if strings.Contains(r.Raw, secret) {
			t.Errorf("audit trail contains a secret or personal value %q", secret)
		}
	}

	t.Run("pages", func(t *testing.T) {
		p1 := e.do(t, "GET", "/v1/audit?limit=2", owner.Access, nil)
		expect(t, p1, 200)
		p2 := e.do(t, "GET", "/v1/audit?limit=2&cursor="+url.QueryEscape(p1.str("next_cursor")), owner.Access, nil)
		expect(t, p2, 200)
		if len(p1.items()) != 2 || len(p2.items()) != 2 || p1.items()[1]["id"] == p2.items()[0]["id"] {
			t.Fatalf("audit pages overlap or are short: %s / %s", p1.Raw, p2.Raw)
		}
		other := e.signup(t, "Audit Thief")
		expect(t, e.do(t, "GET", "/v1/audit?limit=2&cursor="+url.QueryEscape(p1.str("next_cursor")), other.Access, nil), 400)
	})

	t.Run("logs stay free of personal data", func(t *testing.T) {
		logs := e.logs.String()
		for _, secret := range []string{password, owner.Email, owner.Access, owner.Refresh, "+919876543210"} {
			if strings.Contains(logs, secret) {
				t.Errorf("function logs contain %q", secret)
			}
		}
	})
}
