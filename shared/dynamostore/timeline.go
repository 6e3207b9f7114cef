package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// timelineEntry is one item of a merged timeline page, with its sort key.
type timelineEntry struct {
	sk  string
	id  string
	act lead.Activity
}

// before reports whether e is older than the position (id, sk), so that it
// comes after it in the timeline's order: newest first by ULID, ties by
// sort key.
func (e timelineEntry) before(id, sk string) bool {
	return e.id < id || (e.id == id && e.sk < sk)
}

// ActivitiesPage returns up to limit entries of a lead's timeline, newest
// first, after the position from: its activities (ACT#), and, from the same
// history partition, its messages (MSG#, as message_in / message_out with
// the message's id, channel and status, never its content) and its consent
// ledger entries (CONSENT#, as consent_changed). All three are keyed by a
// ULID of their time, so they merge in one order: one Query per prefix,
// each for one more item than asked, reading only the attributes shown.
// The position is the sort key of the last entry returned.
func (s *Store) ActivitiesPage(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (lead.ActivityPage, error) {
	pk := leadPartPK(orgID, leadID)
	fromSK := from.Fields()[attrSK]
	fromID := fromSK[strings.IndexByte(fromSK, '#')+1:]
	var all []timelineEntry
	for _, prefix := range []string{prefixActivity, prefixMsg, prefixConsent} {
		items, err := s.timelineQuery(ctx, pk, prefix, fromID, limit)
		if err != nil {
			return lead.ActivityPage{}, fmt.Errorf("list timeline of lead %s: %w", leadID, err)
		}
		for _, item := range items {
			e, err := timelineOf(prefix, item)
			if err != nil {
				return lead.ActivityPage{}, err
			}
			if fromSK != "" && !e.before(fromID, fromSK) {
				continue
			}
			all = append(all, e)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[j].before(all[i].id, all[i].sk) })
	res := lead.ActivityPage{Items: make([]lead.Activity, 0, min(limit, len(all)))}
	for i, e := range all {
		if i == limit {
			res.Next = page.NewCursor(map[string]string{attrPK: pk, attrSK: all[i-1].sk})
			break
		}
		res.Items = append(res.Items, e.act)
	}
	return res, nil
}

// timelineQuery reads up to limit+1 items of prefix in the partition pk,
// newest first, whose id is below fromID (all when fromID is empty); the
// key condition's bound is inclusive, so it reads one more, the entry at
// the position itself, which the caller drops.
func (s *Store) timelineQuery(ctx context.Context, pk, prefix, fromID string, limit int) ([]map[string]types.AttributeValue, error) {
	cond, vals := "PK = :pk AND begins_with(SK, :p)", map[string]types.AttributeValue{
		":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefix},
	}
	n := limit + 1
	if fromID != "" {
		n++
		cond = "PK = :pk AND SK BETWEEN :p AND :to"
		vals[":to"] = &types.AttributeValueMemberS{Value: prefix + fromID}
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(pageLimit(n))}
	switch prefix {
	case prefixMsg:
		in.ProjectionExpression = aws.String("PK, SK, org_id, lead_id, channel, direction, #st, #at, msg_type")
		in.ExpressionAttributeNames = map[string]string{"#st": "status", "#at": "at"}
	case prefixConsent:
		in.ProjectionExpression = aws.String("PK, SK, org_id, lead_id, channel, purpose, #ac, #at, #src, #by")
		in.ExpressionAttributeNames = map[string]string{"#ac": "action", "#at": "at", "#src": "source", "#by": "by"}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w", pk, prefix, err)
	}
	return out.Items, nil
}

// timelineOf reads one history item of prefix as a timeline entry.
func timelineOf(prefix string, item map[string]types.AttributeValue) (timelineEntry, error) {
	switch prefix {
	case prefixMsg:
		var it struct {
			SK        string    `dynamodbav:"SK"`
			OrgID     string    `dynamodbav:"org_id"`
			LeadID    string    `dynamodbav:"lead_id"`
			Channel   string    `dynamodbav:"channel"`
			Direction string    `dynamodbav:"direction"`
			Status    string    `dynamodbav:"status"`
			MsgType   string    `dynamodbav:"msg_type"`
			At        time.Time `dynamodbav:"at"`
		}
		if err := unmarshal(item, &it); err != nil {
			return timelineEntry{}, err
		}
		id := it.SK[len(prefixMsg):]
		kind := lead.ActivityMessageOut
		if it.Direction == string(conversation.Inbound) {
			kind = lead.ActivityMessageIn
		}
		d := map[string]string{"message_id": id, "channel": it.Channel, "status": it.Status, "type": it.MsgType}
		return timelineEntry{sk: it.SK, id: id, act: lead.Activity{ID: id, OrgID: it.OrgID, LeadID: it.LeadID, Kind: kind, At: it.At, Details: d}}, nil
	case prefixConsent:
		var it consentItem
		if err := unmarshal(item, &it); err != nil {
			return timelineEntry{}, err
		}
		id := it.SK[len(prefixConsent):]
		d := map[string]string{"consent_id": id, "channel": it.Channel, "purpose": it.Purpose, "action": it.Action, "source": it.Source}
		return timelineEntry{sk: it.SK, id: id, act: lead.Activity{ID: id, OrgID: it.OrgID, LeadID: it.LeadID, Kind: lead.ActivityConsentChanged, At: it.At,
			ActorID: it.By, Details: d}}, nil
	}
	var it activityItem
	if err := unmarshal(item, &it); err != nil {
		return timelineEntry{}, err
	}
	a := it.activity()
	return timelineEntry{sk: it.SK, id: a.ID, act: a}, nil
}

// ScrubActivities removes from the activities of corrected (a lead as a
// data-subject correction left it) written before the time before the
// values of the named fields that are not corrected's
// (lead.ScrubChanges): one Query of the lead's activities, then one
// UpdateItem of the changes of each activity that held such a value. It
// returns how many activities it changed; run again, it changes none.
func (s *Store) ScrubActivities(ctx context.Context, corrected lead.Lead, fields []string, before time.Time) (int, error) {
	orgID, leadID := corrected.OrgID, corrected.ID
	if len(fields) == 0 {
		return 0, nil
	}
	acts, err := s.Activities(ctx, orgID, leadID)
	if err != nil {
		return 0, fmt.Errorf("scrub activities of lead %s: %w", leadID, err)
	}
	n := 0
	for _, a := range acts {
		if !a.At.Before(before) || !lead.ScrubChanges(&a, corrected, fields) {
			continue
		}
		changes, err := attributevalue.Marshal(toActivityItem(a).Changes)
		if err != nil {
			return n, fmt.Errorf("scrub activity %s: %w", a.ID, err)
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(leadPartPK(orgID, leadID), activitySK(a.ID)),
			UpdateExpression:          aws.String("SET changes = :c"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": changes},
		})
		if isConditionFailed(err) {
			continue // the lead's history was deleted meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("scrub activity %s: %w", a.ID, err)
		}
		n++
	}
	return n, nil
}
