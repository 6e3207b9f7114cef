package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
)

// A lead's consent ledger is in its history partition (CONSENT#<ulid>); each
// entry also updates the lead's current consent, in the same transaction.

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
	By       string    `dynamodbav:"by,omitempty"`
	Reason   string    `dynamodbav:"reason,omitempty"`
}

func (s *Store) consentWrites(c conversation.ConsentEntry) ([]types.TransactWriteItem, error) {
	entry, err := s.consentPut(c)
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		entry,
		{Update: &types.Update{
			TableName: &s.table, Key: key(orgPK(c.OrgID), leadSK(c.LeadID)),
			// The version moves too, so a concurrent API update that read
			// the lead before cannot overwrite the new consent.
			UpdateExpression:         aws.String("SET consent.#k = :v ADD version :one"),
			ConditionExpression:      aws.String("attribute_exists(consent)"),
			ExpressionAttributeNames: map[string]string{"#k": conversation.ConsentKey(c.Channel, c.Purpose)},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v":   &types.AttributeValueMemberS{Value: consentValue(c)},
				":one": &types.AttributeValueMemberN{Value: "1"},
			},
		}},
	}, nil
}

// consentPut is the transaction item of a consent entry alone, for a
// write that sets the lead's current consent itself (a new lead's item).
func (s *Store) consentPut(c conversation.ConsentEntry) (types.TransactWriteItem, error) {
	av, err := marshal(consentItem{PK: leadPartPK(c.OrgID, c.LeadID), SK: consentSK(c.ID), Type: "consent", OrgID: c.OrgID,
		LeadID: c.LeadID, Channel: string(c.Channel), Purpose: c.Purpose, Action: c.Action, At: c.At, Evidence: c.Evidence, Source: c.Source,
		By: c.By, Reason: c.Reason})
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}}, nil
}

// consentValue is an entry's value in the lead's current consent
// (conversation.ConsentKey -> "action@time").
func consentValue(c conversation.ConsentEntry) string {
	return c.Action + "@" + c.At.UTC().Format(time.RFC3339)
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
	claim := s.eventClaim(c.OrgID, consentEventKey(c.Evidence), c.LeadID)
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
			Channel: conversation.Channel(it.Channel), Purpose: it.Purpose, Action: it.Action, At: it.At, Evidence: it.Evidence, Source: it.Source,
			By: it.By, Reason: it.Reason})
	}
	return out, nil
}
