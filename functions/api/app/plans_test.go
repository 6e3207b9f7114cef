package app_test

import (
	"context"
	"strconv"
	"strings"
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
	owner := e.signupOn(t, "Limit Co", plan.Free)
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
	owner := e.signupOn(t, "Chatty Co", plan.Free)
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
	other := e.signupOn(t, "Quiet Co", plan.Free)
	expect(t, e.do(t, "GET", "/v1/me", other.Access, nil), 200)
}

// usageOf returns the entry of limit m in GET /v1/usage.
func usageOf(t *testing.T, e *testEnv, s session, m plan.Metric) map[string]any {
	t.Helper()
	r := e.do(t, "GET", "/v1/usage", s.Access, nil)
	expect(t, r, 200)
	list, _ := r.Body["usage"].([]any)
	for _, it := range list {
		if u, _ := it.(map[string]any); u["limit"] == string(m) {
			return u
		}
	}
	t.Fatalf("no %s in %s", m, r.Raw)
	return nil
}

// The plan's users are exact under concurrency: of parallel creates with
// k slots left exactly k succeed, the rest are 403 plan_limit naming the
// limit (no resets_at: a deactivation makes room); /v1/usage shows them.
func TestPlanUsersUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	owner := e.signupOn(t, "Small Team", plan.Free)
	limit := plan.Plans[plan.Free].Limits[plan.Users]
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r := e.do(t, "POST", "/v1/users", owner.Access, map[string]string{"name": "Agent", "email": uniqueEmail("agent" + strconv.Itoa(i)),
				"role": "agent", "password": password})
			switch {
			case r.Status == 201:
				ok.Add(1)
			case r.Status == 403 && r.str("code") == "plan_limit" && r.str("limit") == "users" && r.str("resets_at") == "" &&
				r.Header.Get("Retry-After") == "":
				refused.Add(1)
			default:
				t.Errorf("create: %d %s", r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	if int(ok.Load()) != limit-1 || int(refused.Load()) != 8-(limit-1) {
		t.Fatalf("%d created, %d refused; want %d and %d", ok.Load(), refused.Load(), limit-1, 8-(limit-1))
	}
	u := usageOf(t, e, owner, plan.Users)
	if u["used"] != float64(limit) || u["metered"] != true || u["period"] != "none" || u["resets_at"] != nil || u["over_limit"] != false {
		t.Fatalf("users usage %v", u)
	}
	// At 80 % (free: all 3) the owner got one warning, however many
	// creates passed at once.
	warned := 0
	for _, m := range e.mailsTo(t, owner.Email, 1) {
		if strings.Contains(m.Subject, "80% of your plan's users") {
			warned++
		}
	}
	if warned != 1 {
		t.Fatalf("%d warnings about users", warned)
	}
	// A deactivation makes room for one.
	users := e.do(t, "GET", "/v1/users", owner.Access, nil)
	list, _ := users.Body["items"].([]any)
	var agentID string
	for _, it := range list {
		if m, _ := it.(map[string]any); m["role"] == "agent" {
			agentID, _ = m["id"].(string)
		}
	}
	expect(t, e.do(t, "DELETE", "/v1/users/"+agentID, owner.Access, nil), 204)
	expect(t, e.do(t, "DELETE", "/v1/users/"+agentID, owner.Access, nil), 204)
	if u := usageOf(t, e, owner, plan.Users); u["used"] != float64(limit-1) {
		t.Fatalf("after a deactivation: %v", u)
	}
	expect(t, e.do(t, "POST", "/v1/users", owner.Access, map[string]string{"name": "Agent", "email": uniqueEmail("again"),
		"role": "agent", "password": password}), 201)
	expect(t, e.do(t, "POST", "/v1/users", owner.Access, map[string]string{"name": "Agent", "email": uniqueEmail("over"),
		"role": "agent", "password": password}), 403)
}

// At 80 % of the month's leads the owner gets one email; Lead Ads leads
// kept past the limit show as over_limit on the limit and the report.
func TestPlanWarningAndOverLimit(t *testing.T) {
	e := newEnv(t)
	owner := e.signupOn(t, "Busy Co", plan.Free)
	limit := plan.Plans[plan.Free].Limits[plan.LeadsPerMonth]
	setUsage(t, e, owner.OrgID, plan.LeadsPerMonth, plan.WarnFrom(limit)-2)
	for i := range 4 {
		e.createLead(t, owner, map[string]any{"name": "Lead", "phone": "98765" + strconv.Itoa(20000+i)})
	}
	mails := e.mailsTo(t, owner.Email, 1)
	time.Sleep(time.Second)
	mails = e.mailsTo(t, owner.Email, len(mails))
	var warned int
	for _, m := range mails {
		if strings.Contains(m.Subject, "80% of your plan's leads per month") {
			warned++
			if !strings.Contains(m.Body.Text, strconv.Itoa(limit)) {
				t.Fatalf("warning %q", m.Body.Text)
			}
		}
	}
	if warned != 1 {
		t.Fatalf("%d warnings in %+v", warned, mails)
	}
	// Uses kept past the limit (as intake records them) are flagged.
	setUsageOver(t, e, owner.OrgID, plan.LeadsPerMonth, limit+3, 3)
	r := e.do(t, "GET", "/v1/usage", owner.Access, nil)
	u := usageOf(t, e, owner, plan.LeadsPerMonth)
	if r.Body["over_limit"] != true || u["over_limit"] != true || u["over"] != float64(3) {
		t.Fatalf("usage %s", r.Raw)
	}
	if w := usageOf(t, e, owner, plan.WhatsAppPerDay); w["over_limit"] != false {
		t.Fatalf("whatsapp usage %v", w)
	}
}

// setUsageOver is setUsage with over uses kept past the limit.
func setUsageOver(t *testing.T, e *testEnv, orgID string, m plan.Metric, count, over int) {
	t.Helper()
	setUsage(t, e, orgID, m, count)
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dynamodb.NewFromConfig(cfg).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.cfg.TableName),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "USAGE#" + orgID + "#0"},
			"SK": &types.AttributeValueMemberS{Value: string(m) + "#" + m.Period().Key(time.Now())}},
		UpdateExpression:          aws.String("SET #o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": "over"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberN{Value: strconv.Itoa(over)}}})
	if err != nil {
		t.Fatal(err)
	}
}
