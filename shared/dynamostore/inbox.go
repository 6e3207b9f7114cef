package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// The inbox reads one small summary item per lead with messages
// (ORG#o#LEAD#l / CONV), indexed by its latest message:
//
//   - GSI1: GSI1PK = ORG#o#INBOX, GSI1SK = id of the latest message (a ULID,
//     so newest conversation first when read backwards);
//   - GSI2: GSI2PK = ORG#o#INBOX#ASSIGNEE#u (ORG#o#INBOX#UNASSIGNED while
//     the lead has no assignee), GSI2SK = the same id.
//
// Every message write moves the summary in the same transaction as the
// message (never backwards: a message older than the latest one leaves the
// order alone), and inbound messages add one to its unread counter. The
// assignment (lead create and update) owns GSI2PK, the messages own the
// sort keys, so neither write needs to read the other's data.
//
// The summary also holds the time of the lead's latest inbound message
// (last_inbound_at, the start of WhatsApp's 24-hour window): the inbound
// message's own transaction sets it, so a message costs no write to the
// lead item, which sits in two indexes. The lead item keeps the time it
// was created with (or that an older message wrote there); the lead reads
// that decide sends (GetLead, the sender's subjects, the inbox) take the
// later of the two (see inboundWindow).

type conversationItem struct {
	PK         string    `dynamodbav:"PK"`
	SK         string    `dynamodbav:"SK"`
	GSI1PK     string    `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK     string    `dynamodbav:"GSI1SK,omitempty"`
	GSI2PK     string    `dynamodbav:"GSI2PK,omitempty"`
	GSI2SK     string    `dynamodbav:"GSI2SK,omitempty"`
	Type       string    `dynamodbav:"type"`
	OrgID      string    `dynamodbav:"org_id"`
	LeadID     string    `dynamodbav:"lead_id"`
	AssigneeID string    `dynamodbav:"assignee_id,omitempty"`
	LastID     string    `dynamodbav:"last_id,omitempty"`
	LastAt     time.Time `dynamodbav:"last_at"`
	Unread     int       `dynamodbav:"unread"`
	ReadAt     time.Time `dynamodbav:"read_at"`
	// LastInboundAt is the time of the lead's latest inbound message
	// written since the summary held it (older summaries have none).
	LastInboundAt time.Time `dynamodbav:"last_inbound_at,omitempty"`
}

func (i conversationItem) summary() conversation.Summary {
	return conversation.Summary{OrgID: i.OrgID, LeadID: i.LeadID, AssigneeID: i.AssigneeID, LastMessageID: i.LastID,
		LastAt: i.LastAt, Unread: i.Unread, ReadAt: i.ReadAt}
}

// conversationMove is the transaction item that makes m the latest message
// of its lead's conversation (adding one to the unread counter when m is
// inbound). Its condition fails when the conversation already has a later
// message; withoutMove is then the item to write instead.
func (s *Store) conversationMove(m conversation.Message) types.TransactWriteItem {
	return s.conversationMoveTo(m, "")
}

// conversationMoveTo is conversationMove that also files the conversation
// in assigneeID's inbox (when not empty): for the first message of a lead
// created with an assignee, whose conversation this one write creates (a
// transaction may hold one operation per item, so conversationAssignee
// cannot be beside it).
func (s *Store) conversationMoveTo(m conversation.Message, assigneeID string) types.TransactWriteItem {
	// A summary the assignment never filed (the lead was created without an
	// assignee) is filed as unassigned; a filed one keeps its GSI2PK, so the
	// message write needs no read of the lead.
	upd := "SET GSI1PK = :inbox, GSI1SK = :id, GSI2PK = if_not_exists(GSI2PK, :none), GSI2SK = :id, last_id = :id, last_at = :at, " +
		"org_id = :o, lead_id = :l, #t = :t"
	vals := map[string]types.AttributeValue{
		":inbox": &types.AttributeValueMemberS{Value: inboxPK(m.OrgID)},
		":none":  &types.AttributeValueMemberS{Value: inboxUnassignedPK(m.OrgID)},
		":id":    &types.AttributeValueMemberS{Value: m.ID},
		":at":    &types.AttributeValueMemberS{Value: m.At.UTC().Format(time.RFC3339Nano)},
	}
	if assigneeID != "" {
		upd = strings.Replace(upd, "GSI2PK = if_not_exists(GSI2PK, :none)", "GSI2PK = :none, assignee_id = :a", 1)
		vals[":none"] = &types.AttributeValueMemberS{Value: inboxAssigneePK(m.OrgID, assigneeID)}
		vals[":a"] = &types.AttributeValueMemberS{Value: assigneeID}
	}
	// ADD 0 still creates the counter, which MarkConversationRead compares.
	inc := "0"
	if m.Direction == conversation.Inbound {
		inc = "1"
	}
	if opensWindow(m) {
		// The latest message by id is also the latest by time (ids are
		// built from it), so it moves the window forward.
		upd += ", last_inbound_at = :at"
	}
	upd += " ADD unread :inc"
	vals[":inc"] = &types.AttributeValueMemberN{Value: inc}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(leadPartPK(m.OrgID, m.LeadID), skConversation),
		UpdateExpression:          aws.String(upd),
		ConditionExpression:       aws.String("attribute_not_exists(last_id) OR last_id < :id"),
		ExpressionAttributeNames:  map[string]string{"#t": "type"},
		ExpressionAttributeValues: conversationValues(m.OrgID, m.LeadID, vals, false),
	}}
}

// withoutMove is what replaces conversationMove for a message older than
// the latest one: the order stays, an inbound message still counts as
// unread, and an outbound one changes nothing.
func (s *Store) withoutMove(m conversation.Message) []types.TransactWriteItem {
	if m.Direction != conversation.Inbound {
		return nil
	}
	return []types.TransactWriteItem{{Update: &types.Update{
		TableName: &s.table, Key: key(leadPartPK(m.OrgID, m.LeadID), skConversation),
		UpdateExpression:          aws.String("SET org_id = :o, lead_id = :l, #t = :t ADD unread :one"),
		ExpressionAttributeNames:  map[string]string{"#t": "type"},
		ExpressionAttributeValues: conversationValues(m.OrgID, m.LeadID, nil, true),
	}}}
}

func conversationValues(orgID, leadID string, vals map[string]types.AttributeValue, one bool) map[string]types.AttributeValue {
	if vals == nil {
		vals = map[string]types.AttributeValue{}
	}
	vals[":o"] = &types.AttributeValueMemberS{Value: orgID}
	vals[":l"] = &types.AttributeValueMemberS{Value: leadID}
	vals[":t"] = &types.AttributeValueMemberS{Value: "conversation"}
	if one {
		vals[":one"] = &types.AttributeValueMemberN{Value: "1"}
	}
	return vals
}

// writeWithConversation runs a transaction whose item at index conv is a
// conversationMove for m. When only that item's condition fails (m is older
// than the conversation's latest message) the transaction is written again
// with withoutMove in its place, so the message is never lost to ordering.
func (s *Store) writeWithConversation(ctx context.Context, items []types.TransactWriteItem, conv int, m conversation.Message) error {
	err := s.transact(ctx, items)
	if err == nil {
		return nil
	}
	reasons := cancelReasons(err)
	retry := len(reasons) > conv && conditionFailed(reasons[conv])
	for i, r := range reasons {
		if i != conv && conditionFailed(r) {
			retry = false // another guard refused: report that
		}
	}
	if !retry {
		return fmt.Errorf("write message %s: %w", m.ID, err)
	}
	items = append(append(items[:conv:conv], s.withoutMove(m)...), items[conv+1:]...)
	if err := s.transact(ctx, items); err != nil {
		return fmt.Errorf("write message %s: %w", m.ID, err)
	}
	if opensWindow(m) {
		// An inbound message older than the latest (outbound) one may still
		// be the latest inbound: moved forward only, never back, so a crash
		// before this write leaves a window that is shorter, never longer.
		return s.touchConversationInbound(ctx, m.OrgID, m.LeadID, m.At)
	}
	return nil
}

// opensWindow tells whether m starts WhatsApp's 24-hour window: an
// inbound WhatsApp message.
func opensWindow(m conversation.Message) bool {
	return m.Direction == conversation.Inbound && m.Channel == conversation.ChannelWhatsApp
}

// touchConversationInbound moves the window start (last_inbound_at) on a
// lead's conversation summary forward to at, never back; a summary that is
// gone (the lead was deleted) is left alone.
func (s *Store) touchConversationInbound(ctx context.Context, orgID, leadID string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation),
		UpdateExpression:    aws.String("SET last_inbound_at = :at"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_inbound_at) OR last_inbound_at < :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch the window of lead %s: %w", leadID, err)
	}
	return nil
}

// inboundWindow returns the time of a lead's latest inbound message as its
// conversation summary holds it (zero when it has none).
func (s *Store) inboundWindow(ctx context.Context, orgID, leadID string) (time.Time, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("last_inbound_at"),
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read the window of lead %s: %w", leadID, err)
	}
	if out.Item == nil {
		return time.Time{}, nil
	}
	var it conversationItem
	if err := unmarshal(out.Item, &it); err != nil {
		return time.Time{}, err
	}
	return it.LastInboundAt, nil
}

// withWindow is l with its LastInboundAt the later of the lead item's and
// its conversation summary's (at).
func withWindow(l lead.Lead, at time.Time) lead.Lead {
	if at.After(l.LastInboundAt) {
		l.LastInboundAt = at
	}
	return l
}

// conversationAssignee is the transaction item that files a lead's
// conversation under its assignee (GSI2PK), or under "unassigned" when
// assigneeID is empty. It creates the summary if the
// lead has no messages yet; without sort keys it is in no index until the
// first message.
func (s *Store) conversationAssignee(orgID, leadID, assigneeID string) types.TransactWriteItem {
	upd := &types.Update{
		TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation),
		ExpressionAttributeNames: map[string]string{"#t": "type"},
	}
	vals := conversationValues(orgID, leadID, nil, false)
	if assigneeID == "" {
		upd.UpdateExpression = aws.String("SET org_id = :o, lead_id = :l, #t = :t, GSI2PK = :pk REMOVE assignee_id")
		vals[":pk"] = &types.AttributeValueMemberS{Value: inboxUnassignedPK(orgID)}
	} else {
		upd.UpdateExpression = aws.String("SET org_id = :o, lead_id = :l, #t = :t, GSI2PK = :pk, assignee_id = :a")
		vals[":pk"] = &types.AttributeValueMemberS{Value: inboxAssigneePK(orgID, assigneeID)}
		vals[":a"] = &types.AttributeValueMemberS{Value: assigneeID}
	}
	upd.ExpressionAttributeValues = vals
	return types.TransactWriteItem{Update: upd}
}

// conversationDelete removes a lead's conversation summary.
func (s *Store) conversationDelete(orgID, leadID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation)}}
}

// Inbox returns up to limit conversations of an org, latest message first,
// starting after the position from, and the position after the last one
// (nil when there are no more). It is one Query on the inbox index (GSI2
// for an assignee) and one BatchGetItem for the leads and latest messages;
// Unread is a filter on that Query, so an unread page may read a few more
// index pages (at most maxListPages).
func (s *Store) Inbox(ctx context.Context, orgID string, f conversation.InboxFilter, limit int, from page.Cursor) ([]conversation.InboxEntry, page.Cursor, error) {
	index, pkAttr, skAttr, pk := indexGSI1, attrGSI1PK, attrGSI1SK, inboxPK(orgID)
	switch {
	case f.AssigneeID != "":
		index, pkAttr, skAttr, pk = indexGSI2, attrGSI2PK, attrGSI2SK, inboxAssigneePK(orgID, f.AssigneeID)
	case f.Unassigned:
		index, pkAttr, skAttr, pk = indexGSI2, attrGSI2PK, attrGSI2SK, inboxUnassignedPK(orgID)
	}
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(index), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": pkAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ExclusiveStartKey:         encodeKey(from),
	}
	if f.Unread {
		in.FilterExpression = aws.String("unread > :zero")
		in.ExpressionAttributeValues[":zero"] = &types.AttributeValueMemberN{Value: "0"}
	}
	var (
		convs []conversationItem
		next  page.Cursor
	)
	position := func(c conversationItem) page.Cursor {
		return page.NewCursor(map[string]string{attrPK: c.PK, attrSK: c.SK, pkAttr: pk, skAttr: c.LastID})
	}
query:
	for n := 0; ; n++ {
		if n == maxListPages {
			next = decodeKey(in.ExclusiveStartKey)
			break
		}
		// One more than needed tells whether a next page exists.
		in.Limit = aws.Int32(pageLimit(limit - len(convs) + 1))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, page.Cursor{}, fmt.Errorf("inbox of %s: %w", orgID, err)
		}
		for _, item := range out.Items {
			if len(convs) == limit {
				next = position(convs[len(convs)-1])
				break query
			}
			var c conversationItem
			if err := unmarshal(item, &c); err != nil {
				return nil, page.Cursor{}, err
			}
			convs = append(convs, c)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	entries, err := s.inboxEntries(ctx, orgID, convs)
	if err != nil {
		return nil, page.Cursor{}, err
	}
	if f.AssigneeID != "" || f.Unassigned {
		// The index is eventually consistent: a lead reassigned a moment ago
		// may still be listed under its former assignee.
		kept := entries[:0]
		for _, e := range entries {
			if e.Lead.AssigneeID == f.AssigneeID {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	return entries, next, nil
}

// inboxEntries reads the leads and latest messages of some conversations in
// one BatchGetItem per 50 conversations; conversations whose lead is gone
// are dropped.
func (s *Store) inboxEntries(ctx context.Context, orgID string, convs []conversationItem) ([]conversation.InboxEntry, error) {
	keys := make([]map[string]types.AttributeValue, 0, 2*len(convs))
	for _, c := range convs {
		keys = append(keys, key(orgPK(orgID), leadSK(c.LeadID)), key(leadPartPK(orgID, c.LeadID), messageSK(c.LastID)))
	}
	leads := make(map[string]lead.Lead, len(convs))
	msgs := make(map[string]conversation.Message, len(convs))
	// Strongly consistent, so a lead missing here is gone, not just not
	// replicated yet, and the latest message is the one the index named.
	err := s.batchGet(ctx, keys, &batchProjection{consistent: true}, func(item map[string]types.AttributeValue) error {
		var kind struct {
			Type string `dynamodbav:"type"`
		}
		if err := unmarshal(item, &kind); err != nil {
			return err
		}
		switch kind.Type {
		case "lead":
			var it leadItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			leads[it.ID] = it.lead()
		case "message":
			var it messageItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			msgs[it.LeadID] = it.message()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbox of %s: %w", orgID, err)
	}
	out := make([]conversation.InboxEntry, 0, len(convs))
	for _, c := range convs {
		l, ok := leads[c.LeadID]
		if !ok {
			s.dropOrphan(ctx, c)
			continue
		}
		e := conversation.InboxEntry{Summary: c.summary(), Lead: withWindow(l, c.LastInboundAt)}
		if m, ok := msgs[c.LeadID]; ok && m.ID == c.LastID {
			e.Last = &m
		}
		out = append(out, e)
	}
	return out, nil
}

// dropOrphan deletes the summary of a lead that no longer exists: a
// message written while its lead was being deleted recreates the summary
// after the lead's delete removed it. Lead ids are never reused, so such a
// summary can only be an orphan; the delete is best effort (the next read
// tries again) and only while the summary is still the one read.
func (s *Store) dropOrphan(ctx context.Context, c conversationItem) {
	_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: key(c.PK, c.SK),
		ConditionExpression:       aws.String("last_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: c.LastID}},
	})
}

// Conversation returns a lead's conversation summary; ok is false when the
// lead has no messages.
func (s *Store) Conversation(ctx context.Context, orgID, leadID string) (c conversation.Summary, ok bool, err error) {
	var it conversationItem
	found, err := s.get(ctx, leadPartPK(orgID, leadID), skConversation, &it)
	if err != nil || !found || it.LastID == "" {
		return conversation.Summary{}, false, err
	}
	return it.summary(), true, nil
}

// MarkConversationRead marks a lead's conversation read up to its latest
// message: the unread counter goes to zero and read_at moves to that
// message's time. It reads the summary and writes it back only if nothing
// arrived in between (else it reads again), so a message that arrives
// meanwhile stays unread. cleared is how many unread messages the mark
// covered; ok is false when the lead has no messages.
func (s *Store) MarkConversationRead(ctx context.Context, orgID, leadID string) (cleared int, ok bool, err error) {
	for range 4 {
		c, ok, err := s.Conversation(ctx, orgID, leadID)
		if err != nil || !ok {
			return 0, ok, err
		}
		if c.Unread == 0 && !c.ReadAt.Before(c.LastAt) {
			return 0, true, nil
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation),
			UpdateExpression:    aws.String("SET read_at = :at, unread = :zero"),
			ConditionExpression: aws.String("unread = :n AND last_id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":at":   &types.AttributeValueMemberS{Value: c.LastAt.UTC().Format(time.RFC3339Nano)},
				":zero": &types.AttributeValueMemberN{Value: "0"},
				":n":    &types.AttributeValueMemberN{Value: fmt.Sprint(c.Unread)}, ":id": &types.AttributeValueMemberS{Value: c.LastMessageID},
			},
		})
		if err == nil {
			return c.Unread, true, nil
		}
		if !isConditionFailed(err) && !transactionConflict(err) {
			return 0, true, fmt.Errorf("mark conversation of lead %s read: %w", leadID, err)
		}
	}
	return 0, true, fmt.Errorf("mark conversation of lead %s read: %w", leadID, errors.New("messages kept arriving; try again"))
}

// ClearUnread marks read the messages a summary read earlier counted as
// unread (seen.Unread of them), leaving unread any that arrived since, and
// moves read_at to seen's latest message (never backwards). A reply uses
// it: whoever answers has read what was there when they answered.
func (s *Store) ClearUnread(ctx context.Context, seen conversation.Summary) error {
	if seen.Unread <= 0 {
		return nil
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(leadPartPK(seen.OrgID, seen.LeadID), skConversation),
		UpdateExpression:    aws.String("SET read_at = :at ADD unread :minus"),
		ConditionExpression: aws.String("unread >= :n AND (attribute_not_exists(read_at) OR read_at <= :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":    &types.AttributeValueMemberS{Value: seen.LastAt.UTC().Format(time.RFC3339Nano)},
			":n":     &types.AttributeValueMemberN{Value: fmt.Sprint(seen.Unread)},
			":minus": &types.AttributeValueMemberN{Value: fmt.Sprint(-seen.Unread)},
		},
	}
	for attempt := range 4 {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		_, err := s.db.UpdateItem(ctx, in)
		switch {
		case err == nil, isConditionFailed(err):
			return nil // done, or someone marked it read meanwhile
		case !transactionConflict(err):
			return fmt.Errorf("clear unread of lead %s: %w", seen.LeadID, err)
		}
	}
	return fmt.Errorf("clear unread of lead %s: %w", seen.LeadID, errors.New("conversation busy"))
}
