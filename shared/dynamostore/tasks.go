package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// A lead's tasks live in its history partition (TASK#<ulid>), so deleting
// the lead, purging a closed org and the data-subject export take them
// with the rest of its history. Each task is also filed in GSI1 under its
// org, assignee and status by due time (the cross-lead "my open tasks"
// list), and, while its reminder is still to come, in GSI3's single
// REMINDERS partition by the reminder's time (the reminder job). Every
// task write is one transaction with the activities that record it and a
// check that the lead exists.
//
// Notifications live in one partition per org (NOTIFY#<org>), under their
// user; an unread one is also filed in GSI2 under the user, so "my unread
// notifications" is one Query. They expire 90 days after they are made.

var (
	_ lead.TaskStore         = (*Store)(nil)
	_ lead.ReminderStore     = (*Store)(nil)
	_ lead.NotificationStore = (*Store)(nil)
)

type taskItem struct {
	PK                  string     `dynamodbav:"PK"`
	SK                  string     `dynamodbav:"SK"`
	Type                string     `dynamodbav:"type"`
	OrgID               string     `dynamodbav:"org_id"`
	LeadID              string     `dynamodbav:"lead_id"`
	Title               string     `dynamodbav:"title"`
	DueAt               time.Time  `dynamodbav:"due_at"`
	AssigneeID          string     `dynamodbav:"assignee_id"`
	Status              string     `dynamodbav:"status"`
	RemindBeforeMinutes *int       `dynamodbav:"remind_before_minutes,omitempty"`
	ReminderSentAt      *time.Time `dynamodbav:"reminder_sent_at,omitempty"`
	CreatedBy           string     `dynamodbav:"created_by"`
	CreatedAt           time.Time  `dynamodbav:"created_at"`
	UpdatedAt           time.Time  `dynamodbav:"updated_at"`
	CompletedAt         *time.Time `dynamodbav:"completed_at,omitempty"`
	CompletedBy         string     `dynamodbav:"completed_by,omitempty"`
	Version             int        `dynamodbav:"version"`
	GSI1PK              string     `dynamodbav:"GSI1PK"`
	GSI1SK              string     `dynamodbav:"GSI1SK"`
	// GSI3PK and GSI3SK file the task in the reminder index while its
	// reminder is pending.
	GSI3PK string `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK string `dynamodbav:"GSI3SK,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOf(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return *p
}

func toTaskItem(t lead.Task) taskItem {
	it := taskItem{PK: leadPartPK(t.OrgID, t.LeadID), SK: taskSK(t.ID), Type: "task", OrgID: t.OrgID, LeadID: t.LeadID, Title: t.Title,
		DueAt: t.DueAt.UTC(), AssigneeID: t.AssigneeID, Status: string(t.Status), RemindBeforeMinutes: t.RemindBeforeMinutes,
		ReminderSentAt: timePtr(t.ReminderSentAt), CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		CompletedAt: timePtr(t.CompletedAt), CompletedBy: t.CompletedBy, Version: t.Version,
		GSI1PK: tasksPK(t.OrgID, t.AssigneeID, string(t.Status)), GSI1SK: taskDueSK(t.DueAt, t.ID)}
	if t.ReminderPending() {
		it.GSI3PK, it.GSI3SK = remindersPK, reminderDueSK(t.RemindAt(), t.OrgID, t.LeadID, t.ID)
	}
	return it
}

func (it taskItem) task() lead.Task {
	return lead.Task{ID: it.SK[len(prefixTask):], OrgID: it.OrgID, LeadID: it.LeadID, Title: it.Title, DueAt: it.DueAt,
		AssigneeID: it.AssigneeID, Status: lead.TaskStatus(it.Status), RemindBeforeMinutes: it.RemindBeforeMinutes,
		ReminderSentAt: timeOf(it.ReminderSentAt), CreatedBy: it.CreatedBy, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		CompletedAt: timeOf(it.CompletedAt), CompletedBy: it.CompletedBy, Version: it.Version}
}

// taskWrite runs the transaction of a task write: the lead check, the
// task's own write, the activities. A failed lead check is
// lead.ErrNotFound, a failed task condition lead.ErrTaskChanged.
func (s *Store) taskWrite(ctx context.Context, orgID, leadID string, write types.TransactWriteItem, acts []lead.Activity, what string) error {
	items := []types.TransactWriteItem{s.leadExists(orgID, leadID), write}
	for _, act := range acts {
		a, err := s.activityPut(act)
		if err != nil {
			return err
		}
		items = append(items, a)
	}
	err := s.transact(ctx, items)
	if reasons := cancelReasons(err); len(reasons) > 1 {
		switch {
		case conditionFailed(reasons[0]):
			return lead.ErrNotFound
		case conditionFailed(reasons[1]):
			return lead.ErrTaskChanged
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// AddTask writes a new task and its activity.
func (s *Store) AddTask(ctx context.Context, t lead.Task, act lead.Activity) error {
	av, err := marshal(toTaskItem(t))
	if err != nil {
		return err
	}
	return s.taskWrite(ctx, t.OrgID, t.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}}, []lead.Activity{act}, "add task "+t.ID)
}

// GetTask reads one task of a lead (lead.ErrTaskNotFound when missing).
func (s *Store) GetTask(ctx context.Context, orgID, leadID, taskID string) (lead.Task, error) {
	return getAs(ctx, s, leadPartPK(orgID, leadID), taskSK(taskID), taskItem.task, lead.ErrTaskNotFound)
}

// UpdateTask replaces old with next, while the task is at old.Version.
func (s *Store) UpdateTask(ctx context.Context, old, next lead.Task, acts ...lead.Activity) error {
	av, err := marshal(toTaskItem(next))
	if err != nil {
		return err
	}
	cond, vals := versionIs(old.Version)
	return s.taskWrite(ctx, old.OrgID, old.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: cond, ExpressionAttributeValues: vals}}, acts, "update task "+old.ID)
}

// DeleteTask removes a task, while it is at t.Version.
func (s *Store) DeleteTask(ctx context.Context, t lead.Task, act lead.Activity) error {
	cond, vals := versionIs(t.Version)
	return s.taskWrite(ctx, t.OrgID, t.LeadID, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table,
		Key: key(leadPartPK(t.OrgID, t.LeadID), taskSK(t.ID)), ConditionExpression: cond, ExpressionAttributeValues: vals}},
		[]lead.Activity{act}, "delete task "+t.ID)
}

func tasksOf(items []map[string]types.AttributeValue) ([]lead.Task, error) {
	out := make([]lead.Task, 0, len(items))
	for _, item := range items {
		var it taskItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.task())
	}
	return out, nil
}

// ListLeadTasks returns up to limit of a lead's tasks, newest first (one
// Query).
func (s *Store) ListLeadTasks(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (lead.TaskPage, error) {
	items, next, err := s.historyPage(ctx, leadPartPK(orgID, leadID), prefixTask, limit, from)
	if err != nil {
		return lead.TaskPage{}, fmt.Errorf("list tasks of lead %s: %w", leadID, err)
	}
	tasks, err := tasksOf(items)
	if err != nil {
		return lead.TaskPage{}, err
	}
	return lead.TaskPage{Items: tasks, Next: next}, nil
}

// Tasks returns all of a lead's tasks, oldest first.
func (s *Store) Tasks(ctx context.Context, orgID, leadID string) ([]lead.Task, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixTask)
	if err != nil {
		return nil, err
	}
	return tasksOf(items)
}

// indexPage runs one Query of an index for limit+1 items and returns up to
// limit of them with the position after the last (zero when there is no
// more): the table's keys and the index's (pk, sk).
func (s *Store) indexPage(ctx context.Context, in *dynamodb.QueryInput, limit int, pk, sk string, from page.Cursor) ([]map[string]types.AttributeValue, page.Cursor, error) {
	in.TableName, in.Limit, in.ExclusiveStartKey = &s.table, aws.Int32(pageLimit(limit+1)), encodeKey(from)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("query %s: %w", aws.ToString(in.IndexName), err)
	}
	items := out.Items
	if len(items) <= limit {
		return items, page.Cursor{}, nil
	}
	items = items[:limit]
	last := items[len(items)-1]
	return items, decodeKey(map[string]types.AttributeValue{attrPK: last[attrPK], attrSK: last[attrSK], pk: last[pk], sk: last[sk]}), nil
}

// ListTasks returns up to limit of an org's tasks of one assignee in one
// status, soonest due first, optionally due before f.DueBefore: one Query
// of GSI1.
func (s *Store) ListTasks(ctx context.Context, orgID string, f lead.TaskFilter, limit int, from page.Cursor) (lead.TaskPage, error) {
	cond := "GSI1PK = :pk"
	vals := map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: tasksPK(orgID, f.AssigneeID, string(f.Status))}}
	if !f.DueBefore.IsZero() {
		// Due strictly before: every key of that instant sorts after
		// its bare time.
		cond += " AND GSI1SK < :before"
		vals[":before"] = &types.AttributeValueMemberS{Value: f.DueBefore.UTC().Format(dueTimeLayout)}
	}
	items, next, err := s.indexPage(ctx, &dynamodb.QueryInput{IndexName: aws.String(indexGSI1), KeyConditionExpression: aws.String(cond),
		ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(true)}, limit, attrGSI1PK, attrGSI1SK, from)
	if err != nil {
		return lead.TaskPage{}, fmt.Errorf("list tasks of %s: %w", orgID, err)
	}
	tasks, err := tasksOf(items)
	if err != nil {
		return lead.TaskPage{}, err
	}
	return lead.TaskPage{Items: tasks, Next: next}, nil
}

// DueReminders returns up to limit reminders due at asOf and still to be
// recorded, of tasks and appointments, earliest first: one Query of GSI3's
// REMINDERS partition.
func (s *Store) DueReminders(ctx context.Context, asOf time.Time, limit int, from page.Cursor) (lead.ReminderPage, error) {
	// "~" sorts after every id character: every key of asOf's instant.
	items, next, err := s.indexPage(ctx, &dynamodb.QueryInput{IndexName: aws.String(indexGSI3),
		KeyConditionExpression: aws.String("GSI3PK = :pk AND GSI3SK <= :at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: remindersPK},
			":at": &types.AttributeValueMemberS{Value: asOf.UTC().Format(dueTimeLayout) + "#~"},
		}, ScanIndexForward: aws.Bool(true)}, limit, attrGSI3PK, attrGSI3SK, from)
	if err != nil {
		return lead.ReminderPage{}, fmt.Errorf("list due reminders: %w", err)
	}
	res := lead.ReminderPage{Items: make([]lead.Reminder, 0, len(items)), Next: next}
	for _, item := range items {
		var kind struct {
			Type string `dynamodbav:"type"`
		}
		if err := unmarshal(item, &kind); err != nil {
			return lead.ReminderPage{}, err
		}
		switch kind.Type {
		case "task":
			var it taskItem
			if err := unmarshal(item, &it); err != nil {
				return lead.ReminderPage{}, err
			}
			t := it.task()
			res.Items = append(res.Items, lead.Reminder{Kind: lead.ReminderTask, OrgID: t.OrgID, LeadID: t.LeadID, ID: t.ID, UserID: t.AssigneeID,
				At: t.DueAt, RemindAt: t.RemindAt(), Version: t.Version})
		case "appointment":
			var it appointmentItem
			if err := unmarshal(item, &it); err != nil {
				return lead.ReminderPage{}, err
			}
			a := it.appointment()
			res.Items = append(res.Items, lead.Reminder{Kind: lead.ReminderAppointment, OrgID: a.OrgID, LeadID: a.LeadID, ID: a.ID,
				UserID: a.AssigneeID, At: a.StartsAt, RemindAt: a.RemindAt(), Version: a.Version})
		}
	}
	return res, nil
}

// reminderKey is the key of a reminder's task or appointment.
func reminderKey(r lead.Reminder) map[string]types.AttributeValue {
	if r.Kind == lead.ReminderAppointment {
		return key(leadPartPK(r.OrgID, r.LeadID), appointmentSK(r.ID))
	}
	return key(leadPartPK(r.OrgID, r.LeadID), taskSK(r.ID))
}

type notificationItem struct {
	PK        string     `dynamodbav:"PK"`
	SK        string     `dynamodbav:"SK"`
	Type      string     `dynamodbav:"type"`
	OrgID     string     `dynamodbav:"org_id"`
	UserID    string     `dynamodbav:"user_id"`
	ID        string     `dynamodbav:"id"`
	Kind      string     `dynamodbav:"kind"`
	LeadID    string     `dynamodbav:"lead_id,omitempty"`
	Limit     string     `dynamodbav:"limit,omitempty"`
	TaskID    string     `dynamodbav:"task_id,omitempty"`
	ApptID    string     `dynamodbav:"appointment_id,omitempty"`
	DueAt     time.Time  `dynamodbav:"due_at"`
	CreatedAt time.Time  `dynamodbav:"created_at"`
	ReadAt    *time.Time `dynamodbav:"read_at,omitempty"`
	TTL       int64      `dynamodbav:"ttl"`
	// GSI2PK and GSI2SK file it among its user's unread notifications.
	GSI2PK string `dynamodbav:"GSI2PK,omitempty"`
	GSI2SK string `dynamodbav:"GSI2SK,omitempty"`
}

func toNotificationItem(n lead.Notification) notificationItem {
	it := notificationItem{PK: notificationsPK(n.OrgID), SK: notificationSK(n.UserID, n.ID), Type: "notification", OrgID: n.OrgID,
		UserID: n.UserID, ID: n.ID, Kind: n.Kind, LeadID: n.LeadID, Limit: n.Limit, TaskID: n.TaskID, ApptID: n.AppointmentID, DueAt: n.DueAt.UTC(), CreatedAt: n.CreatedAt.UTC(),
		ReadAt: timePtr(n.ReadAt), TTL: n.CreatedAt.Add(lead.NotificationRetention).Unix()}
	if n.ReadAt.IsZero() {
		it.GSI2PK, it.GSI2SK = unreadNotificationsPK(n.OrgID, n.UserID), n.ID
	}
	return it
}

func (it notificationItem) notification() lead.Notification {
	return lead.Notification{ID: it.ID, OrgID: it.OrgID, UserID: it.UserID, Kind: it.Kind, LeadID: it.LeadID, Limit: it.Limit, TaskID: it.TaskID,
		AppointmentID: it.ApptID, DueAt: it.DueAt, CreatedAt: it.CreatedAt, ReadAt: timeOf(it.ReadAt)}
}

// FireReminder records n and marks r's task or appointment reminded at
// sentAt, in one transaction: the item's update holds while it is at
// r.Version, the notification's put while it does not exist. false when
// either did not hold; a notification already there (recorded with an
// earlier version of the item) takes the item out of the reminder index
// all the same.
func (s *Store) FireReminder(ctx context.Context, r lead.Reminder, n lead.Notification, sentAt time.Time) (bool, error) {
	nav, err := marshal(toNotificationItem(n))
	if err != nil {
		return false, err
	}
	update := &types.Update{TableName: &s.table, Key: reminderKey(r),
		UpdateExpression:    aws.String("SET reminder_sent_at = :sent, version = :nv REMOVE GSI3PK, GSI3SK"),
		ConditionExpression: aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sent": &types.AttributeValueMemberS{Value: sentAt.UTC().Format(time.RFC3339Nano)},
			":nv":   &types.AttributeValueMemberN{Value: strconv.Itoa(r.Version + 1)},
			":v":    &types.AttributeValueMemberN{Value: strconv.Itoa(r.Version)},
		}}
	err = s.transact(ctx, []types.TransactWriteItem{
		{Update: update},
		{Put: &types.Put{TableName: &s.table, Item: nav, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	})
	if reasons := cancelReasons(err); len(reasons) == 2 {
		if !conditionFailed(reasons[0]) && conditionFailed(reasons[1]) {
			_, uerr := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: update.Key,
				UpdateExpression: update.UpdateExpression, ConditionExpression: update.ConditionExpression,
				ExpressionAttributeValues: update.ExpressionAttributeValues})
			if uerr != nil && !isConditionFailed(uerr) {
				return false, fmt.Errorf("mark reminder of %s %s sent: %w", r.Kind, r.ID, uerr)
			}
		}
		if conditionFailed(reasons[0]) || conditionFailed(reasons[1]) {
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("record reminder of %s %s: %w", r.Kind, r.ID, err)
	}
	return true, nil
}

// ListNotifications returns up to limit of a user's notifications, newest
// first: one Query of the org's partition under the user, or of GSI2's
// unread partition with unreadOnly.
func (s *Store) ListNotifications(ctx context.Context, orgID, userID string, unreadOnly bool, limit int, from page.Cursor) (lead.NotificationPage, error) {
	var (
		items []map[string]types.AttributeValue
		next  page.Cursor
		err   error
	)
	if unreadOnly {
		items, next, err = s.indexPage(ctx, &dynamodb.QueryInput{IndexName: aws.String(indexGSI2), KeyConditionExpression: aws.String("GSI2PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: unreadNotificationsPK(orgID, userID)}},
			ScanIndexForward:          aws.Bool(false)}, limit, attrGSI2PK, attrGSI2SK, from)
	} else {
		items, next, err = s.historyPage(ctx, notificationsPK(orgID), notificationUserPrefix(userID), limit, from)
	}
	if err != nil {
		return lead.NotificationPage{}, fmt.Errorf("list notifications: %w", err)
	}
	res := lead.NotificationPage{Items: make([]lead.Notification, 0, len(items)), Next: next}
	for _, item := range live(items, s.now()) {
		var it notificationItem
		if err := unmarshal(item, &it); err != nil {
			return lead.NotificationPage{}, err
		}
		res.Items = append(res.Items, it.notification())
	}
	return res, nil
}

// MarkNotificationRead sets a notification's read_at (once) and takes it
// out of the unread index; lead.ErrNotificationNotFound when the user has
// no such notification.
func (s *Store) MarkNotificationRead(ctx context.Context, orgID, userID, id string, at time.Time) (lead.Notification, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(notificationsPK(orgID), notificationSK(userID, id)),
		UpdateExpression:         aws.String("SET read_at = if_not_exists(read_at, :at) REMOVE GSI2PK, GSI2SK"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #ttl > :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":  &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Unix(), 10)},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return lead.Notification{}, lead.ErrNotificationNotFound
	}
	if err != nil {
		return lead.Notification{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	var it notificationItem
	if err := unmarshal(out.Attributes, &it); err != nil {
		return lead.Notification{}, err
	}
	return it.notification(), nil
}

// deleteLeadTasks removes a deleted lead's tasks and appointments at once
// (they are also in the org-wide task, appointment and reminder indexes,
// which must not show a deleted lead's while a long history waits for the
// purge job), and counts them.
func (s *Store) deleteLeadTasks(ctx context.Context, orgID, leadID string, counts map[string]int) error {
	for _, k := range []struct{ prefix, kind string }{{prefixTask, "task"}, {prefixAppointment, "appointment"}} {
		items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), k.prefix)
		if err != nil {
			return err
		}
		keys := make([]map[string]types.AttributeValue, 0, len(items))
		for _, it := range items {
			keys = append(keys, map[string]types.AttributeValue{attrPK: it[attrPK], attrSK: it[attrSK]})
		}
		if err := s.batchDelete(ctx, keys); err != nil {
			return fmt.Errorf("delete %ss of lead %s: %w", k.kind, leadID, err)
		}
		if len(keys) > 0 {
			counts[k.kind] += len(keys)
		}
	}
	return nil
}
