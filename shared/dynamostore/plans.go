package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/plan"
)

// Plans: the org item's plan attribute and the usage counters of
// shared/plan. Each use is one UpdateItem: ADD count with the condition
// count < limit, so parallel uses never pass the limit; counters expire
// (ttl) after their period.

var (
	_ plan.Counters = (*Store)(nil)
	_ plan.Orgs     = (*Store)(nil)
)

type usageItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	Metric string `dynamodbav:"metric"`
	Period string `dynamodbav:"period"`
	Count  int    `dynamodbav:"count"`
	Over   int    `dynamodbav:"over,omitempty"`
	TTL    int64  `dynamodbav:"ttl"`
}

func usageKey(c plan.Counter) map[string]types.AttributeValue {
	return key(usagePK(c.OrgID, c.Shard), usageSK(string(c.Metric), c.Period))
}

// usageSet writes the counter's descriptive attributes with each add.
const usageSet = "SET #t = :type, org_id = :org, metric = :metric, period = :period, #ttl = :ttl"

func usageValues(c plan.Counter, expires time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":type": &types.AttributeValueMemberS{Value: "usage"}, ":org": &types.AttributeValueMemberS{Value: c.OrgID},
		":metric": &types.AttributeValueMemberS{Value: string(c.Metric)}, ":period": &types.AttributeValueMemberS{Value: c.Period},
		":ttl": num(expires.Unix()), ":one": num(1),
	}
}

// updateCounter is one UpdateItem of a usage counter, tried again when a
// transaction holds the counter at that moment (TakeUsageOnce writes it
// in one), which DynamoDB refuses with TransactionConflict and the SDK
// does not retry.
func (s *Store) updateCounter(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			if werr := backoff(ctx, attempt); werr != nil {
				return nil, errors.Join(err, werr)
			}
		}
		var out *dynamodb.UpdateItemOutput
		out, err = s.db.UpdateItem(ctx, in)
		if !transactionConflict(err) {
			return out, err //nolint:wrapcheck // callers wrap it and read its condition failure
		}
	}
	return nil, err //nolint:wrapcheck // as above
}

// TakeUsage adds one use to c provided it holds fewer than limit: one
// UpdateItem (ADD with a condition).
func (s *Store) TakeUsage(ctx context.Context, c plan.Counter, limit int, expires time.Time) (int, bool, error) {
	vals := usageValues(c, expires)
	vals[":limit"] = num(int64(limit))
	out, err := s.updateCounter(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: usageKey(c),
		UpdateExpression:          aws.String(usageSet + " ADD #n :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n < :limit"),
		ExpressionAttributeNames:  map[string]string{"#n": "count", "#t": "type", "#ttl": attrTTL},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("take %s of org %s: %w", c.Metric, c.OrgID, err)
	}
	n, err := numAttr(out.Attributes, "count")
	if err != nil {
		return 0, true, fmt.Errorf("take %s of org %s: %w", c.Metric, c.OrgID, err)
	}
	return int(n), true, nil
}

// useMarkerItem records that the use keyed key was counted on a counter
// (TakeUsageOnce), so a redelivered send counts once.
type useMarkerItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	Metric string `dynamodbav:"metric"`
	Period string `dynamodbav:"period"`
	TTL    int64  `dynamodbav:"ttl"`
}

// TakeUsageOnce is TakeUsage for the use named key (a send's client
// message id): one transaction puts a marker of the key and adds to c
// under limit; a key counted before is already true and adds nothing.
func (s *Store) TakeUsageOnce(ctx context.Context, c plan.Counter, key string, limit int, expires time.Time) (n int, took, already bool, err error) {
	marker, err := marshal(useMarkerItem{PK: usagePK(c.OrgID, c.Shard), SK: useMarkerSK(string(c.Metric), c.Period, key), Type: "usage_marker",
		OrgID: c.OrgID, Metric: string(c.Metric), Period: c.Period, TTL: expires.Unix()})
	if err != nil {
		return 0, false, false, err
	}
	vals := usageValues(c, expires)
	vals[":limit"] = num(int64(limit))
	err = s.transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: marker, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Update: &types.Update{
			TableName: &s.table, Key: usageKey(c),
			UpdateExpression:          aws.String(usageSet + " ADD #n :one"),
			ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n < :limit"),
			ExpressionAttributeNames:  map[string]string{"#n": "count", "#t": "type", "#ttl": attrTTL},
			ExpressionAttributeValues: vals,
		}},
	})
	switch {
	case itemFailed(err, 0):
		return 0, false, true, nil
	case itemFailed(err, 1):
		return 0, false, false, nil
	case err != nil:
		return 0, false, false, fmt.Errorf("take %s of org %s once: %w", c.Metric, c.OrgID, err)
	}
	// A transaction returns no values: the count is read after
	// (consistently; a parallel use may have added since, which only
	// moves the warning threshold check one use on).
	rs, err := s.ReadUsage(ctx, []plan.Counter{c})
	if err != nil {
		return 0, true, false, err
	}
	return rs[0].Count, true, false, nil
}

// ReleaseUsage takes one use back from c, never below zero.
func (s *Store) ReleaseUsage(ctx context.Context, c plan.Counter) error {
	_, err := s.updateCounter(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: usageKey(c),
		UpdateExpression:          aws.String("ADD #n :minus"),
		ConditionExpression:       aws.String("#n > :zero"),
		ExpressionAttributeNames:  map[string]string{"#n": "count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1), ":zero": num(0)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release %s of org %s: %w", c.Metric, c.OrgID, err)
	}
	return nil
}

// AddUsage adds one use to c whatever the limit; a use past limit also
// adds one to the counter's over count (a second write, only then).
func (s *Store) AddUsage(ctx context.Context, c plan.Counter, limit int, expires time.Time) (int, bool, error) {
	out, err := s.updateCounter(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: usageKey(c),
		UpdateExpression:          aws.String(usageSet + " ADD #n :one"),
		ExpressionAttributeNames:  map[string]string{"#n": "count", "#t": "type", "#ttl": attrTTL},
		ExpressionAttributeValues: usageValues(c, expires),
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, false, fmt.Errorf("add %s of org %s: %w", c.Metric, c.OrgID, err)
	}
	n, err := numAttr(out.Attributes, "count")
	if err != nil {
		return 0, false, fmt.Errorf("add %s of org %s: %w", c.Metric, c.OrgID, err)
	}
	if n <= int64(limit) {
		return int(n), false, nil
	}
	_, err = s.updateCounter(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: usageKey(c), UpdateExpression: aws.String("ADD #o :one"),
		ExpressionAttributeNames: map[string]string{"#o": "over"}, ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	})
	if err != nil {
		return int(n), true, fmt.Errorf("mark %s of org %s over the limit: %w", c.Metric, c.OrgID, err)
	}
	return int(n), true, nil
}

// ReadUsage reads counters (one GetItem each; a missing or expired one
// reads zero).
func (s *Store) ReadUsage(ctx context.Context, cs []plan.Counter) ([]plan.Reading, error) {
	out := make([]plan.Reading, len(cs))
	for i, c := range cs {
		var it usageItem
		ok, err := s.get(ctx, usagePK(c.OrgID, c.Shard), usageSK(string(c.Metric), c.Period), &it)
		if err != nil {
			return nil, fmt.Errorf("read %s of org %s: %w", c.Metric, c.OrgID, err)
		}
		if ok {
			out[i] = plan.Reading{Count: it.Count, Over: it.Over}
		}
	}
	return out, nil
}

var _ plan.AlertStore = (*Store)(nil)

// noticeMarkerItem records that an org's owners were told about a limit in
// a period (plan.Alerts): near (the 80 % email) or over (the in-app
// notice).
type noticeMarkerItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	Metric string `dynamodbav:"metric"`
	Period string `dynamodbav:"period"`
	TTL    int64  `dynamodbav:"ttl"`
}

func (s *Store) noticePut(orgID, what string, m plan.Metric, period string, expires time.Time) (types.Put, error) {
	av, err := marshal(noticeMarkerItem{PK: usagePK(orgID, 0), SK: noticeSK(what, string(m), period), Type: "plan_notice",
		OrgID: orgID, Metric: string(m), Period: period, TTL: expires.Unix()})
	if err != nil {
		return types.Put{}, err
	}
	return types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}, nil
}

// ActiveOwners returns the org's active owners.
func (s *Store) ActiveOwners(ctx context.Context, orgID string) ([]plan.Owner, error) {
	users, err := s.ListUsers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []plan.Owner
	for _, u := range users {
		if u.Active && u.Role == account.RoleOwner {
			out = append(out, plan.Owner{UserID: u.ID, Email: u.Email})
		}
	}
	return out, nil
}

// NotifyOverLimit puts the over-limit marker of (org, m, period) and one
// notification per user in one transaction (at most 99 users); false
// when the marker exists.
func (s *Store) NotifyOverLimit(ctx context.Context, orgID string, m plan.Metric, period string, userIDs []string, resets, at time.Time) (bool, error) {
	marker, err := s.noticePut(orgID, "over", m, period, resets.Add(m.Period().Kept()))
	if err != nil {
		return false, err
	}
	items := []types.TransactWriteItem{{Put: &marker}}
	for _, u := range userIDs[:min(len(userIDs), 99)] {
		n := lead.Notification{ID: ulid.Make().String(), OrgID: orgID, UserID: u, Kind: lead.NotificationPlanOverLimit, Limit: string(m),
			DueAt: resets, CreatedAt: at}
		av, err := marshal(toNotificationItem(n))
		if err != nil {
			return false, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}})
	}
	err = s.transact(ctx, items)
	if itemFailed(err, 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify org %s over %s: %w", orgID, m, err)
	}
	return true, nil
}

// MarkNearLimit puts the warning marker of (org, m, period) if absent.
func (s *Store) MarkNearLimit(ctx context.Context, orgID string, m plan.Metric, period string, expires time.Time) (bool, error) {
	put, err := s.noticePut(orgID, "near", m, period, expires)
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark org %s near %s: %w", orgID, m, err)
	}
	return true, nil
}

// UnmarkNearLimit deletes the warning marker of (org, m, period).
func (s *Store) UnmarkNearLimit(ctx context.Context, orgID string, m plan.Metric, period string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(usagePK(orgID, 0), noticeSK("near", string(m), period))})
	if err != nil {
		return fmt.Errorf("unmark org %s near %s: %w", orgID, m, err)
	}
	return nil
}

// OrgPlan returns the org's plan name ("" when none is set: free).
func (s *Store) OrgPlan(ctx context.Context, orgID string) (plan.Name, error) {
	o, err := s.GetOrg(ctx, orgID)
	if err != nil {
		return "", err
	}
	return plan.Name(o.Plan), nil
}

// SetOrgPlan puts the org on plan p (account.ErrNotFound when there is
// no such org).
func (s *Store) SetOrgPlan(ctx context.Context, orgID string, p plan.Name) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skOrg),
		UpdateExpression:          aws.String("SET #p = :p"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#p": "plan"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: string(p)}},
	})
	if isConditionFailed(err) {
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set plan of org %s: %w", orgID, err)
	}
	return nil
}
