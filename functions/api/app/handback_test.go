package app_test

import (
	"testing"
	"time"
)

// Deactivating a user hands back its open tasks and booked appointments to
// come with its open leads: each to its lead's new assignee, or to the
// deactivating owner when the lead stays with the user (a closed lead);
// done tasks, past and cancelled appointments stay with the user.
func TestHandBackTasksAndAppointments(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Hand Back Co")
	gone := e.member(t, owner, "agent")
	stays := e.member(t, owner, "agent")
	expect(t, e.do(t, "PUT", "/v1/assignment-rule", owner.Access, map[string]any{"type": "round_robin", "user_ids": []string{stays.UserID}}), 200)
	open := e.createLead(t, gone, map[string]any{"name": "Open Lead", "phone": "+919876500001"}).str("id")
	won := e.createLead(t, gone, map[string]any{"name": "Won Lead", "phone": "+919876500002"}).str("id")
	now := time.Now()
	task := func(lead, title string) string {
		r := e.do(t, "POST", "/v1/leads/"+lead+"/tasks", gone.Access, map[string]any{"title": title, "due_at": rfc(now.Add(time.Hour))})
		expect(t, r, 201)
		return r.str("id")
	}
	appt := func(lead string, from, to time.Duration) string {
		r := e.do(t, "POST", "/v1/leads/"+lead+"/appointments", gone.Access, map[string]any{"starts_at": rfc(now.Add(from)), "ends_at": rfc(now.Add(to)), "force": true})
		expect(t, r, 201)
		return r.str("id")
	}
	openTask, wonTask, doneTask := task(open, "Call back"), task(won, "Send the invoice"), task(open, "Already done")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+open+"/tasks/"+doneTask, gone.Access, map[string]any{"status": "done"}), 200)
	comingAppt, wonAppt, pastAppt := appt(open, 2*time.Hour, 3*time.Hour), appt(won, 4*time.Hour, 5*time.Hour), appt(open, -3*time.Hour, -2*time.Hour)
	cancelled := appt(open, 6*time.Hour, 7*time.Hour)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+open+"/appointments/"+cancelled, gone.Access, map[string]any{"status": "cancelled"}), 200)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+won, owner.Access, map[string]any{"status": "won"}), 200)

	expect(t, e.do(t, "DELETE", "/v1/users/"+gone.UserID, owner.Access, nil), 204)

	if l := e.do(t, "GET", "/v1/leads/"+open, owner.Access, nil); assignee(l) != stays.UserID {
		t.Fatalf("open lead after the hand-back %s", l.Raw)
	}
	assignees := map[string]string{}
	for _, path := range []string{"/v1/leads/" + open + "/tasks", "/v1/leads/" + won + "/tasks", "/v1/leads/" + open + "/appointments", "/v1/leads/" + won + "/appointments"} {
		r := e.do(t, "GET", path, owner.Access, nil)
		expect(t, r, 200)
		for _, it := range r.items() {
			assignees[it["id"].(string)] = it["assignee_id"].(string)
		}
	}
	for id, want := range map[string]string{openTask: stays.UserID, wonTask: owner.UserID, doneTask: gone.UserID,
		comingAppt: stays.UserID, wonAppt: owner.UserID, pastAppt: gone.UserID, cancelled: gone.UserID} {
		if assignees[id] != want {
			t.Fatalf("%s assignee %s, want %s (all %v)", id, assignees[id], want, assignees)
		}
	}
	// The timeline: each move by the owner, naming the reason.
	kinds := map[string]map[string]any{}
	for _, a := range e.timelineOf(t, owner, open) {
		d := a["details"].(map[string]any)
		if d["reason"] != "user_deactivated" {
			continue
		}
		if a["actor"].(map[string]any)["id"] != owner.UserID {
			t.Fatalf("hand-back activity actor %v", a)
		}
		kinds[a["kind"].(string)] = a
	}
	if kinds["assigned"] == nil || kinds["task_updated"] == nil || kinds["appointment_updated"] == nil {
		t.Fatalf("hand-back activities %v", kinds)
	}
	if ch := kinds["task_updated"]["changes"].([]any)[0].(map[string]any); ch["field"] != "assignee_id" || ch["old"] != gone.UserID || ch["new"] != stays.UserID {
		t.Fatalf("task hand-back change %v", ch)
	}
	// The tasks list of the remaining agent shows the moved task.
	list := e.do(t, "GET", "/v1/tasks?assignee_id="+stays.UserID, owner.Access, nil)
	expect(t, list, 200)
	if items := list.items(); len(items) != 1 || items[0]["id"] != openTask {
		t.Fatalf("tasks of the new assignee %s", list.Raw)
	}
}
