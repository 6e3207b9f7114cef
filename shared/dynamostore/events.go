package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/lead"
)

// Processed events are claimed in their org's partition (EVENT#<key>), in
// the same transaction as what they produce, so that a redelivered event
// writes nothing (intake.ErrDuplicate).

// ClaimEvent marks an event key (a leadgen id, say) as processed for an
// org. The first claim wins; later ones are intake.ErrDuplicate.
func (s *Store) ClaimEvent(ctx context.Context, orgID, eventKey, ref string) error {
	claim := s.eventClaim(orgID, eventKey, ref).Put
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: claim.TableName, Item: claim.Item, ConditionExpression: claim.ConditionExpression,
		ExpressionAttributeNames: claim.ExpressionAttributeNames, ExpressionAttributeValues: claim.ExpressionAttributeValues})
	if isConditionFailed(err) {
		return intakemsg.ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("claim event %s: %w", eventKey, err)
	}
	return nil
}

// EventClaimed reports whether an event key was processed, and its ref.
func (s *Store) EventClaimed(ctx context.Context, orgID, eventKey string) (string, bool, error) {
	var it eventItem
	ok, err := s.get(ctx, orgPK(orgID), eventSK(eventKey), &it)
	return it.Ref, ok, err
}

// eventClaim is the write that claims an event key, naming what it
// produced (ref), unless it was claimed before (and the claim has not
// expired: claims last 30 days, see ttl.go).
func (s *Store) eventClaim(orgID, eventKey, ref string) types.TransactWriteItem {
	now := s.now()
	item, _ := marshal(eventItem{PK: orgPK(orgID), SK: eventSK(eventKey), Type: "event", Ref: ref, TTL: claimTTL(now)}) // strings and a number always encode
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: item,
		ConditionExpression: aws.String(claimFree), ExpressionAttributeNames: claimFreeNames(), ExpressionAttributeValues: claimFreeValues(now),
	}}
}

// eventItem is a processed-event claim.
type eventItem struct {
	PK   string `dynamodbav:"PK"`
	SK   string `dynamodbav:"SK"`
	Type string `dynamodbav:"type"`
	// Ref names what the event produced (a lead id).
	Ref string `dynamodbav:"ref"`
	TTL int64  `dynamodbav:"ttl"`
}

// CreateLeadForEvent creates a lead and claims the event that produced it
// (a Lead Ads submission) in one transaction: a redelivered event finds its
// claim and creates nothing (intake.ErrDuplicate). A taken phone or email
// is a *lead.DuplicateError, as for CreateLead. The submission itself is
// recorded on the lead (its provenance), not as a separate activity: every
// item in the transaction costs two write units. The consent entries the
// submission carries (a mapped Lead Ads consent question) are written in
// the same transaction: each a ledger entry, and the lead starts with them
// as its current consent.
func (s *Store) CreateLeadForEvent(ctx context.Context, l lead.Lead, eventKey string, consent ...conversation.ConsentEntry) error {
	var ledger []types.TransactWriteItem
	if len(consent) > 0 {
		l.Consent = maps.Clone(l.Consent)
		if l.Consent == nil {
			l.Consent = map[string]string{}
		}
	}
	for _, c := range consent {
		l.Consent[conversation.ConsentKey(c.Channel, c.Purpose)] = c.Action + "@" + c.At.UTC().Format(time.RFC3339)
		av, err := marshal(consentItem{PK: leadPartPK(c.OrgID, c.LeadID), SK: consentSK(c.ID), Type: "consent", OrgID: c.OrgID,
			LeadID: c.LeadID, Channel: string(c.Channel), Purpose: c.Purpose, Action: c.Action, At: c.At, Evidence: c.Evidence, Source: c.Source})
		if err != nil {
			return err
		}
		ledger = append(ledger, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}})
	}
	items, guards, err := s.leadCreateWrites(ctx, l)
	if err != nil {
		return err
	}
	items = append(items, ledger...)
	claimAt := len(items)
	items = append(items, s.eventClaim(l.OrgID, eventKey, l.ID))
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if reasons := cancelReasons(err); len(reasons) > claimAt && conditionFailed(reasons[claimAt]) {
		return intakemsg.ErrDuplicate
	}
	return s.leadWriteError(ctx, l.OrgID, err, guards, "create lead "+l.ID)
}

// AttachEvent records an event on an existing lead (a repeat Lead Ads
// submission by the same person) and claims it, once.
func (s *Store) AttachEvent(ctx context.Context, orgID, eventKey string, act lead.Activity) error {
	actAV, err := marshal(toActivityItem(act))
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		s.eventClaim(orgID, eventKey, act.LeadID),
		{Put: &types.Put{TableName: &s.table, Item: actAV}},
	}})
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return intakemsg.ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("attach event %s: %w", eventKey, err)
	}
	return nil
}
