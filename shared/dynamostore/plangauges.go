package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// Plan gauges: one counter per org and gauge metric (plan.Gauges) that
// the writes of what it counts change in their own transaction: a user
// created or invited in adds one, a deactivation takes one back; a
// campaign started or resumed adds one, paused or completed takes one
// back; an integration connected adds one, disconnected takes one back.
// An add carries the condition count < limit when the context carries
// the org's limit (plan.WithLimit), so parallel creates never pass it; a
// take-back carries count > 0 and, when that fails (a counter kept since
// before gauges existed), the write goes on without it.

type gaugeItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	Metric string `dynamodbav:"metric"`
	Count  int    `dynamodbav:"count"`
}

func gaugeKey(orgID string, m plan.Metric) map[string]types.AttributeValue {
	return key(usagePK(orgID, 0), gaugeSK(string(m)))
}

// gaugeAdd is the transaction item adding one to the org's gauge m,
// conditional on the limit ctx carries for m, if any.
func (s *Store) gaugeAdd(ctx context.Context, orgID string, m plan.Metric) types.TransactWriteItem {
	u := &types.Update{
		TableName: &s.table, Key: gaugeKey(orgID, m),
		UpdateExpression:         aws.String("SET #t = :type, org_id = :org, metric = :metric ADD #n :one"),
		ExpressionAttributeNames: map[string]string{"#n": "count", "#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type": &types.AttributeValueMemberS{Value: "plan_gauge"}, ":org": &types.AttributeValueMemberS{Value: orgID},
			":metric": &types.AttributeValueMemberS{Value: string(m)}, ":one": num(1),
		},
	}
	if limit, ok := plan.LimitFrom(ctx, m); ok {
		u.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n < :limit")
		u.ExpressionAttributeValues[":limit"] = num(int64(limit))
	}
	return types.TransactWriteItem{Update: u}
}

// gaugeSub is the transaction item taking one back from the org's gauge
// m, conditional on it being above zero.
func (s *Store) gaugeSub(orgID string, m plan.Metric) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: gaugeKey(orgID, m),
		UpdateExpression:          aws.String("ADD #n :minus"),
		ConditionExpression:       aws.String("#n > :zero"),
		ExpressionAttributeNames:  map[string]string{"#n": "count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1), ":zero": num(0)},
	}}
}

// gaugeLimit is the refusal of an add to gauge m at the limit ctx carries.
func gaugeLimit(ctx context.Context, m plan.Metric) error {
	limit, _ := plan.LimitFrom(ctx, m)
	return &plan.LimitError{Metric: m, Limit: limit}
}

// itemFailed reports whether item i of a cancelled transaction failed its
// condition.
func itemFailed(err error, i int) bool {
	reasons := cancelReasons(err)
	return i < len(reasons) && conditionFailed(reasons[i])
}

// transactSub writes items with gaugeSub(orgID, m) appended; when only
// the take-back's condition failed (the counter is at zero) it writes
// items alone. The error is the transaction's, for the caller to read
// the cancellation reasons of items.
func (s *Store) transactSub(ctx context.Context, items []types.TransactWriteItem, orgID string, m plan.Metric) error {
	all := append(append([]types.TransactWriteItem{}, items...), s.gaugeSub(orgID, m))
	err := s.transact(ctx, all)
	if !itemFailed(err, len(items)) {
		return err
	}
	for i := range items {
		if itemFailed(err, i) {
			return err
		}
	}
	return s.transact(ctx, items)
}

// ReadGauges reads the org's gauges ms (one GetItem each; a missing one
// reads zero).
func (s *Store) ReadGauges(ctx context.Context, orgID string, ms []plan.Metric) ([]int, error) {
	out := make([]int, len(ms))
	for i, m := range ms {
		var it gaugeItem
		ok, err := s.get(ctx, usagePK(orgID, 0), gaugeSK(string(m)), &it)
		if err != nil {
			return nil, fmt.Errorf("read %s of org %s: %w", m, orgID, err)
		}
		if ok {
			out[i] = max(it.Count, 0)
		}
	}
	return out, nil
}

// RecountGauges sets the org's gauges to what exists now: its active
// users, running campaigns and integrations not disconnected, for an org
// whose counters were kept before the gauges existed (make plan recount).
// The counts and the writes are not one transaction: run it while the
// org changes none of these.
func (s *Store) RecountGauges(ctx context.Context, orgID string) (map[plan.Metric]int, error) {
	n := map[plan.Metric]int{}
	users, err := s.ListUsers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Active {
			n[plan.Users]++
		}
	}
	ins, err := s.ListIntegrations(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if in.Status != integration.StatusDisconnected {
			n[plan.Integrations]++
		}
	}
	for from := (page.Cursor{}); ; {
		cs, next, err := s.ListCampaigns(ctx, orgID, 100, from)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Status == campaign.StatusRunning {
				n[plan.ActiveCampaigns]++
			}
		}
		if next.IsZero() {
			break
		}
		from = next
	}
	for _, m := range plan.Gauges {
		av, err := marshal(gaugeItem{PK: usagePK(orgID, 0), SK: gaugeSK(string(m)), Type: "plan_gauge", OrgID: orgID, Metric: string(m), Count: n[m]})
		if err != nil {
			return nil, err
		}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
			return nil, fmt.Errorf("set %s of org %s: %w", m, orgID, err)
		}
	}
	return n, nil
}
