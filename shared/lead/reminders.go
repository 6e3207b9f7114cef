package lead

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Reminders and notifications. A task or appointment with a reminder is
// filed in a due index at its reminder time until the reminder is
// recorded; the scheduled reminder job (Reminders.Run, in the retention
// function) reads what fell due in one Query and records, for each, a
// notification for the assignee. The notification's id is derived from the
// item and the time of the reminder, and it is written only if absent, in
// one transaction with the item's update (conditioned on the version the
// job read), so a job that runs twice, at once or late records each
// reminder once.

// Notification is something the platform tells a user: a task's or an
// appointment's reminder, or an org owner's notice that a plan limit was
// passed. It names the item and lead by id and carries no lead data.
type Notification struct {
	ID     string
	OrgID  string
	UserID string
	// Kind is NotificationTaskReminder, NotificationAppointmentReminder
	// or NotificationPlanOverLimit.
	Kind   string
	LeadID string
	// Limit is the plan limit of a NotificationPlanOverLimit.
	Limit string
	// TaskID or AppointmentID names what the reminder is about.
	TaskID        string
	AppointmentID string
	// DueAt is the task's due time, or the appointment's start, when the
	// reminder was recorded.
	DueAt     time.Time
	CreatedAt time.Time
	// ReadAt is zero while unread.
	ReadAt time.Time
}

// Notification kinds.
const (
	NotificationTaskReminder        = "task_reminder"
	NotificationAppointmentReminder = "appointment_reminder"
	// NotificationPlanOverLimit tells an owner that Lead Ads leads or
	// WhatsApp leads were kept past the plan's limit this period (DueAt:
	// when the period resets).
	NotificationPlanOverLimit = "plan_over_limit"
)

// NotificationRetention is how long a notification is kept.
const NotificationRetention = 90 * 24 * time.Hour

// NotificationPage is a page of a user's notifications, newest first.
type NotificationPage struct {
	Items []Notification
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// ErrNotificationNotFound means the user has no notification with that id.
var ErrNotificationNotFound = errors.New("notification not found")

// NotificationStore keeps users' notifications (dynamostore.Store).
type NotificationStore interface {
	// ListNotifications returns up to limit of a user's notifications
	// (only the unread ones with unreadOnly), newest first, after from.
	ListNotifications(ctx context.Context, orgID, userID string, unreadOnly bool, limit int, from page.Cursor) (NotificationPage, error)
	// MarkNotificationRead marks one read at at (kept when already read)
	// and returns it; ErrNotificationNotFound when the user has none so.
	MarkNotificationRead(ctx context.Context, orgID, userID, id string, at time.Time) (Notification, error)
}

// Reminder is a pending reminder as the due index holds it: of a task or
// an appointment of a lead.
type Reminder struct {
	// Kind is ReminderTask or ReminderAppointment.
	Kind   string
	OrgID  string
	LeadID string
	// ID is the task's or appointment's.
	ID     string
	UserID string
	// At is the task's due time or the appointment's start.
	At       time.Time
	RemindAt time.Time
	// Version is the item's version when read.
	Version int
}

// Reminder kinds.
const (
	ReminderTask        = "task"
	ReminderAppointment = "appointment"
)

// ReminderPage is a page of due reminders, earliest first.
type ReminderPage struct {
	Items []Reminder
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// ReminderStore is the reminder job's port (dynamostore.Store).
type ReminderStore interface {
	// DueReminders returns up to limit reminders due at asOf and not
	// recorded yet (of open tasks and booked appointments), earliest
	// first, after the position from: one Query of the due index.
	DueReminders(ctx context.Context, asOf time.Time, limit int, from page.Cursor) (ReminderPage, error)
	// FireReminder records n and marks r's item reminded at sentAt (its
	// version + 1, out of the index), in one transaction that holds only
	// while the item is at r.Version and n does not exist: false when it
	// did not hold (done by another run, or the item changed; a changed
	// item is back in the index if it still waits).
	FireReminder(ctx context.Context, r Reminder, n Notification, sentAt time.Time) (bool, error)
}

// ReminderID is the id of the notification of a reminder: a ULID of its
// time whose random part is derived from the item and the time, so every
// run computes the same one.
func ReminderID(r Reminder) string {
	sum := sha256.Sum256([]byte(r.OrgID + "|" + r.Kind + "|" + r.LeadID + "/" + r.ID + "|" + r.RemindAt.UTC().Format(time.RFC3339Nano)))
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(r.RemindAt)) // a reminder's time is well inside ULID's range
	copy(id[6:], sum[:10])
	return id.String()
}

// Reminders is the scheduled reminder job.
type Reminders struct {
	Store ReminderStore
	// Page is how many due reminders one Query reads (default 100).
	Page int
}

// ReminderRun is what one run did.
type ReminderRun struct {
	// Due is how many due reminders it read; Fired how many it recorded;
	// Skipped how many another run had recorded or changed meanwhile.
	Due, Fired, Skipped int
	// Complete is false when the context ended first (the next run goes
	// on: what is left stays in the index).
	Complete bool
}

// Run records every reminder due at asOf: each a notification for the
// assignee of its task or appointment, once.
func (r *Reminders) Run(ctx context.Context, asOf time.Time) (ReminderRun, error) {
	size := r.Page
	if size <= 0 {
		size = 100
	}
	var res ReminderRun
	var from page.Cursor
	for {
		if ctx.Err() != nil {
			return res, nil
		}
		p, err := r.Store.DueReminders(ctx, asOf, size, from)
		if err != nil {
			return res, fmt.Errorf("read due reminders: %w", err)
		}
		for _, rem := range p.Items {
			res.Due++
			ok, err := r.fire(ctx, rem, asOf)
			if err != nil {
				return res, err
			}
			if ok {
				res.Fired++
			} else {
				res.Skipped++
			}
		}
		if p.Next.IsZero() {
			res.Complete = true
			return res, nil
		}
		from = p.Next
	}
}

func (r *Reminders) fire(ctx context.Context, rem Reminder, asOf time.Time) (bool, error) {
	now := asOf.UTC()
	n := Notification{ID: ReminderID(rem), OrgID: rem.OrgID, UserID: rem.UserID, Kind: NotificationTaskReminder, LeadID: rem.LeadID,
		TaskID: rem.ID, DueAt: rem.At, CreatedAt: now}
	if rem.Kind == ReminderAppointment {
		n.Kind, n.TaskID, n.AppointmentID = NotificationAppointmentReminder, "", rem.ID
	}
	ok, err := r.Store.FireReminder(ctx, rem, n, now)
	if err != nil {
		return false, fmt.Errorf("record reminder of %s %s: %w", rem.Kind, rem.ID, err)
	}
	return ok, nil
}

// ListNotifications returns a page of the actor's own notifications,
// newest first (only unread ones with unreadOnly).
func (s *Service) ListNotifications(ctx context.Context, a Actor, unreadOnly bool, limit int, from page.Cursor) (NotificationPage, error) {
	p, err := s.Notifications.ListNotifications(ctx, a.User.OrgID, a.User.ID, unreadOnly, limit, from)
	if err != nil {
		return NotificationPage{}, fmt.Errorf("list notifications: %w", err)
	}
	return p, nil
}

// ReadNotification marks one of the actor's notifications read.
func (s *Service) ReadNotification(ctx context.Context, a Actor, id string) (Notification, error) {
	n, err := s.Notifications.MarkNotificationRead(ctx, a.User.OrgID, a.User.ID, id, s.now().UTC())
	if err != nil {
		if errors.Is(err, ErrNotificationNotFound) {
			return Notification{}, err
		}
		return Notification{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: a.User.OrgID, ActorID: a.User.ID, Action: audit.ActionNotificationRead, TargetType: "notification", TargetID: id})
	return n, nil
}
