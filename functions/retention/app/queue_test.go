package app_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/suppression"
)

// A purge job from the queue runs at once through the one Lambda handler
// (told apart from the schedule by its shape); a body that is not a job
// is dead-lettered with its reason, not retried.
// queueLeadPhone is the phone of the lead TestPurgeJobFromTheQueue purges.
const queueLeadPhone = "+919800000020"

func TestPurgeJobFromTheQueue(t *testing.T) {
	e := newEnv(t)
	sealer := envelope.New(kms.NewFromConfig(e.res.AWS), e.res.KeyID, envelope.Options{})
	if _, err := suppression.LoadKey(e.ctx, e.store, sealer); err != nil {
		t.Fatal(err)
	}
	org := ulid.Make().String()
	if err := e.store.ConnectIntegration(e.ctx, integration.Integration{OrgID: org, Kind: integration.KindWhatsApp, ExternalID: "4242",
		SealedToken: []byte("x"), ConnectedAt: time.Now().Add(-time.Hour), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	l := lead.Lead{ID: ulid.Make().String(), OrgID: org, Name: "From WhatsApp", Phone: queueLeadPhone, Source: "whatsapp", Status: lead.StatusNew,
		Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1,
		Provenance: &lead.Provenance{IntegrationKind: "whatsapp", IntegrationID: "4242", Fields: []string{"name", "phone"}}}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DisconnectIntegration(e.ctx, org, integration.KindWhatsApp, "4242", time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	cfg := config.Retention{TableName: e.res.TableName, KeyID: e.res.KeyID, Rate: 1000, Margin: time.Second,
		PurgesQueueURL: e.res.QueueURLs["purges"], PurgesDLQURL: e.res.QueueURLs["purges-dlq"]}
	h, err := app.New(e.ctx, cfg, e.log())
	if err != nil {
		t.Fatal(err)
	}
	job := retention.Job{Kind: retention.JobKindIntegrationPurge, OrgID: org, IntegrationKind: "whatsapp", IntegrationID: "4242"}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "ok", EventSource: "aws:sqs", Body: job.Encode()},
		{MessageId: "bad", EventSource: "aws:sqs", Body: `{"kind":"shred_everything","org_id":"` + org + `"}`},
	}}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(e.ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %s, %v", out, err)
	}
	if _, err := e.store.GetLead(e.ctx, org, l.ID); err != lead.ErrNotFound {
		t.Fatalf("the Meta-only lead after the job: %v", err)
	}
	purges, err := e.store.IntegrationPurges(e.ctx, org)
	if err != nil || len(purges) != 1 || purges[0].State != retention.PurgeDone {
		t.Fatalf("purge record %+v, %v", purges, err)
	}
	q := sqs.NewFromConfig(e.res.AWS)
	dlq := e.res.QueueURLs["purges-dlq"]
	got, err := q.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlq, MaxNumberOfMessages: 2, WaitTimeSeconds: 1,
		MessageAttributeNames: []string{"All"}})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("dlq has %d messages (%v), want 1", len(got.Messages), err)
	}
	if reason := aws.ToString(got.Messages[0].MessageAttributes["failure_reason"].StringValue); !strings.Contains(reason, "unknown kind") {
		t.Fatalf("dlq reason %q", reason)
	}
	// The same handler takes the scheduled event.
	if _, err := h.Invoke(e.ctx, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","time":"2027-06-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	// A job run twice finds nothing left.
	if _, err := h.Queue(e.ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "again", Body: job.Encode()}}}); err != nil {
		t.Fatal(err)
	}
}

// The handler tells events apart by their shape: an SQS batch, even an
// empty one, is a batch (nothing to do), never the lifecycle sweep; an
// EventBridge event or null runs the schedule; any other event is an
// error and runs nothing.
func TestInvokeTellsEventsApart(t *testing.T) {
	e := newEnv(t)
	logs := &lockedLog{}
	h, err := app.New(e.ctx, config.Retention{TableName: e.res.TableName, Rate: 1000, Margin: time.Second},
		slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	swept := func() bool { return strings.Contains(logs.String(), `"msg":"retention done"`) }
	for _, payload := range []string{`{"Records":[]}`, `{"Records":null}`} {
		out, err := h.Invoke(e.ctx, []byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s answered %s (%v), want a batch response with no failures", payload, out, err)
		}
		if swept() {
			t.Fatalf("%s ran the lifecycle sweep:\n%s", payload, logs.String())
		}
	}
	for _, payload := range []string{`{}`, `{"hello":"world"}`, `[]`, `"x"`, `{"source":"aws.events"}`,
		`{"Records":[{"eventSource":"aws:s3"}]}`, `{"Records":{}}`} {
		if out, err := h.Invoke(e.ctx, []byte(payload)); err == nil {
			t.Errorf("%s answered %s, want an error", payload, out)
		}
		if swept() {
			t.Fatalf("%s ran the lifecycle sweep:\n%s", payload, logs.String())
		}
	}
	for _, payload := range []string{`null`, `{"version":"0","source":"aws.events","detail-type":"Scheduled Event","time":"2027-06-01T00:00:00Z","detail":{}}`} {
		logs.Reset()
		if out, err := h.Invoke(e.ctx, []byte(payload)); err != nil || string(out) != "null" {
			t.Fatalf("%s answered %s, %v", payload, out, err)
		}
		if !swept() {
			t.Fatalf("%s did not run the lifecycle sweep:\n%s", payload, logs.String())
		}
	}
}

// lockedLog is a log output that may be written from several goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}
