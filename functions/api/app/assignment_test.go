package app_test

import (
	"fmt"
	"sync"
	"testing"
)

// assignee is the assignee_id of a lead answer ("" for none).
func assignee(r response) string { return r.str("assignee_id") }

// timelineOf returns a lead's activities, newest first.
func (e *testEnv) timelineOf(t *testing.T, s session, leadID string) []map[string]any {
	t.Helper()
	r := e.do(t, "GET", "/v1/leads/"+leadID+"/activities", s.Access, nil)
	expect(t, r, 200)
	return r.items()
}

// Manual assignment: a manager assigns, moves and unassigns (null or "");
// the assignee must be an active user of the org (422); an agent cannot
// assign leads to others; each change is an assigned activity.
func TestManualAssignment(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Assign Co")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	gone := e.member(t, owner, "agent")
	expect(t, e.do(t, "DELETE", "/v1/users/"+gone.UserID, owner.Access, nil), 204)
	other := e.signup(t, "Other Co")

	l := e.createLead(t, manager, map[string]any{"name": "Ravi Assign", "phone": "+919800011122"})
	id := l.str("id")
	if assignee(l) != "" {
		t.Fatalf("created assigned without a rule: %s", l.Raw)
	}
	r := e.do(t, "PATCH", "/v1/leads/"+id, manager.Access, map[string]any{"assignee_id": agent.UserID})
	expect(t, r, 200)
	if assignee(r) != agent.UserID {
		t.Fatalf("assign %s", r.Raw)
	}
	for _, bad := range []string{gone.UserID, other.UserID, "01JNOSUCHUSER0000000000000"} {
		problemCode(t, e.do(t, "PATCH", "/v1/leads/"+id, manager.Access, map[string]any{"assignee_id": bad}), 422, "validation_failed")
	}
	// The agent sees its lead but cannot hand it to someone else.
	problemCode(t, e.do(t, "PATCH", "/v1/leads/"+id, agent.Access, map[string]any{"assignee_id": manager.UserID}), 403, "forbidden")
	// null unassigns; the agent no longer sees it.
	r = e.do(t, "PATCH", "/v1/leads/"+id, manager.Access, `{"assignee_id": null}`)
	expect(t, r, 200)
	if assignee(r) != "" || r.Body["assignee_id"] != nil {
		t.Fatalf("unassign with null %s", r.Raw)
	}
	problemCode(t, e.do(t, "GET", "/v1/leads/"+id, agent.Access, nil), 404, "not_found")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"assignee_id": manager.UserID}), 200)
	r = e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"assignee_id": ""})
	expect(t, r, 200)
	if assignee(r) != "" {
		t.Fatalf("unassign with \"\" %s", r.Raw)
	}
	// A patch without assignee_id leaves it.
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"assignee_id": agent.UserID}), 200)
	r = e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "contacted"})
	expect(t, r, 200)
	if assignee(r) != agent.UserID {
		t.Fatalf("status patch moved the assignee %s", r.Raw)
	}
	var moves []string
	for _, a := range e.timelineOf(t, owner, id) {
		if a["kind"] != "assigned" {
			continue
		}
		c := a["changes"].([]any)[0].(map[string]any)
		moves = append(moves, fmt.Sprintf("%v>%v", c["old"], c["new"]))
	}
	want := []string{
		fmt.Sprintf("<nil>>%s", agent.UserID), fmt.Sprintf("%s><nil>", manager.UserID), fmt.Sprintf("<nil>>%s", manager.UserID),
		fmt.Sprintf("%s><nil>", agent.UserID), fmt.Sprintf("<nil>>%s", agent.UserID),
	}
	if fmt.Sprint(moves) != fmt.Sprint(want) {
		t.Fatalf("assigned activities %v, want %v", moves, want)
	}
}

// The round-robin rule: who may read and set it, what it refuses, exact
// balance under concurrent creates, only_available, the assigned activity
// naming the rule, and deactivation handing open leads back.
func TestAssignmentRule(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Round Robin Co")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")
	viewer := e.member(t, owner, "viewer")
	a1, a2, a3 := e.member(t, owner, "agent"), e.member(t, owner, "agent"), e.member(t, owner, "agent")
	other := e.signup(t, "Elsewhere Co")

	r := e.do(t, "GET", "/v1/assignment-rule", manager.Access, nil)
	expect(t, r, 200)
	if r.str("type") != "none" || len(r.Body["user_ids"].([]any)) != 0 || r.Body["updated_at"] != nil {
		t.Fatalf("rule before any %s", r.Raw)
	}
	problemCode(t, e.do(t, "GET", "/v1/assignment-rule", a1.Access, nil), 403, "forbidden")
	rule := map[string]any{"type": "round_robin", "user_ids": []string{a1.UserID, a2.UserID, a3.UserID}}
	problemCode(t, e.do(t, "PUT", "/v1/assignment-rule", manager.Access, rule), 403, "forbidden")
	for _, bad := range []map[string]any{
		{"type": "round_robin", "user_ids": []string{}},
		{"type": "round_robin", "user_ids": []string{a1.UserID, other.UserID}},
		{"type": "round_robin", "user_ids": []string{a1.UserID, a1.UserID}},
		{"type": "round_robin", "user_ids": []string{viewer.UserID}},
	} {
		problemCode(t, e.do(t, "PUT", "/v1/assignment-rule", admin.Access, bad), 422, "validation_failed")
	}
	r = e.do(t, "PUT", "/v1/assignment-rule", admin.Access, rule)
	expect(t, r, 200)
	if r.str("type") != "round_robin" || r.str("updated_by") != admin.UserID || len(r.Body["user_ids"].([]any)) != 3 {
		t.Fatalf("rule %s", r.Raw)
	}

	// 30 leads created at once, none with an assignee: exactly 10 each.
	const n = 30
	ids := make([]string, n)
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := e.do(t, "POST", "/v1/leads", manager.Access, map[string]any{"name": fmt.Sprintf("RR %d", i), "phone": fmt.Sprintf("+9198700%05d", i)})
			if r.Status != 201 {
				t.Errorf("create %d: %d %s", i, r.Status, r.Raw)
				return
			}
			ids[i], got[i] = r.str("id"), assignee(r)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	count := map[string]int{}
	for _, a := range got {
		count[a]++
	}
	if count[a1.UserID] != n/3 || count[a2.UserID] != n/3 || count[a3.UserID] != n/3 {
		t.Fatalf("distribution %v, want %d each of %s, %s, %s", count, n/3, a1.UserID, a2.UserID, a3.UserID)
	}
	// The timeline: created, then assigned by the rule (the system).
	tl := e.timelineOf(t, owner, ids[0])
	if len(tl) != 2 || tl[0]["kind"] != "assigned" || tl[1]["kind"] != "created" {
		t.Fatalf("timeline of a rule-assigned lead %v", tl)
	}
	if d := tl[0]["details"].(map[string]any); d["by"] != "rule:round_robin" || tl[0]["actor"].(map[string]any)["type"] != "system" {
		t.Fatalf("assigned activity %v", tl[0])
	}
	// An explicit assignee, and an agent's own lead, take no turn.
	if l := e.createLead(t, manager, map[string]any{"name": "Explicit", "phone": "+919870099001", "assignee_id": manager.UserID}); assignee(l) != manager.UserID {
		t.Fatalf("explicit assignee %s", l.Raw)
	}
	if l := e.createLead(t, a2, map[string]any{"name": "Own", "phone": "+919870099002"}); assignee(l) != a2.UserID {
		t.Fatalf("agent's own lead %s", l.Raw)
	}

	// only_available: a2 marks itself away; the turns skip it.
	me := e.do(t, "PATCH", "/v1/me", a2.Access, map[string]any{"available": false})
	expect(t, me, 200)
	if me.Body["available"] != false || me.str("id") != a2.UserID {
		t.Fatalf("PATCH /v1/me %s", me.Raw)
	}
	rule["only_available"] = true
	expect(t, e.do(t, "PUT", "/v1/assignment-rule", owner.Access, rule), 200)
	count = map[string]int{}
	for i := range 4 {
		count[assignee(e.createLead(t, owner, map[string]any{"name": "Avail", "phone": fmt.Sprintf("+9198711%05d", i)}))]++
	}
	if count[a1.UserID] != 2 || count[a3.UserID] != 2 || count[a2.UserID] != 0 {
		t.Fatalf("with a2 away %v", count)
	}
	users := e.do(t, "GET", "/v1/users", a1.Access, nil)
	for _, u := range users.items() {
		if want := u["id"] != a2.UserID; u["available"] != want {
			t.Fatalf("user %v available %v", u["id"], u["available"])
		}
	}
	expect(t, e.do(t, "PATCH", "/v1/me", a2.Access, map[string]any{"available": true}), 200)

	// Deactivating a1: its open leads go to a2 and a3 by the rule; a won
	// one stays with it.
	a1Leads := []string{}
	for i, a := range got {
		if a == a1.UserID {
			a1Leads = append(a1Leads, ids[i])
		}
	}
	expect(t, e.do(t, "PATCH", "/v1/leads/"+a1Leads[0], owner.Access, map[string]any{"status": "won"}), 200)
	expect(t, e.do(t, "DELETE", "/v1/users/"+a1.UserID, owner.Access, nil), 204)
	count = map[string]int{}
	for _, id := range a1Leads {
		l := e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil)
		expect(t, l, 200)
		count[assignee(l)]++
	}
	if count[a1.UserID] != 1 || count[a2.UserID]+count[a3.UserID] != len(a1Leads)-1 || count[a2.UserID] == 0 || count[a3.UserID] == 0 {
		t.Fatalf("a1's leads after its deactivation %v", count)
	}
	tl = e.timelineOf(t, owner, a1Leads[1])
	if d := tl[0]["details"].(map[string]any); tl[0]["kind"] != "assigned" || d["by"] != "rule:round_robin" || d["reason"] != "user_deactivated" ||
		tl[0]["actor"].(map[string]any)["id"] != owner.UserID {
		t.Fatalf("hand-back activity %v", tl[0])
	}
	// New leads skip the inactive user.
	for i := range 4 {
		if a := assignee(e.createLead(t, owner, map[string]any{"name": "After", "phone": fmt.Sprintf("+9198722%05d", i)})); a == a1.UserID || a == "" {
			t.Fatalf("assigned to %q after a1's deactivation", a)
		}
	}

	// Without a rule, a deactivated user's open leads are unassigned.
	r = e.do(t, "PUT", "/v1/assignment-rule", owner.Access, map[string]any{"type": "none"})
	expect(t, r, 200)
	if r.str("type") != "none" || len(r.Body["user_ids"].([]any)) != 0 {
		t.Fatalf("rule off %s", r.Raw)
	}
	if l := e.createLead(t, owner, map[string]any{"name": "No rule", "phone": "+919873300001"}); assignee(l) != "" {
		t.Fatalf("assigned with the rule off %s", l.Raw)
	}
	expect(t, e.do(t, "DELETE", "/v1/users/"+a3.UserID, owner.Access, nil), 204)
	list := e.do(t, "GET", "/v1/leads?assignee_id="+a3.UserID+"&limit=100", owner.Access, nil)
	expect(t, list, 200)
	if items := list.items(); len(items) != 0 {
		t.Fatalf("a3 still holds %d leads", len(items))
	}
}
