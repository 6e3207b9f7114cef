package app_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/plan"
)

// setUsage writes an org's counter of metric in the current period
// (shard 0), as if count uses had been made.
func setUsage(t *testing.T, e *testEnv, orgID string, m plan.Metric, count int) {
	t.Helper()
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	_, resets := m.Period().Window(now)
	_, err = dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.TableName), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "USAGE#" + orgID + "#0"}, "SK": &types.AttributeValueMemberS{Value: string(m) + "#" + m.Period().Key(now)},
		"type": &types.AttributeValueMemberS{Value: "usage"}, "org_id": &types.AttributeValueMemberS{Value: orgID},
		"metric": &types.AttributeValueMemberS{Value: string(m)}, "period": &types.AttributeValueMemberS{Value: m.Period().Key(now)},
		"count": &types.AttributeValueMemberN{Value: strconv.Itoa(count)},
		"ttl":   &types.AttributeValueMemberN{Value: strconv.FormatInt(resets.Add(time.Hour).Unix(), 10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// The leads of the month are counted exactly: of parallel creates at the
// limit exactly the room left succeed, the rest are 403 plan_limit; a
// create that fails gives its use back.
func TestPlanLeadsPerMonthUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Limit Co")
	e.verify(t, owner)
	limit := plan.Plans[plan.Free].Limits[plan.LeadsPerMonth]
	setUsage(t, e, owner.OrgID, plan.LeadsPerMonth, limit-5)
	// A create refused by validation takes nothing.
	expect(t, e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "No contact"}), 422)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			r := e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": "Lead", "phone": "98765" + strconv.Itoa(10000+i)})
			switch {
			case r.Status == 201:
				ok.Add(1)
			case r.Status == 403 && r.str("code") == "plan_limit" && r.str("limit") == "leads_per_month" && r.str("resets_at") != "" &&
				r.Header.Get("Retry-After") != "":
				refused.Add(1)
			default:
				t.Errorf("create: %d %s", r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || refused.Load() != 7 {
		t.Fatalf("%d created, %d refused; want 5 and 7", ok.Load(), refused.Load())
	}
	r := e.do(t, "GET", "/v1/usage", owner.Access, nil)
	expect(t, r, 200)
	if r.str("plan") != "free" {
		t.Fatalf("usage %s", r.Raw)
	}
	var found bool
	list, _ := r.Body["usage"].([]any)
	for _, it := range list {
		u, _ := it.(map[string]any)
		if u["limit"] == "leads_per_month" {
			found = true
			if u["used"] != float64(limit) || u["max"] != float64(limit) || u["period"] != "month" || u["resets_at"] == nil {
				t.Fatalf("leads usage %v", u)
			}
		}
	}
	if !found {
		t.Fatalf("no leads_per_month in %s", r.Raw)
	}
	// An agent may not see usage; the plan set by the operator applies.
	agent := e.member(t, owner, "agent")
	expect(t, e.do(t, "GET", "/v1/usage", agent.Access, nil), 403)
}

// An org whose request bucket is empty gets 429 plan_limit with
// Retry-After, user and API key callers alike; another org has its own.
func TestPlanRequestsPerMinute(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Chatty Co")
	e.verify(t, owner)
	_, key := e.newKey(t, owner, "Form", "leads:read")
	expect(t, e.do(t, "GET", "/v1/me", owner.Access, nil), 200)
	// Empty the org's bucket (free: one shard) for the next 30 seconds:
	// its TAT as far past now as the burst allows, and 30 s more.
	p := plan.Of(plan.Free)
	tat := time.Now().Add(p.RequestBucket(0).Tolerance() + 30*time.Second)
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.TableName), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "USAGE#" + owner.OrgID + "#0"}, "SK": &types.AttributeValueMemberS{Value: "BUCKET#api_requests"},
		"type": &types.AttributeValueMemberS{Value: "rate_bucket"}, "tat": &types.AttributeValueMemberN{Value: strconv.FormatInt(tat.UnixMilli(), 10)},
		"ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(tat.Add(time.Hour).Unix(), 10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "GET", "/v1/me", owner.Access, nil)
	if r.Status != 429 || r.str("code") != "plan_limit" || r.str("limit") != "api_requests_per_minute" || r.str("resets_at") == "" {
		t.Fatalf("empty bucket: %d %s %v", r.Status, r.Raw, r.Header)
	}
	if n, _ := strconv.Atoi(r.Header.Get("Retry-After")); n < 1 || n > 31 {
		t.Fatalf("Retry-After %q, want the seconds until the bucket holds a request", r.Header.Get("Retry-After"))
	}
	if r := e.do(t, "GET", "/v1/leads", key, nil); r.Status != 429 || r.str("code") != "plan_limit" {
		t.Fatalf("an API key of an org with an empty bucket: %d %s", r.Status, r.Raw)
	}
	// Another org has its own bucket.
	other := e.signup(t, "Quiet Co")
	expect(t, e.do(t, "GET", "/v1/me", other.Access, nil), 200)
}
