package app_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The timeline shows the lead's messages and consent changes beside its
// activities, newest first, without message content, and pages across
// all three.
func TestTimelineMessagesAndConsent(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Timeline Mix Co")
	l := e.createLead(t, owner, map[string]any{"name": "Mix Lead", "phone": "+919812377001"})
	id := l.str("id")
	in := e.inbound(t, owner.OrgID, id, "secret words of the lead", time.Now(), nil)
	time.Sleep(5 * time.Millisecond)
	e.optIn(t, owner, id, "whatsapp", "marketing")
	time.Sleep(5 * time.Millisecond)
	expect(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", owner.Access, map[string]any{"body": "called"}), 201)

	tl := e.do(t, "GET", "/v1/leads/"+id+"/activities", owner.Access, nil)
	expect(t, tl, 200)
	if strings.Contains(tl.Raw, "secret words") {
		t.Fatalf("timeline carries message content %s", tl.Raw)
	}
	items := tl.items()
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it["kind"].(string))
	}
	if got := strings.Join(kinds, ","); got != "note_added,consent_changed,message_in,created" {
		t.Fatalf("timeline kinds %s", got)
	}
	if d := items[2]["details"].(map[string]any); items[2]["id"] != in || d["message_id"] != in || d["channel"] != "whatsapp" || d["status"] != "received" {
		t.Fatalf("message entry %v", items[2])
	}
	if d := items[1]["details"].(map[string]any); d["channel"] != "whatsapp" || d["purpose"] != "marketing" || d["action"] != "opt_in" ||
		items[1]["actor"].(map[string]any)["id"] != owner.UserID {
		t.Fatalf("consent entry %v", items[1])
	}
	// One at a time: the same four, in the same order.
	var paged []string
	cursor := ""
	for range 10 {
		path := "/v1/leads/" + id + "/activities?limit=1"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		p := e.do(t, "GET", path, owner.Access, nil)
		expect(t, p, 200)
		for _, it := range p.items() {
			paged = append(paged, it["kind"].(string))
		}
		if p.Body["next_cursor"] == nil {
			break
		}
		cursor = p.str("next_cursor")
	}
	if got := strings.Join(paged, ","); got != strings.Join(kinds, ",") {
		t.Fatalf("paged timeline %s, want %s", got, strings.Join(kinds, ","))
	}
}
