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
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/outbound"
)

// Outbound messages move queued → sending → accepted (then the provider's
// statuses) or failed / unknown. Each step is a conditional write, so two
// senders never both send one message, and a crash mid-send leaves the
// message in "sending", which the next delivery turns into "unknown"
// instead of sending it again.

// QueueOutbound writes an outbound message as queued, once per client
// message id: asked again with the same id it returns the message stored
// the first time and created=false. The lead's conversation summary moves
// to the message in the same transaction, unless it is a campaign message
// (conversation.DetailCampaignID).
func (s *Store) QueueOutbound(ctx context.Context, m conversation.Message) (stored conversation.Message, created bool, err error) {
	if m.ClientMessageID == "" {
		return m, false, errors.New("queue outbound: empty client message id")
	}
	m.Status = conversation.StatusQueued
	msgAV, err := marshal(toMessageItem(m, false))
	if err != nil {
		return m, false, err
	}
	guardTTL := claimTTL(s.now())
	if m.Details[conversation.DetailCampaignID] != "" {
		guardTTL = messageTTL(m.At)
	}
	guard, err := marshal(clientMessageItem{PK: orgPK(m.OrgID), SK: clientMessageSK(m.ClientMessageID), Type: "client_message",
		LeadID: m.LeadID, MsgSK: messageSK(m.ID), TTL: guardTTL})
	if err != nil {
		return m, false, err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: guard, ConditionExpression: aws.String(claimFree),
			ExpressionAttributeNames: claimFreeNames(), ExpressionAttributeValues: claimFreeValues(s.now())}},
		{Put: &types.Put{TableName: &s.table, Item: msgAV}},
	}
	if m.Details[conversation.DetailCampaignID] == "" {
		err = s.writeWithConversation(ctx, append(items, s.conversationMove(m)), 2, m)
	} else {
		err = s.transact(ctx, items)
	}
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		var g clientMessageItem
		if _, err := s.get(ctx, orgPK(m.OrgID), clientMessageSK(m.ClientMessageID), &g); err != nil {
			return m, false, err
		}
		var it messageItem
		ok, err := s.get(ctx, leadPartPK(m.OrgID, g.LeadID), g.MsgSK, &it)
		if err != nil || !ok {
			return m, false, fmt.Errorf("read message of client id %s: %w", m.ClientMessageID, errors.Join(err, conversation.ErrUnknownMessage))
		}
		return it.message(), false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("queue outbound %s: %w", m.ID, err)
	}
	return m, true, nil
}

// ClaimSend moves a queued message to sending. Only one claim succeeds;
// others get conversation.ErrNotQueued.
func (s *Store) ClaimSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error {
	return s.moveMessage(ctx, orgID, leadID, msgID, conversation.StatusQueued, conversation.StatusSending, at, nil)
}

// ReleaseSend puts a claimed message back to queued after a failure that
// is safe to retry (the provider refused it, so it was not sent).
func (s *Store) ReleaseSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error {
	return s.moveMessage(ctx, orgID, leadID, msgID, conversation.StatusSending, conversation.StatusQueued, at, nil)
}

// FailSend marks a claimed message failed (code, title and plain-language
// reason) or unknown (from sending, after a crash).
func (s *Store) FailSend(ctx context.Context, orgID, leadID, msgID string, st conversation.Status, code int, title, reason string, at time.Time) error {
	return s.moveMessage(ctx, orgID, leadID, msgID, conversation.StatusSending, st, at, map[string]types.AttributeValue{
		"error_code": &types.AttributeValueMemberN{Value: strconv.Itoa(code)}, "error_title": &types.AttributeValueMemberS{Value: title},
		"reason": &types.AttributeValueMemberS{Value: reason},
	})
}

// RecordSent stores the provider id of a sent message (accepted) and the
// guard that lets status webhooks find it, in one transaction.
func (s *Store) RecordSent(ctx context.Context, orgID, leadID, msgID, providerID string, at time.Time) error {
	guardAV, err := marshal(wamidItem{PK: wamidPK(providerID), SK: skWAMID, Type: "wamid", OrgID: orgID, LeadID: leadID, MsgSK: messageSK(msgID),
		TTL: messageTTLOfID(msgID, at)})
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: key(leadPartPK(orgID, leadID), messageSK(msgID)),
			UpdateExpression:         aws.String("SET #st = :acc, status_rank = :r, provider_id = :pid, status_at = :at"),
			ConditionExpression:      aws.String("#st = :sending"),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":acc": &types.AttributeValueMemberS{Value: string(conversation.StatusAccepted)}, ":sending": &types.AttributeValueMemberS{Value: string(conversation.StatusSending)},
				":r":   &types.AttributeValueMemberN{Value: strconv.Itoa(conversation.StatusAccepted.Rank())},
				":pid": &types.AttributeValueMemberS{Value: providerID}, ":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			},
		}},
		{Put: &types.Put{TableName: &s.table, Item: guardAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if reasons := cancelReasons(err); reasons != nil {
		return conversation.ErrNotQueued
	}
	if err != nil {
		return fmt.Errorf("record sent %s: %w", msgID, err)
	}
	return nil
}

func (s *Store) moveMessage(ctx context.Context, orgID, leadID, msgID string, from, to conversation.Status, at time.Time, extra map[string]types.AttributeValue) error {
	upd := "SET #st = :to, status_rank = :r, status_at = :at"
	vals := map[string]types.AttributeValue{
		":to": &types.AttributeValueMemberS{Value: string(to)}, ":from": &types.AttributeValueMemberS{Value: string(from)},
		":r":  &types.AttributeValueMemberN{Value: strconv.Itoa(to.Rank())},
		":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
	}
	for k, v := range extra {
		upd += ", " + k + " = :" + k
		vals[":"+k] = v
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(leadPartPK(orgID, leadID), messageSK(msgID)),
		UpdateExpression: aws.String(upd), ConditionExpression: aws.String("#st = :from"),
		ExpressionAttributeNames: map[string]string{"#st": "status"}, ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return conversation.ErrNotQueued
	}
	if err != nil {
		return fmt.Errorf("move message %s to %s: %w", msgID, to, err)
	}
	return nil
}

// SendSubjects reads what a send checks besides its message in one
// BatchGetItem (strongly consistent, like GetOrg, GetLead and
// GetIntegration): the org, the lead and, when number is not empty, the
// org's WhatsApp integration of that number; each is nil when not found.
// The lead's conversation summary is read with them, for the start of its
// WhatsApp window (see GetLead).
func (s *Store) SendSubjects(ctx context.Context, orgID, leadID, number string) (outbound.Subjects, error) {
	keys := []map[string]types.AttributeValue{key(orgPK(orgID), skOrg), key(orgPK(orgID), leadSK(leadID)),
		key(leadPartPK(orgID, leadID), skConversation)}
	if number != "" {
		keys = append(keys, key(orgPK(orgID), integrationSK(string(integration.KindWhatsApp), number)))
	}
	var out outbound.Subjects
	var window time.Time
	err := s.batchGet(ctx, keys, &batchProjection{consistent: true}, func(item map[string]types.AttributeValue) error {
		sk := ""
		if v, ok := item["SK"].(*types.AttributeValueMemberS); ok {
			sk = v.Value
		}
		switch sk {
		case skConversation:
			var it conversationItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			window = it.LastInboundAt
		case skOrg:
			var it orgItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			o := it.org()
			out.Org = &o
		case leadSK(leadID):
			var it leadItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			l := it.lead()
			out.Lead = &l
		default:
			var it integrationItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			in := it.integration()
			out.Integration = &in
		}
		return nil
	})
	if err != nil {
		return outbound.Subjects{}, fmt.Errorf("read the org, lead %s and number of a send: %w", leadID, err)
	}
	if out.Lead != nil {
		l := withWindow(*out.Lead, window)
		out.Lead = &l
	}
	return out, nil
}
