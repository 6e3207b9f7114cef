package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/sendgate"
)

// prefs returns a view's states by "channel:purpose" and its history.
func prefs(t *testing.T, r response) (map[string]string, []map[string]any) {
	t.Helper()
	expect(t, r, 200)
	states := map[string]string{}
	list, _ := r.Body["preferences"].([]any)
	for _, it := range list {
		p := it.(map[string]any)
		states[p["channel"].(string)+":"+p["purpose"].(string)] = p["state"].(string)
	}
	var history []map[string]any
	hl, _ := r.Body["history"].([]any)
	for _, it := range hl {
		history = append(history, it.(map[string]any))
	}
	if len(states) != 4 {
		t.Fatalf("preferences %s", r.Raw)
	}
	return states, history
}

func TestLeadPreferences(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	e.verifiedSender(t, owner)
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	devi := e.createLead(t, owner, map[string]any{"name": "Devi", "phone": "98765 43212", "email": "devi@example.com"}).str("id")
	asha := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210", "assignee_id": agent.UserID}).str("id")
	e.connect(t, owner)
	ctx := context.Background()
	path := "/v1/leads/" + devi + "/preferences"

	states, history := prefs(t, e.do(t, "GET", path, owner.Access, nil))
	for k, v := range states {
		if v != "unknown" {
			t.Fatalf("new lead %s = %s", k, v)
		}
	}
	if len(history) != 0 {
		t.Fatalf("new lead history %v", history)
	}

	// An inbound STOP, stored the way ingest stores it.
	stopAt := time.Now().Add(-30 * time.Minute).UTC()
	stopID := e.inbound(t, owner.OrgID, devi, "STOP", stopAt, &conversation.ConsentEntry{
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: stopAt, Source: "keyword"})
	r := e.do(t, "GET", path, viewer.Access, nil)
	states, history = prefs(t, r)
	if states["whatsapp:marketing"] != "opted_out" || states["whatsapp:service"] != "opted_out" ||
		states["email:marketing"] != "unknown" || states["email:service"] != "unknown" {
		t.Fatalf("after STOP %v", states)
	}
	if len(history) != 1 || history[0]["channel"] != "whatsapp" || history[0]["purpose"] != "all" || history[0]["action"] != "opt_out" ||
		history[0]["source"] != "keyword" || history[0]["evidence"] != stopID || history[0]["changed_by"] != nil {
		t.Fatalf("history after STOP %s", r.Raw)
	}
	problemCode(t, e.send(t, owner, devi, textMsg("Sorry to see you go")), 409, "opted_out")

	put := func(s session, leadID string, body map[string]any) response {
		return e.do(t, "PUT", "/v1/leads/"+leadID+"/preferences", s.Access, body)
	}
	optIn := map[string]any{"channel": "whatsapp", "purpose": "service", "state": "opted_in", "reason": "Asked on the phone for the visit details"}

	t.Run("access and validation", func(t *testing.T) {
		problemCode(t, put(viewer, devi, optIn), 403, "forbidden")
		problemCode(t, put(agent, devi, optIn), 404, "not_found")
		problemCode(t, e.do(t, "GET", path, agent.Access, nil), 404, "not_found")
		for _, bad := range []map[string]any{
			{"channel": "sms", "purpose": "service", "state": "opted_in", "reason": "x"},
			{"channel": "whatsapp", "purpose": "all", "state": "opted_in", "reason": "x"},
			{"channel": "whatsapp", "purpose": "service", "state": "unknown", "reason": "x"},
			{"channel": "whatsapp", "purpose": "service", "state": "opted_in"},
			{"channel": "whatsapp", "purpose": "service", "state": "opted_in", "reason": ""},
		} {
			expect(t, put(owner, devi, bad), 422)
		}
		// Nothing of that reached the ledger.
		if _, h := prefs(t, e.do(t, "GET", path, owner.Access, nil)); len(h) != 1 {
			t.Fatalf("history after refused changes %v", h)
		}
	})

	t.Run("the person's opt-out holds against staff", func(t *testing.T) {
		problemCode(t, put(owner, devi, optIn), 409, "opted_out_by_person")
		if _, h := prefs(t, e.do(t, "GET", path, owner.Access, nil)); len(h) != 1 {
			t.Fatalf("history after a refused opt-in %v", h)
		}
		problemCode(t, e.send(t, owner, devi, textMsg("Here are the visit details.")), 409, "opted_out")
	})

	emailService := map[string]any{"channel": "email", "purpose": "service", "state": "opted_out", "reason": "Asked by phone: no more email"}
	t.Run("staff opt-out closes the gate", func(t *testing.T) {
		email := map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Your visit", "text": "See you Friday."}
		expect(t, e.send(t, owner, devi, email), 202)
		states, _ := prefs(t, put(owner, devi, emailService))
		if states["email:service"] != "opted_out" || states["email:marketing"] != "unknown" {
			t.Fatalf("after staff email opt-out %v", states)
		}
		email["client_message_id"] = cid()
		problemCode(t, e.send(t, owner, devi, email), 409, "opted_out")
	})

	t.Run("staff undo a staff opt-out and the gate opens", func(t *testing.T) {
		undo := map[string]any{"channel": "email", "purpose": "service", "state": "opted_in", "reason": "Called back: email is fine after all"}
		r := put(owner, devi, undo)
		states, history := prefs(t, r)
		if states["email:service"] != "opted_in" || states["whatsapp:service"] != "opted_out" {
			t.Fatalf("after staff undo %v", states)
		}
		last := history[len(history)-1]
		if len(history) != 3 || last["purpose"] != "service" || last["action"] != "opt_in" || last["source"] != "staff" ||
			last["changed_by"] != owner.UserID || last["reason"] != undo["reason"] {
			t.Fatalf("history after staff undo %s", r.Raw)
		}
		// The sender's gate reads the very same consent.
		l, err := e.store.GetLead(ctx, owner.OrgID, devi)
		if err != nil {
			t.Fatal(err)
		}
		if sendgate.OptedOut(l.Consent, conversation.ChannelEmail, false) || !sendgate.OptedOut(l.Consent, conversation.ChannelWhatsApp, false) {
			t.Fatalf("gate after staff undo: consent %v", l.Consent)
		}
		email := map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Your visit", "text": "See you Friday."}
		expect(t, e.send(t, owner, devi, email), 202)
	})

	t.Run("agent on its own lead", func(t *testing.T) {
		states, _ := prefs(t, put(agent, asha, map[string]any{"channel": "whatsapp", "purpose": "marketing", "state": "opted_in", "reason": "Signed the offers form"}))
		if states["whatsapp:marketing"] != "opted_in" || states["whatsapp:service"] != "unknown" {
			t.Fatalf("agent's lead %v", states)
		}
	})

	t.Run("audited", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
		expect(t, r, 200)
		var changed, denied bool
		for _, it := range r.items() {
			d, _ := it["details"].(map[string]any)
			if it["action"] == "lead.preferences" && it["actor_id"] == owner.UserID && it["target_id"] == devi &&
				d["channel"] == "email" && d["purpose"] == "service" && d["state"] == "opted_out" && d["reason"] == emailService["reason"] {
				changed = true
			}
			if it["action"] == "permission.denied" && it["actor_id"] == viewer.UserID && d["attempted"] == "lead.preferences" {
				denied = true
			}
		}
		if !changed || !denied {
			t.Fatalf("audit: change %v, viewer denial %v: %s", changed, denied, r.Raw)
		}
	})
}
