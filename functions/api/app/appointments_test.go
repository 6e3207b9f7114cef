package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// TestLeadAppointments: booking checks the assignee's other booked
// appointments (409 appointment_overlap unless force), across leads;
// rescheduling and reassigning check again; a cancelled appointment frees
// its time and cannot change; each write is on the lead's timeline; the
// reminder comes through the reminder job; the export carries them and the
// erasure takes them.
func TestLeadAppointments(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Visits Co")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	l := e.createLead(t, agent, map[string]any{"name": "Asha Visit", "phone": "+919812300111"})
	l2 := e.createLead(t, agent, map[string]any{"name": "Second Visit", "phone": "+919812300112"})
	appts := "/v1/leads/" + l.str("id") + "/appointments"
	base := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	slot := func(from, to time.Duration) map[string]any {
		return map[string]any{"starts_at": rfc(base.Add(from)), "ends_at": rfc(base.Add(to))}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}

	b := e.do(t, "POST", appts, agent.Access, with(slot(0, time.Hour), "location", "Plot 14, Whitefield", "notes", "Bring the brochure",
		"remind_before_minutes", 60))
	expect(t, b, 201)
	id := b.str("id")
	if b.str("status") != "booked" || b.str("assignee_id") != agent.UserID || b.str("location") != "Plot 14, Whitefield" {
		t.Fatalf("booked %s", b.Raw)
	}
	// Overlaps for the same assignee, on any lead: 409 unless force.
	problemCode(t, e.do(t, "POST", "/v1/leads/"+l2.str("id")+"/appointments", agent.Access, slot(30*time.Minute, 90*time.Minute)), 409, "appointment_overlap")
	expect(t, e.do(t, "POST", appts, agent.Access, slot(time.Hour, 2*time.Hour)), 201) // back to back is no overlap
	forced := e.do(t, "POST", "/v1/leads/"+l2.str("id")+"/appointments", agent.Access, with(slot(30*time.Minute, 90*time.Minute), "force", true))
	expect(t, forced, 201)
	// Another assignee is free then.
	expect(t, e.do(t, "POST", appts, manager.Access, with(slot(0, time.Hour), "assignee_id", manager.UserID)), 201)
	// Fields and roles.
	expect(t, e.do(t, "POST", appts, agent.Access, slot(time.Hour, 0)), 422)
	expect(t, e.do(t, "POST", appts, agent.Access, slot(0, 25*time.Hour)), 422)
	problemCode(t, e.do(t, "POST", appts, agent.Access, with(slot(5*time.Hour, 6*time.Hour), "assignee_id", manager.UserID)), 403, "forbidden")
	problemCode(t, e.do(t, "POST", appts, viewer.Access, slot(5*time.Hour, 6*time.Hour)), 403, "forbidden")

	// Reschedule into another booking: 409; elsewhere: fine.
	path := appts + "/" + id
	problemCode(t, e.do(t, "PATCH", path, agent.Access, slot(90*time.Minute, 150*time.Minute)), 409, "appointment_overlap")
	mv := e.do(t, "PATCH", path, agent.Access, slot(3*time.Hour, 4*time.Hour))
	expect(t, mv, 200)
	if mv.Body["version"] != float64(2) || mv.Body["reminder_sent_at"] != nil {
		t.Fatalf("rescheduled %s", mv.Raw)
	}
	// The forced one's time is free again after cancelling it; then it is final.
	fpath := "/v1/leads/" + l2.str("id") + "/appointments/" + forced.str("id")
	cx := e.do(t, "PATCH", fpath, agent.Access, map[string]any{"status": "cancelled"})
	expect(t, cx, 200)
	if cx.str("status") != "cancelled" || cx.Body["cancelled_at"] == nil {
		t.Fatalf("cancelled %s", cx.Raw)
	}
	problemCode(t, e.do(t, "PATCH", fpath, agent.Access, map[string]any{"location": "x"}), 409, "appointment_cancelled")
	expect(t, e.do(t, "POST", "/v1/leads/"+l2.str("id")+"/appointments", agent.Access, slot(30*time.Minute, 50*time.Minute)), 201)
	expect(t, e.do(t, "PATCH", path, agent.Access, map[string]any{"notes": "Bring the brochure and the price list"}), 200)

	// The timeline.
	tl := e.do(t, "GET", "/v1/leads/"+l2.str("id")+"/activities", owner.Access, nil)
	var kinds []string
	for _, it := range tl.items() {
		kinds = append(kinds, it["kind"].(string))
	}
	if strings.Join(kinds, ",") != "appointment_booked,appointment_cancelled,appointment_booked,created" {
		t.Fatalf("timeline %v", kinds)
	}
	tl = e.do(t, "GET", "/v1/leads/"+l.str("id")+"/activities?limit=2", owner.Access, nil)
	if it := tl.items(); it[0]["kind"] != "appointment_updated" || it[1]["kind"] != "appointment_rescheduled" {
		t.Fatalf("timeline %s", tl.Raw)
	}
	list := e.do(t, "GET", appts, viewer.Access, nil)
	expect(t, list, 200)
	if len(list.items()) != 3 {
		t.Fatalf("appointments %s", list.Raw)
	}

	// The reminder, an hour before the new start, through the job.
	job := &lead.Reminders{Store: e.store}
	if r, err := job.Run(t.Context(), base.Add(2*time.Hour-time.Minute)); err != nil || r.Fired != 0 {
		t.Fatalf("early run %+v %v", r, err)
	}
	for range 2 {
		if _, err := job.Run(t.Context(), base.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.store.ListNotifications(t.Context(), owner.OrgID, agent.UserID, true, 10, page.Cursor{})
	if err != nil || len(p.Items) != 1 || p.Items[0].Kind != lead.NotificationAppointmentReminder || p.Items[0].AppointmentID != id {
		t.Fatalf("notifications %+v %v", p.Items, err)
	}
	n := e.do(t, "GET", "/v1/notifications", agent.Access, nil)
	if it := n.items(); len(it) != 1 || it[0]["appointment_id"] != id || it[0]["task_id"] != nil || strings.Contains(n.Raw, "Whitefield") {
		t.Fatalf("notifications %s", n.Raw)
	}

	// Export and erasure.
	exp := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"lead_id": l.str("id")}})
	doc := e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id")+"/export", owner.Access, nil, "Accept-Encoding", "identity")
	expect(t, doc, 200)
	var d struct {
		Leads []struct {
			Appointments []struct {
				Location string `json:"location"`
			} `json:"appointments"`
		} `json:"leads"`
	}
	if err := json.Unmarshal([]byte(doc.Raw), &d); err != nil || len(d.Leads) != 1 || len(d.Leads[0].Appointments) != 3 {
		t.Fatalf("export %v: %s", err, doc.Raw)
	}
	fileRequest(t, e.testEnv, owner, map[string]any{"type": "erasure", "subject": map[string]any{"lead_id": l.str("id")}})
	if as, err := e.store.Appointments(t.Context(), owner.OrgID, l.str("id")); err != nil || len(as) != 0 {
		t.Fatalf("appointments after erasure %d, %v", len(as), err)
	}
	// Its times are free again.
	expect(t, e.do(t, "POST", "/v1/leads/"+l2.str("id")+"/appointments", agent.Access, slot(3*time.Hour, 4*time.Hour)), 201)
}
