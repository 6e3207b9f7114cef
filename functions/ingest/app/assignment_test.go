package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
)

// Leads intake creates (Lead Ads, the first WhatsApp message of a new
// number) go round robin to the org's rule, with an assigned activity
// naming it; a redelivered event, a repeated submission and a later
// message take no turn, and an event whose turn was taken before its lead
// was written (the function stopped) takes that same turn again.
func TestIntakeLeadsFollowTheAssignmentRule(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	var users []string
	for i := range 3 {
		u := account.User{ID: ulid.Make().String(), OrgID: e.orgID, Name: fmt.Sprintf("Agent %d", i), Role: account.RoleAgent, Active: true,
			Email: fmt.Sprintf("agent%d-%d@example.com", i, now.UnixNano()), CreatedAt: now, UpdatedAt: now}
		if err := e.store.CreateUser(e.ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	if err := e.store.PutAssignmentRule(e.ctx, e.orgID, lead.AssignmentRule{Type: lead.RuleRoundRobin, UserIDs: users, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Minute).Truncate(time.Second)
	submit := func(name, phone string) string {
		id := e.sim.AddLead(formID, map[string][]string{"full_name": {name}, "phone_number": {phone}}, at)
		p := e.sim.LeadgenPayload(pageID, formID, id, at)
		// Delivered twice in a batch, and again later.
		if failed := e.deliver(p, p); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		if failed := e.deliver(p); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		return id
	}
	assigned := func(phone string, want string) lead.Lead {
		t.Helper()
		l := e.leadByPhone(phone)
		if l.AssigneeID != want {
			t.Fatalf("lead of %s assigned to %q, want %q", phone, l.AssigneeID, want)
		}
		return l
	}

	// Turn 1: the first Lead Ads lead.
	submit("Asha RR", "+919812300001")
	l1 := assigned("+919812300001", users[0])
	acts, err := e.store.Activities(e.ctx, e.orgID, l1.ID)
	if err != nil || len(acts) != 2 || acts[0].Kind != lead.ActivityCreated || acts[1].Kind != lead.ActivityAssigned ||
		acts[1].Details["by"] != "rule:round_robin" || acts[1].ActorID != "" || acts[1].Changes[0].New != users[0] {
		t.Fatalf("activities %+v, %v", acts, err)
	}
	// The same person again: attached to their lead, no turn.
	submit("Asha RR", "+919812300001")

	// Turn 2 was taken for this submission before its lead was written
	// (the function stopped): delivered now, it gets that turn.
	id2 := e.sim.AddLead(formID, map[string][]string{"full_name": {"Bela RR"}, "phone_number": {"+919812300002"}}, at)
	if turn, err := e.store.TakeTurn(e.ctx, e.orgID, "leadgen:"+id2); err != nil || turn != 2 {
		t.Fatalf("turn taken ahead %d, %v", turn, err)
	}
	p2 := e.sim.LeadgenPayload(pageID, formID, id2, at)
	if failed := e.deliver(p2, p2); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	assigned("+919812300002", users[1])

	// Turn 3: a new number's first WhatsApp message (delivered twice);
	// its second message takes none.
	first := metatest.Text("919812300003", "Hello, is it available?").At(at).WithName("Chitra")
	payload := e.sim.InboundPayload(numberID, display, first)
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text("919812300003", "Hello?").At(at.Add(time.Second)))); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	l3 := assigned("+919812300003", users[2])
	if acts, _ := e.store.Activities(e.ctx, e.orgID, l3.ID); len(acts) != 2 || acts[1].Details["by"] != "rule:round_robin" {
		t.Fatalf("activities of the WhatsApp lead %+v", acts)
	}
	// Its conversation is in the assignee's inbox (written by the same
	// transaction as the lead and its first message), not the unassigned one.
	inbox, _, err := e.store.Inbox(e.ctx, e.orgID, conversation.InboxFilter{AssigneeID: users[2]}, 10, page.Cursor{})
	if err != nil || len(inbox) != 1 || inbox[0].Lead.ID != l3.ID || inbox[0].Summary.Unread != 2 {
		t.Fatalf("assignee's inbox %+v, %v", inbox, err)
	}
	if unassigned, _, err := e.store.Inbox(e.ctx, e.orgID, conversation.InboxFilter{Unassigned: true}, 10, page.Cursor{}); err != nil || len(unassigned) != 0 {
		t.Fatalf("unassigned inbox %+v, %v", unassigned, err)
	}

	// Turn 4 goes round to the first user again.
	submit("Divya RR", "+919812300004")
	assigned("+919812300004", users[0])

	// The counter moved once per lead, and the tickets are gone: the
	// submission whose turn was taken ahead would take a new one now.
	if turn, err := e.store.TakeTurn(e.ctx, e.orgID, "leadgen:"+id2); err != nil || turn != 5 {
		t.Fatalf("next turn %d, %v; want 5", turn, err)
	}
}
