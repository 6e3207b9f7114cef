package app_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestLeadCreateValidationAndDuplicates(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Leads Co")

	r := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "098765 43210", "email": "Asha@Example.com",
		"tags": []string{"VIP", "vip"}, "custom_fields": map[string]string{"budget": "50L"}, "source": "website"})
	for k, want := range map[string]string{"phone": "+919876543210", "email": "asha@example.com", "status": "new", "source": "website"} {
		if got := r.str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.Body["version"].(float64) != 1 || r.str("id") == "" || r.str("created_at") == "" || r.Header.Get("ETag") != `"1"` {
		t.Fatalf("created lead %s (ETag %s)", r.Raw, r.Header.Get("ETag"))
	}
	if r.Body["assignee_id"] != nil {
		t.Fatalf("owner-created lead is assigned: %s", r.Raw)
	}
	first := r.str("id")

	for name, tc := range map[string]struct {
		body  map[string]any
		field string
	}{
		"invalid phone":     {map[string]any{"name": "X", "phone": "12"}, "body.phone"},
		"invalid email":     {map[string]any{"name": "X", "email": "x@"}, "body.email"},
		"no phone or email": {map[string]any{"name": "X"}, "body.phone"},
		"bad status":        {map[string]any{"name": "X", "email": "s@example.com", "status": "hot"}, "body.status"},
		"missing name":      {map[string]any{"email": "n@example.com"}, "body.name"},
		"unknown assignee":  {map[string]any{"name": "X", "email": "u@example.com", "assignee_id": "01JNOSUCHUSER0000000000000"}, "body.assignee_id"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/leads", owner.Access, tc.body)
			expect(t, r, 422)
			if !strings.Contains(r.Raw, `"location":"`+tc.field+`"`) {
				t.Fatalf("422 does not name %s: %s", tc.field, r.Raw)
			}
		})
	}

	t.Run("duplicate phone in another format", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Dup", "phone": "+91 98765-43210"})
		expect(t, r, 409)
		if r.str("existing_lead_id") != first {
			t.Fatalf("existing_lead_id = %q, want %q: %s", r.str("existing_lead_id"), first, r.Raw)
		}
	})
	t.Run("duplicate email leaves nothing behind", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Dup", "phone": "+14155552671", "email": "ASHA@example.com"})
		expect(t, r, 409)
		if r.str("existing_lead_id") != first {
			t.Fatalf("existing_lead_id = %q, want %q", r.str("existing_lead_id"), first)
		}
		// The phone of the failed create was not claimed: a new lead may use it.
		e.createLead(t, owner, map[string]any{"name": "Fresh", "phone": "+14155552671"})
		list := e.do(t, "GET", "/v1/leads", owner.Access, nil)
		expect(t, list, 200)
		if n := len(list.items()); n != 2 {
			t.Fatalf("org has %d leads, want 2 (no half-written lead)", n)
		}
	})
	t.Run("same phone in another org is fine", func(t *testing.T) {
		other := e.signup(t, "Other Leads Co")
		e.createLead(t, other, map[string]any{"name": "Asha", "phone": "+919876543210"})
	})
	t.Run("oversized body", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Big", "email": "big@example.com",
			"custom_fields": map[string]string{"notes": strings.Repeat("x", 70<<10)}})
		expect(t, r, 413)
	})
}

func TestLeadGetPatchDelete(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Patch Co")
	other := e.signup(t, "Patch Rival")
	l := e.createLead(t, owner, map[string]any{"name": "Ravi", "email": "ravi@example.com"})
	id := l.str("id")

	expect(t, e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil), 200)
	expect(t, e.do(t, "GET", "/v1/leads/"+id, other.Access, nil), 404)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, other.Access, map[string]any{"name": "x"}), 404)
	expect(t, e.do(t, "DELETE", "/v1/leads/"+id, other.Access, nil), 404)
	expect(t, e.do(t, "GET", "/v1/leads/01JNOSUCHLEAD0000000000000", owner.Access, nil), 404)

	r := e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "qualified", "phone": "9876501234", "tags": []string{"Hot"}}, "If-Match", `"1"`)
	expect(t, r, 200)
	if r.str("status") != "qualified" || r.str("phone") != "+919876501234" || r.Body["version"].(float64) != 2 || r.str("name") != "Ravi" {
		t.Fatalf("patched lead %s", r.Raw)
	}
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "won"}, "If-Match", "1"), 412)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "won"}, "If-Match", "banana"), 400)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "maybe"}), 422)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"phone": "", "email": ""}), 422)

	// Changing the phone releases the old one and claims the new one.
	e.createLead(t, owner, map[string]any{"name": "Takes old phone", "email": "old@example.com"})
	taker := e.createLead(t, owner, map[string]any{"name": "Other", "phone": "9876500000"})
	dup := e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"phone": "+91 98765 00000"})
	expect(t, dup, 409)
	if dup.str("existing_lead_id") != taker.str("id") {
		t.Fatalf("existing_lead_id %q, want %q", dup.str("existing_lead_id"), taker.str("id"))
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil), 200)

	expect(t, e.do(t, "DELETE", "/v1/leads/"+id, owner.Access, nil), 204)
	expect(t, e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil), 404)
	expect(t, e.do(t, "DELETE", "/v1/leads/"+id, owner.Access, nil), 404)
	// Its email and phone are free again.
	e.createLead(t, owner, map[string]any{"name": "Ravi again", "email": "ravi@example.com", "phone": "9876501234"})
}

func TestLeadListPaginationFiltersAndCursors(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "List Co")
	agent := e.member(t, owner, "agent")
	var ids []string
	for i := range 7 {
		body := map[string]any{"name": fmt.Sprintf("Lead %d", i), "email": fmt.Sprintf("l%d@example.com", i), "source": "website"}
		if i%2 == 0 {
			body["status"] = "contacted"
			body["tags"] = []string{"even"}
			body["source"] = "referral"
		}
		if i%3 == 0 {
			body["assignee_id"] = agent.UserID
		}
		ids = append(ids, e.createLead(t, owner, body).str("id"))
	}

	// Newest first, pages of 3, following cursors to the end.
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		q := "/v1/leads?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do(t, "GET", q, owner.Access, nil)
		expect(t, r, 200)
		for _, it := range r.items() {
			got = append(got, it["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = next
	}
	if len(got) != 7 {
		t.Fatalf("paged through %d leads, want 7", len(got))
	}
	for i := range got {
		if got[i] != ids[len(ids)-1-i] {
			t.Fatalf("order %v, want newest first %v", got, ids)
		}
	}

	count := func(q string, s session) int {
		r := e.do(t, "GET", "/v1/leads?"+q, s.Access, nil)
		expect(t, r, 200)
		return len(r.items())
	}
	for q, want := range map[string]int{
		"status=contacted":            4,
		"status=new":                  3,
		"tag=even":                    4,
		"tag=EVEN":                    4,
		"source=referral":             4,
		"assignee_id=" + agent.UserID: 3,
		"assignee_id=" + agent.UserID + "&tag=even": 2,
		"status=contacted&source=referral&tag=even": 4,
		"status=won": 0,
	} {
		if got := count(q, owner); got != want {
			t.Errorf("GET /v1/leads?%s: %d items, want %d", q, got, want)
		}
	}
	expect(t, e.do(t, "GET", "/v1/leads?limit=101", owner.Access, nil), 422)
	expect(t, e.do(t, "GET", "/v1/leads?status=hot", owner.Access, nil), 422)

	t.Run("filtered pages follow cursors", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/leads?status=contacted&limit=3", owner.Access, nil)
		expect(t, r, 200)
		next := r.str("next_cursor")
		if len(r.items()) != 3 || next == "" {
			t.Fatalf("first filtered page: %s", r.Raw)
		}
		r2 := e.do(t, "GET", "/v1/leads?status=contacted&limit=3&cursor="+url.QueryEscape(next), owner.Access, nil)
		expect(t, r2, 200)
		if len(r2.items()) != 1 || r2.Body["next_cursor"] != nil {
			t.Fatalf("second filtered page: %s", r2.Raw)
		}
		// The cursor is bound to its listing.
		expect(t, e.do(t, "GET", "/v1/leads?status=new&limit=3&cursor="+url.QueryEscape(next), owner.Access, nil), 400)
	})

	t.Run("tampered and foreign cursors", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/leads?limit=2", owner.Access, nil)
		next := r.str("next_cursor")
		tampered := []byte(next)
		tampered[5] ^= 1
		expect(t, e.do(t, "GET", "/v1/leads?limit=2&cursor="+url.QueryEscape(string(tampered)), owner.Access, nil), 400)
		expect(t, e.do(t, "GET", "/v1/leads?limit=2&cursor=not-a-cursor", owner.Access, nil), 400)
		other := e.signup(t, "Cursor Thief")
		expect(t, e.do(t, "GET", "/v1/leads?limit=2&cursor="+url.QueryEscape(next), other.Access, nil), 400)
	})
}

func TestLeadRowLevelAccess(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Access Co")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	agent2 := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")

	assigned := e.createLead(t, owner, map[string]any{"name": "Mine", "email": "mine@example.com", "assignee_id": agent.UserID}).str("id")
	unassigned := e.createLead(t, manager, map[string]any{"name": "Pool", "email": "pool@example.com"}).str("id")
	theirs := e.createLead(t, owner, map[string]any{"name": "Theirs", "email": "theirs@example.com", "assignee_id": agent2.UserID}).str("id")

	t.Run("agent", func(t *testing.T) {
		expect(t, e.do(t, "GET", "/v1/leads/"+assigned, agent.Access, nil), 200)
		expect(t, e.do(t, "GET", "/v1/leads/"+unassigned, agent.Access, nil), 404)
		expect(t, e.do(t, "GET", "/v1/leads/"+theirs, agent.Access, nil), 404)
		expect(t, e.do(t, "PATCH", "/v1/leads/"+theirs, agent.Access, map[string]any{"status": "won"}), 404)
		expect(t, e.do(t, "DELETE", "/v1/leads/"+theirs, agent.Access, nil), 404)
		expect(t, e.do(t, "PATCH", "/v1/leads/"+assigned, agent.Access, map[string]any{"status": "contacted"}), 200)
		expect(t, e.do(t, "PATCH", "/v1/leads/"+assigned, agent.Access, map[string]any{"assignee_id": agent2.UserID}), 403)

		own := e.createLead(t, agent, map[string]any{"name": "Walk-in", "phone": "9812345678"})
		if own.str("assignee_id") != agent.UserID {
			t.Fatalf("agent-created lead assigned to %q, want the agent", own.str("assignee_id"))
		}
		expect(t, e.do(t, "POST", "/v1/leads", agent.Access, map[string]any{"name": "X", "email": "x@example.com", "assignee_id": agent2.UserID}), 403)

		for _, q := range []string{"", "?assignee_id=" + agent2.UserID, "?assignee_id=me"} {
			r := e.do(t, "GET", "/v1/leads"+q, agent.Access, nil)
			expect(t, r, 200)
			for _, it := range r.items() {
				if it["assignee_id"] != agent.UserID {
					t.Fatalf("agent listing %q shows lead %v assigned to %v", q, it["id"], it["assignee_id"])
				}
			}
			if q != "?assignee_id="+agent2.UserID && len(r.items()) != 2 {
				t.Fatalf("agent listing %q has %d leads, want 2", q, len(r.items()))
			}
		}
	})

	t.Run("viewer reads all, writes nothing", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/leads", viewer.Access, nil)
		expect(t, r, 200)
		if len(r.items()) != 4 {
			t.Fatalf("viewer sees %d leads, want 4", len(r.items()))
		}
		expect(t, e.do(t, "GET", "/v1/leads/"+theirs, viewer.Access, nil), 200)
		expect(t, e.do(t, "POST", "/v1/leads", viewer.Access, map[string]any{"name": "V", "email": "v@example.com"}), 403)
		expect(t, e.do(t, "PATCH", "/v1/leads/"+theirs, viewer.Access, map[string]any{"status": "won"}), 403)
		expect(t, e.do(t, "DELETE", "/v1/leads/"+theirs, viewer.Access, nil), 403)
	})

	t.Run("manager sees and changes all", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/leads", manager.Access, nil)
		expect(t, r, 200)
		if len(r.items()) != 4 {
			t.Fatalf("manager sees %d leads, want 4", len(r.items()))
		}
		expect(t, e.do(t, "PATCH", "/v1/leads/"+theirs, manager.Access, map[string]any{"assignee_id": agent.UserID}), 200)
		expect(t, e.do(t, "GET", "/v1/leads/"+theirs, agent.Access, nil), 200)
		expect(t, e.do(t, "GET", "/v1/leads/"+theirs, agent2.Access, nil), 404)
	})
}

// The 409 of a duplicate names the existing lead only to a caller who may
// see it: an agent does not learn that another agent's lead exists by id.
func TestDuplicateLeadIDOnlyWhenVisible(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Dup Visibility Co")
	a := e.member(t, owner, "agent")
	b := e.member(t, owner, "agent")
	mine := e.createLead(t, a, map[string]any{"name": "Agent A's", "phone": "+919876512345"})

	r := e.do(t, "POST", "/v1/leads", b.Access, map[string]any{"name": "Same person", "phone": "+91 98765 12345"})
	expect(t, r, 409)
	if _, shown := r.Body["existing_lead_id"]; shown {
		t.Fatalf("another agent's lead id shown: %s", r.Raw)
	}
	own := e.createLead(t, b, map[string]any{"name": "Agent B's", "email": "b-lead@example.com"})
	r = e.do(t, "PATCH", "/v1/leads/"+own.str("id"), b.Access, map[string]any{"phone": "9876512345"})
	expect(t, r, 409)
	if _, shown := r.Body["existing_lead_id"]; shown {
		t.Fatalf("another agent's lead id shown on update: %s", r.Raw)
	}

	r = e.do(t, "POST", "/v1/leads", a.Access, map[string]any{"name": "Again", "phone": "+919876512345"})
	expect(t, r, 409)
	if r.str("existing_lead_id") != mine.str("id") {
		t.Fatalf("own lead's id not shown: %s", r.Raw)
	}
	r = e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Again", "phone": "+919876512345"})
	expect(t, r, 409)
	if r.str("existing_lead_id") != mine.str("id") {
		t.Fatalf("owner not shown the lead id: %s", r.Raw)
	}
}
