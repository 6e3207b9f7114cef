package leads

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// TaskService is what the task and notification routes need of
// lead.Service.
type TaskService interface {
	AddTask(ctx context.Context, a lead.Actor, leadID string, in lead.TaskInput) (lead.Task, error)
	ListLeadTasks(ctx context.Context, a lead.Actor, leadID string, limit int, from page.Cursor) (lead.TaskPage, error)
	UpdateTask(ctx context.Context, a lead.Actor, leadID, taskID string, p lead.TaskPatch) (lead.Task, error)
	DeleteTask(ctx context.Context, a lead.Actor, leadID, taskID string) error
	TaskScope(a lead.Actor, f lead.TaskFilter) (lead.TaskFilter, error)
	ListTasks(ctx context.Context, a lead.Actor, f lead.TaskFilter, limit int, from page.Cursor) (lead.TaskPage, error)
	ListNotifications(ctx context.Context, a lead.Actor, unreadOnly bool, limit int, from page.Cursor) (lead.NotificationPage, error)
	ReadNotification(ctx context.Context, a lead.Actor, id string) (lead.Notification, error)
}

// TaskOut is a task on a lead.
type TaskOut struct {
	ID                  string     `json:"id"`
	LeadID              string     `json:"lead_id"`
	Title               string     `json:"title"`
	DueAt               time.Time  `json:"due_at"`
	AssigneeID          string     `json:"assignee_id"`
	Status              string     `json:"status" enum:"open,done"`
	Overdue             bool       `json:"overdue" doc:"Open and past its due time."`
	RemindBeforeMinutes *int       `json:"remind_before_minutes" doc:"Minutes before due_at the assignee is notified; null: no reminder."`
	RemindAt            *time.Time `json:"remind_at" doc:"When the reminder falls due; null without one."`
	ReminderSentAt      *time.Time `json:"reminder_sent_at" doc:"When the reminder was recorded; null while it is to come."`
	CreatedBy           string     `json:"created_by"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	CompletedAt         *time.Time `json:"completed_at" doc:"Set while done."`
	CompletedBy         *string    `json:"completed_by" doc:"Set while done."`
	Version             int        `json:"version" doc:"Increases with every change."`
}

// TaskIn is a new task.
type TaskIn struct {
	Title               string    `json:"title" minLength:"1" maxLength:"500"`
	DueAt               time.Time `json:"due_at" doc:"RFC 3339 with an offset."`
	AssigneeID          string    `json:"assignee_id,omitempty" maxLength:"64" doc:"An active user of the org, or \"me\" (the default)."`
	RemindBeforeMinutes *int      `json:"remind_before_minutes,omitempty" minimum:"0" maximum:"43200" doc:"Notify the assignee this many minutes before due_at."`
}

// TaskPatchIn changes some fields of a task.
type TaskPatchIn struct {
	Title               *string    `json:"title,omitempty" minLength:"1" maxLength:"500"`
	DueAt               *time.Time `json:"due_at,omitempty" doc:"Reschedules the task (and arms its reminder again)."`
	AssigneeID          *string    `json:"assignee_id,omitempty" maxLength:"64" doc:"Reassigns the task (\"me\": the caller)."`
	Status              *string    `json:"status,omitempty" enum:"open,done" doc:"done completes the task, open reopens it."`
	RemindBeforeMinutes *int       `json:"remind_before_minutes,omitempty" minimum:"-1" maximum:"43200" doc:"Sets the reminder; -1 removes it."`
}

// TaskList is one page of tasks.
type TaskList struct {
	Items      []TaskOut `json:"items"`
	NextCursor *string   `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

// NotificationOut is a notification of the caller.
type NotificationOut struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind" enum:"task_reminder,appointment_reminder,plan_over_limit"`
	LeadID        string     `json:"lead_id" doc:"The lead of a reminder; empty for plan_over_limit."`
	Limit         *string    `json:"limit" doc:"plan_over_limit: the plan limit that Lead Ads or WhatsApp leads were kept past this period (due_at: when it resets); see GET /v1/usage."`
	TaskID        *string    `json:"task_id" doc:"The task of a task_reminder."`
	AppointmentID *string    `json:"appointment_id" doc:"The appointment of an appointment_reminder."`
	DueAt         time.Time  `json:"due_at" doc:"The task's due time, or the appointment's start, when the reminder was recorded."`
	CreatedAt     time.Time  `json:"created_at"`
	ReadAt        *time.Time `json:"read_at" doc:"null while unread."`
}

// NotificationList is one page of the caller's notifications, newest
// first.
type NotificationList struct {
	Items      []NotificationOut `json:"items"`
	NextCursor *string           `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *server) taskOut(t lead.Task) TaskOut {
	return TaskOut{ID: t.ID, LeadID: t.LeadID, Title: t.Title, DueAt: t.DueAt, AssigneeID: t.AssigneeID, Status: string(t.Status),
		Overdue: t.Overdue(time.Now()), RemindBeforeMinutes: t.RemindBeforeMinutes, RemindAt: optTime(t.RemindAt()),
		ReminderSentAt: optTime(t.ReminderSentAt), CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		CompletedAt: optTime(t.CompletedAt), CompletedBy: httpapi.Optional(t.CompletedBy), Version: t.Version}
}

func (s *server) taskList(p lead.TaskPage, next *string) TaskList {
	out := TaskList{Items: make([]TaskOut, 0, len(p.Items)), NextCursor: next}
	for _, t := range p.Items {
		out.Items = append(out.Items, s.taskOut(t))
	}
	return out
}

func (s *server) registerTasks(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-lead-task", Method: http.MethodPost, Path: "/v1/leads/{id}/tasks", Tags: []string{"tasks"},
		Summary: "Add a task to a lead", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.createTask)
	huma.Register(api, huma.Operation{
		OperationID: "list-lead-tasks", Method: http.MethodGet, Path: "/v1/leads/{id}/tasks", Tags: []string{"tasks"},
		Summary: "List a lead's tasks, newest first", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listLeadTasks)
	huma.Register(api, huma.Operation{
		OperationID: "update-lead-task", Method: http.MethodPatch, Path: "/v1/leads/{id}/tasks/{task_id}", Tags: []string{"tasks"},
		Summary: "Complete, reopen, reschedule, reassign or retitle a task", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.updateTask)
	huma.Register(api, huma.Operation{
		OperationID: "delete-lead-task", Method: http.MethodDelete, Path: "/v1/leads/{id}/tasks/{task_id}", Tags: []string{"tasks"},
		Summary: "Delete a task", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deleteTask)
	huma.Register(api, huma.Operation{
		OperationID: "list-tasks", Method: http.MethodGet, Path: "/v1/tasks", Tags: []string{"tasks"},
		Summary: "List the org's tasks of one assignee, soonest due first", Security: httpapi.BearerSecurity,
		Description: "Across the org's leads, one assignee's tasks in one status (one query). An agent lists only its own.",
		Errors:      []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.listTasks)
	huma.Register(api, huma.Operation{
		OperationID: "list-notifications", Method: http.MethodGet, Path: "/v1/notifications", Tags: []string{"tasks"},
		Summary: "List the caller's notifications, newest first", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest},
	}, s.listNotifications)
	huma.Register(api, huma.Operation{
		OperationID: "read-notification", Method: http.MethodPost, Path: "/v1/notifications/{id}/read", Tags: []string{"tasks"},
		Summary: "Mark one of the caller's notifications read", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusNotFound},
	}, s.readNotification)
}

func (s *server) createTask(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body TaskIn
}) (*struct{ Body TaskOut }, error) {
	b := in.Body
	t, err := s.deps.Tasks.AddTask(ctx, actor(ctx), in.ID, lead.TaskInput{Title: b.Title, DueAt: b.DueAt, AssigneeID: b.AssigneeID,
		RemindBeforeMinutes: b.RemindBeforeMinutes})
	if err != nil {
		return nil, problem(ctx, s.Kit, "add task", err)
	}
	return &struct{ Body TaskOut }{Body: s.taskOut(t)}, nil
}

func (s *server) listLeadTasks(ctx context.Context, in *historyListIn) (*struct{ Body TaskList }, error) {
	var p lead.TaskPage
	items, next, err := historyPage(ctx, s, in, "tasks", "list tasks", audit.ActionTasksRead,
		func(a lead.Actor, from page.Cursor) ([]lead.Task, page.Cursor, error) {
			var err error
			p, err = s.deps.Tasks.ListLeadTasks(ctx, a, in.ID, in.Limit, from)
			return p.Items, p.Next, err
		})
	if err != nil {
		return nil, err
	}
	p.Items = items
	return &struct{ Body TaskList }{Body: s.taskList(p, next)}, nil
}

func (s *server) updateTask(ctx context.Context, in *struct {
	ID     string `path:"id" maxLength:"64"`
	TaskID string `path:"task_id" maxLength:"64"`
	Body   TaskPatchIn
}) (*struct{ Body TaskOut }, error) {
	b := in.Body
	p := lead.TaskPatch{Title: b.Title, DueAt: b.DueAt, AssigneeID: b.AssigneeID}
	if b.Status != nil {
		st := lead.TaskStatus(*b.Status)
		p.Status = &st
	}
	if b.RemindBeforeMinutes != nil {
		if *b.RemindBeforeMinutes < 0 {
			p.ClearReminder = true
		} else {
			p.RemindBeforeMinutes = b.RemindBeforeMinutes
		}
	}
	t, err := s.deps.Tasks.UpdateTask(ctx, actor(ctx), in.ID, in.TaskID, p)
	if err != nil {
		return nil, problem(ctx, s.Kit, "update task", err)
	}
	return &struct{ Body TaskOut }{Body: s.taskOut(t)}, nil
}

func (s *server) deleteTask(ctx context.Context, in *struct {
	ID     string `path:"id" maxLength:"64"`
	TaskID string `path:"task_id" maxLength:"64"`
}) (*struct{}, error) {
	if err := s.deps.Tasks.DeleteTask(ctx, actor(ctx), in.ID, in.TaskID); err != nil {
		return nil, problem(ctx, s.Kit, "delete task", err)
	}
	return nil, nil
}

func (s *server) listTasks(ctx context.Context, in *struct {
	AssigneeID string    `query:"assignee_id" maxLength:"64" doc:"A user id, or \"me\" (the default)."`
	Status     string    `query:"status" enum:"open,done" doc:"Default open."`
	DueBefore  time.Time `query:"due_before" doc:"Only tasks due strictly before this time (RFC 3339)."`
	Limit      int       `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor     string    `query:"cursor" maxLength:"2048"`
}) (*struct{ Body TaskList }, error) {
	a := actor(ctx)
	f, err := s.deps.Tasks.TaskScope(a, lead.TaskFilter{AssigneeID: in.AssigneeID, Status: lead.TaskStatus(in.Status), DueBefore: in.DueBefore})
	if err != nil {
		return nil, problem(ctx, s.Kit, "list tasks", err)
	}
	before := ""
	if !f.DueBefore.IsZero() {
		before = f.DueBefore.UTC().Format(time.RFC3339Nano)
	}
	scope := fmt.Sprintf("tasks|%s|%s|%s|%d", f.AssigneeID, f.Status, before, in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	p, err := s.deps.Tasks.ListTasks(ctx, a, f, in.Limit, from)
	if err != nil {
		return nil, problem(ctx, s.Kit, "list tasks", err)
	}
	s.ReadAudit(ctx, audit.ActionTasksRead, "", map[string]string{"count": strconv.Itoa(len(p.Items)), "limit": strconv.Itoa(in.Limit),
		"filter":    httpapi.AuditFilter("assignee_id", f.AssigneeID, "status", string(f.Status), "due_before", before),
		"next_page": strconv.FormatBool(in.Cursor != "")})
	return &struct{ Body TaskList }{Body: s.taskList(p, httpapi.Optional(s.Cursors().Encode(a.User.OrgID, scope, p.Next)))}, nil
}

func notificationOut(n lead.Notification) NotificationOut {
	return NotificationOut{ID: n.ID, Kind: n.Kind, LeadID: n.LeadID, Limit: httpapi.Optional(n.Limit), TaskID: httpapi.Optional(n.TaskID), AppointmentID: httpapi.Optional(n.AppointmentID),
		DueAt: n.DueAt, CreatedAt: n.CreatedAt, ReadAt: optTime(n.ReadAt)}
}

func (s *server) listNotifications(ctx context.Context, in *struct {
	Unread bool   `query:"unread" doc:"Only unread notifications."`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body NotificationList }, error) {
	a := actor(ctx)
	scope := fmt.Sprintf("notifications|%s|%t|%d", a.User.ID, in.Unread, in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	p, err := s.deps.Tasks.ListNotifications(ctx, a, in.Unread, in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "list notifications", err)
	}
	out := &struct{ Body NotificationList }{Body: NotificationList{Items: make([]NotificationOut, 0, len(p.Items)),
		NextCursor: httpapi.Optional(s.Cursors().Encode(a.User.OrgID, scope, p.Next))}}
	for _, n := range p.Items {
		out.Body.Items = append(out.Body.Items, notificationOut(n))
	}
	return out, nil
}

func (s *server) readNotification(ctx context.Context, in *struct {
	ID string `path:"id" maxLength:"64"`
}) (*struct{ Body NotificationOut }, error) {
	n, err := s.deps.Tasks.ReadNotification(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, problem(ctx, s.Kit, "read notification", err)
	}
	return &struct{ Body NotificationOut }{Body: notificationOut(n)}, nil
}
