package app_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestLeadTasks: tasks follow their lead's rules (an agent on its own
// leads, assigning only itself; a viewer reads), are completed, reopened,
// rescheduled, reassigned and deleted with an activity each in the lead's
// timeline, are listed across leads by assignee and status soonest due
// first with pages and a due-before filter, carry overdue while open past
// due, and go into the export and away with the erasure.
func TestLeadTasks(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Tasks Co")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	other := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	l := e.createLead(t, agent, map[string]any{"name": "Ravi Tasks", "phone": "+919812300088"})
	id := l.str("id")
	l2 := e.createLead(t, owner, map[string]any{"name": "Second Lead", "phone": "+919812300089", "assignee_id": agent.UserID})
	id2 := l2.str("id")
	now := time.Now()
	tasks := "/v1/leads/" + id + "/tasks"

	// The agent's own task, assigned to itself by default.
	c := e.do(t, "POST", tasks, agent.Access, map[string]any{"title": "  Call back about the site visit ", "due_at": rfc(now.Add(2 * time.Hour)),
		"remind_before_minutes": 30})
	expect(t, c, 201)
	taskID := c.str("id")
	if c.str("assignee_id") != agent.UserID || c.str("status") != "open" || c.str("title") != "Call back about the site visit" ||
		c.Body["overdue"] != false || c.Body["remind_before_minutes"] != float64(30) || c.Body["reminder_sent_at"] != nil || c.str("lead_id") != id {
		t.Fatalf("created task %s", c.Raw)
	}
	if ra, _ := time.Parse(time.RFC3339, c.str("remind_at")); !ra.Equal(now.Add(90 * time.Minute).Truncate(time.Second)) {
		t.Fatalf("remind_at %s", c.str("remind_at"))
	}
	// Roles and fields.
	problemCode(t, e.do(t, "POST", tasks, agent.Access, map[string]any{"title": "x", "due_at": rfc(now), "assignee_id": manager.UserID}), 403, "forbidden")
	problemCode(t, e.do(t, "POST", tasks, viewer.Access, map[string]any{"title": "x", "due_at": rfc(now)}), 403, "forbidden")
	problemCode(t, e.do(t, "POST", tasks, other.Access, map[string]any{"title": "x", "due_at": rfc(now)}), 404, "not_found")
	expect(t, e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "x", "due_at": rfc(now), "assignee_id": "01JNOSUCHUSER0000000000000"}), 422)
	expect(t, e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "x", "due_at": "tomorrow"}), 422)
	expect(t, e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "x", "due_at": "2026-12-04T10:00:00"}), 422)
	expect(t, e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "   ", "due_at": rfc(now)}), 422)
	expect(t, e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "x"}), 422)

	// A manager's task for the agent, already past due: overdue.
	late := e.do(t, "POST", tasks, manager.Access, map[string]any{"title": "Send the quote", "due_at": rfc(now.Add(-time.Hour)), "assignee_id": agent.UserID})
	expect(t, late, 201)
	if late.Body["overdue"] != true || late.str("created_by") != manager.UserID {
		t.Fatalf("late task %s", late.Raw)
	}
	third := e.do(t, "POST", "/v1/leads/"+id2+"/tasks", agent.Access, map[string]any{"title": "Share the floor plan", "due_at": rfc(now.Add(time.Hour))})
	expect(t, third, 201)

	// The agent's open tasks across leads, soonest due first, a page at a time.
	var order []string
	cursor := ""
	for range 5 {
		p := e.do(t, "GET", "/v1/tasks?limit=1&cursor="+url.QueryEscape(cursor), agent.Access, nil)
		expect(t, p, 200)
		for _, it := range p.items() {
			order = append(order, it["id"].(string))
		}
		if cursor = p.str("next_cursor"); cursor == "" {
			break
		}
	}
	if want := []string{late.str("id"), third.str("id"), taskID}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("agent's tasks %v, want %v", order, want)
	}
	due := e.do(t, "GET", "/v1/tasks?assignee_id=me&due_before="+url.QueryEscape(rfc(now.Add(90*time.Minute))), agent.Access, nil)
	expect(t, due, 200)
	if items := due.items(); len(items) != 2 || items[0]["overdue"] != true || items[1]["overdue"] != false {
		t.Fatalf("due before %s", due.Raw)
	}
	// A manager lists anyone's; an agent only its own; a viewer reads.
	if p := e.do(t, "GET", "/v1/tasks?assignee_id="+agent.UserID, manager.Access, nil); len(p.items()) != 3 {
		t.Fatalf("manager's view of the agent's tasks %s", p.Raw)
	}
	problemCode(t, e.do(t, "GET", "/v1/tasks?assignee_id="+manager.UserID, agent.Access, nil), 403, "forbidden")
	expect(t, e.do(t, "GET", "/v1/tasks?assignee_id="+agent.UserID, viewer.Access, nil), 200)
	if p := e.do(t, "GET", "/v1/tasks", other.Access, nil); len(p.items()) != 0 {
		t.Fatalf("another agent's tasks %s", p.Raw)
	}
	// A cursor of another listing is refused.
	first := e.do(t, "GET", "/v1/tasks?limit=1", agent.Access, nil)
	problemCode(t, e.do(t, "GET", "/v1/tasks?limit=1&status=done&cursor="+url.QueryEscape(first.str("next_cursor")), agent.Access, nil), 400, "invalid_cursor")

	// Complete, reopen, complete again; the done list.
	path := tasks + "/" + late.str("id")
	problemCode(t, e.do(t, "PATCH", path, viewer.Access, map[string]any{"status": "done"}), 403, "forbidden")
	problemCode(t, e.do(t, "PATCH", path, other.Access, map[string]any{"status": "done"}), 404, "not_found")
	done := e.do(t, "PATCH", path, agent.Access, map[string]any{"status": "done"})
	expect(t, done, 200)
	if done.str("status") != "done" || done.str("completed_by") != agent.UserID || done.Body["completed_at"] == nil || done.Body["overdue"] != false {
		t.Fatalf("completed task %s", done.Raw)
	}
	expect(t, e.do(t, "PATCH", path, agent.Access, map[string]any{"status": "open"}), 200)
	expect(t, e.do(t, "PATCH", path, agent.Access, map[string]any{"status": "done"}), 200)
	if p := e.do(t, "GET", "/v1/tasks?status=done", agent.Access, nil); len(p.items()) != 1 || p.items()[0]["id"] != late.str("id") {
		t.Fatalf("done tasks %s", p.Raw)
	}
	if p := e.do(t, "GET", "/v1/tasks", agent.Access, nil); len(p.items()) != 2 {
		t.Fatalf("open tasks after completing one %s", p.Raw)
	}

	// Reschedule and retitle; reassign (a manager; an agent may not give it away).
	mv := e.do(t, "PATCH", tasks+"/"+taskID, agent.Access, map[string]any{"due_at": rfc(now.Add(5 * time.Hour)), "title": "Call back, new time"})
	expect(t, mv, 200)
	if mv.Body["version"] != float64(2) || mv.str("title") != "Call back, new time" {
		t.Fatalf("rescheduled %s", mv.Raw)
	}
	problemCode(t, e.do(t, "PATCH", tasks+"/"+taskID, agent.Access, map[string]any{"assignee_id": other.UserID}), 403, "forbidden")
	ra := e.do(t, "PATCH", tasks+"/"+taskID, manager.Access, map[string]any{"assignee_id": other.UserID})
	expect(t, ra, 200)
	if ra.str("assignee_id") != other.UserID {
		t.Fatalf("reassigned %s", ra.Raw)
	}
	if p := e.do(t, "GET", "/v1/tasks", other.Access, nil); len(p.items()) != 1 || p.items()[0]["id"] != taskID {
		t.Fatalf("the new assignee's tasks %s", p.Raw)
	}
	if p := e.do(t, "GET", "/v1/tasks", agent.Access, nil); len(p.items()) != 1 {
		t.Fatalf("the old assignee's tasks %s", p.Raw)
	}
	problemCode(t, e.do(t, "PATCH", tasks+"/01JNOSUCHTASK0000000000000", owner.Access, map[string]any{"status": "done"}), 404, "not_found")

	// Delete.
	problemCode(t, e.do(t, "DELETE", "/v1/leads/"+id2+"/tasks/"+third.str("id"), viewer.Access, nil), 403, "forbidden")
	expect(t, e.do(t, "DELETE", "/v1/leads/"+id2+"/tasks/"+third.str("id"), agent.Access, nil), 204)
	expect(t, e.do(t, "DELETE", "/v1/leads/"+id2+"/tasks/"+third.str("id"), agent.Access, nil), 404)

	// The lead's tasks, and its timeline.
	lt := e.do(t, "GET", tasks, viewer.Access, nil)
	expect(t, lt, 200)
	if len(lt.items()) != 2 {
		t.Fatalf("lead tasks %s", lt.Raw)
	}
	problemCode(t, e.do(t, "GET", tasks, other.Access, nil), 404, "not_found")
	tl := e.do(t, "GET", "/v1/leads/"+id+"/activities", owner.Access, nil)
	var kinds []string
	for _, it := range tl.items() {
		kinds = append(kinds, it["kind"].(string))
	}
	want := "task_updated,task_updated,task_completed,task_reopened,task_completed,task_created,task_created,created"
	if strings.Join(kinds, ",") != want {
		t.Fatalf("timeline %v, want %s", kinds, want)
	}
	upd := tl.items()[1]
	if ch := upd["changes"].([]any); len(ch) != 2 || upd["details"].(map[string]any)["task_id"] != taskID {
		t.Fatalf("task_updated %v", upd)
	}
	if tl2 := e.do(t, "GET", "/v1/leads/"+id2+"/activities", owner.Access, nil); !strings.Contains(tl2.Raw, "task_deleted") {
		t.Fatalf("second lead's timeline %s", tl2.Raw)
	}

	// The export carries the tasks; the erasure takes them, from every list.
	exp := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"lead_id": id}})
	doc := e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id")+"/export", owner.Access, nil, "Accept-Encoding", "identity")
	expect(t, doc, 200)
	var d struct {
		Leads []struct {
			Tasks []struct {
				Title  string `json:"title"`
				Status string `json:"status"`
			} `json:"tasks"`
		} `json:"leads"`
	}
	if err := json.Unmarshal([]byte(doc.Raw), &d); err != nil || len(d.Leads) != 1 || len(d.Leads[0].Tasks) != 2 {
		t.Fatalf("export %v: %s", err, doc.Raw)
	}
	fileRequest(t, e.testEnv, owner, map[string]any{"type": "erasure", "subject": map[string]any{"lead_id": id}})
	if ts, err := e.store.Tasks(t.Context(), owner.OrgID, id); err != nil || len(ts) != 0 {
		t.Fatalf("tasks after erasure %d, %v", len(ts), err)
	}
	for _, u := range []session{agent, other} {
		for _, st := range []string{"open", "done"} {
			if p := e.do(t, "GET", "/v1/tasks?status="+st, u.Access, nil); len(p.items()) != 0 {
				t.Fatalf("%s tasks after the erasure %s", st, p.Raw)
			}
		}
	}
}

// TestTaskReminders: the reminder job records one notification per due
// reminder for the task's assignee, once, however often and however late
// it runs and with runs at once; a rescheduled task is reminded again, a
// completed one not; a user reads its own notifications only.
func TestTaskReminders(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Reminders Co")
	agent := e.member(t, owner, "agent")
	l := e.createLead(t, agent, map[string]any{"name": "Meera Remind", "phone": "+919812300099"})
	tasks := "/v1/leads/" + l.str("id") + "/tasks"
	now := time.Now()
	add := func(title string, due time.Time, before int) string {
		r := e.do(t, "POST", tasks, agent.Access, map[string]any{"title": title, "due_at": rfc(due), "remind_before_minutes": before})
		expect(t, r, 201)
		return r.str("id")
	}
	soon := add("Soon", now.Add(time.Minute), 10)                  // due for a reminder now
	later := add("Later", now.Add(2*time.Hour), 30)                // in 90 minutes
	missed := add("Missed", now.Add(-time.Hour), 120)              // three hours late
	doneTask := add("Completed first", now.Add(2*time.Minute), 15) // due, but done
	expect(t, e.do(t, "PATCH", tasks+"/"+doneTask, agent.Access, map[string]any{"status": "done"}), 200)
	expect(t, e.do(t, "POST", tasks, agent.Access, map[string]any{"title": "No reminder", "due_at": rfc(now)}), 201)

	job := &lead.Reminders{Store: e.store, Page: 1}
	notifs := func() []lead.Notification {
		t.Helper()
		p, err := e.store.ListNotifications(t.Context(), owner.OrgID, agent.UserID, false, 100, page.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Items
	}
	res, err := job.Run(t.Context(), now)
	if err != nil || res.Fired != 2 || !res.Complete {
		t.Fatalf("first run %+v %v", res, err)
	}
	// Run again, and several at once: nothing more.
	if res, err := job.Run(t.Context(), now.Add(time.Minute)); err != nil || res.Fired != 0 {
		t.Fatalf("second run %+v %v", res, err)
	}
	got := notifs()
	if len(got) != 2 {
		t.Fatalf("notifications %+v", got)
	}
	byTask := map[string]lead.Notification{}
	for _, n := range got {
		byTask[n.TaskID] = n
	}
	if byTask[soon].Kind != lead.NotificationTaskReminder || byTask[missed].LeadID != l.str("id") || byTask[later].ID != "" {
		t.Fatalf("notifications by task %+v", byTask)
	}

	// Runs at once on a fresh due reminder record it once.
	again := add("Raced", now.Add(time.Minute), 5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := (&lead.Reminders{Store: e.store}).Run(t.Context(), now)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			fired += r.Fired
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := len(notifs()); fired != 1 || n != 3 {
		t.Fatalf("concurrent runs fired %d, %d notifications; want 1 and 3", fired, n)
	}
	tk, err := e.store.GetTask(t.Context(), owner.OrgID, l.str("id"), again)
	if err != nil || tk.ReminderSentAt.IsZero() {
		t.Fatalf("raced task %+v %v", tk, err)
	}

	// A run late by hours still records the 90-minute one.
	if res, err := job.Run(t.Context(), now.Add(5*time.Hour)); err != nil || res.Fired != 1 {
		t.Fatalf("late run %+v %v", res, err)
	}
	// Rescheduled after its reminder: reminded again, at the new time.
	mv := e.do(t, "PATCH", tasks+"/"+soon, agent.Access, map[string]any{"due_at": rfc(now.Add(3 * time.Hour))})
	expect(t, mv, 200)
	if mv.Body["reminder_sent_at"] != nil {
		t.Fatalf("rescheduled task %s", mv.Raw)
	}
	if res, err := job.Run(t.Context(), now.Add(time.Hour)); err != nil || res.Fired != 0 {
		t.Fatalf("run before the new reminder %+v %v", res, err)
	}
	if res, err := job.Run(t.Context(), now.Add(3*time.Hour)); err != nil || res.Fired != 1 {
		t.Fatalf("run at the new reminder %+v %v", res, err)
	}
	if n := len(notifs()); n != 5 {
		t.Fatalf("%d notifications, want 5", n)
	}

	// The agent's notifications through the API; read one.
	list := e.do(t, "GET", "/v1/notifications?unread=true&limit=2", agent.Access, nil)
	expect(t, list, 200)
	if len(list.items()) != 2 || list.str("next_cursor") == "" {
		t.Fatalf("unread notifications %s", list.Raw)
	}
	first := list.items()[0]["id"].(string)
	problemCode(t, e.do(t, "POST", "/v1/notifications/"+first+"/read", owner.Access, nil), 404, "not_found")
	rd := e.do(t, "POST", "/v1/notifications/"+first+"/read", agent.Access, nil)
	expect(t, rd, 200)
	if rd.Body["read_at"] == nil || rd.str("kind") != "task_reminder" {
		t.Fatalf("read notification %s", rd.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/notifications/"+first+"/read", agent.Access, nil), 200)
	var unread, all int
	cursor := ""
	for range 10 {
		p := e.do(t, "GET", "/v1/notifications?unread=true&limit=2&cursor="+url.QueryEscape(cursor), agent.Access, nil)
		expect(t, p, 200)
		unread += len(p.items())
		if cursor = p.str("next_cursor"); cursor == "" {
			break
		}
	}
	p := e.do(t, "GET", "/v1/notifications", agent.Access, nil)
	all = len(p.items())
	if unread != 4 || all != 5 || strings.Contains(p.Raw, "Meera") {
		t.Fatalf("unread %d, all %d: %s", unread, all, p.Raw)
	}
	if p := e.do(t, "GET", "/v1/notifications", owner.Access, nil); len(p.items()) != 0 {
		t.Fatalf("the owner's notifications %s", p.Raw)
	}
}
