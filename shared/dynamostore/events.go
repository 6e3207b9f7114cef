package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/lead"
)

// Processed events are claimed in their org's partition (EVENT#<key>), in
// the same transaction as what they produce, so that a redelivered event
// writes nothing (intake.ErrDuplicate).

// ClaimEvent marks an event key (a leadgen id, say) as processed for an
// org. The first claim wins; later ones are intake.ErrDuplicate.
func (s *Store) ClaimEvent(ctx context.Context, orgID, eventKey, ref string) error {
	claim := s.eventClaim(orgID, eventKey, ref).Put
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: claim.TableName, Item: claim.Item, ConditionExpression: claim.ConditionExpression})
	if isConditionFailed(err) {
		return intake.ErrDuplicate
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

// eventClaim is the write that claims an event key, naming what it
// produced (ref), unless it was claimed before.
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
// claim and creates nothing (intake.ErrDuplicate). A taken phone or email
// is a *lead.DuplicateError, as for CreateLead. The submission itself is
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
		return intake.ErrDuplicate
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
		return intake.ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("attach event %s: %w", eventKey, err)
	}
	return nil
}
