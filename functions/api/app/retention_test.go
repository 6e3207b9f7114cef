package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/retention"
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

// Sanitized messages stay in the history and the inbox, marked.
func TestSanitizedMessagesInHistoryAndInbox(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Old Messages Co")
	leadID := e.createLead(t, owner, map[string]any{"name": "Ravi", "phone": "+919812345678"}).str("id")
	now := time.Now().UTC()
	old := e.inbound(t, owner.OrgID, leadID, "my card is 4111 1111 1111 1111, mail ravi@example.com", now.AddDate(0, 0, -120), nil)
	recent := e.inbound(t, owner.OrgID, leadID, "is the flat available?", now.Add(-time.Hour), nil)

	r := &retention.Runner{Store: e.store, Audit: e.store, Rate: 1000}
	if res, err := r.Run(context.Background(), now); err != nil || res.Total() != 1 {
		t.Fatalf("retention run: %+v, %v", res, err)
	}
	hist := e.do(t, "GET", "/v1/leads/"+leadID+"/messages", owner.Access, nil)
	expect(t, hist, 200)
	items := hist.items()
	if len(items) != 2 {
		t.Fatalf("history: %s", hist.Raw)
	}
	for _, m := range items {
		switch m["id"] {
		case old:
			if m["sanitized_at"] == nil || strings.Contains(fmt.Sprint(m["text"]), "4111") || strings.Contains(fmt.Sprint(m["text"]), "ravi@") {
				t.Errorf("old message: %v", m)
			}
		case recent:
			if m["sanitized_at"] != nil || m["text"] != "is the flat available?" {
				t.Errorf("recent message: %v", m)
			}
		}
	}
	inbox := e.do(t, "GET", "/v1/conversations", owner.Access, nil)
	expect(t, inbox, 200)
	if !strings.Contains(inbox.Raw, `"sanitized_at":null`) || !strings.Contains(inbox.Raw, leadID) {
		t.Fatalf("inbox: %s", inbox.Raw)
	}
}
