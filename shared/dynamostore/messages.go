package dynamostore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// Messages of both directions and channels live in their lead's history
// partition (ORG#o#LEAD#l / MSG#<ulid from the message time>, so the key
// order is the time order), with a guard per provider id (WAMID#<id>) that
// maps wamids and SES ids to them and holds their status log, and a guard
// per client message id (ORG#o / CLIENTMSG#<id>) for outbound messages.
// The inbox's summary of each lead is in inbox.go, queueing and the send
// state in outbound.go.

// posSK is the one field of a message-page position: the sort key of the
// last message returned. The partition is implied by the lead.
const posSK = "sk"

type messageItem struct {
	PK         string            `dynamodbav:"PK"`
	SK         string            `dynamodbav:"SK"`
	Type       string            `dynamodbav:"type"`
	ID         string            `dynamodbav:"id"`
	OrgID      string            `dynamodbav:"org_id"`
	LeadID     string            `dynamodbav:"lead_id"`
	Channel    string            `dynamodbav:"channel"`
	Direction  string            `dynamodbav:"direction"`
	ProviderID string            `dynamodbav:"provider_id,omitempty"`
	MsgType    string            `dynamodbav:"msg_type"`
	Text       string            `dynamodbav:"text,omitempty"`
	Media      *mediaAttr        `dynamodbav:"media,omitempty"`
	Details    map[string]string `dynamodbav:"details,omitempty"`
	Status     string            `dynamodbav:"status"`
	StatusRank int               `dynamodbav:"status_rank"`
	ErrorCode  int               `dynamodbav:"error_code,omitempty"`
	ErrorTitle string            `dynamodbav:"error_title,omitempty"`
	At         time.Time         `dynamodbav:"at"`
	Number     string            `dynamodbav:"number,omitempty"`
	Payload    string            `dynamodbav:"payload,omitempty"`
	ClientID   string            `dynamodbav:"client_message_id,omitempty"`
	Reason     string            `dynamodbav:"reason,omitempty"`
	// FromMeta marks content received from Meta, for purges on disconnect.
	FromMeta bool `dynamodbav:"from_meta"`
	// TTL expires the message 12 months after its time (ttl.go).
	TTL int64 `dynamodbav:"ttl,omitempty"`
	// DuePK and DueSK file an intact message in GSI3 under its org, by
	// time, for the content lifecycle (retention.go); both are removed
	// when it is sanitized, so the index holds only what may come due.
	DuePK       string     `dynamodbav:"GSI3PK,omitempty"`
	DueSK       string     `dynamodbav:"GSI3SK,omitempty"`
	SanitizedAt *time.Time `dynamodbav:"sanitized_at,omitempty"`
}

type mediaAttr struct {
	ID       string `dynamodbav:"id"`
	MimeType string `dynamodbav:"mime_type,omitempty"`
	SHA256   string `dynamodbav:"sha256,omitempty"`
	Caption  string `dynamodbav:"caption,omitempty"`
	Filename string `dynamodbav:"filename,omitempty"`
}

type wamidItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	LeadID string `dynamodbav:"lead_id"`
	MsgSK  string `dynamodbav:"msg_sk"`
	// TTL is its message's (ttl.go).
	TTL int64 `dynamodbav:"ttl,omitempty"`
	// First marks the first message of the lead it created, with the
	// consent that message recorded (putFirstMessageRecords).
	First *firstMessageAttr `dynamodbav:"first,omitempty"`
}

// firstMessageAttr is what a redelivered first message needs to write its
// lead's creation records again: the lead it created and the consent entry
// it recorded (empty fields: none).
type firstMessageAttr struct {
	Lead    string `dynamodbav:"lead"`
	Channel string `dynamodbav:"channel,omitempty"`
	Purpose string `dynamodbav:"purpose,omitempty"`
	Action  string `dynamodbav:"action,omitempty"`
	Source  string `dynamodbav:"source,omitempty"`
}

// clientMessageItem guards one message per client message id in an org and
// names the message it guards.
type clientMessageItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	LeadID string `dynamodbav:"lead_id"`
	MsgSK  string `dynamodbav:"msg_sk"`
	// TTL is 30 days after the send was queued, or its message's for a
	// campaign message (ttl.go).
	TTL int64 `dynamodbav:"ttl,omitempty"`
}

type statusLogItem struct {
	PK         string    `dynamodbav:"PK"`
	SK         string    `dynamodbav:"SK"`
	Type       string    `dynamodbav:"type"`
	Status     string    `dynamodbav:"status"`
	At         time.Time `dynamodbav:"at"`
	ErrorCode  int       `dynamodbav:"error_code,omitempty"`
	ErrorTitle string    `dynamodbav:"error_title,omitempty"`
	Applied    bool      `dynamodbav:"applied"`
	// TTL is its message's (ttl.go).
	TTL int64 `dynamodbav:"ttl,omitempty"`
}

func toMessageItem(m conversation.Message, fromMeta bool) messageItem {
	it := messageItem{PK: leadPartPK(m.OrgID, m.LeadID), SK: messageSK(m.ID), Type: "message", ID: m.ID, OrgID: m.OrgID,
		LeadID: m.LeadID, Channel: string(m.Channel), Direction: string(m.Direction), ProviderID: m.ProviderID, MsgType: m.Type,
		Text: m.Text, Details: m.Details, Status: string(m.Status), StatusRank: m.Status.Rank(), ErrorCode: m.ErrorCode,
		ErrorTitle: m.ErrorTitle, At: m.At, Number: m.Number, FromMeta: fromMeta, Payload: m.Payload, ClientID: m.ClientMessageID,
		Reason: m.Reason, TTL: messageTTL(m.At)}
	if m.SanitizedAt.IsZero() {
		it.DuePK, it.DueSK = contentDuePK(m.OrgID), contentDueSK(m.At, m.ID)
	} else {
		at := m.SanitizedAt.UTC()
		it.SanitizedAt = &at
	}
	if m.Media != nil {
		it.Media = &mediaAttr{ID: m.Media.ID, MimeType: m.Media.MimeType, SHA256: m.Media.SHA256, Caption: m.Media.Caption, Filename: m.Media.Filename}
	}
	return it
}

func (i messageItem) message() conversation.Message {
	m := conversation.Message{ID: i.ID, OrgID: i.OrgID, LeadID: i.LeadID, Channel: conversation.Channel(i.Channel),
		Direction: conversation.Direction(i.Direction), ProviderID: i.ProviderID, Type: i.MsgType, Text: i.Text, Details: i.Details,
		Status: conversation.Status(i.Status), ErrorCode: i.ErrorCode, ErrorTitle: i.ErrorTitle, At: i.At, Number: i.Number,
		Payload: i.Payload, ClientMessageID: i.ClientID, Reason: i.Reason}
	if i.SanitizedAt != nil {
		m.SanitizedAt = *i.SanitizedAt
	}
	if i.Media != nil {
		m.Media = &conversation.Media{ID: i.Media.ID, MimeType: i.Media.MimeType, SHA256: i.Media.SHA256, Caption: i.Media.Caption, Filename: i.Media.Filename}
	}
	return m
}

// PutInboundMessage stores an inbound message once per provider id: a
// second delivery of the same wamid writes nothing and is
// intake.ErrDuplicate. A consent entry the message carries (STOP, START) is
// written in the same transaction as the message, and the lead's current
// consent is updated with it, as is the lead's conversation summary
// (latest message, one more unread, and for WhatsApp the start of the
// lead's window: last_inbound_at, see inbox.go).
//
// The wamid guard is written first, on its own (1 write unit instead of 2
// in the transaction), and names the message's id and lead. That keeps
// every guarantee of one transaction: the message, its consent and the
// summary are still one transaction, whose message put is conditional, so
// they are written once; a delivery that finds the guard written (a
// redelivery, or a crash between the two writes) writes the message under
// the id and lead the guard names, so a message whose guard was written is
// never lost, and one stored before is refused by its put's condition. (A
// guard whose delivery never comes again holds ids only, no content, and
// expires with its TTL.)
func (s *Store) PutInboundMessage(ctx context.Context, m conversation.Message, consent *conversation.ConsentEntry) error {
	guard := wamidItem{PK: wamidPK(m.ProviderID), SK: skWAMID, Type: "wamid", OrgID: m.OrgID, LeadID: m.LeadID, MsgSK: messageSK(m.ID),
		TTL: messageTTL(m.At)}
	guardAV, err := marshal(guard)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: guardAV, ConditionExpression: aws.String("attribute_not_exists(PK)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var prior wamidItem
	redelivered := false
	switch {
	case isConditionFailed(err):
		redelivered = true
		if prior, err = s.priorGuard(ctx, err, guard.PK); err != nil {
			return fmt.Errorf("put inbound message %s: %w", m.ID, err)
		}
		if prior.OrgID != m.OrgID || prior.LeadID == "" || !strings.HasPrefix(prior.MsgSK, prefixMsg) {
			return intakemsg.ErrDuplicate // not an inbound message of this org
		}
		// The message goes where the first delivery put it, under its id.
		m.LeadID, m.ID = prior.LeadID, strings.TrimPrefix(prior.MsgSK, prefixMsg)
		if consent != nil {
			c := *consent
			c.LeadID = m.LeadID
			consent = &c
		}
	case err != nil:
		return fmt.Errorf("put inbound message %s: guard: %w", m.ID, err)
	}
	msgAV, err := marshal(toMessageItem(m, true))
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: msgAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		s.conversationMove(m),
	}
	if consent != nil {
		more, err := s.consentWrites(*consent)
		if err != nil {
			return err
		}
		items = append(items, more...)
	} else if redelivered {
		// The lead the guard names may be gone since (deleted while this
		// delivery waited, or a crash left the guard alone and the lead was
		// deleted before the delivery came again): a message it received
		// before its deletion is not written back into its history. With a
		// consent entry, the lead's consent update checks the lead.
		items = append(items, s.leadExists(m.OrgID, m.LeadID))
	}
	err = s.writeWithConversation(ctx, items, 1, m)
	if redelivered && err != nil && cancelReasons(err) != nil {
		var it leadItem
		if ok, gerr := s.get(ctx, orgPK(m.OrgID), leadSK(m.LeadID), &it); gerr == nil && !ok {
			return intakemsg.ErrDuplicate // its lead is gone, and the message with it
		}
	}
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		if prior.First != nil {
			// The first message of the lead it created: its creation
			// records may not have followed it (putFirstMessageRecords).
			if err := s.redoFirstMessageRecords(ctx, m, *prior.First); err != nil {
				return fmt.Errorf("put inbound message %s: %w", m.ID, err)
			}
		}
		return intakemsg.ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("put inbound message %s: %w", m.ID, err)
	}
	return nil
}

// priorGuard is the wamid guard a conditional put found already written:
// the item the refusal carries, or, when it carries none, the item read.
func (s *Store) priorGuard(ctx context.Context, refusal error, pk string) (wamidItem, error) {
	var g wamidItem
	var ccf *types.ConditionalCheckFailedException
	if errors.As(refusal, &ccf) && len(ccf.Item) > 0 {
		return g, unmarshal(ccf.Item, &g)
	}
	if _, err := s.get(ctx, pk, skWAMID, &g); err != nil {
		return g, err
	}
	return g, nil
}

// CreateLeadWithInboundMessage stores the first message from a new number
// with the lead it creates, in one transaction: the lead (its window open at
// the message, the consent the message records already in its current
// consent), its phone guard, the opt-outs a deleted lead of the org left for
// the number, the message, its wamid guard and the conversation summary.
// The records of the creation follow the transaction as plain puts (1 write
// unit each instead of 2): its "created" (and rule's "assigned") activity,
// the consent entry and, for a lead with an attribution (a
// Click-to-WhatsApp message), its referral activity (see
// putFirstMessageRecords for why that keeps every guarantee).
// consentFor names the consent
// entry the message records (nil for none), given the lead as it is about
// to be written (with the carried opt-outs); the entry written is returned.
// A phone another lead holds is a *lead.DuplicateError and a wamid stored
// before is intake.ErrDuplicate (nothing written either way): the caller
// then stores the message on the lead that holds the phone. A lead with an
// assignee is refused (its conversation is filed by the message write).
func (s *Store) CreateLeadWithInboundMessage(ctx context.Context, l lead.Lead, m conversation.Message,
	consentFor func(lead.Lead) *conversation.ConsentEntry) (*conversation.ConsentEntry, error) {
	if m.OrgID != l.OrgID || m.LeadID != l.ID {
		return nil, fmt.Errorf("create lead %s with message %s: the lead is not the message's", l.ID, m.ID)
	}
	var consent *conversation.ConsentEntry
	items, guards, _, err := s.newLeadParts(ctx, &l, func(l *lead.Lead) {
		if consent = consentFor(*l); consent == nil {
			return
		}
		c := *consent
		c.ID = fixedID(c.At, m.ProviderID+"#consent")
		consent = &c
		l.Consent = maps.Clone(l.Consent)
		if l.Consent == nil {
			l.Consent = map[string]string{}
		}
		l.Consent[conversation.ConsentKey(consent.Channel, consent.Purpose)] = consentValue(*consent)
	})
	if err != nil {
		return nil, err
	}
	if l.AssigneeID != "" {
		// The conversation's filing in the assignee's inbox is part of
		// the message's conversation write below (conversationMoveTo).
		conv := leadPartPK(l.OrgID, l.ID)
		items = slices.DeleteFunc(items, func(it types.TransactWriteItem) bool {
			if it.Update == nil {
				return false
			}
			pk, _ := it.Update.Key[attrPK].(*types.AttributeValueMemberS)
			sk, _ := it.Update.Key[attrSK].(*types.AttributeValueMemberS)
			return pk != nil && sk != nil && pk.Value == conv && sk.Value == skConversation
		})
	}
	msgAV, err := marshal(toMessageItem(m, true))
	if err != nil {
		return nil, err
	}
	first := &firstMessageAttr{Lead: l.ID}
	if consent != nil {
		first.Channel, first.Purpose, first.Action, first.Source = string(consent.Channel), consent.Purpose, consent.Action, consent.Source
	}
	guardAV, err := marshal(wamidItem{PK: wamidPK(m.ProviderID), SK: skWAMID, Type: "wamid", OrgID: m.OrgID, LeadID: m.LeadID, MsgSK: messageSK(m.ID),
		TTL: messageTTL(m.At), First: first})
	if err != nil {
		return nil, err
	}
	wamidAt := len(items)
	items = append(items,
		types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: guardAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: msgAV}},
		s.conversationMoveTo(m, l.AssigneeID))
	err = s.transact(ctx, items)
	if err == nil {
		if err := s.putFirstMessageRecords(ctx, l, m, consent); err != nil {
			return nil, fmt.Errorf("create lead %s with message %s: %w", l.ID, m.ID, err)
		}
		return consent, nil
	}
	reasons := cancelReasons(err)
	for _, g := range guards {
		if g.index < len(reasons) && conditionFailed(reasons[g.index]) {
			return nil, s.leadWriteError(ctx, l.OrgID, err, guards, "create lead "+l.ID)
		}
	}
	if wamidAt < len(reasons) && conditionFailed(reasons[wamidAt]) {
		return nil, intakemsg.ErrDuplicate
	}
	return nil, fmt.Errorf("create lead %s with message %s: %w", l.ID, m.ID, err)
}

// putFirstMessageRecords writes the records of a lead's creation by its
// first message m, after the transaction that stored both: the "created"
// activity (and the rule's "assigned" one), the consent entry the message
// recorded (consent, nil for none) and the referral activity of a lead with
// an attribution. Each has a key fixed by the lead or the message and is put
// only where none is, so writing them again writes nothing twice. A crash
// before they are written leaves the message's delivery unanswered: its next
// delivery finds the message stored, and the wamid guard, which marks the
// first message (First), has it write them again (redoFirstMessageRecords),
// so no lead stays without them.
func (s *Store) putFirstMessageRecords(ctx context.Context, l lead.Lead, m conversation.Message, consent *conversation.ConsentEntry) error {
	acts := firstMessageActivities(l, m)
	puts := make([]map[string]types.AttributeValue, 0, len(acts)+1)
	for _, a := range acts {
		av, err := marshal(toActivityItem(a))
		if err != nil {
			return err
		}
		puts = append(puts, av)
	}
	if consent != nil {
		w, err := s.consentPut(*consent)
		if err != nil {
			return err
		}
		puts = append(puts, w.Put.Item)
	}
	for _, av := range puts {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("write the creation records of lead %s: %w", l.ID, err)
		}
	}
	return nil
}

// firstMessageActivities are the activities a lead's creation by its first
// message m records, with ids fixed by the lead and the message: "created"
// (at the lead's creation time), the rule's "assigned" right after it, and
// for a lead with an attribution the referral.
func firstMessageActivities(l lead.Lead, m conversation.Message) []lead.Activity {
	created := lead.CreatedActivity(l)
	created.ID = fixedID(l.CreatedAt, l.ID+"#created")
	acts := firstActivities(l, created)
	if l.Attribution != nil {
		// A first message from an ad: the lead keeps its attribution, and
		// the timeline shows the referral.
		r := lead.ReferralActivity(l.OrgID, l.ID, *l.Attribution, m.Number, m.ProviderID, m.At)
		r.ID = fixedID(m.At, m.ProviderID+"#referral")
		acts = append(acts, r)
	}
	return acts
}

// redoFirstMessageRecords writes again the creation records of the lead
// that first message m (stored, redelivered) created, from the lead as it
// is and what its wamid guard kept (first). A lead that is gone, or that
// this message did not create (the guard moved to a merge's survivor), gets
// none.
func (s *Store) redoFirstMessageRecords(ctx context.Context, m conversation.Message, first firstMessageAttr) error {
	if first.Lead != m.LeadID {
		return nil
	}
	var it leadItem
	ok, err := s.get(ctx, orgPK(m.OrgID), leadSK(m.LeadID), &it)
	if err != nil || !ok {
		return err
	}
	l := it.lead()
	var consent *conversation.ConsentEntry
	if first.Action != "" {
		consent = &conversation.ConsentEntry{ID: fixedID(m.At, m.ProviderID+"#consent"), OrgID: m.OrgID, LeadID: m.LeadID,
			Channel: conversation.Channel(first.Channel), Purpose: first.Purpose, Action: first.Action, At: m.At, Evidence: m.ProviderID,
			Source: first.Source}
	}
	return s.putFirstMessageRecords(ctx, l, m, consent)
}

// fixedID is a ULID of time at whose entropy is a hash of seed: the same
// id for the same record, however often it is written.
func fixedID(at time.Time, seed string) string {
	h := sha256.Sum256([]byte(seed))
	id, err := ulid.New(ulid.Timestamp(at), bytes.NewReader(h[:]))
	if err != nil {
		return ulid.MustNew(ulid.Now(), bytes.NewReader(h[:])).String()
	}
	return id.String()
}

// GetMessage returns one message of a lead.
func (s *Store) GetMessage(ctx context.Context, orgID, leadID, msgID string) (conversation.Message, error) {
	return getAs(ctx, s, leadPartPK(orgID, leadID), messageSK(msgID), messageItem.message, conversation.ErrUnknownMessage)
}

// Messages returns a lead's messages in time order.
func (s *Store) Messages(ctx context.Context, orgID, leadID string) ([]conversation.Message, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixMsg)
	if err != nil {
		return nil, err
	}
	out := make([]conversation.Message, 0, len(items))
	for _, item := range items {
		var it messageItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.message())
	}
	return out, nil
}

// MessageByProviderID returns the message with a wamid or SES id.
func (s *Store) MessageByProviderID(ctx context.Context, providerID string) (conversation.Message, error) {
	var g wamidItem
	ok, err := s.get(ctx, wamidPK(providerID), skWAMID, &g)
	if err != nil {
		return conversation.Message{}, err
	}
	if !ok {
		return conversation.Message{}, conversation.ErrUnknownMessage
	}
	var it messageItem
	ok, err = s.get(ctx, leadPartPK(g.OrgID, g.LeadID), g.MsgSK, &it)
	if err != nil {
		return conversation.Message{}, err
	}
	if !ok {
		return conversation.Message{}, conversation.ErrUnknownMessage
	}
	return it.message(), nil
}

// StatusLog returns every status event recorded for a message, in time order.
func (s *Store) StatusLog(ctx context.Context, providerID string) ([]conversation.StatusEvent, error) {
	items, err := s.queryPrefix(ctx, wamidPK(providerID), prefixStatusLog)
	if err != nil {
		return nil, err
	}
	out := make([]conversation.StatusEvent, 0, len(items))
	for _, item := range items {
		var it statusLogItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, conversation.StatusEvent{ProviderID: providerID, Status: conversation.Status(it.Status), At: it.At,
			ErrorCode: it.ErrorCode, ErrorTitle: it.ErrorTitle})
	}
	return out, nil
}

// ApplyStatus records a status event for a message: it is appended to the
// message's status log (once, however often it is delivered) and moves the
// message's state only forward (see conversation.Status.Rank). A status for
// a message we do not know yet is conversation.ErrUnknownMessage, for the
// caller to retry later.
func (s *Store) ApplyStatus(ctx context.Context, ev conversation.StatusEvent) (moved bool, err error) {
	var g wamidItem
	ok, err := s.get(ctx, wamidPK(ev.ProviderID), skWAMID, &g)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, conversation.ErrUnknownMessage
	}
	logTTL := g.TTL
	if logTTL == 0 {
		logTTL = messageTTLOfID(strings.TrimPrefix(g.MsgSK, prefixMsg), ev.At)
	}
	logAV, err := marshal(statusLogItem{PK: wamidPK(ev.ProviderID), SK: statusLogSK(ev.At.Unix(), string(ev.Status)), Type: "status_event",
		Status: string(ev.Status), At: ev.At, ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle, TTL: logTTL})
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: logAV, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if err != nil && !isConditionFailed(err) {
		return false, fmt.Errorf("append status: %w", err)
	}
	rank := ev.Status.Rank()
	upd := "SET #st = :st, status_rank = :r, status_at = :at"
	vals := map[string]types.AttributeValue{
		":st": &types.AttributeValueMemberS{Value: string(ev.Status)},
		":r":  &types.AttributeValueMemberN{Value: strconv.Itoa(rank)},
		":at": &types.AttributeValueMemberS{Value: ev.At.UTC().Format(time.RFC3339Nano)},
	}
	if ev.ErrorCode != 0 {
		upd += ", error_code = :ec"
		vals[":ec"] = &types.AttributeValueMemberN{Value: strconv.Itoa(ev.ErrorCode)}
	}
	if ev.ErrorTitle != "" {
		upd += ", error_title = :et"
		vals[":et"] = &types.AttributeValueMemberS{Value: ev.ErrorTitle}
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(leadPartPK(g.OrgID, g.LeadID), g.MsgSK),
		UpdateExpression:          aws.String(upd),
		ConditionExpression:       aws.String("attribute_exists(PK) AND status_rank < :r"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("apply status: %w", err)
	}
	return true, nil
}

// MessagesPage returns up to limit messages of a lead in time order
// (newest first when newestFirst), starting after the position from (a
// next position returned for the same lead, or nil for the first page),
// and the position after the last one (nil when there are no more).
func (s *Store) MessagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from page.Cursor) ([]conversation.Message, page.Cursor, error) {
	res, err := s.messagesPage(ctx, orgID, leadID, newestFirst, limit, from)
	return res.Items, res.Next, err
}

type messagePage struct {
	Items []conversation.Message
	Next  page.Cursor
}

func (s *Store) messagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from page.Cursor) (messagePage, error) {
	pk := leadPartPK(orgID, leadID)
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefixMsg},
		},
		ScanIndexForward: aws.Bool(!newestFirst),
		// One more than needed tells whether a next page exists.
		Limit: aws.Int32(pageLimit(limit + 1)),
	}
	if !from.IsZero() {
		sk := from.Fields()[posSK]
		if !strings.HasPrefix(sk, prefixMsg) {
			return messagePage{}, fmt.Errorf("messages of lead %s: bad position", leadID)
		}
		in.ExclusiveStartKey = key(pk, sk)
	}
	var res messagePage
	for range maxListPages {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return messagePage{}, fmt.Errorf("messages of lead %s: %w", leadID, err)
		}
		for _, item := range live(out.Items, s.now()) {
			if len(res.Items) == limit {
				res.Next = messagePosition(res.Items[len(res.Items)-1])
				return res, nil
			}
			var it messageItem
			if err := unmarshal(item, &it); err != nil {
				return messagePage{}, err
			}
			res.Items = append(res.Items, it.message())
		}
		if out.LastEvaluatedKey == nil {
			return res, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(pageLimit(limit - len(res.Items) + 1))
	}
	if n := len(res.Items); n > 0 {
		res.Next = messagePosition(res.Items[n-1])
	}
	return res, nil
}

// messagePosition is the position that resumes a message listing after m.
func messagePosition(m conversation.Message) page.Cursor {
	return page.NewCursor(map[string]string{posSK: messageSK(m.ID)})
}

// MessageByClientID returns the message an org queued under a client
// message id; ok is false when there is none.
func (s *Store) MessageByClientID(ctx context.Context, orgID, clientID string) (m conversation.Message, ok bool, err error) {
	var g clientMessageItem
	found, err := s.get(ctx, orgPK(orgID), clientMessageSK(clientID), &g)
	if err != nil || !found {
		return conversation.Message{}, false, err
	}
	var it messageItem
	found, err = s.get(ctx, leadPartPK(orgID, g.LeadID), g.MsgSK, &it)
	if err != nil {
		return conversation.Message{}, false, err
	}
	if !found {
		// The guard is written with the message in one transaction, so this
		// is a message removed since (retention, lead deletion).
		return conversation.Message{}, false, fmt.Errorf("message of client id %s: %w", clientID, conversation.ErrUnknownMessage)
	}
	return it.message(), true, nil
}

// StatusLogs returns the status logs of several provider ids, querying
// them concurrently (at most 8 at a time); ids without a log are absent.
func (s *Store) StatusLogs(ctx context.Context, providerIDs []string) (map[string][]conversation.StatusEvent, error) {
	var (
		mu    sync.Mutex
		out   = make(map[string][]conversation.StatusEvent, len(providerIDs))
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 8)
	)
	for _, id := range providerIDs {
		if id == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			log, err := s.StatusLog(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if len(log) > 0 {
				out[id] = log
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}
