package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/retention"
)

// Purging a closed org removes every item of the org, 90 days after its
// closure (account.ReopenWindow): its partition (users, leads, guards,
// integrations, settings, campaigns, ...), each lead's history partition
// with its messages' provider id partitions (PurgeLead), the leads whose
// deletion was still pending, each user's login email guard and sessions
// with their refresh tokens, its one-time account tokens (GSI1), its API keys' lookup items and request
// counters, the integration owner items and parked events
// of its integrations and its integration purges still pending, the claim of its sender address, and its audit
// partition. What stays is a deletion receipt (DELETED#ORGS / <org>): the
// org id, when it was closed and purged, and the counts removed by kind.
//
// It is resumable: the org's own items are the checkpoint. An item that
// leads to others (a lead, user, integration, sender address) is removed
// only after them, and the org item last, with the receipt marked purged
// in the same transaction; a run that stops finds what is left.

// The closed org purge job's port.
var _ retention.ClosedOrgStore = (*Store)(nil)

// deletionReceiptItem is what remains of a purged org: no name, no
// contact data.
type deletionReceiptItem struct {
	PK        string         `dynamodbav:"PK"`
	SK        string         `dynamodbav:"SK"`
	Type      string         `dynamodbav:"type"`
	OrgID     string         `dynamodbav:"org_id"`
	ClosedAt  time.Time      `dynamodbav:"closed_at"`
	StartedAt time.Time      `dynamodbav:"started_at"`
	PurgedAt  *time.Time     `dynamodbav:"purged_at,omitempty"`
	Counts    map[string]int `dynamodbav:"counts"`
}

// purgeRead is what the purge reads of an item of an org's partition (its
// sort key, type, and what leads to other items).
type purgeRead struct {
	Type       string `dynamodbav:"type"`
	ID         string `dynamodbav:"id"`
	Email      string `dynamodbav:"email"`
	Kind       string `dynamodbav:"kind"`
	ExternalID string `dynamodbav:"external_id"`
	KeyHash    string `dynamodbav:"key_hash"`
	SK         string `dynamodbav:"SK"`
}

// DeletionReceipt returns the receipt of a purged (or partly purged) org:
// when it was closed and purged (zero while under way) and the counts
// removed by item kind.
func (s *Store) DeletionReceipt(ctx context.Context, orgID string) (retention.DeletionReceipt, bool, error) {
	var it deletionReceiptItem
	ok, err := s.get(ctx, deletedOrgsPK, orgID, &it)
	if err != nil || !ok {
		return retention.DeletionReceipt{}, ok, err
	}
	r := retention.DeletionReceipt{OrgID: it.OrgID, ClosedAt: it.ClosedAt, Counts: it.Counts}
	if it.PurgedAt != nil {
		r.PurgedAt = *it.PurgedAt
	}
	return r, true, nil
}

// PurgeClosedOrg removes up to about budget items of a closed org and
// reports the counts removed by item kind, and done when the org is gone
// (see the top of this file). An org that is not closed is refused; one
// that is gone already is done.
func (s *Store) PurgeClosedOrg(ctx context.Context, orgID string, budget int) (map[string]int, bool, error) {
	var org orgItem
	ok, err := s.get(ctx, orgPK(orgID), skOrg, &org)
	if err != nil {
		return nil, false, fmt.Errorf("read org %s: %w", orgID, err)
	}
	if !ok {
		return map[string]int{}, true, nil
	}
	if org.ClosedAt == nil {
		return nil, false, fmt.Errorf("purge org %s: the org is not closed", orgID)
	}
	p := &orgPurge{s: s, org: orgID, budget: budget, counts: map[string]int{}}
	done, err := p.run(ctx)
	if rerr := s.addReceiptCounts(context.WithoutCancel(ctx), orgID, *org.ClosedAt, p.counts); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil || !done {
		return p.counts, false, err
	}
	at, err := attributevalue.Marshal(s.now().UTC())
	if err != nil {
		return p.counts, false, fmt.Errorf("marshal purge time: %w", err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(orgID), skOrg)}},
		{Update: &types.Update{TableName: &s.table, Key: key(deletedOrgsPK, orgID),
			UpdateExpression: aws.String("SET purged_at = :at, #c.#o = :one"), ConditionExpression: aws.String("attribute_exists(PK)"),
			ExpressionAttributeNames:  map[string]string{"#c": "counts", "#o": "org"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": at, ":one": &types.AttributeValueMemberN{Value: "1"}}}},
	}})
	if err != nil {
		return p.counts, false, fmt.Errorf("finish purge of org %s: %w", orgID, err)
	}
	p.counts["org"]++
	return p.counts, true, nil
}

// addReceiptCounts adds counts to the org's receipt, creating it.
func (s *Store) addReceiptCounts(ctx context.Context, orgID string, closedAt time.Time, counts map[string]int) error {
	var it deletionReceiptItem
	ok, err := s.get(ctx, deletedOrgsPK, orgID, &it)
	if err != nil {
		return fmt.Errorf("read deletion receipt of org %s: %w", orgID, err)
	}
	if !ok {
		it = deletionReceiptItem{PK: deletedOrgsPK, SK: orgID, Type: "deletion_receipt", OrgID: orgID, ClosedAt: closedAt.UTC(), StartedAt: s.now().UTC()}
	}
	if it.Counts == nil {
		it.Counts = map[string]int{}
	}
	for k, v := range counts {
		it.Counts[k] += v
	}
	av, err := marshal(it)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("write deletion receipt of org %s: %w", orgID, err)
	}
	return nil
}

// orgPurge is one call's work on an org.
type orgPurge struct {
	s       *Store
	org     string
	budget  int
	removed int
	counts  map[string]int
}

func (p *orgPurge) spent() bool { return p.removed >= p.budget }

func (p *orgPurge) count(kind string, n int) {
	if n > 0 {
		p.counts[kind] += n
		p.removed += n
	}
}

// run works through the org's items; done when only the org item is left.
func (p *orgPurge) run(ctx context.Context) (bool, error) {
	if done, err := p.pendingLeads(ctx); err != nil || !done {
		return false, err
	}
	if done, err := p.pendingIntegrations(ctx); err != nil || !done {
		return false, err
	}
	if done, err := p.accountTokens(ctx); err != nil || !done {
		return false, err
	}
	if done, err := p.partition(ctx); err != nil || !done {
		return false, err
	}
	if done, err := p.plain(ctx, notificationsPK(p.org)); err != nil || !done {
		return false, err
	}
	// The usage counters of every shard (plans.go).
	for shard := range plan.MaxShards {
		if done, err := p.plain(ctx, usagePK(p.org, shard)); err != nil || !done {
			return false, err
		}
	}
	return p.plain(ctx, auditPK(p.org))
}

// pendingIntegrations removes the org's integration purges still pending
// (PURGE#INTEGRATIONS / <org>#...): the purge of the whole org removes
// what they would have, and they name the org.
func (p *orgPurge) pendingIntegrations(ctx context.Context) (bool, error) {
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :org)"), ConsistentRead: aws.Bool(true),
			Limit: aws.Int32(purgePage), ProjectionExpression: aws.String("PK, SK"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: pendingIntegrationPurgePK}, ":org": &types.AttributeValueMemberS{Value: p.org + "#"},
			},
		})
		if err != nil {
			return false, fmt.Errorf("list pending integration purges of org %s: %w", p.org, err)
		}
		if len(out.Items) == 0 {
			return true, nil
		}
		if err := p.s.batchDelete(ctx, out.Items); err != nil {
			return false, fmt.Errorf("delete pending integration purges of org %s: %w", p.org, err)
		}
		p.count("pending_integration_purge", len(out.Items))
	}
	return false, nil
}

// accountTokens removes the org's one-time tokens (invitations, password
// resets, email verifications), found in GSI1 under the org. They expire
// within days of being made, long before an org is purged, but DynamoDB
// deletes expired items only lazily.
func (p *orgPurge) accountTokens(ctx context.Context) (bool, error) {
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, IndexName: aws.String(indexGSI1), KeyConditionExpression: aws.String("GSI1PK = :pk"),
			Limit: aws.Int32(purgePage), ProjectionExpression: aws.String("PK, SK"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: accountTokensPK(p.org)},
			},
		})
		if err != nil {
			return false, fmt.Errorf("list account tokens of org %s: %w", p.org, err)
		}
		if len(out.Items) == 0 {
			return true, nil
		}
		if err := p.s.batchDelete(ctx, out.Items); err != nil {
			return false, fmt.Errorf("delete account tokens of org %s: %w", p.org, err)
		}
		p.count("account_token", len(out.Items))
	}
	return false, nil
}

// pendingLeads finishes the org's leads whose deletion is still pending.
func (p *orgPurge) pendingLeads(ctx context.Context) (bool, error) {
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :org)"), ConsistentRead: aws.Bool(true),
			Limit: aws.Int32(purgePage),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: pendingPurgePK}, ":org": &types.AttributeValueMemberS{Value: p.org + "#"},
			},
		})
		if err != nil {
			return false, fmt.Errorf("list pending lead purges of org %s: %w", p.org, err)
		}
		if len(out.Items) == 0 {
			return true, nil
		}
		for _, item := range out.Items {
			var it pendingPurgeItem
			if err := unmarshal(item, &it); err != nil {
				return false, err
			}
			if done, err := p.lead(ctx, it.LeadID); err != nil || !done {
				return false, err
			}
			p.count("pending_lead_purge", 1)
		}
	}
	return false, nil
}

// lead removes a lead's history (PurgeLead), within the budget.
func (p *orgPurge) lead(ctx context.Context, leadID string) (bool, error) {
	for !p.spent() {
		counts, done, err := p.s.PurgeLead(ctx, p.org, leadID, p.budget-p.removed)
		for k, v := range counts {
			p.count(k, v)
		}
		if err != nil || done {
			return done, err
		}
	}
	return false, nil
}

// partition removes the org partition's items but the org item, each after
// what it leads to.
func (p *orgPurge) partition(ctx context.Context) (bool, error) {
	var start map[string]types.AttributeValue
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
			Limit: aws.Int32(purgePage), ExclusiveStartKey: start,
			ProjectionExpression:      aws.String("PK, SK, #t, id, email, kind, external_id, key_hash"),
			ExpressionAttributeNames:  map[string]string{"#t": "type"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: orgPK(p.org)}},
		})
		if err != nil {
			return false, fmt.Errorf("read org %s: %w", p.org, err)
		}
		var own []map[string]types.AttributeValue
		kinds := map[string]int{}
		for _, item := range out.Items {
			var it purgeRead
			if err := unmarshal(item, &it); err != nil {
				return false, err
			}
			if it.SK == skOrg {
				continue
			}
			if p.spent() {
				break
			}
			done, err := p.derived(ctx, it)
			if err != nil {
				return false, err
			}
			if !done {
				break
			}
			own = append(own, key(orgPK(p.org), it.SK))
			kinds[itemKind(it.Type)]++
		}
		if err := p.s.batchDelete(ctx, own); err != nil {
			return false, fmt.Errorf("purge org %s: %w", p.org, err)
		}
		for k, v := range kinds {
			p.count(k, v)
		}
		if len(own) < countNotOrg(out.Items) {
			return false, nil // budget spent mid-page
		}
		if out.LastEvaluatedKey == nil {
			return true, nil
		}
		start = out.LastEvaluatedKey
	}
	return false, nil
}

func countNotOrg(items []map[string]types.AttributeValue) int {
	n := 0
	for _, item := range items {
		if sk, ok := item[attrSK].(*types.AttributeValueMemberS); !ok || sk.Value != skOrg {
			n++
		}
	}
	return n
}

func itemKind(t string) string {
	if t == "" {
		return "item"
	}
	return t
}

// derived removes what an item of the org partition leads to, and reports
// whether all of it is gone.
func (p *orgPurge) derived(ctx context.Context, it purgeRead) (bool, error) {
	switch it.Type {
	case "lead":
		return p.lead(ctx, it.ID)
	case "user":
		if it.Email != "" {
			if err := p.ownedBy(ctx, emailPK(it.Email), skEmail, "login_email"); err != nil {
				return false, err
			}
		}
		return p.sessions(ctx, it.ID)
	case "integration":
		if err := p.ownedBy(ctx, metaOwnerPK(it.Kind, it.ExternalID), skOwner, "integration_owner"); err != nil {
			return false, err
		}
		return p.plain(ctx, parkedPK(p.org, it.Kind, it.ExternalID))
	case "email_sender":
		if it.Email != "" {
			if err := p.ownedBy(ctx, senderOwnerPK(it.Email), skOwner, "sender_owner"); err != nil {
				return false, err
			}
		}
	case "privacy_request":
		// A data-subject request's export document (privacy.go).
		return p.plain(ctx, privacyExportPK(p.org, it.ID))
	case "import":
		// A lead import's row outcomes (imports.go).
		return p.plain(ctx, importRowsPK(p.org, it.ID))
	case "api_key":
		// The key's lookup item and request counters (apikeys.go).
		if it.KeyHash != "" {
			if err := p.ownedBy(ctx, apiKeyLookupPK(it.KeyHash), skAPIKeyLookup, "api_key_lookup"); err != nil {
				return false, err
			}
		}
		return p.plain(ctx, apiKeyRatePK(it.ID))
	}
	return true, nil
}

// ownedBy deletes a guard or owner item when it names the org.
func (p *orgPurge) ownedBy(ctx context.Context, pk, sk, kind string) error {
	out, err := p.s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &p.s.table, Key: key(pk, sk),
		ConditionExpression:       aws.String("org_id = :org"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":org": &types.AttributeValueMemberS{Value: p.org}},
		ReturnValues:              types.ReturnValueAllOld})
	if isConditionFailed(err) {
		return nil // gone already, or another org's
	}
	if err != nil {
		return fmt.Errorf("delete %s of org %s: %w", kind, p.org, err)
	}
	if len(out.Attributes) > 0 {
		p.count(kind, 1)
	}
	return nil
}

// sessions removes a user's session families with their refresh tokens.
func (p *orgPurge) sessions(ctx context.Context, userID string) (bool, error) {
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true), Limit: aws.Int32(purgePage),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: familyPK(userID)}},
		})
		if err != nil {
			return false, fmt.Errorf("read sessions of user %s: %w", userID, err)
		}
		if len(out.Items) == 0 {
			return true, nil
		}
		var tokens, families []map[string]types.AttributeValue
		for _, item := range out.Items {
			var f familyItem
			if err := unmarshal(item, &f); err != nil {
				return false, err
			}
			for _, id := range f.Tokens {
				tokens = append(tokens, key(refreshPK(id), skRefresh))
			}
			families = append(families, key(f.PK, f.SK))
		}
		if err := p.s.batchDelete(ctx, tokens); err != nil {
			return false, fmt.Errorf("delete refresh tokens of user %s: %w", userID, err)
		}
		if err := p.s.batchDelete(ctx, families); err != nil {
			return false, fmt.Errorf("delete sessions of user %s: %w", userID, err)
		}
		p.count("refresh", len(tokens))
		p.count("session", len(families))
	}
	return false, nil
}

// plain removes a partition whose items lead nowhere, in pages.
func (p *orgPurge) plain(ctx context.Context, pk string) (bool, error) {
	for !p.spent() {
		out, err := p.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &p.s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true), Limit: aws.Int32(purgePage),
			ProjectionExpression: aws.String("PK, SK, #t"), ExpressionAttributeNames: map[string]string{"#t": "type"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		})
		if err != nil {
			return false, fmt.Errorf("read %s: %w", pk, err)
		}
		if len(out.Items) == 0 {
			return true, nil
		}
		keys := make([]map[string]types.AttributeValue, 0, len(out.Items))
		kinds := map[string]int{}
		for _, item := range out.Items {
			keys = append(keys, map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]})
			kind := "item"
			if t, ok := item["type"].(*types.AttributeValueMemberS); ok {
				kind = itemKind(t.Value)
			}
			kinds[kind]++
		}
		if err := p.s.batchDelete(ctx, keys); err != nil {
			return false, fmt.Errorf("delete %s: %w", pk, err)
		}
		for k, v := range kinds {
			p.count(k, v)
		}
	}
	return false, nil
}
