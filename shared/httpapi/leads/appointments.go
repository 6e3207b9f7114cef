package leads

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// AppointmentService is what the appointment routes need of lead.Service.
type AppointmentService interface {
	BookAppointment(ctx context.Context, a lead.Actor, leadID string, in lead.AppointmentInput) (lead.Appointment, error)
	ListLeadAppointments(ctx context.Context, a lead.Actor, leadID string, limit int, from page.Cursor) (lead.AppointmentPage, error)
	UpdateAppointment(ctx context.Context, a lead.Actor, leadID, id string, p lead.AppointmentPatch) (lead.Appointment, error)
}

// AppointmentOut is an appointment with a lead.
type AppointmentOut struct {
	ID                  string     `json:"id"`
	LeadID              string     `json:"lead_id"`
	StartsAt            time.Time  `json:"starts_at"`
	EndsAt              time.Time  `json:"ends_at"`
	Location            string     `json:"location"`
	Notes               string     `json:"notes"`
	AssigneeID          string     `json:"assignee_id"`
	Status              string     `json:"status" enum:"booked,cancelled"`
	RemindBeforeMinutes *int       `json:"remind_before_minutes" doc:"Minutes before starts_at the assignee is notified; null: no reminder."`
	ReminderSentAt      *time.Time `json:"reminder_sent_at" doc:"When the reminder was recorded; null while it is to come."`
	CreatedBy           string     `json:"created_by"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	CancelledAt         *time.Time `json:"cancelled_at"`
	Version             int        `json:"version" doc:"Increases with every change."`
}

// AppointmentIn books an appointment.
type AppointmentIn struct {
	StartsAt            time.Time `json:"starts_at" doc:"RFC 3339 with an offset."`
	EndsAt              time.Time `json:"ends_at" doc:"After starts_at, at most 24 hours later."`
	Location            string    `json:"location,omitempty" maxLength:"500"`
	Notes               string    `json:"notes,omitempty" maxLength:"2000"`
	AssigneeID          string    `json:"assignee_id,omitempty" maxLength:"64" doc:"An active user of the org, or \"me\" (the default)."`
	RemindBeforeMinutes *int      `json:"remind_before_minutes,omitempty" minimum:"0" maximum:"43200"`
	Force               bool      `json:"force,omitempty" doc:"Book even over another appointment of the assignee (else 409 appointment_overlap)."`
}

// AppointmentPatchIn changes, reschedules or cancels an appointment.
type AppointmentPatchIn struct {
	StartsAt            *time.Time `json:"starts_at,omitempty"`
	EndsAt              *time.Time `json:"ends_at,omitempty"`
	Location            *string    `json:"location,omitempty" maxLength:"500"`
	Notes               *string    `json:"notes,omitempty" maxLength:"2000"`
	AssigneeID          *string    `json:"assignee_id,omitempty" maxLength:"64"`
	RemindBeforeMinutes *int       `json:"remind_before_minutes,omitempty" minimum:"-1" maximum:"43200" doc:"-1 removes the reminder."`
	Status              *string    `json:"status,omitempty" enum:"cancelled" doc:"cancelled cancels the appointment (final)."`
	Force               bool       `json:"force,omitempty" doc:"Reschedule or reassign even over another appointment."`
}

// AppointmentList is one page of a lead's appointments, newest first.
type AppointmentList struct {
	Items      []AppointmentOut `json:"items"`
	NextCursor *string          `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

func appointmentOut(a lead.Appointment) AppointmentOut {
	return AppointmentOut{ID: a.ID, LeadID: a.LeadID, StartsAt: a.StartsAt, EndsAt: a.EndsAt, Location: a.Location, Notes: a.Notes,
		AssigneeID: a.AssigneeID, Status: string(a.Status), RemindBeforeMinutes: a.RemindBeforeMinutes, ReminderSentAt: optTime(a.ReminderSentAt),
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, CancelledAt: optTime(a.CancelledAt), Version: a.Version}
}

func (s *server) registerAppointments(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-lead-appointment", Method: http.MethodPost, Path: "/v1/leads/{id}/appointments", Tags: []string{"tasks"},
		Summary: "Book an appointment with a lead", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.bookAppointment)
	huma.Register(api, huma.Operation{
		OperationID: "list-lead-appointments", Method: http.MethodGet, Path: "/v1/leads/{id}/appointments", Tags: []string{"tasks"},
		Summary: "List a lead's appointments, newest first", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listAppointments)
	huma.Register(api, huma.Operation{
		OperationID: "update-lead-appointment", Method: http.MethodPatch, Path: "/v1/leads/{id}/appointments/{appointment_id}", Tags: []string{"tasks"},
		Summary: "Reschedule, reassign, edit or cancel an appointment", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.updateAppointment)
}

func (s *server) bookAppointment(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body AppointmentIn
}) (*struct{ Body AppointmentOut }, error) {
	b := in.Body
	a, err := s.deps.Appointments.BookAppointment(ctx, actor(ctx), in.ID, lead.AppointmentInput{StartsAt: b.StartsAt, EndsAt: b.EndsAt,
		Location: b.Location, Notes: b.Notes, AssigneeID: b.AssigneeID, RemindBeforeMinutes: b.RemindBeforeMinutes, Force: b.Force})
	if err != nil {
		return nil, problem(ctx, s.Kit, "book appointment", err)
	}
	return &struct{ Body AppointmentOut }{Body: appointmentOut(a)}, nil
}

func (s *server) listAppointments(ctx context.Context, in *historyListIn) (*struct{ Body AppointmentList }, error) {
	items, next, err := historyPage(ctx, s, in, "appointments", "list appointments", audit.ActionAppointmentsRead,
		func(a lead.Actor, from page.Cursor) ([]lead.Appointment, page.Cursor, error) {
			p, err := s.deps.Appointments.ListLeadAppointments(ctx, a, in.ID, in.Limit, from)
			return p.Items, p.Next, err
		})
	if err != nil {
		return nil, err
	}
	out := &struct{ Body AppointmentList }{Body: AppointmentList{Items: make([]AppointmentOut, 0, len(items)), NextCursor: next}}
	for _, a := range items {
		out.Body.Items = append(out.Body.Items, appointmentOut(a))
	}
	return out, nil
}

func (s *server) updateAppointment(ctx context.Context, in *struct {
	ID            string `path:"id" maxLength:"64"`
	AppointmentID string `path:"appointment_id" maxLength:"64"`
	Body          AppointmentPatchIn
}) (*struct{ Body AppointmentOut }, error) {
	b := in.Body
	p := lead.AppointmentPatch{StartsAt: b.StartsAt, EndsAt: b.EndsAt, Location: b.Location, Notes: b.Notes, AssigneeID: b.AssigneeID,
		Cancel: b.Status != nil && *b.Status == string(lead.AppointmentCancelled), Force: b.Force}
	if b.RemindBeforeMinutes != nil {
		if *b.RemindBeforeMinutes < 0 {
			p.ClearReminder = true
		} else {
			p.RemindBeforeMinutes = b.RemindBeforeMinutes
		}
	}
	a, err := s.deps.Appointments.UpdateAppointment(ctx, actor(ctx), in.ID, in.AppointmentID, p)
	if err != nil {
		return nil, problem(ctx, s.Kit, "update appointment", err)
	}
	return &struct{ Body AppointmentOut }{Body: appointmentOut(a)}, nil
}

// overlapProblem is the 409 of an appointment over another one of the
// assignee, naming the others.
func overlapProblem(e *lead.OverlapError) error {
	return httpapi.NewProblem(http.StatusConflict, "appointment_overlap",
		"the assignee has another appointment at that time ("+strings.Join(e.IDs, ", ")+"); send force: true to book anyway")
}
