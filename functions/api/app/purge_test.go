package app_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	retentionapp "github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/retention"
)

// purgeJobs receives the jobs on the purges queue.
func (e *testEnv) purgeJobs(t *testing.T) []events.SQSMessage {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqs.NewFromConfig(cfg).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.cfg.PurgesQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []events.SQSMessage
	for _, m := range out.Messages {
		msgs = append(msgs, events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), EventSource: "aws:sqs"})
	}
	return msgs
}

func (e *testEnv) store(t *testing.T) *dynamostore.Store {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName)
}

// Disconnecting answers what will be purged and starts the job at once;
// the retention function consumes it and the integration's health shows
// the purge's progress.
func TestDisconnectStartsTheMetaPurge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.sim.AddPhoneNumber("106540352242922", "15550783881", "Sharma Realty", "102290129340398", "EAAGwa-token-0001")
	owner := e.signup(t, "Purging Co")
	wa := map[string]any{"phone_number_id": "106540352242922", "waba_id": "102290129340398", "display_phone_number": "+1 555-078-3881",
		"access_token": "EAAGwa-token-0001"}
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, wa), 201)
	// A lead as WhatsApp intake creates it.
	store := e.store(t)
	now := time.Now().UTC()
	l := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "From WhatsApp", Phone: "+919800000030", Source: "whatsapp",
		Status: lead.StatusNew, Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1,
		Provenance: &lead.Provenance{IntegrationKind: "whatsapp", IntegrationID: "106540352242922", Fields: []string{"name", "phone"}}}
	if err := store.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)

	r := e.do(t, "DELETE", "/v1/integrations/whatsapp/106540352242922", owner.Access, nil)
	expect(t, r, 202)
	purge, _ := r.Body["purge"].(map[string]any)
	if r.str("status") != "disconnected" || purge["started"] != true || purge["state"] != "pending" || len(purge["deletes"].([]any)) == 0 ||
		purge["collected_before"] == "" {
		t.Fatalf("disconnect answer %s", r.Raw)
	}
	health := func() map[string]any {
		for _, it := range e.do(t, "GET", "/v1/integrations", owner.Access, nil).items() {
			if it["id"] == "106540352242922" {
				p, _ := it["purge"].(map[string]any)
				return p
			}
		}
		return nil
	}
	if p := health(); p == nil || p["state"] != "pending" {
		t.Fatalf("health before the job: %v", p)
	}
	jobs := e.purgeJobs(t)
	if len(jobs) != 1 {
		t.Fatalf("%d purge jobs queued, want 1", len(jobs))
	}
	if j, err := retention.ParseJob(jobs[0].Body); err != nil || j.Kind != retention.JobKindIntegrationPurge || j.OrgID != owner.OrgID {
		t.Fatalf("job %+v, %v", j, err)
	}
	h, err := retentionapp.New(ctx, config.Retention{TableName: e.cfg.TableName, KeyID: e.cfg.KeyID, Rate: 1000, Margin: time.Second,
		PurgesQueueURL: e.cfg.PurgesQueueURL}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := h.Queue(ctx, events.SQSEvent{Records: jobs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("job: %+v, %v", resp, err)
	}
	t.Logf("the purge of a small org took %s", time.Since(start).Round(time.Millisecond))
	p := health()
	counts, _ := p["counts"].(map[string]any)
	if p["state"] != "done" || p["finished_at"] == nil || counts["lead"] != float64(1) {
		t.Fatalf("health after the job: %v", p)
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+l.ID, owner.Access, nil), 404)
}

// Closing the account starts the purge of every integration it
// disconnects at once, not 90 days later.
func TestClosureStartsTheMetaPurges(t *testing.T) {
	e := newEnv(t)
	e.sim.AddPage("104858765678112", "Sharma Realty", "EAAGpage-token-0001")
	e.sim.AddPhoneNumber("106540352242922", "15550783881", "Sharma Realty", "102290129340398", "EAAGwa-token-0001")
	owner := e.signup(t, "Closing Co")
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access,
		map[string]any{"page_id": "104858765678112", "page_access_token": "EAAGpage-token-0001"}), 201)
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, map[string]any{"phone_number_id": "106540352242922",
		"waba_id": "102290129340398", "display_phone_number": "+1 555-078-3881", "access_token": "EAAGwa-token-0001"}), 201)
	expect(t, e.do(t, "POST", "/v1/org/close", owner.Access, map[string]string{"password": password}), 200)
	kinds := map[string]bool{}
	for _, m := range e.purgeJobs(t) {
		j, err := retention.ParseJob(m.Body)
		if err != nil || j.OrgID != owner.OrgID {
			t.Fatalf("job %+v, %v", j, err)
		}
		kinds[j.IntegrationKind] = true
	}
	if !kinds["facebook_page"] || !kinds["whatsapp"] {
		t.Fatalf("purge jobs for %v, want the page and the number", kinds)
	}
	purges, err := e.store(t).IntegrationPurges(context.Background(), owner.OrgID)
	if err != nil || len(purges) != 2 {
		t.Fatalf("pending purges %+v, %v", purges, err)
	}
}

// An erasure whose history is too long to remove in the request starts the
// lead purge job at once, as a lead delete does; the receipt and the
// request's history say the purge is under way.
func TestErasureStartsThePurgeOfALongHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Erasing Co")
	l := e.createLead(t, owner, map[string]any{"name": "Long history", "phone": "98000 00031"})
	store := e.store(t)
	for i := range 320 {
		if err := store.AttachEvent(ctx, owner.OrgID, "leadgen:erase-"+strconv.Itoa(i), lead.Activity{ID: ulid.Make().String(),
			OrgID: owner.OrgID, LeadID: l.str("id"), Kind: "lead_ads_resubmission", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	r := fileRequest(t, e, owner, map[string]any{"type": "erasure", "subject": map[string]any{"lead_id": l.str("id")}})
	if receipt, _ := r.Body["receipt"].(map[string]any); r.str("status") != "completed" || receipt["purge_pending"] != float64(1) {
		t.Fatalf("erasure %s", r.Raw)
	}
	jobs := e.purgeJobs(t)
	if len(jobs) != 1 {
		t.Fatalf("%d purge jobs queued, want 1", len(jobs))
	}
	if j, err := retention.ParseJob(jobs[0].Body); err != nil || j.Kind != retention.JobKindLeadPurge || j.LeadID != l.str("id") {
		t.Fatalf("job %+v, %v", j, err)
	}
	if !strings.Contains(r.Raw, `"purge":"started"`) {
		t.Fatalf("the request's history does not say the purge started: %s", r.Raw)
	}
}
