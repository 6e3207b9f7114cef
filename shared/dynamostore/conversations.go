package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
)

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
}

type consentItem struct {
	PK       string    `dynamodbav:"PK"`
	SK       string    `dynamodbav:"SK"`
	Type     string    `dynamodbav:"type"`
	OrgID    string    `dynamodbav:"org_id"`
	LeadID   string    `dynamodbav:"lead_id"`
	Channel  string    `dynamodbav:"channel"`
	Purpose  string    `dynamodbav:"purpose"`
	Action   string    `dynamodbav:"action"`
	At       time.Time `dynamodbav:"at"`
	Evidence string    `dynamodbav:"evidence,omitempty"`
	Source   string    `dynamodbav:"source,omitempty"`
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
}

func toMessageItem(m conversation.Message, fromMeta bool) messageItem {
	it := messageItem{PK: leadPartPK(m.OrgID, m.LeadID), SK: messageSK(m.ID), Type: "message", ID: m.ID, OrgID: m.OrgID,
		LeadID: m.LeadID, Channel: string(m.Channel), Direction: string(m.Direction), ProviderID: m.ProviderID, MsgType: m.Type,
		Text: m.Text, Details: m.Details, Status: string(m.Status), StatusRank: m.Status.Rank(), ErrorCode: m.ErrorCode,
		ErrorTitle: m.ErrorTitle, At: m.At, Number: m.Number, FromMeta: fromMeta, Payload: m.Payload, ClientID: m.ClientMessageID,
		Reason: m.Reason}
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
	if i.Media != nil {
		m.Media = &conversation.Media{ID: i.Media.ID, MimeType: i.Media.MimeType, SHA256: i.Media.SHA256, Caption: i.Media.Caption, Filename: i.Media.Filename}
	}
	return m
}

// ErrDuplicate means an event was processed before: nothing was written.
var ErrDuplicate = errors.New("event already processed")

// LeadIDByPhone returns the id of the org's lead with this E.164 phone.
func (s *Store) LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error) {
	return s.leadIDByGuard(ctx, orgID, leadPhoneSK(e164))
}

// LeadIDByEmail returns the id of the org's lead with this email.
func (s *Store) LeadIDByEmail(ctx context.Context, orgID, email string) (string, error) {
	return s.leadIDByGuard(ctx, orgID, leadEmailSK(email))
}

func (s *Store) leadIDByGuard(ctx context.Context, orgID, sk string) (string, error) {
	var g guardItem
	ok, err := s.get(ctx, orgPK(orgID), sk, &g)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", lead.ErrNotFound
	}
	return g.LeadID, nil
}

// PutInboundMessage stores an inbound message once per provider id: a
// second delivery of the same wamid writes nothing and is ErrDuplicate. A
// consent entry the message carries (STOP, START) is written in the same
// transaction, and the lead's current consent is updated with it, as is the
// lead's conversation summary (latest message, one more unread).
func (s *Store) PutInboundMessage(ctx context.Context, m conversation.Message, consent *conversation.ConsentEntry) error {
	msgAV, err := marshal(toMessageItem(m, true))
	if err != nil {
		return err
	}
	guardAV, err := marshal(wamidItem{PK: wamidPK(m.ProviderID), SK: skWAMID, Type: "wamid", OrgID: m.OrgID, LeadID: m.LeadID, MsgSK: messageSK(m.ID)})
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: guardAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: msgAV}},
		s.conversationMove(m),
	}
	if consent != nil {
		more, err := s.consentWrites(*consent)
		if err != nil {
			return err
		}
		items = append(items, more...)
	}
	err = s.writeWithConversation(ctx, items, 2, m)
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("put inbound message %s: %w", m.ID, err)
	}
	return nil
}

func (s *Store) consentWrites(c conversation.ConsentEntry) ([]types.TransactWriteItem, error) {
	av, err := marshal(consentItem{PK: leadPartPK(c.OrgID, c.LeadID), SK: consentSK(c.ID), Type: "consent", OrgID: c.OrgID,
		LeadID: c.LeadID, Channel: string(c.Channel), Purpose: c.Purpose, Action: c.Action, At: c.At, Evidence: c.Evidence, Source: c.Source})
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: av}},
		{Update: &types.Update{
			TableName: &s.table, Key: key(orgPK(c.OrgID), leadSK(c.LeadID)),
			// The version moves too, so a concurrent API update that read
			// the lead before cannot overwrite the new consent.
			UpdateExpression:         aws.String("SET consent.#k = :v ADD version :one"),
			ConditionExpression:      aws.String("attribute_exists(consent)"),
			ExpressionAttributeNames: map[string]string{"#k": string(c.Channel) + ":" + c.Purpose},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v":   &types.AttributeValueMemberS{Value: c.Action + "@" + c.At.UTC().Format(time.RFC3339)},
				":one": &types.AttributeValueMemberN{Value: "1"},
			},
		}},
	}, nil
}

// AppendConsent writes a consent entry on its own (an API change, a
// provider opt-out) and updates the lead's current consent.
func (s *Store) AppendConsent(ctx context.Context, c conversation.ConsentEntry) error {
	items, err := s.consentWrites(c)
	if err != nil {
		return err
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return fmt.Errorf("append consent: %w", err)
	}
	return nil
}

// AppendConsentOnce is AppendConsent keyed by the entry's evidence (a
// provider event id): the same evidence never makes a second entry.
func (s *Store) AppendConsentOnce(ctx context.Context, c conversation.ConsentEntry) error {
	items, err := s.consentWrites(c)
	if err != nil {
		return err
	}
	claim := s.eventClaim(c.OrgID, "consent:"+c.Evidence, c.LeadID)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{claim}, items...)})
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("append consent once: %w", err)
	}
	return nil
}

// ConsentLedger returns a lead's consent entries, oldest first.
func (s *Store) ConsentLedger(ctx context.Context, orgID, leadID string) ([]conversation.ConsentEntry, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixConsent)
	if err != nil {
		return nil, err
	}
	out := make([]conversation.ConsentEntry, 0, len(items))
	for _, item := range items {
		var it consentItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, conversation.ConsentEntry{ID: it.SK[len(prefixConsent):], OrgID: it.OrgID, LeadID: it.LeadID,
			Channel: conversation.Channel(it.Channel), Purpose: it.Purpose, Action: it.Action, At: it.At, Evidence: it.Evidence, Source: it.Source})
	}
	return out, nil
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
	items, err := s.queryPrefix(ctx, wamidPK(providerID), "STATUS#")
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
	logAV, err := marshal(statusLogItem{PK: wamidPK(ev.ProviderID), SK: statusLogSK(ev.At.Unix(), string(ev.Status)), Type: "status_event",
		Status: string(ev.Status), At: ev.At, ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle})
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

// ClaimEvent marks an event key (a leadgen id, say) as processed for an
// org. The first claim wins; later ones are ErrDuplicate.
func (s *Store) ClaimEvent(ctx context.Context, orgID, eventKey, ref string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: orgPK(orgID)}, attrSK: &types.AttributeValueMemberS{Value: eventSK(eventKey)},
			"type": &types.AttributeValueMemberS{Value: "event"}, "ref": &types.AttributeValueMemberS{Value: ref},
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("claim event %s: %w", eventKey, err)
	}
	return nil
}

// EventClaimed reports whether an event key was processed, and its ref.
func (s *Store) EventClaimed(ctx context.Context, orgID, eventKey string) (string, bool, error) {
	var it struct {
		Ref string `dynamodbav:"ref"`
	}
	ok, err := s.get(ctx, orgPK(orgID), eventSK(eventKey), &it)
	return it.Ref, ok, err
}

// TouchLastInbound moves a lead's last_inbound_at forward (the start of
// WhatsApp's 24-hour customer-service window).
func (s *Store) TouchLastInbound(ctx context.Context, orgID, leadID string, at time.Time) error {
	v := at.UTC().Format(time.RFC3339Nano)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)),
		UpdateExpression:    aws.String("SET last_inbound_at = :at ADD version :one"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_inbound_at) OR last_inbound_at < :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: v}, ":one": &types.AttributeValueMemberN{Value: "1"},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch last inbound: %w", err)
	}
	return nil
}

func (s *Store) queryPrefix(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefix},
		},
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s %s: %w", pk, prefix, err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

type activityItem struct {
	PK      string            `dynamodbav:"PK"`
	SK      string            `dynamodbav:"SK"`
	Type    string            `dynamodbav:"type"`
	OrgID   string            `dynamodbav:"org_id"`
	LeadID  string            `dynamodbav:"lead_id"`
	Kind    string            `dynamodbav:"kind"`
	At      time.Time         `dynamodbav:"at"`
	Details map[string]string `dynamodbav:"details,omitempty"`
	// FromMeta marks content received from Meta, for purges on disconnect.
	FromMeta bool `dynamodbav:"from_meta"`
}

// Activity is an entry of a lead's timeline written by the system.
type Activity struct {
	ID       string
	OrgID    string
	LeadID   string
	Kind     string
	At       time.Time
	Details  map[string]string
	FromMeta bool
}

func (s *Store) eventClaim(orgID, eventKey, ref string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: orgPK(orgID)}, attrSK: &types.AttributeValueMemberS{Value: eventSK(eventKey)},
			"type": &types.AttributeValueMemberS{Value: "event"}, "ref": &types.AttributeValueMemberS{Value: ref},
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}
}

// CreateLeadForEvent creates a lead and claims the event that produced it
// (a Lead Ads submission) in one transaction: a redelivered event finds its
// claim and creates nothing (ErrDuplicate). A taken phone or email is a
// *lead.DuplicateError, as for CreateLead. The submission itself is
// recorded on the lead (its provenance), not as a separate activity: every
// item in the transaction costs two write units.
func (s *Store) CreateLeadForEvent(ctx context.Context, l lead.Lead, eventKey string) error {
	items, guards, err := s.leadCreateWrites(l)
	if err != nil {
		return err
	}
	claimAt := len(items)
	items = append(items, s.eventClaim(l.OrgID, eventKey, l.ID))
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if reasons := cancelReasons(err); len(reasons) > claimAt && conditionFailed(reasons[claimAt]) {
		return ErrDuplicate
	}
	return s.leadWriteError(ctx, l.OrgID, err, guards, "create lead "+l.ID)
}

// AttachEvent records an event on an existing lead (a repeat Lead Ads
// submission by the same person) and claims it, once.
func (s *Store) AttachEvent(ctx context.Context, orgID, eventKey string, act Activity) error {
	actAV, err := marshal(toActivityItem(act))
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		s.eventClaim(orgID, eventKey, act.LeadID),
		{Put: &types.Put{TableName: &s.table, Item: actAV}},
	}})
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("attach event %s: %w", eventKey, err)
	}
	return nil
}

// Activities returns a lead's activities in time order.
func (s *Store) Activities(ctx context.Context, orgID, leadID string) ([]Activity, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixActivity)
	if err != nil {
		return nil, err
	}
	out := make([]Activity, 0, len(items))
	for _, item := range items {
		var it activityItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, Activity{ID: it.SK[len(prefixActivity):], OrgID: it.OrgID, LeadID: it.LeadID, Kind: it.Kind, At: it.At,
			Details: it.Details, FromMeta: it.FromMeta})
	}
	return out, nil
}

func toActivityItem(a Activity) activityItem {
	return activityItem{PK: leadPartPK(a.OrgID, a.LeadID), SK: activitySK(a.ID), Type: "activity", OrgID: a.OrgID, LeadID: a.LeadID,
		Kind: a.Kind, At: a.At, Details: a.Details, FromMeta: a.FromMeta}
}
