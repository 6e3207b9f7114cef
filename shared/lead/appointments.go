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

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Appointment is a meeting booked with a lead (a site visit, a call at a
// set time) for one user of the org. Its location and notes are personal
// data of the lead: it lives in the lead's history and goes with it.
type Appointment struct {
	ID         string
	OrgID      string
	LeadID     string
	StartsAt   time.Time
	EndsAt     time.Time
	Location   string
	Notes      string
	AssigneeID string
	Status     AppointmentStatus
	// RemindBeforeMinutes, when set, asks for a reminder to the assignee
	// that many minutes before StartsAt.
	RemindBeforeMinutes *int
	// ReminderSentAt is when the reminder was recorded; zero while it is
	// still to come (or there is none).
	ReminderSentAt time.Time
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// CancelledAt and CancelledBy are set once cancelled.
	CancelledAt time.Time
	CancelledBy string
	// Version increases with every write (the reminder's too).
	Version int
}

// AppointmentStatus is booked or cancelled.
type AppointmentStatus string

// Appointment statuses.
const (
	AppointmentBooked    AppointmentStatus = "booked"
	AppointmentCancelled AppointmentStatus = "cancelled"
)

// RemindAt is when the appointment's reminder falls due; zero without one.
func (a Appointment) RemindAt() time.Time {
	return remindBefore(a.StartsAt, a.RemindBeforeMinutes)
}

// ReminderPending reports whether the appointment still waits for its
// reminder: booked, with one, not sent yet.
func (a Appointment) ReminderPending() bool {
	return a.Status == AppointmentBooked && a.RemindBeforeMinutes != nil && a.ReminderSentAt.IsZero()
}

// Overlaps reports whether a and b share time: [start, end) intervals.
func (a Appointment) Overlaps(b Appointment) bool {
	return a.StartsAt.Before(b.EndsAt) && b.StartsAt.Before(a.EndsAt)
}

// AppointmentPage is a page of a lead's appointments, newest first.
type AppointmentPage struct {
	Items []Appointment
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// Appointment limits.
const (
	// MaxAppointmentLength is the longest appointment; it bounds the
	// overlap query.
	MaxAppointmentLength = 24 * time.Hour
	MaxLocationLen       = 500
	MaxAppointmentNotes  = 2000
)

// ErrAppointmentNotFound means the lead has no appointment with that id.
var ErrAppointmentNotFound = errors.New("appointment not found")

// ErrAppointmentChanged means the appointment changed (or went) between
// the read and the write.
var ErrAppointmentChanged = errors.New("appointment changed meanwhile")

// ErrAppointmentCancelled means the appointment is cancelled: it cannot be
// changed any more.
var ErrAppointmentCancelled = errors.New("appointment is cancelled")

// OverlapError means the assignee has other booked appointments at that
// time (IDs; the caller may book anyway with force).
type OverlapError struct {
	IDs []string
}

// Error implements error.
func (e *OverlapError) Error() string {
	return "the assignee has another appointment at that time: " + strings.Join(e.IDs, ", ")
}

// AppointmentStore keeps leads' appointments (dynamostore.Store). Every
// write carries the activities that record it, in the same transaction,
// and requires the lead to exist (else ErrNotFound); an update of an
// appointment no longer at old.Version is ErrAppointmentChanged.
type AppointmentStore interface {
	BookAppointment(ctx context.Context, a Appointment, act Activity) error
	GetAppointment(ctx context.Context, orgID, leadID, id string) (Appointment, error)
	UpdateAppointment(ctx context.Context, old, next Appointment, acts ...Activity) error
	// ListLeadAppointments returns up to limit of a lead's appointments,
	// newest first, after the position from.
	ListLeadAppointments(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (AppointmentPage, error)
	// AssigneeAppointments returns the booked appointments of a user of
	// the org that start in [from, to), across leads: one Query.
	AssigneeAppointments(ctx context.Context, orgID, assigneeID string, from, to time.Time) ([]Appointment, error)
	// Appointments returns all of a lead's appointments, oldest first (the
	// export).
	Appointments(ctx context.Context, orgID, leadID string) ([]Appointment, error)
}

// Appointment activity kinds (Details["appointment_id"]).
const (
	// ActivityAppointmentBooked: details starts_at, ends_at, assignee_id.
	ActivityAppointmentBooked = "appointment_booked"
	// ActivityAppointmentRescheduled: changes starts_at, ends_at.
	ActivityAppointmentRescheduled = "appointment_rescheduled"
	// ActivityAppointmentUpdated: changes location, notes, assignee_id,
	// remind_before_minutes.
	ActivityAppointmentUpdated = "appointment_updated"
	// ActivityAppointmentCancelled: it was cancelled.
	ActivityAppointmentCancelled = "appointment_cancelled"
)

// AppointmentInput is a new appointment.
type AppointmentInput struct {
	StartsAt, EndsAt    time.Time
	Location, Notes     string
	AssigneeID          string
	RemindBeforeMinutes *int
	// Force books even over another appointment of the assignee.
	Force bool
}

// AppointmentPatch changes some fields of an appointment; nil fields stay.
type AppointmentPatch struct {
	StartsAt, EndsAt    *time.Time
	Location, Notes     *string
	AssigneeID          *string
	RemindBeforeMinutes *int
	ClearReminder       bool
	// Cancel cancels the appointment.
	Cancel bool
	// Force reschedules or reassigns even over another appointment.
	Force bool
}

func checkAppointment(a Appointment) error {
	switch {
	case a.StartsAt.IsZero():
		return &FieldError{Field: "starts_at", Message: "is required"}
	case !a.EndsAt.After(a.StartsAt):
		return &FieldError{Field: "ends_at", Message: "must be after starts_at"}
	case a.EndsAt.Sub(a.StartsAt) > MaxAppointmentLength:
		return &FieldError{Field: "ends_at", Message: "an appointment lasts at most 24 hours"}
	case utf8.RuneCountInString(a.Location) > MaxLocationLen:
		return &FieldError{Field: "location", Message: fmt.Sprintf("must be at most %d characters", MaxLocationLen)}
	case utf8.RuneCountInString(a.Notes) > MaxAppointmentNotes:
		return &FieldError{Field: "notes", Message: fmt.Sprintf("must be at most %d characters", MaxAppointmentNotes)}
	}
	return checkRemind(a.RemindBeforeMinutes)
}

// overlaps returns the ids of the assignee's other booked appointments
// that share time with a.
func (s *Service) overlaps(ctx context.Context, a Appointment) ([]string, error) {
	others, err := s.Appointments.AssigneeAppointments(ctx, a.OrgID, a.AssigneeID, a.StartsAt.Add(-MaxAppointmentLength), a.EndsAt)
	if err != nil {
		return nil, fmt.Errorf("read appointments of %s: %w", a.AssigneeID, err)
	}
	var ids []string
	for _, o := range others {
		if o.ID != a.ID && o.Overlaps(a) {
			ids = append(ids, o.ID)
		}
	}
	return ids, nil
}

func appointmentActivity(a Appointment, kind, actorID string, at time.Time, changes []Change) Activity {
	d := map[string]string{"appointment_id": a.ID}
	if kind == ActivityAppointmentBooked {
		d["starts_at"], d["ends_at"], d["assignee_id"] = a.StartsAt.UTC().Format(time.RFC3339), a.EndsAt.UTC().Format(time.RFC3339), a.AssigneeID
	}
	return Activity{ID: ulid.Make().String(), OrgID: a.OrgID, LeadID: a.LeadID, Kind: kind, At: at, ActorID: actorID, Details: d, Changes: changes}
}

// BookAppointment books an appointment with a lead the actor may see and
// write to, for the actor or (not for an agent) another active user. An
// overlap with another booked appointment of the assignee is an
// *OverlapError unless in.Force.
func (s *Service) BookAppointment(ctx context.Context, act Actor, leadID string, in AppointmentInput) (Appointment, error) {
	l, err := s.writableLead(ctx, act, leadID, audit.ActionAppointmentCreate)
	if err != nil {
		return Appointment{}, err
	}
	assignee := in.AssigneeID
	if assignee == "" || assignee == "me" {
		assignee = act.User.ID
	}
	now := s.now().UTC()
	a := Appointment{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, StartsAt: in.StartsAt.UTC(), EndsAt: in.EndsAt.UTC(),
		Location: strings.TrimSpace(in.Location), Notes: strings.TrimSpace(in.Notes), AssigneeID: assignee, Status: AppointmentBooked,
		RemindBeforeMinutes: in.RemindBeforeMinutes, CreatedBy: act.User.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := checkAppointment(a); err != nil {
		return Appointment{}, err
	}
	if err := s.taskAssignee(ctx, act, assignee, audit.ActionAppointmentCreate, l.ID); err != nil {
		return Appointment{}, err
	}
	if !in.Force {
		ids, err := s.overlaps(ctx, a)
		if err != nil {
			return Appointment{}, err
		}
		if len(ids) > 0 {
			return Appointment{}, &OverlapError{IDs: ids}
		}
	}
	if err := s.Appointments.BookAppointment(ctx, a, appointmentActivity(a, ActivityAppointmentBooked, act.User.ID, now, nil)); err != nil {
		return Appointment{}, fmt.Errorf("book appointment with lead %s: %w", l.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: act.User.ID, Action: audit.ActionAppointmentCreate, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"appointment_id": a.ID, "assignee_id": a.AssigneeID, "forced": strconv.FormatBool(in.Force)}})
	return a, nil
}

// ListLeadAppointments returns a page of the appointments of a lead the
// actor may see, newest first.
func (s *Service) ListLeadAppointments(ctx context.Context, act Actor, leadID string, limit int, from page.Cursor) (AppointmentPage, error) {
	l, err := s.Get(ctx, act, leadID)
	if err != nil {
		return AppointmentPage{}, err
	}
	p, err := s.Appointments.ListLeadAppointments(ctx, l.OrgID, l.ID, limit, from)
	if err != nil {
		return AppointmentPage{}, fmt.Errorf("list appointments of lead %s: %w", l.ID, err)
	}
	return p, nil
}

// UpdateAppointment reschedules, reassigns, edits or cancels an appointment
// of a lead the actor may see and write to. A reschedule or reassignment
// over another booked appointment of the assignee is an *OverlapError
// unless p.Force; a cancelled appointment is ErrAppointmentCancelled.
func (s *Service) UpdateAppointment(ctx context.Context, act Actor, leadID, id string, p AppointmentPatch) (Appointment, error) {
	for attempt := 1; ; attempt++ {
		a, err := s.updateAppointmentOnce(ctx, act, leadID, id, p)
		if !errors.Is(err, ErrAppointmentChanged) || attempt == updateAttempts {
			return a, err
		}
	}
}

func (s *Service) updateAppointmentOnce(ctx context.Context, act Actor, leadID, id string, p AppointmentPatch) (Appointment, error) {
	l, err := s.writableLead(ctx, act, leadID, audit.ActionAppointmentUpdate)
	if err != nil {
		return Appointment{}, err
	}
	old, err := s.Appointments.GetAppointment(ctx, l.OrgID, l.ID, id)
	if err != nil {
		if errors.Is(err, ErrAppointmentNotFound) {
			return Appointment{}, err
		}
		return Appointment{}, fmt.Errorf("read appointment %s: %w", id, err)
	}
	if old.Status == AppointmentCancelled {
		return Appointment{}, ErrAppointmentCancelled
	}
	now := s.now().UTC()
	next := old
	if p.Cancel {
		next.Status, next.CancelledAt, next.CancelledBy, next.UpdatedAt, next.Version = AppointmentCancelled, now, act.User.ID, now, old.Version+1
		if err := s.Appointments.UpdateAppointment(ctx, old, next, appointmentActivity(next, ActivityAppointmentCancelled, act.User.ID, now, nil)); err != nil {
			return Appointment{}, s.appointmentWriteError(old, err)
		}
		s.auditAppointment(ctx, act, next, ActivityAppointmentCancelled)
		return next, nil
	}
	var moved, changed []Change
	rearm := false
	if p.StartsAt != nil && !p.StartsAt.Equal(old.StartsAt) {
		next.StartsAt = p.StartsAt.UTC()
		moved = append(moved, Change{Field: "starts_at", Old: old.StartsAt.Format(time.RFC3339), New: next.StartsAt.Format(time.RFC3339)})
		rearm = true
	}
	if p.EndsAt != nil && !p.EndsAt.Equal(old.EndsAt) {
		next.EndsAt = p.EndsAt.UTC()
		moved = append(moved, Change{Field: "ends_at", Old: old.EndsAt.Format(time.RFC3339), New: next.EndsAt.Format(time.RFC3339)})
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{{"location", p.Location, &next.Location}, {"notes", p.Notes, &next.Notes}} {
		if f.v == nil {
			continue
		}
		if v := strings.TrimSpace(*f.v); v != *f.dst {
			changed = append(changed, Change{Field: f.name, Old: *f.dst, New: v})
			*f.dst = v
		}
	}
	if p.AssigneeID != nil {
		who := *p.AssigneeID
		if who == "" || who == "me" {
			who = act.User.ID
		}
		if who != old.AssigneeID {
			if err := s.taskAssignee(ctx, act, who, audit.ActionAppointmentUpdate, old.LeadID); err != nil {
				return Appointment{}, err
			}
			next.AssigneeID = who
			changed = append(changed, Change{Field: "assignee_id", Old: old.AssigneeID, New: who})
		}
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
		changed = append(changed, Change{Field: "remind_before_minutes", Old: oldRemind, New: newRemind})
		rearm = true
	}
	if len(moved)+len(changed) == 0 {
		return old, nil
	}
	if err := checkAppointment(next); err != nil {
		return Appointment{}, err
	}
	if !p.Force && (len(moved) > 0 || next.AssigneeID != old.AssigneeID) {
		ids, err := s.overlaps(ctx, next)
		if err != nil {
			return Appointment{}, err
		}
		if len(ids) > 0 {
			return Appointment{}, &OverlapError{IDs: ids}
		}
	}
	if rearm {
		next.ReminderSentAt = time.Time{}
	}
	next.UpdatedAt, next.Version = now, old.Version+1
	var acts []Activity
	if len(moved) > 0 {
		acts = append(acts, appointmentActivity(next, ActivityAppointmentRescheduled, act.User.ID, now, moved))
	}
	if len(changed) > 0 {
		acts = append(acts, appointmentActivity(next, ActivityAppointmentUpdated, act.User.ID, now, changed))
	}
	if err := s.Appointments.UpdateAppointment(ctx, old, next, acts...); err != nil {
		return Appointment{}, s.appointmentWriteError(old, err)
	}
	kinds := make([]string, 0, len(acts))
	for _, a := range acts {
		kinds = append(kinds, a.Kind)
	}
	s.auditAppointment(ctx, act, next, strings.Join(kinds, ","))
	return next, nil
}

func (s *Service) appointmentWriteError(old Appointment, err error) error {
	if errors.Is(err, ErrAppointmentChanged) || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("update appointment %s: %w", old.ID, err)
}

func (s *Service) auditAppointment(ctx context.Context, act Actor, a Appointment, changes string) {
	s.Audit.Record(ctx, audit.Record{OrgID: a.OrgID, ActorID: act.User.ID, Action: audit.ActionAppointmentUpdate, TargetType: "lead", TargetID: a.LeadID,
		Details: map[string]string{"appointment_id": a.ID, "changes": changes, "version": strconv.Itoa(a.Version)}})
}
