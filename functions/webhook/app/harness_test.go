package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// The secrets the golden events in events/webhook are made for: the
// defaults of `make dev`.
const (
	devAppSecret   = "dev-app-secret"
	devVerifyToken = "dev-verify-token"
)

// stack is the topology's resources, provisioned once for the package under
// a unique prefix, with the two secrets encrypted under its key.
type stack struct {
	awsCfg                aws.Config
	res                   topology.Resolved
	sqs                   *sqs.Client
	appSecretCiphertext   string
	verifyTokenCiphertext string
}

var (
	stackOnce sync.Once
	shared    *stack
	stackErr  error
	queueSeq  atomic.Int64
)

func provisioned(t *testing.T) *stack {
	t.Helper()
	stackOnce.Do(func() {
		ctx := context.Background()
		fresh, err := devstacktest.New(ctx, topology.Default())
		if err != nil {
			stackErr = err
			return
		}
		awsCfg, res := fresh.AWS, fresh.Resolved
		keys := kms.NewFromConfig(awsCfg)
		s := &stack{awsCfg: awsCfg, res: res, sqs: sqs.NewFromConfig(awsCfg)}
		if s.appSecretCiphertext, err = secret.Encrypt(ctx, keys, res.KeyID, topology.PurposeMetaAppSecret, []byte(devAppSecret)); err != nil {
			stackErr = err
			return
		}
		if s.verifyTokenCiphertext, err = secret.Encrypt(ctx, keys, res.KeyID, topology.PurposeMetaVerifyToken, []byte(devVerifyToken)); err != nil {
			stackErr = err
			return
		}
		shared = s
	})
	if stackErr != nil {
		t.Fatal(stackErr)
	}
	return shared
}

// testEnv is the webhook handler built by app.New exactly as main.go builds
// it, from the environment the topology gives the function, over a fresh
// intake queue of its own.
type testEnv struct {
	*stack
	cfg      config.Webhook
	handler  apigw.HandlerFunc
	queueURL string
	logs     *devstacktest.LogBuffer
	// keepUnowned leaves the pages and numbers a POST names unowned;
	// otherwise call makes an org own each first (owners.go drops the
	// entries of unowned ones).
	keepUnowned bool
	// owned lists what ownAll connected already.
	owned map[string]bool
}

// webhookEnv sets the function's environment as the CDK stack and the
// local runner do: topology.ResourceEnv plus the deploy-time params.
func webhookEnv(t *testing.T, s *stack, queueURL string) {
	t.Helper()
	fn, ok := topology.Default().Function("webhook")
	if !ok {
		t.Fatal("no webhook function in the topology")
	}
	res := s.res
	res.QueueURLs = map[string]string{topology.QueueIntake: queueURL}
	for k, v := range topology.ResourceEnv(fn, res) {
		t.Setenv(k, v)
	}
	values := map[string]string{
		topology.PurposeMetaAppSecret:   s.appSecretCiphertext,
		topology.PurposeMetaVerifyToken: s.verifyTokenCiphertext,
	}
	for _, p := range fn.Params {
		t.Setenv(p.Env, values[p.Purpose])
	}
	t.Setenv("LEADLUENCE_WEBHOOK_MAX_BODY_BYTES", "")
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	s := provisioned(t)
	ctx := context.Background()
	name := fmt.Sprintf("wh-%d-%d-intake", time.Now().UnixNano()%1e9, queueSeq.Add(1))
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	webhookEnv(t, s, *q.QueueUrl)
	cfg, err := config.Load[config.Webhook]()
	if err != nil {
		t.Fatal(err)
	}
	logs := &devstacktest.LogBuffer{}
	h, err := app.New(ctx, cfg, logging.New(logs, slog.LevelDebug))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	return &testEnv{stack: s, cfg: cfg, handler: h, queueURL: *q.QueueUrl, logs: logs}
}

// call runs the handler on ev.
func (e *testEnv) call(t *testing.T, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	if !e.keepUnowned && ev.RequestContext.HTTP.Method == "POST" {
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			body, _ = base64.StdEncoding.DecodeString(ev.Body)
		}
		e.ownAll(t, body)
	}
	resp, err := e.handler(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	return resp
}

// postEvent is the event the local runner (and API Gateway) makes of a POST
// of body with the given headers (name, value, ...).
func postEvent(t testing.TB, body []byte, headers ...string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r := httptest.NewRequest("POST", app.Path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "facebookexternalua")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	ev, err := apigw.FromRequest(r, "POST "+app.Path, nil, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// signedPost is a POST of body signed with the dev app secret.
func signedPost(t testing.TB, body []byte) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return postEvent(t, body, meta.SignatureHeader, meta.Sign([]byte(devAppSecret), body))
}

func getEvent(t *testing.T, rawQuery string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r := httptest.NewRequest("GET", app.Path+"?"+rawQuery, nil)
	ev, err := apigw.FromRequest(r, "GET "+app.Path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// loadEvent reads a golden event from events/webhook.
func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile("../../../events/webhook/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// queued is one message received from the intake queue.
type queued struct {
	Body  string
	Attrs map[string]string
	Size  int
}

// payload is the message's bytes, base64-decoded when its encoding says so.
func (m queued) payload(t *testing.T) []byte {
	t.Helper()
	if m.Attrs[intakemsg.AttrEncoding] == intakemsg.EncodingBase64 {
		b, err := base64.StdEncoding.DecodeString(m.Body)
		if err != nil {
			t.Fatalf("message body is not base64: %v", err)
		}
		return b
	}
	return []byte(m.Body)
}

// drain receives every message on the env's queue, in split_index order
// when they form a split set, and checks each is within the SQS size budget.
func (e *testEnv) drain(t *testing.T) []queued {
	t.Helper()
	ctx := context.Background()
	var out []queued
	for {
		r, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &e.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 600,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			body := aws.ToString(m.Body)
			size := app.MessageSize(body, m.MessageAttributes)
			if size > app.MaxMessageBytes {
				t.Errorf("message of %d bytes (body %d) is over the %d-byte budget", size, len(body), app.MaxMessageBytes)
			}
			out = append(out, queued{Body: body, Attrs: attrs, Size: size})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].Attrs[intakemsg.AttrSplitIndex])
		b, _ := strconv.Atoi(out[j].Attrs[intakemsg.AttrSplitIndex])
		return a < b
	})
	return out
}

// expectEmpty fails unless the queue holds no message.
func (e *testEnv) expectEmpty(t *testing.T) {
	t.Helper()
	if msgs := e.drain(t); len(msgs) != 0 {
		t.Fatalf("queue holds %d messages, want none", len(msgs))
	}
}

func expectStatus(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	if status >= 400 && !strings.HasPrefix(resp.Headers["Content-Type"], "application/problem+json") {
		t.Fatalf("error answered with Content-Type %q", resp.Headers["Content-Type"])
	}
}

// expectReceived checks the 200 a notification gets once enqueued.
func expectReceived(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	expectStatus(t, resp, 200)
	if resp.Body != app.Received {
		t.Fatalf("body %q, want %q", resp.Body, app.Received)
	}
}

// ownAll makes an org own every Lead Ads page and WhatsApp number body
// names, as connecting them does (the owner item ingest resolves them by).
func (e *testEnv) ownAll(t *testing.T, body []byte) {
	t.Helper()
	wh, err := meta.ParseWebhook(body)
	if err != nil {
		return
	}
	for _, en := range wh.Entry {
		for _, ch := range en.Changes {
			switch {
			case wh.Object == "page" && ch.Field == "leadgen":
				if v, err := ch.Leadgen(); err == nil && v.PageID != "" {
					e.ownOnce(t, "facebook_page", v.PageID)
				}
			case wh.Object == "whatsapp_business_account" && ch.Field == "messages":
				if v, err := ch.WhatsApp(); err == nil && v.Metadata.PhoneNumberID != "" {
					e.ownOnce(t, "whatsapp", v.Metadata.PhoneNumberID)
				}
			}
		}
	}
}

func (e *testEnv) ownOnce(t *testing.T, kind, id string) {
	t.Helper()
	if e.owned[kind+"#"+id] {
		return
	}
	e.own(t, kind, id, "active")
	if e.owned == nil {
		e.owned = map[string]bool{}
	}
	e.owned[kind+"#"+id] = true
}

// own connects a page or number for an org through the store (and
// disconnects it again for status "disconnected"), which writes the owner
// item the webhook reads (ownertable.go) as the product does.
func (e *testEnv) own(t *testing.T, kind, id, status string) {
	t.Helper()
	ctx := context.Background()
	st := dynamostore.New(dynamodb.NewFromConfig(e.awsCfg), e.res.TableName)
	now := time.Now().UTC()
	in := integration.Integration{OrgID: "org-webhook-test", Kind: integration.Kind(kind), ExternalID: id, Name: "Test",
		ConnectedBy: "u1", ConnectedAt: now, UpdatedAt: now}
	if err := st.ConnectIntegration(ctx, in); err != nil {
		t.Fatalf("connect %s %s: %v", kind, id, err)
	}
	if status == string(integration.StatusDisconnected) {
		if err := st.DisconnectIntegration(ctx, in.OrgID, in.Kind, id, now); err != nil {
			t.Fatalf("disconnect %s %s: %v", kind, id, err)
		}
	}
}
