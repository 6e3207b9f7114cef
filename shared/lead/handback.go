package lead

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// ReasonUserDeactivated is the details.reason of the activities a
// deactivation's hand-back writes.
const ReasonUserDeactivated = "user_deactivated"

// errHandBackLater means a task or appointment waits for its lead's
// hand-back; laterMark records that in handBackTarget's cache.
var errHandBackLater = errors.New("lead not handed back yet")

const laterMark = "\x00later"

// handBackTarget is who takes over a deactivated user's task or
// appointment on leadID: the lead's assignee when that is another active
// user (the rule's pick of the hand-back, or whoever works the lead),
// else the deactivating actor (an owner or admin), so the work keeps an
// active owner; "" when the lead is gone; errHandBackLater while the lead
// is open and still the user's (its own hand-back is to come: the call
// that hands it back moves its work too). known caches the answer per
// lead within one call.
func (s *Service) handBackTarget(ctx context.Context, a Actor, leadID, userID string, known map[string]string) (string, error) {
	if id, ok := known[leadID]; ok {
		if id == laterMark {
			return "", errHandBackLater
		}
		return id, nil
	}
	l, err := s.Store.GetLead(ctx, a.User.OrgID, leadID)
	if errors.Is(err, ErrNotFound) {
		known[leadID] = ""
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lead %s: %w", leadID, err)
	}
	if l.AssigneeID == userID && Open(l.Status) {
		known[leadID] = laterMark
		return "", errHandBackLater
	}
	target := a.User.ID
	if l.AssigneeID != "" && l.AssigneeID != userID {
		if err := s.checkAssignee(ctx, a, l.AssigneeID); err == nil {
			target = l.AssigneeID
		} else if fe := (*FieldError)(nil); !errors.As(err, &fe) {
			return "", err
		}
	}
	known[leadID] = target
	return target, nil
}

// handBackWork hands the open tasks and the booked appointments still to
// come (ending after now) of userID to handBackTarget's pick, each with
// its task_updated or appointment_updated activity (changes assignee_id,
// details.reason user_deactivated) and audit record; at most MaxHandBack
// of each a call (res.More when some stay). Done tasks and past or
// cancelled appointments stay with the user, as the record of who did
// them. A moved appointment is not checked for overlaps: the new
// assignee sees it in its calendar and reschedules.
func (s *Service) handBackWork(ctx context.Context, a Actor, userID string, res *HandBack) error {
	known := map[string]string{}
	if s.Tasks != nil {
		done := 0
		var from page.Cursor
		for {
			p, err := s.Tasks.ListTasks(ctx, a.User.OrgID, TaskFilter{AssigneeID: userID, Status: TaskOpen}, 100, from)
			if err != nil {
				return fmt.Errorf("list tasks of user %s: %w", userID, err)
			}
			for _, t := range p.Items {
				if done == MaxHandBack {
					res.More = true
					break
				}
				done++
				moved, err := s.handBackTask(ctx, a, t, userID, known)
				switch {
				case errors.Is(err, ErrTaskChanged), errors.Is(err, errHandBackLater):
					res.More = true
				case err != nil:
					return err
				case moved:
					res.Tasks++
				}
			}
			if p.Next.IsZero() || done == MaxHandBack {
				break
			}
			from = p.Next
		}
	}
	if s.Appointments != nil {
		now := s.now().UTC()
		appts, err := s.Appointments.AssigneeAppointments(ctx, a.User.OrgID, userID, now.Add(-MaxAppointmentLength), now.AddDate(100, 0, 0))
		if err != nil {
			return fmt.Errorf("list appointments of user %s: %w", userID, err)
		}
		done := 0
		for _, ap := range appts {
			if ap.Status != AppointmentBooked || !ap.EndsAt.After(now) {
				continue
			}
			if done == MaxHandBack {
				res.More = true
				break
			}
			done++
			moved, err := s.handBackAppointment(ctx, a, ap, userID, known)
			switch {
			case errors.Is(err, ErrAppointmentChanged), errors.Is(err, errHandBackLater):
				res.More = true
			case err != nil:
				return err
			case moved:
				res.Appointments++
			}
		}
	}
	return nil
}

// handBackTask moves one open task of userID; false when it is no longer
// the user's open task or its lead is gone.
func (s *Service) handBackTask(ctx context.Context, a Actor, t Task, userID string, known map[string]string) (bool, error) {
	for attempt := 1; ; attempt++ {
		if t.AssigneeID != userID || t.Status != TaskOpen {
			return false, nil
		}
		target, err := s.handBackTarget(ctx, a, t.LeadID, userID, known)
		if err != nil || target == "" {
			return false, err
		}
		now := s.now().UTC()
		next := t
		next.AssigneeID, next.UpdatedAt, next.Version = target, now, t.Version+1
		act := taskActivity(next, ActivityTaskUpdated, a.User.ID, now, []Change{{Field: "assignee_id", Old: userID, New: target}})
		act.Details["reason"] = ReasonUserDeactivated
		err = s.Tasks.UpdateTask(ctx, t, next, act)
		if err == nil {
			s.Audit.Record(ctx, audit.Record{OrgID: t.OrgID, ActorID: a.User.ID, Action: audit.ActionTaskUpdate, TargetType: "lead", TargetID: t.LeadID,
				Details: map[string]string{"task_id": t.ID, "changes": ActivityTaskUpdated, "version": strconv.Itoa(next.Version), "reason": ReasonUserDeactivated}})
			return true, nil
		}
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if !errors.Is(err, ErrTaskChanged) {
			return false, fmt.Errorf("hand back task %s: %w", t.ID, err)
		}
		if attempt == updateAttempts {
			return false, err
		}
		if t, err = s.Tasks.GetTask(ctx, t.OrgID, t.LeadID, t.ID); errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("read task %s: %w", t.ID, err)
		}
	}
}

// handBackAppointment moves one booked appointment of userID; false when
// it is no longer the user's booked appointment or its lead is gone.
func (s *Service) handBackAppointment(ctx context.Context, a Actor, ap Appointment, userID string, known map[string]string) (bool, error) {
	for attempt := 1; ; attempt++ {
		if ap.AssigneeID != userID || ap.Status != AppointmentBooked {
			return false, nil
		}
		target, err := s.handBackTarget(ctx, a, ap.LeadID, userID, known)
		if err != nil || target == "" {
			return false, err
		}
		now := s.now().UTC()
		next := ap
		next.AssigneeID, next.UpdatedAt, next.Version = target, now, ap.Version+1
		act := appointmentActivity(next, ActivityAppointmentUpdated, a.User.ID, now, []Change{{Field: "assignee_id", Old: userID, New: target}})
		act.Details["reason"] = ReasonUserDeactivated
		err = s.Appointments.UpdateAppointment(ctx, ap, next, act)
		if err == nil {
			s.Audit.Record(ctx, audit.Record{OrgID: ap.OrgID, ActorID: a.User.ID, Action: audit.ActionAppointmentUpdate, TargetType: "lead", TargetID: ap.LeadID,
				Details: map[string]string{"appointment_id": ap.ID, "changes": "assignee_id", "version": strconv.Itoa(next.Version), "reason": ReasonUserDeactivated}})
			return true, nil
		}
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if !errors.Is(err, ErrAppointmentChanged) {
			return false, fmt.Errorf("hand back appointment %s: %w", ap.ID, err)
		}
		if attempt == updateAttempts {
			return false, err
		}
		if ap, err = s.Appointments.GetAppointment(ctx, ap.OrgID, ap.LeadID, ap.ID); errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("read appointment %s: %w", ap.ID, err)
		}
	}
}
