package app_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// TestReminderSchedule: the event of the reminders schedule runs the
// reminder job (and not the data lifecycle); the hourly one does not
// record reminders. The schedule's name is the topology's.
func TestReminderSchedule(t *testing.T) {
	if app.ReminderSchedule != topology.ScheduleReminders {
		t.Fatalf("the handler's reminder schedule %q is not the topology's %q", app.ReminderSchedule, topology.ScheduleReminders)
	}
	e := newEnv(t)
	org, leadID, user := "01REMINDORG000000000000000", ulid.Make().String(), ulid.Make().String()
	l := lead.Lead{ID: leadID, OrgID: org, Name: "Reminded", Phone: "+919800000123", Source: "manual", Status: "new",
		CreatedAt: asOf, UpdatedAt: asOf, Version: 1}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	m := 15
	task := lead.Task{ID: ulid.Make().String(), OrgID: org, LeadID: leadID, Title: "Call", DueAt: asOf.Add(10 * time.Minute), AssigneeID: user,
		Status: lead.TaskOpen, RemindBeforeMinutes: &m, CreatedBy: user, CreatedAt: asOf, UpdatedAt: asOf, Version: 1}
	if err := e.store.AddTask(e.ctx, task, lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: leadID, Kind: lead.ActivityTaskCreated, At: asOf}); err != nil {
		t.Fatal(err)
	}
	h, err := app.New(e.ctx, config.Retention{TableName: e.res.TableName, Rate: 1000, Margin: time.Second}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		p, err := e.store.ListNotifications(e.ctx, org, user, false, 10, page.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	lifecycle, _ := json.Marshal(map[string]string{"schedule": topology.ScheduleContentLifecycle})
	if err := h.Schedule(e.ctx, events.EventBridgeEvent{Time: asOf, Detail: lifecycle}); err != nil || count() != 0 {
		t.Fatalf("the lifecycle schedule: %v, %d notifications", err, count())
	}
	reminders, _ := json.Marshal(map[string]string{"schedule": topology.ScheduleReminders})
	payload, _ := json.Marshal(events.EventBridgeEvent{Version: "0", DetailType: "Scheduled Event", Source: "aws.events", Time: asOf, Detail: reminders})
	for range 2 {
		if _, err := h.Invoke(e.ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d notifications after two reminder runs, want 1", n)
	}
}
