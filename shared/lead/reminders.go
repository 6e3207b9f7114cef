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

// Reminders and notifications. A task with a reminder is filed in a due
// index at its RemindAt until the reminder is recorded; the scheduled
// reminder job (Reminders.Run, in the retention function) reads what fell
// due in one Query and records, for each, a notification for the task's
// assignee. The notification's id is derived from the task and the time
// of the reminder, and it is written only if absent, in one transaction
// with the task's update (conditioned on the version the job read), so a
// job that runs twice, at once or late records each reminder once.

// Notification is something the platform tells a user: for now, a task
// reminder. It names the task and lead by id and carries no lead data.
type Notification struct {
	ID     string
	OrgID  string
	UserID string
	// Kind is NotificationTaskReminder.
	Kind   string
	LeadID string
	TaskID string
	// DueAt is the task's due time when the reminder was recorded.
	DueAt     time.Time
	CreatedAt time.Time
	// ReadAt is zero while unread.
	ReadAt time.Time
}

// NotificationTaskReminder is a task's reminder.
const NotificationTaskReminder = "task_reminder"

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

// ReminderStore is the reminder job's port (dynamostore.Store).
type ReminderStore interface {
	// DueReminders returns up to limit open tasks whose reminder is due at
	// asOf and not recorded yet, earliest first, after the position from:
	// one Query of the due index.
	DueReminders(ctx context.Context, asOf time.Time, limit int, from page.Cursor) (TaskPage, error)
	// FireReminder records n and marks t's reminder sent (next), in one
	// transaction that holds only while t is at its version and n does not
	// exist: false when it did not hold (done by another run, or the task
	// changed; a changed task is back in the index if it still waits).
	FireReminder(ctx context.Context, t, next Task, n Notification) (bool, error)
}

// ReminderID is the id of the notification of t's reminder at its current
// RemindAt: a ULID of that time whose random part is derived from the
// task's id and the time, so every run computes the same one.
func ReminderID(t Task) string {
	at := t.RemindAt()
	sum := sha256.Sum256([]byte(t.OrgID + "|" + t.TaskKey() + "|" + at.UTC().Format(time.RFC3339Nano)))
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(at)) // a reminder's time is well inside ULID's range
	copy(id[6:], sum[:10])
	return id.String()
}

// TaskKey names the task within its org: lead and task id.
func (t Task) TaskKey() string { return t.LeadID + "/" + t.ID }

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
// task's assignee, once.
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
		for _, t := range p.Items {
			res.Due++
			ok, err := r.fire(ctx, t, asOf)
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

func (r *Reminders) fire(ctx context.Context, t Task, asOf time.Time) (bool, error) {
	now := asOf.UTC()
	n := Notification{ID: ReminderID(t), OrgID: t.OrgID, UserID: t.AssigneeID, Kind: NotificationTaskReminder, LeadID: t.LeadID,
		TaskID: t.ID, DueAt: t.DueAt, CreatedAt: now}
	next := t
	next.ReminderSentAt, next.Version = now, t.Version+1
	ok, err := r.Store.FireReminder(ctx, t, next, n)
	if err != nil {
		return false, fmt.Errorf("record reminder of task %s: %w", t.ID, err)
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
