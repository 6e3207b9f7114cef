package lead

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Task is something a user has to do about a lead by a due time: call
// back, send the quote. Its title is personal data of the lead (it lives
// in the lead's history and goes with it).
type Task struct {
	ID         string
	OrgID      string
	LeadID     string
	Title      string
	DueAt      time.Time
	AssigneeID string
	Status     TaskStatus
	// RemindBeforeMinutes, when set, asks for a reminder (a notification
	// to the assignee) that many minutes before DueAt.
	RemindBeforeMinutes *int
	// ReminderSentAt is when the reminder was recorded; zero while it is
	// still to come (or there is none).
	ReminderSentAt time.Time
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// CompletedAt and CompletedBy are set while the task is done.
	CompletedAt time.Time
	CompletedBy string
	// Version increases with every write (the reminder's too).
	Version int
}

// TaskStatus is open or done.
type TaskStatus string

// Task statuses.
const (
	TaskOpen TaskStatus = "open"
	TaskDone TaskStatus = "done"
)

// RemindAt is when the task's reminder falls due; zero without one.
func (t Task) RemindAt() time.Time {
	return remindBefore(t.DueAt, t.RemindBeforeMinutes)
}

// remindBefore is minutes before at (a task's due time, an appointment's
// start); zero without a reminder (nil).
func remindBefore(at time.Time, minutes *int) time.Time {
	if minutes == nil {
		return time.Time{}
	}
	return at.Add(-time.Duration(*minutes) * time.Minute)
}

// ReminderPending reports whether the task still waits for its reminder:
// open, with one, not sent yet.
func (t Task) ReminderPending() bool {
	return t.Status == TaskOpen && t.RemindBeforeMinutes != nil && t.ReminderSentAt.IsZero()
}

// Overdue reports whether the task is open past its due time at now.
func (t Task) Overdue(now time.Time) bool { return t.Status == TaskOpen && t.DueAt.Before(now) }

// TaskPage is a page of tasks.
type TaskPage struct {
	Items []Task
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// TaskFilter selects an org's tasks across leads: one assignee's, in one
// status, optionally due before a time. Listings are by due time,
// soonest first.
type TaskFilter struct {
	AssigneeID string
	Status     TaskStatus
	// DueBefore, when set, keeps the tasks due strictly before it.
	DueBefore time.Time
}

// Task limits.
const (
	MaxTaskTitleLen = 500
	// MaxRemindBefore is the longest reminder lead time, in minutes (30
	// days).
	MaxRemindBefore = 30 * 24 * 60
)

// ErrTaskNotFound means the lead has no task with that id.
var ErrTaskNotFound = errors.New("task not found")

// ErrTaskChanged means the task changed (or went) between the read and
// the write.
var ErrTaskChanged = errors.New("task changed meanwhile")

// TaskStore keeps leads' tasks (dynamostore.Store). Every write carries
// the activities that record it, written in the same transaction, and
// requires the lead to exist (else ErrNotFound); an update or delete of a
// task no longer at old.Version is ErrTaskChanged.
type TaskStore interface {
	AddTask(ctx context.Context, t Task, act Activity) error
	GetTask(ctx context.Context, orgID, leadID, taskID string) (Task, error)
	UpdateTask(ctx context.Context, old, next Task, acts ...Activity) error
	DeleteTask(ctx context.Context, t Task, act Activity) error
	// ListLeadTasks returns up to limit of a lead's tasks, newest first,
	// after the position from.
	ListLeadTasks(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (TaskPage, error)
	// ListTasks returns up to limit of an org's tasks matching f (every
	// field set), soonest due first, after the position from: one Query.
	ListTasks(ctx context.Context, orgID string, f TaskFilter, limit int, from page.Cursor) (TaskPage, error)
	// Tasks returns all of a lead's tasks, oldest first (the export).
	Tasks(ctx context.Context, orgID, leadID string) ([]Task, error)
}

// Task activity kinds (Details["task_id"]; see timeline.go).
const (
	// ActivityTaskCreated: a task was added (details: due_at, assignee_id).
	ActivityTaskCreated = "task_created"
	// ActivityTaskCompleted and ActivityTaskReopened: its status changed.
	ActivityTaskCompleted = "task_completed"
	ActivityTaskReopened  = "task_reopened"
	// ActivityTaskUpdated: its title, due time, assignee or reminder
	// changed (changes: one per field).
	ActivityTaskUpdated = "task_updated"
	// ActivityTaskDeleted: it was deleted.
	ActivityTaskDeleted = "task_deleted"
)

// TaskInput is a new task, or the fields a TaskPatch sets.
type TaskInput struct {
	Title      string
	DueAt      time.Time
	AssigneeID string
	// RemindBeforeMinutes: nil for no reminder.
	RemindBeforeMinutes *int
}

// TaskPatch changes some fields of a task; nil fields stay.
type TaskPatch struct {
	Title      *string
	DueAt      *time.Time
	AssigneeID *string
	Status     *TaskStatus
	// RemindBeforeMinutes sets the reminder; ClearReminder removes it.
	RemindBeforeMinutes *int
	ClearReminder       bool
}

func taskTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	if n := utf8.RuneCountInString(title); n == 0 || n > MaxTaskTitleLen {
		return "", &FieldError{Field: "title", Message: fmt.Sprintf("must be 1 to %d characters", MaxTaskTitleLen)}
	}
	return title, nil
}

func checkRemind(m *int) error {
	if m != nil && (*m < 0 || *m > MaxRemindBefore) {
		return &FieldError{Field: "remind_before_minutes", Message: fmt.Sprintf("must be 0 to %d", MaxRemindBefore)}
	}
	return nil
}

// taskAssignee checks who a task may go to: an active user of the org; an
// agent only itself.
func (s *Service) taskAssignee(ctx context.Context, a Actor, id, action, leadID string) error {
	if a.User.Role == account.RoleAgent && id != a.User.ID {
		return &DeniedError{Action: action, LeadID: leadID, Reason: "an agent can only assign tasks to itself"}
	}
	if id == a.User.ID {
		return nil
	}
	return s.checkAssignee(ctx, a, id)
}

func taskActivity(t Task, kind, actorID string, at time.Time, changes []Change) Activity {
	d := map[string]string{"task_id": t.ID}
	if kind == ActivityTaskCreated {
		d["due_at"] = t.DueAt.UTC().Format(time.RFC3339)
		d["assignee_id"] = t.AssigneeID
	}
	return Activity{ID: ulid.Make().String(), OrgID: t.OrgID, LeadID: t.LeadID, Kind: kind, At: at, ActorID: actorID, Details: d, Changes: changes}
}

// AddTask adds a task to a lead the actor may see and write to. The
// assignee defaults to the actor.
func (s *Service) AddTask(ctx context.Context, a Actor, leadID string, in TaskInput) (Task, error) {
	l, err := s.writableLead(ctx, a, leadID, audit.ActionTaskCreate)
	if err != nil {
		return Task{}, err
	}
	title, err := taskTitle(in.Title)
	if err != nil {
		return Task{}, err
	}
	if in.DueAt.IsZero() {
		return Task{}, &FieldError{Field: "due_at", Message: "is required"}
	}
	if err := checkRemind(in.RemindBeforeMinutes); err != nil {
		return Task{}, err
	}
	assignee := in.AssigneeID
	if assignee == "" || assignee == "me" {
		assignee = a.User.ID
	}
	if err := s.taskAssignee(ctx, a, assignee, audit.ActionTaskCreate, l.ID); err != nil {
		return Task{}, err
	}
	now := s.now().UTC()
	t := Task{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Title: title, DueAt: in.DueAt.UTC(), AssigneeID: assignee,
		Status: TaskOpen, RemindBeforeMinutes: in.RemindBeforeMinutes, CreatedBy: a.User.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.Tasks.AddTask(ctx, t, taskActivity(t, ActivityTaskCreated, a.User.ID, now, nil)); err != nil {
		return Task{}, fmt.Errorf("add task to lead %s: %w", l.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionTaskCreate, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"task_id": t.ID, "assignee_id": t.AssigneeID}})
	return t, nil
}

// ListLeadTasks returns a page of the tasks of a lead the actor may see,
// newest first.
func (s *Service) ListLeadTasks(ctx context.Context, a Actor, leadID string, limit int, from page.Cursor) (TaskPage, error) {
	l, err := s.Get(ctx, a, leadID)
	if err != nil {
		return TaskPage{}, err
	}
	p, err := s.Tasks.ListLeadTasks(ctx, l.OrgID, l.ID, limit, from)
	if err != nil {
		return TaskPage{}, fmt.Errorf("list tasks of lead %s: %w", l.ID, err)
	}
	return p, nil
}

// TaskScope returns the filter a task listing of the actor uses: assignee
// "me" (or none) as the actor, status open by default. An agent lists
// only its own tasks: asking for another's is denied.
func (s *Service) TaskScope(a Actor, f TaskFilter) (TaskFilter, error) {
	if f.AssigneeID == "" || f.AssigneeID == "me" {
		f.AssigneeID = a.User.ID
	}
	if f.Status == "" {
		f.Status = TaskOpen
	}
	if !a.User.Role.SeesAllLeads() && f.AssigneeID != a.User.ID {
		return TaskFilter{}, &DeniedError{Action: audit.ActionTasksRead, Reason: "an agent can only list its own tasks"}
	}
	return f, nil
}

// ListTasks returns a page of the org's tasks matching f (see TaskScope),
// soonest due first.
func (s *Service) ListTasks(ctx context.Context, a Actor, f TaskFilter, limit int, from page.Cursor) (TaskPage, error) {
	f, err := s.TaskScope(a, f)
	if err != nil {
		return TaskPage{}, err
	}
	p, err := s.Tasks.ListTasks(ctx, a.User.OrgID, f, limit, from)
	if err != nil {
		return TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	return p, nil
}

// writableTask returns a task of a lead the actor may see and write to.
func (s *Service) writableTask(ctx context.Context, a Actor, leadID, taskID, action string) (Lead, Task, error) {
	l, err := s.writableLead(ctx, a, leadID, action)
	if err != nil {
		return Lead{}, Task{}, err
	}
	t, err := s.Tasks.GetTask(ctx, l.OrgID, l.ID, taskID)
	if err != nil {
		if errors.Is(err, ErrTaskNotFound) {
			return Lead{}, Task{}, err
		}
		return Lead{}, Task{}, fmt.Errorf("read task %s: %w", taskID, err)
	}
	return l, t, nil
}

// UpdateTask applies a patch to a task of a lead the actor may see and
// write to: complete or reopen it, reschedule it, reassign it (an agent
// only to itself), retitle it, set or clear its reminder. Rescheduling or
// changing the reminder of an open task arms its reminder again. A task
// changed meanwhile (by the reminder job, say) is read again and the
// patch re-applied, a few times.
func (s *Service) UpdateTask(ctx context.Context, a Actor, leadID, taskID string, p TaskPatch) (Task, error) {
	for attempt := 1; ; attempt++ {
		t, err := s.updateTaskOnce(ctx, a, leadID, taskID, p)
		if !errors.Is(err, ErrTaskChanged) || attempt == updateAttempts {
			return t, err
		}
	}
}

func (s *Service) updateTaskOnce(ctx context.Context, a Actor, leadID, taskID string, p TaskPatch) (Task, error) {
	_, old, err := s.writableTask(ctx, a, leadID, taskID, audit.ActionTaskUpdate)
	if err != nil {
		return Task{}, err
	}
	next := old
	var changes []Change
	if p.Title != nil {
		title, err := taskTitle(*p.Title)
		if err != nil {
			return Task{}, err
		}
		if title != old.Title {
			next.Title = title
			changes = append(changes, Change{Field: "title", Old: old.Title, New: title})
		}
	}
	rearm := false
	if p.DueAt != nil && !p.DueAt.Equal(old.DueAt) {
		next.DueAt = p.DueAt.UTC()
		changes = append(changes, Change{Field: "due_at", Old: old.DueAt.UTC().Format(time.RFC3339), New: next.DueAt.Format(time.RFC3339)})
		rearm = true
	}
	if p.AssigneeID != nil {
		id := *p.AssigneeID
		if id == "" || id == "me" {
			id = a.User.ID
		}
		if id != old.AssigneeID {
			if err := s.taskAssignee(ctx, a, id, audit.ActionTaskUpdate, old.LeadID); err != nil {
				return Task{}, err
			}
			next.AssigneeID = id
			changes = append(changes, Change{Field: "assignee_id", Old: old.AssigneeID, New: id})
		}
	}
	if err := checkRemind(p.RemindBeforeMinutes); err != nil {
		return Task{}, err
	}
	oldRemind, newRemind := remindString(old.RemindBeforeMinutes), remindString(old.RemindBeforeMinutes)
	switch {
	case p.ClearReminder:
		next.RemindBeforeMinutes, newRemind = nil, ""
	case p.RemindBeforeMinutes != nil:
		m := *p.RemindBeforeMinutes
		next.RemindBeforeMinutes, newRemind = &m, strconv.Itoa(m)
	}
	if newRemind != oldRemind {
		changes = append(changes, Change{Field: "remind_before_minutes", Old: oldRemind, New: newRemind})
		rearm = true
	}
	if rearm {
		next.ReminderSentAt = time.Time{}
	}
	now := s.now().UTC()
	var acts []Activity
	if len(changes) > 0 {
		acts = append(acts, taskActivity(next, ActivityTaskUpdated, a.User.ID, now, changes))
	}
	if p.Status != nil && *p.Status != old.Status {
		switch *p.Status {
		case TaskDone:
			next.Status, next.CompletedAt, next.CompletedBy = TaskDone, now, a.User.ID
			acts = append(acts, taskActivity(next, ActivityTaskCompleted, a.User.ID, now, nil))
		case TaskOpen:
			next.Status, next.CompletedAt, next.CompletedBy = TaskOpen, time.Time{}, ""
			acts = append(acts, taskActivity(next, ActivityTaskReopened, a.User.ID, now, nil))
		default:
			return Task{}, &FieldError{Field: "status", Message: "must be open or done"}
		}
	}
	if len(acts) == 0 {
		return old, nil
	}
	next.UpdatedAt, next.Version = now, old.Version+1
	if err := s.Tasks.UpdateTask(ctx, old, next, acts...); err != nil {
		if errors.Is(err, ErrTaskChanged) || errors.Is(err, ErrNotFound) {
			return Task{}, err
		}
		return Task{}, fmt.Errorf("update task %s: %w", old.ID, err)
	}
	kinds := make([]string, 0, len(acts))
	for _, act := range acts {
		kinds = append(kinds, act.Kind)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: old.OrgID, ActorID: a.User.ID, Action: audit.ActionTaskUpdate, TargetType: "lead", TargetID: old.LeadID,
		Details: map[string]string{"task_id": old.ID, "changes": strings.Join(kinds, ","), "version": strconv.Itoa(next.Version)}})
	return next, nil
}

func remindString(m *int) string {
	if m == nil {
		return ""
	}
	return strconv.Itoa(*m)
}

// DeleteTask deletes a task of a lead the actor may see and write to; the
// timeline keeps that it existed.
func (s *Service) DeleteTask(ctx context.Context, a Actor, leadID, taskID string) error {
	_, t, err := s.writableTask(ctx, a, leadID, taskID, audit.ActionTaskDelete)
	if err != nil {
		return err
	}
	if err := s.Tasks.DeleteTask(ctx, t, taskActivity(t, ActivityTaskDeleted, a.User.ID, s.now().UTC(), nil)); err != nil {
		if errors.Is(err, ErrTaskChanged) || errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("delete task %s: %w", t.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: t.OrgID, ActorID: a.User.ID, Action: audit.ActionTaskDelete, TargetType: "lead", TargetID: t.LeadID,
		Details: map[string]string{"task_id": t.ID}})
	return nil
}
