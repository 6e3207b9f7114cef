package app_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// auditRecords reads the newest records of the caller's org trail.
func auditRecords(t *testing.T, e *testEnv, s session) []map[string]any {
	t.Helper()
	r := e.do(t, "GET", "/v1/audit?limit=100", s.Access, nil)
	expect(t, r, 200)
	return r.items()
}

// TestReadsOfPersonalDataAreAudited: every read of a lead's personal data
// leaves exactly one audit record per request, naming the actor and the
// target (a lead, or for lists the count and the filter), and never the
// personal data itself.
func TestReadsOfPersonalDataAreAudited(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Read Audit Co")
	manager := e.member(t, owner, "manager")
	const name, phone, email, text = "Priya Readaudit", "+919812345678", "priya.readaudit@example.com", "my flat number is 42B"
	l := e.createLead(t, owner, map[string]any{"name": name, "phone": phone, "email": email, "tags": []string{"vip"}})
	leadID := l.str("id")
	e.inbound(t, owner.OrgID, leadID, text, time.Now().Add(-time.Minute), nil)
	pii := []string{name, phone, "9812345678", email, text}

	reads := []struct {
		path, action, targetID string
		details                map[string]string
	}{
		{"/v1/leads/" + leadID, "lead.read", leadID, nil},
		{"/v1/leads?tag=vip&limit=10", "lead.list", "", map[string]string{"count": "1", "filter": "tag=vip", "limit": "10"}},
		{"/v1/leads/" + leadID + "/messages", "messages.read", leadID, map[string]string{"count": "1"}},
		{"/v1/conversations?unread=true", "conversations.list", "", map[string]string{"count": "1", "filter": "unread=true"}},
		{"/v1/leads/" + leadID + "/preferences", "preferences.read", leadID, nil},
		{"/v1/leads/" + leadID + "/activities?limit=10", "timeline.read", leadID, map[string]string{"limit": "10"}},
		{"/v1/leads/" + leadID + "/notes", "notes.read", leadID, map[string]string{"count": "0"}},
		{"/v1/leads/" + leadID + "/duplicates", "duplicates.read", leadID, map[string]string{"count": "0"}},
	}
	for _, rd := range reads {
		t.Run(rd.action, func(t *testing.T) {
			before := auditRecords(t, e.testEnv, owner)
			expect(t, e.do(t, "GET", rd.path, manager.Access, nil), 200)
			after := auditRecords(t, e.testEnv, owner)
			seen := map[string]bool{}
			for _, it := range before {
				seen[it["id"].(string)] = true
			}
			var fresh []map[string]any
			for _, it := range after {
				if !seen[it["id"].(string)] {
					fresh = append(fresh, it)
				}
			}
			if len(fresh) != 1 {
				t.Fatalf("GET %s left %d audit records, want exactly 1: %v", rd.path, len(fresh), fresh)
			}
			rec := fresh[0]
			if rec["action"] != rd.action || rec["actor_id"] != manager.UserID || rec["outcome"] != "success" || rec["target_type"] != "lead" {
				t.Fatalf("GET %s: record %v", rd.path, rec)
			}
			if rd.targetID != "" && rec["target_id"] != rd.targetID {
				t.Fatalf("GET %s: target %v, want %s", rd.path, rec["target_id"], rd.targetID)
			}
			d, _ := rec["details"].(map[string]any)
			for k, v := range rd.details {
				if d[k] != v {
					t.Errorf("GET %s: details[%s] = %v, want %s (details %v)", rd.path, k, d[k], v, d)
				}
			}
			raw, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pii {
				if strings.Contains(string(raw), p) {
					t.Errorf("GET %s: audit record holds personal data %q: %s", rd.path, p, raw)
				}
			}
		})
	}

	t.Run("the trail filters by action", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/audit?limit=100&action=lead.read", owner.Access, nil)
		expect(t, r, 200)
		if len(r.items()) != 1 || r.items()[0]["action"] != "lead.read" {
			t.Fatalf("audit filtered by lead.read: %s", r.Raw)
		}
		r = e.do(t, "GET", "/v1/audit?limit=1&action="+url.QueryEscape("lead.create"), owner.Access, nil)
		expect(t, r, 200)
		for _, it := range r.items() {
			if it["action"] != "lead.create" {
				t.Fatalf("audit filtered by lead.create: %s", r.Raw)
			}
		}
	})
}
