package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// A lead's appointments live in its history partition (APPT#<ulid>), like
// its tasks. A booked one is also filed in GSI1 under its org and assignee
// by start time (the overlap check), and, while its reminder is to come, in
// GSI3's REMINDERS partition with the tasks' reminders. Every write is one
// transaction with its activities and a check that the lead exists.

var _ lead.AppointmentStore = (*Store)(nil)

type appointmentItem struct {
	PK                  string     `dynamodbav:"PK"`
	SK                  string     `dynamodbav:"SK"`
	Type                string     `dynamodbav:"type"`
	OrgID               string     `dynamodbav:"org_id"`
	LeadID              string     `dynamodbav:"lead_id"`
	StartsAt            time.Time  `dynamodbav:"starts_at"`
	EndsAt              time.Time  `dynamodbav:"ends_at"`
	Location            string     `dynamodbav:"location,omitempty"`
	Notes               string     `dynamodbav:"notes,omitempty"`
	AssigneeID          string     `dynamodbav:"assignee_id"`
	Status              string     `dynamodbav:"status"`
	RemindBeforeMinutes *int       `dynamodbav:"remind_before_minutes,omitempty"`
	ReminderSentAt      *time.Time `dynamodbav:"reminder_sent_at,omitempty"`
	CreatedBy           string     `dynamodbav:"created_by"`
	CreatedAt           time.Time  `dynamodbav:"created_at"`
	UpdatedAt           time.Time  `dynamodbav:"updated_at"`
	CancelledAt         *time.Time `dynamodbav:"cancelled_at,omitempty"`
	CancelledBy         string     `dynamodbav:"cancelled_by,omitempty"`
	Version             int        `dynamodbav:"version"`
	// GSI1PK and GSI1SK file a booked appointment under its assignee.
	GSI1PK string `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK string `dynamodbav:"GSI1SK,omitempty"`
	// GSI3PK and GSI3SK file it in the reminder index while its reminder
	// is pending.
	GSI3PK string `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK string `dynamodbav:"GSI3SK,omitempty"`
}

func toAppointmentItem(a lead.Appointment) appointmentItem {
	it := appointmentItem{PK: leadPartPK(a.OrgID, a.LeadID), SK: appointmentSK(a.ID), Type: "appointment", OrgID: a.OrgID, LeadID: a.LeadID,
		StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), Location: a.Location, Notes: a.Notes, AssigneeID: a.AssigneeID,
		Status: string(a.Status), RemindBeforeMinutes: a.RemindBeforeMinutes, ReminderSentAt: timePtr(a.ReminderSentAt),
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, CancelledAt: timePtr(a.CancelledAt),
		CancelledBy: a.CancelledBy, Version: a.Version}
	if a.Status == lead.AppointmentBooked {
		it.GSI1PK, it.GSI1SK = appointmentsPK(a.OrgID, a.AssigneeID), appointmentStartSK(a.StartsAt, a.ID)
	}
	if a.ReminderPending() {
		it.GSI3PK, it.GSI3SK = remindersPK, reminderDueSK(a.RemindAt(), a.OrgID, a.LeadID, a.ID)
	}
	return it
}

func (it appointmentItem) appointment() lead.Appointment {
	return lead.Appointment{ID: it.SK[len(prefixAppointment):], OrgID: it.OrgID, LeadID: it.LeadID, StartsAt: it.StartsAt, EndsAt: it.EndsAt,
		Location: it.Location, Notes: it.Notes, AssigneeID: it.AssigneeID, Status: lead.AppointmentStatus(it.Status),
		RemindBeforeMinutes: it.RemindBeforeMinutes, ReminderSentAt: timeOf(it.ReminderSentAt), CreatedBy: it.CreatedBy,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, CancelledAt: timeOf(it.CancelledAt), CancelledBy: it.CancelledBy, Version: it.Version}
}

func appointmentsOf(items []map[string]types.AttributeValue) ([]lead.Appointment, error) {
	out := make([]lead.Appointment, 0, len(items))
	for _, item := range items {
		var it appointmentItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.appointment())
	}
	return out, nil
}

// appointmentError maps taskWrite's errors to the appointment's.
func appointmentError(err error) error {
	if errors.Is(err, lead.ErrTaskChanged) {
		return lead.ErrAppointmentChanged
	}
	return err
}

// BookAppointment writes a new appointment and its activity.
func (s *Store) BookAppointment(ctx context.Context, a lead.Appointment, act lead.Activity) error {
	av, err := marshal(toAppointmentItem(a))
	if err != nil {
		return err
	}
	return appointmentError(s.taskWrite(ctx, a.OrgID, a.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}}, []lead.Activity{act}, "book appointment "+a.ID))
}

// GetAppointment reads one appointment of a lead
// (lead.ErrAppointmentNotFound when missing).
func (s *Store) GetAppointment(ctx context.Context, orgID, leadID, id string) (lead.Appointment, error) {
	return getAs(ctx, s, leadPartPK(orgID, leadID), appointmentSK(id), appointmentItem.appointment, lead.ErrAppointmentNotFound)
}

// UpdateAppointment replaces old with next, while it is at old.Version.
func (s *Store) UpdateAppointment(ctx context.Context, old, next lead.Appointment, acts ...lead.Activity) error {
	av, err := marshal(toAppointmentItem(next))
	if err != nil {
		return err
	}
	cond, vals := versionIs(old.Version)
	return appointmentError(s.taskWrite(ctx, old.OrgID, old.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: cond, ExpressionAttributeValues: vals}}, acts, "update appointment "+old.ID))
}

// ListLeadAppointments returns up to limit of a lead's appointments,
// newest first (one Query).
func (s *Store) ListLeadAppointments(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (lead.AppointmentPage, error) {
	items, next, err := s.historyPage(ctx, leadPartPK(orgID, leadID), prefixAppointment, limit, from)
	if err != nil {
		return lead.AppointmentPage{}, fmt.Errorf("list appointments of lead %s: %w", leadID, err)
	}
	as, err := appointmentsOf(items)
	if err != nil {
		return lead.AppointmentPage{}, err
	}
	return lead.AppointmentPage{Items: as, Next: next}, nil
}

// AssigneeAppointments returns the booked appointments of a user that
// start in [from, to): one Query of GSI1 (paged when larger than 1 MB).
func (s *Store) AssigneeAppointments(ctx context.Context, orgID, assigneeID string, from, to time.Time) ([]lead.Appointment, error) {
	// A bare time sorts before every "<time>#<id>" of that instant.
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: appointmentsPK(orgID, assigneeID)},
			":from": &types.AttributeValueMemberS{Value: from.UTC().Format(dueTimeLayout)},
			":to":   &types.AttributeValueMemberS{Value: to.UTC().Format(dueTimeLayout)},
		}})
	var out []lead.Appointment
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read appointments of %s: %w", assigneeID, err)
		}
		as, err := appointmentsOf(pg.Items)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

// Appointments returns all of a lead's appointments, oldest first.
func (s *Store) Appointments(ctx context.Context, orgID, leadID string) ([]lead.Appointment, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixAppointment)
	if err != nil {
		return nil, err
	}
	return appointmentsOf(items)
}
