package torture_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
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
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	accountapp "github.com/leadluence/backend/functions/account/app"
	apiapp "github.com/leadluence/backend/functions/api/app"
	ingestapp "github.com/leadluence/backend/functions/ingest/app"
	senderapp "github.com/leadluence/backend/functions/sender/app"
	webhookapp "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/dlq/replay"
	"github.com/leadluence/backend/tools/leakscan"
	"github.com/leadluence/backend/tools/torture"
)

var (
	flagN       = flag.Int("torture.n", 0, "number of Meta events to generate (0: the short run of make test)")
	flagSeed    = flag.Uint64("torture.seed", 0, "seed of the run (0: a new one, printed)")
	flagOrgs    = flag.Int("torture.orgs", 3, "number of orgs")
	flagWorkers = flag.Int("torture.workers", 2, "concurrent consumers per queue")
)

// The short run inside make test: shortN events over shortOrgs orgs.
const shortN, shortOrgs = 24, 2

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// TestTorture is the torture run; see the package comment.
func TestTorture(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64() % 1_000_000_000 //nolint:gosec // a seed, printed
	}
	n, orgs := *flagN, *flagOrgs
	if n <= 0 {
		n, orgs = shortN, min(orgs, shortOrgs)
	}
	t.Logf("torture: seed %d, %d events, %d orgs (reproduce: make torture SEED=%d N=%d ARGS=-torture.orgs=%d)", seed, n, orgs, seed, n, orgs)
	h := newHarness(t, seed)
	rep := h.run(n, orgs)
	t.Log("\n" + rep.String())
	if rep.failed() {
		logPath := fmt.Sprintf("%s/torture-%d.log", os.TempDir(), seed)
		if err := os.WriteFile(logPath, []byte(h.logs.String()), 0o600); err == nil {
			t.Logf("the functions' log of the run: %s", logPath)
		}
		t.Fatalf("torture failed: seed %d; reproduce with: make torture SEED=%d N=%d ARGS=-torture.orgs=%d", seed, seed, n, orgs)
	}
}

// The owners' password and the webhook's verify token: secrets the run
// uses, which scanSecrets looks for afterwards.
const (
	torturePassword    = "correct-horse-battery-torture"
	tortureVerifyToken = "torture-verify"
)

// org is one signed-up org with a WhatsApp number, a page and a form.
type org struct {
	id, access                   string
	number, display, waba, token string
	pageID, pageToken, formID    string
	inboundPhones                []string
	expectLeadgen                map[string]string // leadgen id -> phone
	expectInbound                map[string]string // wamid -> from
	replies                      map[string]string // client message id -> lead id
	refresh                      string            // the owner's refresh token
}

type harness struct {
	t    *testing.T
	ctx  context.Context
	seed uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	env     devstacktest.Env
	sim     *metatest.Server
	faults  *torture.Faults
	secret  []byte
	sqs     *sqs.Client
	store   *dynamostore.Store
	api     apigw.HandlerFunc
	webhook apigw.HandlerFunc
	ingest  runner.SQSHandler
	sender  runner.SQSHandler
	logs    *devstacktest.LogBuffer

	events, copies, deliveries, posts, webhook5xx atomic.Int64
	// repliesSkipped counts replies not tried because the sender's lead
	// was still in the intake DLQ.
	repliesSkipped atomic.Int64
	orgs           []*org
	ses            *sesLeg // the SES leg (ses_test.go)
}

func (h *harness) intn(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

func (h *harness) chance(p float64) bool {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Float64() < p
}

func (h *harness) shuffle(n int, swap func(i, j int)) {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	h.rng.Shuffle(n, swap)
}

// Rates of the faults of a run.
var (
	sdkRates = torture.Rates{Throttle: 0.05, Dynamo5xx: 0.01, DynamoLost: 0.01, SQSSend: 0.08}
	// crashRate is the chance that a consumer crashes in the middle of a
	// batch of two or more records; failAfterRate that it reports a
	// record it applied as failed.
	crashRate, failAfterRate = 0.15, 0.1
)

const appSecret = "torture-app-secret" //nolint:gosec // the simulator's test secret

func newHarness(t *testing.T, seed uint64) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, ctx: ctx, seed: seed, rng: rand.New(rand.NewPCG(seed, 1)), secret: []byte(appSecret), //nolint:gosec // a test's schedule
		faults: torture.NewFaults(seed, sdkRates), logs: &devstacktest.LogBuffer{}}
	h.env = devstacktest.Fresh(t)
	h.sim = metatest.New(metatest.Options{AppSecret: h.secret})
	t.Cleanup(h.sim.Close)
	t.Setenv("LEADLUENCE_GRAPH_BASE_URL", h.sim.URL)
	t.Setenv("LEADLUENCE_GRAPH_VERSION", h.sim.Version())
	t.Setenv("LEADLUENCE_META_APP_ID", h.sim.AppID())
	h.sqs = sqs.NewFromConfig(h.env.AWS)
	// A batch whose invocation is lost (a receive whose answer a drain's
	// end cut off, a delete that failed) comes back after the visibility
	// timeout: 20 s here instead of the deployed 6 minutes, so that a run
	// waits for it.
	for _, q := range []string{topology.QueueIntake, topology.QueueOutbound} {
		if _, err := h.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(h.env.QueueURLs[q]),
			Attributes: map[string]string{"VisibilityTimeout": "20"}}); err != nil {
			t.Fatal(err)
		}
	}
	h.store = dynamostore.New(dynamodb.NewFromConfig(h.env.AWS, dynamostore.ClientOptions), h.env.TableName)
	log := logging.New(h.logs, slog.LevelInfo)

	// The HTTP API is two functions (api and account), each given the
	// requests of its topology routes.
	h.env.SetFunctionEnv(t, "account")
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		t.Fatal(err)
	}
	accountH, err := accountapp.New(ctx, accountCfg, log, h.faults.Option("account"))
	if err != nil {
		t.Fatal(err)
	}
	h.env.SetFunctionEnv(t, "api")
	apiCfg, err := config.Load[config.API]()
	if err != nil {
		t.Fatal(err)
	}
	apiH, err := apiapp.New(ctx, apiCfg, log, h.faults.Option("api"))
	if err != nil {
		t.Fatal(err)
	}
	h.api = runner.Dispatch(topology.Default(), map[string]apigw.HandlerFunc{"api": apiH, "account": accountH}, "api")

	keys := kms.NewFromConfig(h.env.AWS)
	secretCT, err := secret.Encrypt(ctx, keys, h.env.KeyID, topology.PurposeMetaAppSecret, h.secret)
	if err != nil {
		t.Fatal(err)
	}
	verifyCT, err := secret.Encrypt(ctx, keys, h.env.KeyID, topology.PurposeMetaVerifyToken, []byte(tortureVerifyToken))
	if err != nil {
		t.Fatal(err)
	}
	h.webhook, err = webhookapp.New(ctx, config.Webhook{IntakeQueueURL: h.env.QueueURLs[topology.QueueIntake], KeyID: h.env.KeyID,
		AppSecretCiphertext: secretCT, VerifyTokenCiphertext: verifyCT, MaxBodyBytes: 3 << 20}, log, h.faults.Option("webhook"))
	if err != nil {
		t.Fatal(err)
	}

	h.env.SetFunctionEnv(t, "ingest")
	ingestCfg, err := config.Load[config.Ingest]()
	if err != nil {
		t.Fatal(err)
	}
	ingest, _, err := ingestapp.New(ctx, ingestCfg, log, h.faults.Option("ingest"))
	if err != nil {
		t.Fatal(err)
	}
	h.ingest = runner.SQSHandler(ingest)

	h.env.SetFunctionEnv(t, "sender")
	t.Setenv(topology.EnvPublicBaseURL, "http://127.0.0.1:8080")
	senderCfg, err := config.Load[config.Sender]()
	if err != nil {
		t.Fatal(err)
	}
	s, q, err := senderapp.NewSender(ctx, senderCfg, log, h.faults.Option("sender"))
	if err != nil {
		t.Fatal(err)
	}
	// Short timings, so that a run takes seconds: a Graph call times out
	// after 600 ms, a message left "sending" is given up after 2 s, and
	// retries come back within a second or two.
	s.SendTimeout, s.SendingGrace, s.BackoffBase, s.BackoffMax = 600*time.Millisecond, 2*time.Second, 200*time.Millisecond, time.Second
	pages, err := senderapp.NewCampaignPages(senderCfg, s, q, log)
	if err != nil {
		t.Fatal(err)
	}
	h.sender = runner.SQSHandler(senderapp.NewHandler(s, q, senderCfg.OutboundQueueURL, log, senderapp.WithCampaignPages(pages)))
	return h
}

// apiResp is an api answer.
type apiResp struct {
	status int
	body   map[string]any
	raw    string
}

func (r apiResp) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// call invokes the HTTP API's handlers as API Gateway does.
func (h *harness) call(method, path, token string, body any) apiResp {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "leadluence-torture/1.0")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	ev, err := apigw.FromRequest(r, method+" "+path, nil, 1<<20)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.api(h.ctx, ev)
	if err != nil {
		return apiResp{status: http.StatusInternalServerError, raw: err.Error()}
	}
	out := apiResp{status: resp.StatusCode, raw: resp.Body}
	if strings.HasPrefix(resp.Body, "{") {
		_ = json.Unmarshal([]byte(resp.Body), &out.body)
	}
	return out
}

// callRetrying is a client that retries 5xx answers (the same request, the
// same idempotency key) up to 8 times.
func (h *harness) callRetrying(method, path, token string, body any, want ...int) apiResp {
	h.t.Helper()
	var r apiResp
	for range 8 {
		r = h.call(method, path, token, body)
		if r.status < 500 {
			break
		}
	}
	if len(want) > 0 && !slices.Contains(want, r.status) {
		h.t.Fatalf("%s %s: %d %s, want %v", method, path, r.status, r.raw, want)
	}
	return r
}

// setup signs up the orgs and connects a number and a page of each.
func (h *harness) setup(orgs int) {
	for i := range orgs {
		o := &org{number: fmt.Sprintf("1065403522%05d", i), display: fmt.Sprintf("1555078%04d", i), waba: fmt.Sprintf("1022901293%05d", i),
			token: fmt.Sprintf("EAAGtorture-wa-%d", i), pageID: fmt.Sprintf("1048587656%05d", i), pageToken: fmt.Sprintf("EAAGtorture-page-%d", i),
			formID: fmt.Sprintf("5550001%05d", i), expectLeadgen: map[string]string{}, expectInbound: map[string]string{}, replies: map[string]string{}}
		h.sim.AddPhoneNumber(o.number, o.display, fmt.Sprintf("Torture Realty %d", i), o.waba, o.token)
		h.sim.AddPage(o.pageID, fmt.Sprintf("Torture Realty %d", i), o.pageToken)
		h.sim.AddForm(o.pageID, o.formID, "Site visit")
		email := fmt.Sprintf("owner.%d.%d.%d@torture.test", h.seed, time.Now().UnixNano(), i)
		r := h.callRetrying("POST", "/v1/auth/signup", "", map[string]string{"org_name": fmt.Sprintf("Torture Realty %d", i),
			"name": "Owner", "email": email, "password": torturePassword}, 201, 409)
		if r.status == 409 {
			// A lost answer: the org exists; log in instead.
			r = h.callRetrying("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": torturePassword}, 200)
		}
		o.access, o.id, o.refresh = r.str("access_token"), r.str("org", "id"), r.str("refresh_token")
		// A page and a number: growth has room for both (free allows one
		// integration); set before the org's first authenticated request.
		if err := h.store.SetOrgPlan(h.ctx, o.id, plan.Growth); err != nil {
			h.t.Fatal(err)
		}
		h.connect(o)
		h.callRetrying("POST", "/v1/integrations/facebook-pages", o.access, map[string]any{"page_id": o.pageID,
			"page_access_token": o.pageToken, "form_ids": []string{o.formID}}, 201, 200, 409)
		h.orgs = append(h.orgs, o)
	}
}

// connect connects (or reconnects) an org's WhatsApp number with its token.
func (h *harness) connect(o *org) {
	h.callRetrying("POST", "/v1/integrations/whatsapp-numbers", o.access, map[string]any{"phone_number_id": o.number,
		"waba_id": o.waba, "display_phone_number": "+" + o.display, "access_token": o.token}, 201, 200, 409)
}

// post is one POST of Meta to the webhook; it returns the answer's status.
func (h *harness) post(payload []byte) int {
	h.t.Helper()
	r := httptest.NewRequest("POST", webhookapp.Path, bytes.NewReader(payload))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(meta.SignatureHeader, meta.Sign(h.secret, payload))
	ev, err := apigw.FromRequest(r, "POST "+webhookapp.Path, nil, 10<<20)
	if err != nil {
		h.t.Fatal(err)
	}
	h.posts.Add(1)
	resp, err := h.webhook(h.ctx, ev)
	if err != nil {
		return http.StatusInternalServerError
	}
	return resp.StatusCode
}

// deliver is Meta delivering one webhook body: again after a 5xx, until
// it is acknowledged (Meta retries for hours; here at most 20 times).
func (h *harness) deliver(payload []byte) {
	h.t.Helper()
	h.deliveries.Add(1)
	for range 20 {
		st := h.post(payload)
		if st == http.StatusOK {
			return
		}
		if st < 500 {
			h.t.Fatalf("webhook answered %d", st)
		}
		h.webhook5xx.Add(1)
	}
	h.t.Fatal("webhook never acknowledged a delivery")
}

// deliverAll delivers payloads (of one object each) 1-3 times each,
// shuffled, joined into batches of 1-4 entries, from several goroutines.
func (h *harness) deliverAll(payloads [][]byte, objectOf func(int) string) {
	type item struct {
		i int
		p []byte
	}
	var copies []item
	for i, p := range payloads {
		for range 1 + h.intn(3) {
			copies = append(copies, item{i, p})
			h.copies.Add(1)
		}
	}
	h.shuffle(len(copies), func(i, j int) { copies[i], copies[j] = copies[j], copies[i] })
	var bodies [][]byte
	for len(copies) > 0 {
		k := min(len(copies), 1+h.intn(4))
		var batch [][]byte
		obj := objectOf(copies[0].i)
		rest := copies[:0:0]
		for _, c := range copies {
			if len(batch) < k && objectOf(c.i) == obj {
				batch = append(batch, c.p)
			} else {
				rest = append(rest, c)
			}
		}
		copies = rest
		body, err := metatest.Batch(batch...)
		if err != nil {
			h.t.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	var wg sync.WaitGroup
	work := make(chan []byte)
	for range 3 {
		wg.Go(func() {
			for b := range work {
				h.deliver(b)
			}
		})
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
}

// consumer wraps a queue consumer with the crash faults and with what the
// drain needs: a record to retry is visible again at once unless the
// handler has set when (the sender does).
func (h *harness) consumer(fn, queueURL string, inner runner.SQSHandler, handlerSetsVisibility bool) runner.SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		if len(ev.Records) > 1 && h.chance(crashRate) {
			k := h.intn(len(ev.Records))
			h.faults.Count(fn + ": crash mid-batch (whole batch redelivered)")
			if k > 0 {
				if _, err := inner(ctx, events.SQSEvent{Records: ev.Records[:k]}); err != nil {
					h.t.Logf("%s: %v", fn, err)
				}
			}
			h.visible(queueURL, ev.Records)
			return events.SQSEventResponse{}, errors.New("injected crash mid-batch")
		}
		resp, err := inner(ctx, ev)
		if err != nil {
			h.visible(queueURL, ev.Records)
			return resp, err
		}
		if len(ev.Records) > 0 && h.chance(failAfterRate) {
			r := ev.Records[h.intn(len(ev.Records))]
			if !slices.ContainsFunc(resp.BatchItemFailures, func(f events.SQSBatchItemFailure) bool { return f.ItemIdentifier == r.MessageId }) {
				h.faults.Count(fn + ": record applied, then reported failed")
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				if handlerSetsVisibility {
					h.visible(queueURL, []events.SQSMessage{r})
				}
			}
		}
		if !handlerSetsVisibility {
			var again []events.SQSMessage
			for _, f := range resp.BatchItemFailures {
				for _, r := range ev.Records {
					if r.MessageId == f.ItemIdentifier {
						again = append(again, r)
					}
				}
			}
			h.visible(queueURL, again)
		}
		return resp, nil
	}
}

// visible makes records visible again at once.
func (h *harness) visible(queueURL string, recs []events.SQSMessage) {
	for _, r := range recs {
		_, err := h.sqs.ChangeMessageVisibility(h.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &queueURL,
			ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: 0})
		if err != nil {
			h.t.Logf("make %s visible again: %v", r.MessageId, err)
		}
	}
}

// queueDepth is the number of messages on a queue, visible or not.
func (h *harness) queueDepth(url string) int {
	out, err := h.sqs.GetQueueAttributes(h.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var k int
		_, _ = fmt.Sscan(v, &k)
		n += k
	}
	return n
}

// drain runs the consumers of the intake and outbound queues until both
// are empty (bounded by limit).
func (h *harness) drain(limit time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, limit)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	intake, outbound := h.env.QueueURLs[topology.QueueIntake], h.env.QueueURLs[topology.QueueOutbound]
	ingestFn, _ := topology.Default().Function("ingest")
	senderFn, _ := topology.Default().Function("sender")
	pollers := []*runner.Poller{
		{Client: h.sqs, QueueURL: intake, BatchSize: 10, Handler: h.consumer("ingest", intake, h.ingest, false), Log: log,
			Function: "ingest", Timeout: ingestFn.Timeout},
		{Client: h.sqs, QueueURL: outbound, BatchSize: 10, Handler: h.consumer("sender", outbound, h.sender, true), Log: log,
			Function: "sender", Timeout: senderFn.Timeout},
	}
	var wg sync.WaitGroup
	for _, p := range pollers {
		for range max(1, *flagWorkers) {
			wg.Go(func() {
				for ctx.Err() == nil {
					got, err := p.PollOnce(ctx)
					if err != nil && ctx.Err() == nil {
						h.t.Logf("poll %s: %v", p.Function, err)
					}
					if err != nil || got == 0 {
						select {
						case <-ctx.Done():
						case <-time.After(100 * time.Millisecond):
						}
					}
				}
			})
		}
	}
	for ctx.Err() == nil {
		time.Sleep(150 * time.Millisecond)
		if h.queueDepth(intake) == 0 && h.queueDepth(outbound) == 0 {
			// Twice, a moment apart: a consumer may be between a receive
			// and its sends.
			time.Sleep(250 * time.Millisecond)
			if h.queueDepth(intake) == 0 && h.queueDepth(outbound) == 0 {
				break
			}
		}
	}
	if ctx.Err() != nil {
		h.t.Logf("drain stopped at its limit of %s: %d on the intake queue, %d on the outbound queue", limit, h.queueDepth(intake), h.queueDepth(outbound))
	}
	cancel()
	wg.Wait()
}

// inboundKinds builds an inbound message of each type the intake parses.
var inboundKinds = []func(from string, i int) metatest.InboundMessage{
	func(from string, i int) metatest.InboundMessage {
		return metatest.Text(from, fmt.Sprintf("hello %d", i))
	},
	func(from string, i int) metatest.InboundMessage {
		return metatest.Image(from, fmt.Sprintf("photo %d", i))
	},
	func(from string, _ int) metatest.InboundMessage { return metatest.Audio(from) },
	func(from string, i int) metatest.InboundMessage {
		return metatest.Video(from, fmt.Sprintf("video %d", i))
	},
	func(from string, i int) metatest.InboundMessage {
		return metatest.Document(from, fmt.Sprintf("plan-%d.pdf", i), "floor plan")
	},
	func(from string, _ int) metatest.InboundMessage { return metatest.Sticker(from) },
	func(from string, i int) metatest.InboundMessage {
		return metatest.Location(from, 12.97, 77.59, fmt.Sprintf("Site %d", i), "MG Road")
	},
	func(from string, _ int) metatest.InboundMessage {
		return metatest.Contacts(from, "Ravi Kumar", "+919800000001")
	},
	func(from string, i int) metatest.InboundMessage {
		return metatest.ButtonReply(from, metatest.NewWAMID(), "visit", fmt.Sprintf("Book a visit %d", i))
	},
	func(from string, i int) metatest.InboundMessage {
		return metatest.ListReply(from, metatest.NewWAMID(), "2bhk", fmt.Sprintf("2 BHK %d", i), "two bedrooms")
	},
	func(from string, _ int) metatest.InboundMessage {
		return metatest.Button(from, metatest.NewWAMID(), "MORE_INFO", "More info")
	},
	func(from string, _ int) metatest.InboundMessage {
		return metatest.Reaction(from, metatest.NewWAMID(), "👍")
	},
	func(from string, _ int) metatest.InboundMessage { return metatest.Unsupported(from) },
}

// generate makes n Meta events (Lead Ads submissions and inbound WhatsApp
// messages) over the orgs and returns their payloads and objects.
func (h *harness) generate(n int) (payloads [][]byte, objects []string) {
	phoneSeq := 0
	phone := func() string {
		phoneSeq++
		return fmt.Sprintf("9198%02d%06d", h.seed%100, phoneSeq)
	}
	for i := range n {
		o := h.orgs[h.intn(len(h.orgs))]
		h.events.Add(1)
		if h.chance(0.3) {
			p := "+" + phone()
			at := time.Now().Add(-time.Duration(h.intn(3600)) * time.Second)
			id := h.sim.AddLead(o.formID, map[string][]string{"full_name": {fmt.Sprintf("Lead %d", i)},
				"email": {fmt.Sprintf("lead%d.%d@torture.test", h.seed, i)}, "phone_number": {p}}, at)
			o.expectLeadgen[id] = p
			payloads, objects = append(payloads, h.sim.LeadgenPayload(o.pageID, o.formID, id, at)), append(objects, "page")
			continue
		}
		// A few senders per org write several messages each.
		var from string
		if len(o.inboundPhones) > 0 && h.chance(0.6) {
			from = o.inboundPhones[h.intn(len(o.inboundPhones))]
		} else {
			from = phone()
			o.inboundPhones = append(o.inboundPhones, from)
		}
		m := inboundKinds[h.intn(len(inboundKinds))](from, i)
		o.expectInbound[m.Message.ID] = from
		payloads, objects = append(payloads, h.sim.InboundPayload(o.number, o.display, m)), append(objects, "whatsapp_business_account")
	}
	return payloads, objects
}

// replyAll sends a reply to about half the inbound senders through the
// api (a client retrying 5xx with the same client_message_id, sometimes
// sending twice anyway), then drains the queues.
func (h *harness) replyAll(wave string, frac float64) {
	for oi, o := range h.orgs {
		for _, from := range o.inboundPhones {
			if !h.chance(frac) {
				continue
			}
			leadID, err := h.store.LeadIDByPhone(h.ctx, o.id, "+"+from)
			if errors.Is(err, lead.ErrNotFound) {
				// Every payload carrying this sender's messages is still
				// in the intake DLQ (the faults exhausted its receives);
				// the replay after the replies brings it in, and the final
				// check counts its messages. Nobody can answer a lead that
				// is not there yet.
				h.repliesSkipped.Add(1)
				continue
			}
			if err != nil {
				h.t.Fatalf("lead of inbound sender: %v", err)
			}
			cid := fmt.Sprintf("torture-%d-o%d-%s-%d", h.seed, oi, wave, len(o.replies))
			body := map[string]any{"channel": "whatsapp", "client_message_id": cid, "type": "text", "text": "reply " + cid}
			times := 1
			if h.chance(0.2) {
				times = 2
			}
			for range times {
				r := h.callRetrying("POST", "/v1/leads/"+leadID+"/messages", o.access, body)
				switch r.status {
				case 202, 200:
					o.replies[cid] = leadID
				case 503:
					// Not queued: the api told the client so (the message is failed).
					o.replies[cid] = leadID
				default:
					h.t.Fatalf("send: %d %s", r.status, r.raw)
				}
			}
		}
	}
}

// replyWaves sends replies in four waves, each with its fault in the
// simulator, draining the queues after each.
func (h *harness) replyWaves() {
	// Wave 1: Graph API 5xx and 429 on a few sends.
	for _, st := range []int{500, 503, 429} {
		n := 1 + h.intn(3)
		h.sim.FailNext(n, st)
		h.faults.Count(fmt.Sprintf("graph: %d answered (next %d calls)", st, n))
	}
	h.replyAll("w1", 0.4)
	h.drain(90 * time.Second)
	h.sim.FailNext(0, 0)

	// Wave 2: Graph API slower than the send timeout for a moment.
	h.sim.Delay(900 * time.Millisecond)
	h.faults.Count("graph: timeouts (900 ms delay for 1.5 s)")
	time.AfterFunc(1500*time.Millisecond, func() { h.sim.Delay(0) })
	h.replyAll("w2", 0.3)
	h.drain(90 * time.Second)
	h.sim.Delay(0)

	// Wave 3: the first org's token is revoked, sends fail; the org
	// reconnects with a new token, later sends go.
	o := h.orgs[0]
	h.sim.RevokeToken(o.token)
	h.faults.Count("graph: token revoked, then reconnected")
	h.replyAll("w3", 0.3)
	h.drain(90 * time.Second)
	o.token += "-reconnected"
	h.sim.AddPhoneNumber(o.number, o.display, "Torture Realty 0", o.waba, o.token)
	h.connect(o)
	h.replyAll("w4", 0.3)
	h.drain(90 * time.Second)
}

// sent is one send the simulator accepted.
type sent struct {
	org   *org
	cid   string
	wamid string
	to    string
}

// simSends returns the simulator's accepted sends by client message id
// (the reply text names it).
func (h *harness) simSends() map[string][]sent {
	out := map[string][]sent{}
	for _, o := range h.orgs {
		for _, m := range h.sim.Sent(o.number) {
			cid := strings.TrimPrefix(m.Text, "reply ")
			out[cid] = append(out[cid], sent{org: o, cid: cid, wamid: m.ID, to: m.To})
		}
	}
	return out
}

// statuses generates the statuses of every accepted send (a random fate:
// sent, delivered, read or failed, each with the statuses before it) and
// returns their payloads and the highest status delivered per wamid.
func (h *harness) statuses(sends map[string][]sent) (payloads [][]byte, highest map[string]conversation.Status) {
	highest = map[string]conversation.Status{}
	cids := make([]string, 0, len(sends))
	for cid := range sends {
		cids = append(cids, cid)
	}
	sort.Strings(cids)
	for _, cid := range cids {
		for _, s := range sends[cid] {
			at := time.Now().Add(-time.Minute)
			ups := []metatest.StatusUpdate{metatest.StatusSent(s.wamid, s.to).At(at)}
			best := conversation.StatusSent
			switch h.intn(4) {
			case 1:
				ups = append(ups, metatest.StatusDelivered(s.wamid, s.to).At(at.Add(time.Second)))
				best = conversation.StatusDelivered
			case 2:
				ups = append(ups, metatest.StatusDelivered(s.wamid, s.to).At(at.Add(time.Second)), metatest.StatusRead(s.wamid, s.to).At(at.Add(2*time.Second)))
				best = conversation.StatusRead
			case 3:
				if h.chance(0.5) {
					ups = append(ups, metatest.StatusFailed(s.wamid, s.to, 131026, "Message undeliverable").At(at.Add(time.Second)))
					best = conversation.StatusFailed
				}
			}
			if h.chance(0.3) {
				// Meta sometimes drops a status: delivered may come without sent.
				ups = ups[1:]
				if len(ups) == 0 {
					best = ""
				}
			}
			highest[s.wamid] = best
			for _, u := range ups {
				payloads = append(payloads, h.sim.StatusPayload(s.org.number, s.org.display, u))
			}
		}
	}
	return payloads, highest
}

// report is what a run prints.
type report struct {
	seed                                      uint64
	events, copies, deliveries, posts         int64
	webhook5xx, repliesSkipped                int64
	outcomes                                  map[conversation.Status]int
	leadgens, inbound, replies, sends, states int
	statusEvents                              int
	dlqReplayed                               map[string]int
	dlqExplained                              int
	faults                                    map[string]int
	lost, duplicated, regressed, unexplained  []string
	// leaks are plaintext secrets found in the table or the functions'
	// log after the run; scannedItems and scannedLines say how much was
	// read.
	leaks                      []string
	scannedItems, scannedLines int
	// scannedQueued and scannedMails are the messages left in the queues
	// and DLQs and the mails of the SES stand-in the scan read.
	scannedQueued, scannedMails int
	elapsed                     time.Duration
	phases                      []string
	ses                         *sesLeg
}

func (r report) failed() bool {
	return len(r.lost)+len(r.duplicated)+len(r.regressed)+len(r.unexplained)+len(r.leaks) > 0
}

func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "torture seed %d (%s: %s)\n", r.seed, r.elapsed.Round(time.Millisecond), strings.Join(r.phases, ", "))
	fmt.Fprintf(&b, "  events %d (lead ads %d, inbound messages %d, statuses %d), %d copies in %d webhook bodies (POSTs %d, answered 5xx %d)\n",
		r.events+int64(r.statusEvents), r.leadgens, r.inbound, r.statusEvents, r.copies, r.deliveries, r.posts, r.webhook5xx)
	fmt.Fprintf(&b, "  replies %d accepted by the api (%d not tried: the lead was still in the intake DLQ), %d sent by the simulator, %d final states checked:",
		r.replies, r.repliesSkipped, r.sends, r.states)
	for _, st := range []conversation.Status{conversation.StatusAccepted, conversation.StatusSent, conversation.StatusDelivered,
		conversation.StatusRead, conversation.StatusFailed, conversation.StatusUnknown, conversation.StatusQueued, conversation.StatusSending} {
		if n := r.outcomes[st]; n > 0 {
			fmt.Fprintf(&b, " %s %d", st, n)
		}
	}
	b.WriteString("\n")
	b.WriteString(r.ses.String())
	total := 0
	kinds := make([]string, 0, len(r.faults))
	for k, n := range r.faults {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "  faults injected %d:\n", total)
	for _, k := range kinds {
		fmt.Fprintf(&b, "    %5d  %s\n", r.faults[k], k)
	}
	fmt.Fprintf(&b, "  dlq replayed once: intake %d, outbound %d; left after, explained %d\n", r.dlqReplayed["intake"], r.dlqReplayed["outbound"], r.dlqExplained)
	fmt.Fprintf(&b, "  lost %d, duplicated %d, regressed %d, unexplained in a DLQ %d\n", len(r.lost), len(r.duplicated), len(r.regressed), len(r.unexplained))
	fmt.Fprintf(&b, "  secrets in plaintext: %d (table: %d items scanned; functions' log: %d lines; queues and DLQs: %d messages; SES stand-in: %d mails)\n",
		len(r.leaks), r.scannedItems, r.scannedLines, r.scannedQueued, r.scannedMails)
	for _, l := range [][]string{r.lost, r.duplicated, r.regressed, r.unexplained, r.leaks} {
		for i, s := range l {
			if i == 20 {
				fmt.Fprintf(&b, "    ... %d more\n", len(l)-20)
				break
			}
			fmt.Fprintf(&b, "    %s\n", s)
		}
	}
	return b.String()
}

// run is the whole torture run.
func (h *harness) run(n, orgs int) report {
	start := time.Now()
	var phases []string
	mark := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %s", name, time.Since(start).Round(100*time.Millisecond)))
	}
	h.setup(orgs)
	h.emailSetup()
	mark("setup")
	h.faults.Enable(true)

	// Phase 1: Lead Ads and inbound messages through webhook -> intake ->
	// ingest, with the Graph lead retrieval failing now and then.
	payloads, objects := h.generate(n)
	failLeads := 1 + h.intn(4)
	h.sim.FailNext(failLeads, 500)
	h.faults.Count(fmt.Sprintf("graph: 500 answered (next %d calls)", failLeads))
	h.deliverAll(payloads, func(i int) string { return objects[i] })
	h.drain(120 * time.Second)
	mark("intake")

	// Phase 2: replies through api -> outbound -> sender, in waves with
	// Graph faults.
	h.replyWaves()
	mark("replies")

	// Phase 3: the statuses of every accepted send, in random order,
	// duplicated, through the webhook.
	sends := h.simSends()
	statusPayloads, highest := h.statuses(sends)
	h.deliverAll(statusPayloads, func(int) string { return "whatsapp_business_account" })
	h.drain(120 * time.Second)
	mark("statuses")

	// Phase 4: emails through api -> outbound -> sender -> SES, and SES's
	// events of them through SNS onto the intake queue (ses_test.go).
	h.sesRun()
	mark("ses")

	// Stop injecting, replay each DLQ once, drain (what the faults left to
	// retry finishes too), then check.
	h.faults.Enable(false)
	rep := report{seed: h.seed, dlqReplayed: map[string]int{}, outcomes: map[conversation.Status]int{}}
	for _, q := range []string{topology.QueueIntake, topology.QueueOutbound} {
		rep.dlqReplayed[q] = h.replayDLQ(q)
	}
	h.drain(120 * time.Second)
	mark("dlq replay and drain")
	h.sesRefusal(&rep)

	rep.events, rep.copies, rep.deliveries, rep.posts, rep.webhook5xx = h.events.Load(), h.copies.Load(), h.deliveries.Load(), h.posts.Load(), h.webhook5xx.Load()
	rep.repliesSkipped = h.repliesSkipped.Load()
	rep.statusEvents = len(statusPayloads)
	rep.faults = h.faults.Counts()
	// The queues are read before check, which holds the DLQs' messages
	// while it lists them.
	markers := h.secretMarkers()
	h.scanQueuesAndMails(&rep, markers)
	rep.ses = h.ses
	h.ses.unrecorded = h.checkSES(&rep)
	// The simulator's sends read again: a reply the DLQ replay brought
	// back is sent after the statuses were drawn (it has none).
	h.check(&rep, h.simSends(), highest)
	h.scanSecrets(&rep, markers)
	mark("check")
	rep.elapsed, rep.phases = time.Since(start), phases
	return rep
}

func (h *harness) queues(name string) replay.Queues {
	for _, q := range topology.Default().Queues {
		if q.Name == name {
			qs, err := replay.Resolve(h.ctx, h.sqs, q, h.env.Prefix)
			if err != nil {
				h.t.Fatal(err)
			}
			return qs
		}
	}
	h.t.Fatalf("no queue %s", name)
	return replay.Queues{}
}

// replayDLQ moves every message of a queue's DLQ back (tools/dlq's logic).
func (h *harness) replayDLQ(name string) int {
	sum, err := replay.Replay(h.ctx, h.sqs, h.queues(name), replay.Options{All: true, Scan: replay.Scan{Hold: 5 * time.Second}})
	if err != nil {
		h.t.Fatalf("replay %s: %v", name, err)
	}
	return sum.Moved
}

// allLeads lists an org's leads.
func (h *harness) allLeads(orgID string) []lead.Lead {
	var out []lead.Lead
	var from page.Cursor
	for {
		p, err := h.store.ListLeads(h.ctx, orgID, lead.Filter{}, 100, from)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.Next.IsZero() {
			return out
		}
		from = p.Next
	}
}

// scanSecrets reads the whole table and the functions' whole log for every
// secret the run used (the app secret, the verify token, the owners'
// password and refresh tokens, each org's WhatsApp and page tokens; access
// tokens in the log only): none may be stored or logged in plaintext, in
// any form leakscan looks for.
func (h *harness) scanSecrets(rep *report, markers []leakscan.Marker) {
	items := devstacktest.ScanTable(h.t, dynamodb.NewFromConfig(h.env.AWS, dynamostore.ClientOptions), h.env.TableName)
	logs := h.logs.String()
	rep.scannedItems, rep.scannedLines = len(items), strings.Count(logs, "\n")
	// The scan reads the run's table: each org's number id, stored in
	// plaintext as it must be, is found when asked for.
	for _, o := range h.orgs {
		if len(leakscan.ScanItems(items, []leakscan.Marker{{Name: "number id", Value: o.number, Secret: true}})) == 0 {
			h.t.Fatalf("the secrets scan does not see org %s's number in the table: it is not reading the run's table", o.id)
		}
	}
	for _, f := range leakscan.ScanItems(items, markers) {
		rep.leaks = append(rep.leaks, "at rest: "+f.String())
	}
	for _, f := range leakscan.ScanLogs(map[string]string{"functions": logs}, markers) {
		rep.leaks = append(rep.leaks, "logged: "+f.String())
	}
}

// scanQueuesAndMails reads every message left in the run's queues and
// their DLQs, and every mail the SES stand-in holds, for the run's
// secrets (their bodies name people by design: secrets only).
func (h *harness) scanQueuesAndMails(rep *report, markers []leakscan.Marker) {
	found, n, err := leakscan.ScanQueues(h.ctx, h.sqs, h.env.QueueURLs, markers)
	if err != nil {
		h.t.Fatal(err)
	}
	rep.scannedQueued = n
	for _, f := range found {
		rep.leaks = append(rep.leaks, "queued: "+f.String())
	}
	if ses := os.Getenv("AWS_ENDPOINT_URL_SESV2"); ses != "" {
		found, n, err := leakscan.ScanMails(h.ctx, ses, markers)
		if err != nil {
			h.t.Fatal(err)
		}
		rep.scannedMails = n
		for _, f := range found {
			rep.leaks = append(rep.leaks, "mailed: "+f.String())
		}
	}
}

// secretMarkers are the secrets the run used.
func (h *harness) secretMarkers() []leakscan.Marker {
	markers := []leakscan.Marker{
		{Name: "app secret", Value: string(h.secret), Secret: true},
		{Name: "verify token", Value: tortureVerifyToken, Secret: true},
		{Name: "owner password", Value: torturePassword, Secret: true},
	}
	for i, o := range h.orgs {
		markers = append(markers,
			leakscan.Marker{Name: fmt.Sprintf("org %d whatsapp token", i), Value: o.token, Secret: true},
			leakscan.Marker{Name: fmt.Sprintf("org %d page token", i), Value: o.pageToken, Secret: true},
			leakscan.Marker{Name: fmt.Sprintf("org %d access token", i), Value: o.access})
		if o.refresh != "" {
			markers = append(markers, leakscan.Marker{Name: fmt.Sprintf("org %d refresh token", i), Value: o.refresh, Secret: true})
		}
	}
	return markers
}

// check compares what the table holds with what went in.
func (h *harness) check(rep *report, sends map[string][]sent, highest map[string]conversation.Status) {
	// The messages whose send outcome could not be recorded (unknown,
	// no provider id): statuses about them cannot be matched and end in
	// the intake DLQ, which is explained.
	unrecorded := map[string]bool{} // wamid
	for _, o := range h.orgs {
		leads := h.allLeads(o.id)
		byLeadgen, byPhone := map[string]int{}, map[string]int{}
		inbound, outbound := map[string]int{}, map[string][]conversation.Message{}
		for _, l := range leads {
			if l.Provenance != nil && l.Provenance.LeadgenID != "" {
				byLeadgen[l.Provenance.LeadgenID]++
			}
			if l.Phone != "" {
				byPhone[l.Phone]++
			}
			msgs, err := h.store.Messages(h.ctx, o.id, l.ID)
			if err != nil {
				h.t.Fatal(err)
			}
			for _, m := range msgs {
				if m.Direction == conversation.Inbound {
					inbound[m.ProviderID]++
				} else if m.ClientMessageID != "" {
					outbound[m.ClientMessageID] = append(outbound[m.ClientMessageID], m)
				}
			}
		}
		for id, phone := range o.expectLeadgen {
			rep.leadgens++
			switch c := byLeadgen[id]; {
			case c == 0:
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: Lead Ads lead %s (phone %s) not stored", o.id, id, phone))
			case c > 1:
				rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: Lead Ads lead %s stored %d times", o.id, id, c))
			}
		}
		for _, from := range o.inboundPhones {
			if c := byPhone["+"+from]; c != 1 {
				rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: %d leads for WhatsApp sender +%s, want 1", o.id, c, from))
			}
		}
		for wamid := range o.expectInbound {
			rep.inbound++
			switch c := inbound[wamid]; {
			case c == 0:
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: inbound message %s not stored", o.id, wamid))
			case c > 1:
				rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: inbound message %s stored %d times", o.id, wamid, c))
			}
		}
		for cid := range o.replies {
			rep.replies++
			ms := outbound[cid]
			if len(ms) != 1 {
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: reply %s stored %d times, want 1", o.id, cid, len(ms)))
				continue
			}
			m, ss := ms[0], sends[cid]
			rep.states++
			rep.outcomes[m.Status]++
			switch {
			case len(ss) > 1:
				rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: reply %s sent %d times by the Graph API", o.id, cid, len(ss)))
				continue
			case m.Status == conversation.StatusQueued || m.Status == conversation.StatusSending:
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: reply %s (message %s) left %s (sent %d times)", o.id, cid, m.ID, m.Status, len(ss)))
				continue
			case len(ss) == 0 && m.Status != conversation.StatusFailed && m.Status != conversation.StatusUnknown:
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: reply %s is %s but the Graph API never got it", o.id, cid, m.Status))
				continue
			case len(ss) == 0:
				continue // failed or unknown, never sent: accounted for
			}
			s := ss[0]
			if m.ProviderID == "" {
				if m.Status == conversation.StatusUnknown {
					unrecorded[s.wamid] = true
					continue
				}
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: reply %s sent as %s, stored %s without its wamid", o.id, cid, s.wamid, m.Status))
				continue
			}
			want := conversation.StatusAccepted
			if b := highest[s.wamid]; b != "" && b.Rank() > want.Rank() {
				want = b
			}
			if m.Status != want {
				rep.regressed = append(rep.regressed, fmt.Sprintf("org %s: reply %s (%s) is %s, want %s, the highest status delivered",
					o.id, cid, s.wamid, m.Status, want))
			}
		}
	}
	rep.sends = 0
	for _, ss := range sends {
		rep.sends += len(ss)
	}
	for _, name := range []string{topology.QueueIntake, topology.QueueOutbound} {
		l, err := replay.List(h.ctx, h.sqs, h.queues(name), replay.Scan{Hold: 5 * time.Second})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, m := range l.Messages {
			if name == topology.QueueIntake && h.onlyUnrecorded(m.Body, unrecorded) {
				rep.dlqExplained++
				continue
			}
			if name == topology.QueueIntake && h.ses != nil && sesExplained(m.Body, h.ses.unrecorded) {
				h.ses.dlqExplained++
				continue
			}
			rep.unexplained = append(rep.unexplained, fmt.Sprintf("%s DLQ: %s (%s): %s", name, m.ID, m.Reason, h.describe(m.Body)))
		}
	}
}

// onlyUnrecorded reports whether a dead-lettered webhook body holds only
// statuses, none of them of a message we do not know except statuses of
// sends whose outcome could not be recorded (unrecorded wamids), and at
// least one of those: the body is retried whole, so statuses of known
// messages in it were applied and the rest cannot be.
func (h *harness) onlyUnrecorded(body string, unrecorded map[string]bool) bool {
	w, err := meta.ParseWebhook([]byte(body))
	if err != nil {
		return false
	}
	n := 0
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			var v meta.WhatsAppValue
			if c.Field != "messages" || json.Unmarshal(c.Value, &v) != nil || len(v.Messages) > 0 {
				return false
			}
			for _, s := range v.Statuses {
				if unrecorded[s.ID] {
					n++
					continue
				}
				if _, err := h.store.MessageByProviderID(h.ctx, s.ID); err != nil {
					return false
				}
			}
		}
	}
	return n > 0
}

// describe says what a dead-lettered body holds: its statuses with the
// state of their messages, or its start.
func (h *harness) describe(body string) string {
	w, err := meta.ParseWebhook([]byte(body))
	if err != nil {
		return fmt.Sprintf("%.200s", body)
	}
	var parts []string
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			var v meta.WhatsAppValue
			if c.Field != "messages" || json.Unmarshal(c.Value, &v) != nil {
				parts = append(parts, c.Field+" change")
				continue
			}
			for _, m := range v.Messages {
				parts = append(parts, "inbound "+m.Type+" "+m.ID)
			}
			for _, st := range v.Statuses {
				state := "no message with this wamid"
				for cid, ss := range h.simSends() {
					for _, x := range ss {
						if x.wamid == st.ID {
							state += " (simulator sent it for " + cid + ")"
						}
					}
				}
				if m, err := h.store.MessageByProviderID(h.ctx, st.ID); err == nil {
					state = fmt.Sprintf("message %s is %s (client id %s)", m.ID, m.Status, m.ClientMessageID)
				}
				parts = append(parts, fmt.Sprintf("status %s of %s: %s", st.Status, st.ID, state))
			}
		}
	}
	return strings.Join(parts, "; ")
}
