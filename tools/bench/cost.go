package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	accountapp "github.com/leadluence/backend/functions/account/app"
	api "github.com/leadluence/backend/functions/api/app"
	ingest "github.com/leadluence/backend/functions/ingest/app"
	senderapp "github.com/leadluence/backend/functions/sender/app"
	webhook "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/dev/runner"
)

// The cost model: what one inbound WhatsApp message, one outbound message
// with its three status webhooks and one Lead Ads lead cost in AWS
// requests, capacity and compute, measured end to end through the real
// handlers, priced with the list prices below.

// pricesRead is the day the prices below were read.
const pricesRead = "2026-12-04"

// costPrice is one on-demand list price.
type costPrice struct {
	Item string
	// Unit names what USD is the price of.
	Unit string
	USD  float64
	// Region is the region the figure is for: ap-south-1 where it was
	// found, else us-east-1 (marked in the report).
	Region string
	Source string
}

// Price keys.
const (
	pLambdaReq = "lambda.request"
	pLambdaGBs = "lambda.gbs"
	pAPIGW     = "apigw.request"
	pSQS       = "sqs.request"
	pWRU       = "dynamodb.wru"
	pRRU       = "dynamodb.rru"
	pKMS       = "kms.request"
	pLogs      = "logs.gb"
)

// prices are the on-demand list prices the cost model uses, first tier, no
// free tier. The ap-south-1 figures that could not be found are the
// us-east-1 ones, marked so.
var prices = map[string]costPrice{
	pLambdaReq: {"Lambda requests", "request", 0.20 / 1e6, "ap-south-1 (same as us-east-1)",
		"aws.amazon.com/lambda/pricing; ap-south-1 has no regional override in public price tables (artillery's prices.js, a region table listing ap-south-1 at the base rate)"},
	pLambdaGBs: {"Lambda duration, arm64", "GB-second", 0.0000133334, "ap-south-1 (same as us-east-1)",
		"as above: arm64 $0.0000133334 per GB-s, first 7.5 billion GB-s a month"},
	pAPIGW: {"API Gateway HTTP API", "request (≤ 512 KB)", 1.00 / 1e6, "us-east-1",
		"aws.amazon.com/api-gateway/pricing: $1.00 per million, first 300 million; the ap-south-1 figure was not found"},
	pSQS: {"SQS standard", "request (per 64 KB chunk)", 0.40 / 1e6, "us-east-1",
		"aws.amazon.com/sqs/pricing: $0.40 per million; the ap-south-1 figure was not found"},
	pWRU: {"DynamoDB on-demand writes", "write request unit", 0.625 / 1e6, "us-east-1",
		"aws.amazon.com/dynamodb/pricing/on-demand: $0.625 per million WRU (after the Nov 2024 cut); the ap-south-1 figure was not found"},
	pRRU: {"DynamoDB on-demand reads", "read request unit", 0.125 / 1e6, "us-east-1",
		"as above: $0.125 per million RRU; the ap-south-1 figure was not found"},
	pKMS: {"KMS", "request", 0.03 / 1e4, "us-east-1",
		"aws.amazon.com/kms/pricing: $0.03 per 10,000 symmetric requests; the ap-south-1 figure was not found"},
	pLogs: {"CloudWatch Logs ingestion", "GB", 0.50, "us-east-1",
		"CloudWatch pricing, standard class: $0.50 per GB ingested; the ap-south-1 figure was not found"},
}

// lambdaPlatformLogBytes is what Lambda itself writes to CloudWatch Logs per
// invocation (START, END and REPORT lines), an estimate from their format.
const lambdaPlatformLogBytes = 260

// fnUsage is what one function did in a phase.
type fnUsage struct {
	Invocations int
	// BilledMS sums each invocation's handler time rounded up to 1 ms.
	BilledMS float64
	LogBytes int64
}

// usage is what a phase of the cost run consumed.
type usage struct {
	Units    int
	APIGW    int
	SQS      int
	KMS      int
	WRU, RRU float64
	Fns      map[string]fnUsage
	WriteOps map[string]int
	ReadOps  map[string]int
	SQSOps   map[string]int
	// WRUByItem splits the write units by item label and action.
	WRUByItem map[string]float64
	// ItemBytes is the largest size by AWS's rules seen for each
	// WRUByItem key (0: unknown, a Delete), ItemIndexes how many GSIs it
	// was in.
	ItemBytes, ItemIndexes map[string]int
}

// lineItem is one priced item of a scenario, per unit.
type lineItem struct {
	Item     string
	Key      string
	Quantity float64
	Unit     string
	USD      float64
}

// costScenario is one priced scenario.
type costScenario struct {
	Name string
	// Per is how many units the scenario's total is for (1,000,000 or
	// 10,000).
	Per   int
	U     usage
	Items []lineItem
	Total float64
}

// costResult is the cost model's output.
type costResult struct {
	Scenarios []costScenario
	Memory    map[string]int
	Took      time.Duration
}

// meteredFn wraps one function's clients with the capacity meter and the
// call counter and counts its log bytes and handler time.
type meteredFn struct {
	name   string
	memory int
	meter  *capacityMeter
	calls  *callCounter
	logs   *byteCounter

	mu    sync.Mutex
	times []time.Duration
}

func newMeteredFn(m *metaEnv, name string) *meteredFn {
	plain := dynamodb.NewFromConfig(m.awsCfg, dynamostore.ClientOptions)
	f := &meteredFn{name: name, calls: &callCounter{}, logs: &byteCounter{}}
	if fn, ok := m.st.Function(name); ok {
		f.memory = fn.MemoryMB
	}
	f.meter = &capacityMeter{readBack: func(ctx context.Context, table string, key map[string]ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil
		}
		return out.Item
	}}
	return f
}

func (f *meteredFn) opts() []awsenv.Option {
	return []awsenv.Option{f.meter.options(), f.calls.options()}
}

// log is the function's logger as lambdamain builds it, writing to the byte
// counter.
func (f *meteredFn) log() *slog.Logger { return logging.New(f.logs, slog.LevelInfo) }

func (f *meteredFn) timed(d time.Duration) {
	f.mu.Lock()
	f.times = append(f.times, d)
	f.mu.Unlock()
}

// take adds what the function did since the last take to u.
func (f *meteredFn) take(u *usage) {
	f.mu.Lock()
	times := f.times
	f.times = nil
	f.mu.Unlock()
	fu := u.Fns[f.name]
	for _, t := range times {
		fu.Invocations++
		fu.BilledMS += math.Ceil(float64(t) / float64(time.Millisecond))
	}
	fu.LogBytes += f.logs.take()
	u.Fns[f.name] = fu
	calls := f.meter.take()
	for _, c := range calls {
		for _, it := range c.Items {
			tx := ""
			if it.Transactional {
				tx = " in a transaction"
			}
			k := fmt.Sprintf("%s %s%s", it.Action, it.Label, tx)
			u.WRUByItem[k] += it.estimate()
			u.ItemBytes[k] = max(u.ItemBytes[k], it.Bytes)
			u.ItemIndexes[k] = max(u.ItemIndexes[k], it.Indexes)
		}
	}
	t := sumCapacity(calls)
	u.WRU += t.Estimated
	u.RRU += t.ReadUnits
	for op, n := range t.WriteOps {
		u.WriteOps[op] += n
	}
	for op, n := range t.ReadOps {
		u.ReadOps[op] += n
	}
	for op, n := range f.calls.take() {
		switch {
		case strings.HasPrefix(op, "KMS."):
			u.KMS += n
		case strings.HasPrefix(op, "SQS."):
			u.SQS += n
			u.SQSOps[op] += n
		}
	}
}

// byteCounter counts what is written to it.
type byteCounter struct{ n atomic.Int64 }

func (b *byteCounter) Write(p []byte) (int, error) { b.n.Add(int64(len(p))); return len(p), nil }

func (b *byteCounter) take() int64 { return b.n.Swap(0) }

// countingSQS counts the event source mapping's receives (those that
// returned messages) and batch deletes.
type countingSQS struct {
	c        *sqs.Client
	requests atomic.Int64
}

func (s *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := s.c.ReceiveMessage(ctx, in, opts...)
	if err == nil && len(out.Messages) > 0 {
		s.requests.Add(1)
	}
	return out, err //nolint:wrapcheck // passes the SDK's answer on
}

func (s *countingSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	s.requests.Add(1)
	return s.c.DeleteMessageBatch(ctx, in, opts...) //nolint:wrapcheck // passes the SDK's answer on
}

// costEnv is the instrumented pipeline: webhook and api behind their own
// router, ingest and sender fed by pollers as Lambda's event source does.
type costEnv struct {
	m                           *metaEnv
	hook, apiFn, ingest, sender *meteredFn
	// accountFn serves the account routes (sign-up, login, integrations).
	accountFn                    *meteredFn
	srv                          *httptest.Server
	esm                          *countingSQS
	intake, outbound             *runner.Poller
	apiRequests                  atomic.Int64
	ingestRecords, senderRecords atomic.Int64
}

func setupCostEnv(ctx context.Context, m *metaEnv) (*costEnv, error) {
	e := &costEnv{m: m, hook: newMeteredFn(m, "webhook"), apiFn: newMeteredFn(m, "api"), ingest: newMeteredFn(m, "ingest"),
		sender: newMeteredFn(m, "sender"), accountFn: newMeteredFn(m, "account")}
	hookCfg, err := config.Load[config.Webhook]()
	if err != nil {
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	hookH, err := webhook.New(ctx, hookCfg, e.hook.log(), e.hook.opts()...)
	if err != nil {
		return nil, fmt.Errorf("build webhook: %w", err)
	}
	apiCfg, err := config.Load[config.API]()
	if err != nil {
		return nil, fmt.Errorf("api config: %w", err)
	}
	apiH, err := api.New(ctx, apiCfg, e.apiFn.log(), e.apiFn.opts()...)
	if err != nil {
		return nil, fmt.Errorf("build api: %w", err)
	}
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		return nil, fmt.Errorf("account config: %w", err)
	}
	accountH, err := accountapp.New(ctx, accountCfg, e.accountFn.log(), e.accountFn.opts()...)
	if err != nil {
		return nil, fmt.Errorf("build account: %w", err)
	}
	ingCfg, err := config.Load[config.Ingest]()
	if err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	ingH, _, err := ingest.New(ctx, ingCfg, e.ingest.log(), e.ingest.opts()...)
	if err != nil {
		return nil, fmt.Errorf("build ingest: %w", err)
	}
	if os.Getenv("LEADLUENCE_PUBLIC_BASE_URL") == "" {
		// The sender builds unsubscribe links from it (emails only).
		if err := os.Setenv("LEADLUENCE_PUBLIC_BASE_URL", "http://127.0.0.1"); err != nil {
			return nil, fmt.Errorf("set LEADLUENCE_PUBLIC_BASE_URL: %w", err)
		}
	}
	sndCfg, err := config.Load[config.Sender]()
	if err != nil {
		return nil, fmt.Errorf("sender config: %w", err)
	}
	sndH, err := senderapp.New(ctx, sndCfg, e.sender.log(), e.sender.opts()...)
	if err != nil {
		return nil, fmt.Errorf("build sender: %w", err)
	}
	timedHTTP := func(f *meteredFn, h apigw.HandlerFunc, count *atomic.Int64) apigw.HandlerFunc {
		return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			if count != nil {
				count.Add(1)
			}
			begin := time.Now()
			resp, err := h(ctx, ev)
			f.timed(time.Since(begin))
			return resp, err
		}
	}
	e.srv = httptest.NewServer(runner.Router(m.st, runner.Handlers{HTTP: map[string]apigw.HandlerFunc{
		"api": timedHTTP(e.apiFn, apiH, &e.apiRequests), "account": timedHTTP(e.accountFn, accountH, &e.apiRequests), "webhook": timedHTTP(e.hook, hookH, &e.apiRequests)}}, m.log))
	timedSQS := func(f *meteredFn, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), records *atomic.Int64) runner.SQSHandler {
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			begin := time.Now()
			resp, err := h(ctx, ev)
			f.timed(time.Since(begin))
			records.Add(int64(len(ev.Records) - len(resp.BatchItemFailures)))
			return resp, err
		}
	}
	e.esm = &countingSQS{c: sqs.NewFromConfig(m.awsCfg)}
	poller := func(fnName, queue string, h runner.SQSHandler) (*runner.Poller, error) {
		fn, _ := m.st.Function(fnName)
		url := m.res.QueueURLs[queue]
		batch := 10
		if fn.Consumes != nil {
			batch = fn.Consumes.BatchSize
		}
		return &runner.Poller{Client: e.esm, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:000000000000:" + m.prefix + queue,
			BatchSize: batch, Handler: h, Log: m.log, Function: fn.Name, Timeout: fn.Timeout}, nil
	}
	if e.intake, err = poller("ingest", topology.QueueIntake, timedSQS(e.ingest, ingH, &e.ingestRecords)); err != nil {
		return nil, err
	}
	if e.outbound, err = poller("sender", topology.QueueOutbound, timedSQS(e.sender, sndH, &e.senderRecords)); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *costEnv) close() { e.srv.Close() }

// drain polls p until want more records were handled than before, or a
// minute passes.
func (e *costEnv) drain(ctx context.Context, p *runner.Poller, records *atomic.Int64, want int64) error {
	deadline := time.Now().Add(time.Minute)
	for records.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("queue %s: %d of %d records handled within a minute", p.QueueARN, records.Load(), want)
		}
		n, err := p.PollOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			sleep(ctx, 20*time.Millisecond)
		}
	}
	return nil
}

// take collects a phase's usage from every function.
func (e *costEnv) take(units int) usage {
	u := usage{Units: units, Fns: map[string]fnUsage{}, WriteOps: map[string]int{}, ReadOps: map[string]int{}, SQSOps: map[string]int{}, WRUByItem: map[string]float64{},
		ItemBytes: map[string]int{}, ItemIndexes: map[string]int{}}
	for _, f := range []*meteredFn{e.hook, e.apiFn, e.accountFn, e.ingest, e.sender} {
		f.take(&u)
	}
	u.APIGW = int(e.apiRequests.Swap(0))
	esm := int(e.esm.requests.Swap(0))
	u.SQS += esm
	u.SQSOps["event source: receive + delete batch"] += esm
	return u
}

// deliver posts signed webhooks through the instrumented router.
func (e *costEnv) deliver(ctx context.Context, payloads ...[]byte) error {
	for i, p := range payloads {
		st, err := e.m.sim.Deliver(ctx, e.srv.URL+webhook.Path, p)
		if err != nil {
			return fmt.Errorf("deliver %d: %w", i, err)
		}
		if st != http.StatusOK {
			return fmt.Errorf("deliver %d: webhook answered %d", i, st)
		}
	}
	return nil
}

// Sizes of the cost run.
const (
	costLeads     = 20 // new WhatsApp numbers (each a new lead)
	costFollowUps = 9  // further messages from each
	costLeadAds   = 20
)

// measureCosts runs the three scenarios through the instrumented pipeline
// and prices them. It runs on org B (WhatsApp number and page) and org A
// (page) of the Meta setup, after the other figures.
func measureCosts(ctx context.Context, m *metaEnv) (*costResult, error) {
	begin := time.Now()
	e, err := setupCostEnv(ctx, m)
	if err != nil {
		return nil, err
	}
	defer e.close()
	r := &costResult{Memory: map[string]int{}}
	for _, f := range []*meteredFn{e.hook, e.apiFn, e.accountFn, e.ingest, e.sender} {
		r.Memory[f.name] = f.memory
	}
	e.take(0) // building the handlers is not a message's cost
	base := 919730000000 + time.Now().UnixNano()%90000*10
	from := func(i int) string { return fmt.Sprint(base + int64(i)) }

	// Inbound: first messages from new numbers, then follow-ups.
	// Each sender's messages are a minute apart (WhatsApp's timestamps have
	// one-second resolution; messages of one sender in the same second
	// would cost a second transaction to keep the conversation's order).
	var first, more [][]byte
	start := time.Now().UTC().Add(-time.Duration(costFollowUps+1) * time.Minute).Truncate(time.Second)
	for i := range costLeads {
		first = append(first, m.sim.InboundPayload(numberB, displayB,
			metatest.Text(from(i), "Hi! Is the 2BHK in Baner still available?").WithName(fmt.Sprintf("Cost Sender %d", i)).At(start)))
	}
	for k := range costFollowUps {
		for i := range costLeads {
			more = append(more, m.sim.InboundPayload(numberB, displayB,
				metatest.Text(from(i), fmt.Sprintf("Follow-up %d: what is the price per square foot?", k+1)).At(start.Add(time.Duration(k+1)*time.Minute))))
		}
	}
	phase := func(name string, per int, payloads [][]byte) error {
		if err := e.deliver(ctx, payloads...); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := e.drain(ctx, e.intake, &e.ingestRecords, e.ingestRecords.Load()+int64(len(payloads))); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.Scenarios = append(r.Scenarios, priced(name, per, e.take(len(payloads)), r.Memory))
		return nil
	}
	say("cost: %d inbound WhatsApp messages from new numbers, then %d follow-ups ...", len(first), len(more))
	if err := phase("inbound WhatsApp message, first from a new number (new lead)", 1_000_000, first); err != nil {
		return nil, err
	}
	if err := phase("inbound WhatsApp message, from a known lead", 1_000_000, more); err != nil {
		return nil, err
	}

	// Outbound: one text to each of the leads through the API, the sender,
	// then sent, delivered and read status webhooks for each.
	say("cost: %d outbound messages through the API and the sender, then 3 status webhooks each ...", costLeads)
	leadIDs := make([]string, costLeads)
	for i := range costLeads {
		id, err := m.store.LeadIDByPhone(ctx, m.orgB.ID, "+"+from(i))
		if err != nil {
			return nil, fmt.Errorf("lead of %s: %w", from(i), err)
		}
		leadIDs[i] = id
	}
	sentBefore := len(m.sim.Sent(numberB))
	for i, id := range leadIDs {
		body := map[string]any{"channel": "whatsapp", "client_message_id": fmt.Sprintf("cost-%d-%d", base, i), "text": "Yes! Site visits run daily 10-6. Shall I book one?"}
		if err := e.callAPI(ctx, http.MethodPost, "/v1/leads/"+id+"/messages", m.orgB.Token, body, http.StatusAccepted); err != nil {
			return nil, err
		}
	}
	if err := e.drain(ctx, e.outbound, &e.senderRecords, e.senderRecords.Load()+costLeads); err != nil {
		return nil, err
	}
	sent := m.sim.Sent(numberB)[sentBefore:]
	if len(sent) != costLeads {
		return nil, fmt.Errorf("outbound: %d sends, want %d", len(sent), costLeads)
	}
	var statuses [][]byte
	for _, s := range sent {
		for _, st := range []metatest.StatusUpdate{metatest.StatusSent(s.ID, s.To), metatest.StatusDelivered(s.ID, s.To), metatest.StatusRead(s.ID, s.To)} {
			statuses = append(statuses, m.sim.StatusPayload(numberB, displayB, st))
		}
	}
	if err := e.deliver(ctx, statuses...); err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	if err := e.drain(ctx, e.intake, &e.ingestRecords, e.ingestRecords.Load()+int64(len(statuses))); err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	r.Scenarios = append(r.Scenarios, priced("outbound WhatsApp message with its sent, delivered and read statuses", 1_000_000, e.take(costLeads), r.Memory))

	// Lead Ads: new leads on org A's page.
	say("cost: %d Lead Ads leads ...", costLeadAds)
	var leadgen [][]byte
	for i := range costLeadAds {
		_, p := m.newLeadAds(pageA, formA, fmt.Sprintf("+91983%07d", int(base%100000)*costLeadAds+i), 5000+i)
		leadgen = append(leadgen, p)
	}
	if err := phase("Lead Ads lead (new)", 10_000, leadgen); err != nil {
		return nil, err
	}
	r.Took = time.Since(begin)
	return r, nil
}

// callAPI makes one API request through the instrumented router.
func (e *costEnv) callAPI(ctx context.Context, method, path, token string, body any, want int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s %s: encode body: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.m.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s answered %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(string(raw)))
	}
	return nil
}

// priced turns a phase's usage into line items for `per` units.
func priced(name string, per int, u usage, memory map[string]int) costScenario {
	s := costScenario{Name: name, Per: per, U: u}
	if u.Units == 0 {
		return s
	}
	k := float64(per) / float64(u.Units)
	add := func(item string, qty float64, unit, key string) {
		s.Items = append(s.Items, lineItem{Item: item, Key: key, Quantity: qty * k, Unit: unit, USD: qty * k * prices[key].USD})
	}
	add("API Gateway HTTP API requests", float64(u.APIGW), "requests", pAPIGW)
	var fns []string
	for fn := range u.Fns {
		fns = append(fns, fn)
	}
	sort.Strings(fns)
	var invocations float64
	var logBytes int64
	for _, fn := range fns {
		f := u.Fns[fn]
		if f.Invocations == 0 {
			continue
		}
		invocations += float64(f.Invocations)
		logBytes += f.LogBytes + int64(f.Invocations)*lambdaPlatformLogBytes
		gbs := f.BilledMS / 1000 * float64(memory[fn]) / 1024
		add(fmt.Sprintf("Lambda duration, %s (%d MB, %.1f ms billed per invocation)", fn, memory[fn], f.BilledMS/float64(f.Invocations)), gbs, "GB-s", pLambdaGBs)
	}
	add("Lambda requests", invocations, "invocations", pLambdaReq)
	add("SQS requests", float64(u.SQS), "requests", pSQS)
	add("DynamoDB writes", u.WRU, "WRU", pWRU)
	add("DynamoDB reads", u.RRU, "RRU", pRRU)
	add("KMS requests", float64(u.KMS), "requests", pKMS)
	add("CloudWatch Logs ingestion", float64(logBytes)/1e9, "GB", pLogs)
	sort.SliceStable(s.Items, func(i, j int) bool { return s.Items[i].USD > s.Items[j].USD })
	for _, it := range s.Items {
		s.Total += it.USD
	}
	return s
}

// inboundMix is the cost of the inbound messages as the run sent them: the
// first messages of new numbers (each makes a lead) and the follow-ups of
// those leads, weighted by how many of each were measured (one in ten
// makes a lead). A number's first message pays for its lead's creation;
// a million inbound messages are mostly the rest of the conversations.
func (r *costResult) inboundMix() (costScenario, bool) {
	var parts []costScenario
	for _, s := range r.Scenarios {
		if strings.HasPrefix(s.Name, "inbound") && s.Per == 1_000_000 && s.U.Units > 0 {
			parts = append(parts, s)
		}
	}
	if len(parts) < 2 {
		return costScenario{}, false
	}
	var n int
	var usd float64
	for _, s := range parts {
		n += s.U.Units
		usd += s.Total * float64(s.U.Units)
	}
	return costScenario{Name: fmt.Sprintf("inbound WhatsApp messages as measured (%d from new numbers, %d from known leads)", parts[0].U.Units, n-parts[0].U.Units),
		Per: 1_000_000, Total: usd / float64(n)}, true
}

// goalCostInbound is the goal for 1,000,000 inbound WhatsApp messages.
const goalCostInbound = 10.0

// markdown renders the cost model section.
func (r *costResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Cost model\n\n")
	w("AWS cost, on-demand list prices (read %s), of the measured requests, capacity and compute, end to end; measured in %s on a Meta intake\n",
		pricesRead, r.Took.Round(time.Second))
	w("setup (in the full run first after the setup, before the other intake figures; alone with `-only cost`), %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	w("| scenario | per | cost | largest items | goal |\n|---|---:|---:|---|---|\n")
	for _, s := range r.Scenarios {
		var top []string
		for _, it := range s.Items[:min(3, len(s.Items))] {
			top = append(top, fmt.Sprintf("%s $%.2f", it.Item, it.USD))
		}
		goal := ""
		if strings.HasPrefix(s.Name, "inbound") {
			goal = fmt.Sprintf("≤ $%.0f per million — %s", goalCostInbound, verdict(s.Total <= goalCostInbound))
		}
		w("| %s | %s | **$%.2f** | %s | %s |\n", s.Name, num(float64(s.Per)), s.Total, strings.Join(top, "; "), goal)
	}
	if mix, ok := r.inboundMix(); ok {
		w("| %s | %s | **$%.2f** | the two rows above, weighted by the messages measured | ≤ $%.0f per million — %s |\n",
			mix.Name, num(float64(mix.Per)), mix.Total, goalCostInbound, verdict(mix.Total <= goalCostInbound))
	}
	for _, s := range r.Scenarios {
		u := s.U
		w("\n### %s, ×%s\n\n", strings.ToUpper(s.Name[:1])+s.Name[1:], num(float64(s.Per)))
		w("Measured on %d: API Gateway requests %d; SQS requests %d (%s); DynamoDB writes %s, reads %s; KMS requests %d.\n\n",
			u.Units, u.APIGW, u.SQS, formatOps(u.SQSOps), formatOps(u.WriteOps), formatOps(u.ReadOps), u.KMS)
		w("Write units per %s by item (AWS's rules; in brackets the item's largest size by those rules and the GSIs it is in): %s.\n\n", "unit", wruByItem(u))
		w("| item | quantity | price | cost |\n|---|---:|---|---:|\n")
		for _, it := range s.Items {
			w("| %s | %s %s | %s | $%.3f |\n", it.Item, qty(it.Quantity), it.Unit, priceFor(it.Key), it.USD)
		}
		w("| **total** | | | **$%.2f** |\n", s.Total)
	}
	w("\n### Prices\n\n| item | price | unit | region | source |\n|---|---:|---|---|---|\n")
	var keys []string
	for k := range prices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := prices[k]
		region := p.Region
		if region == "us-east-1" {
			region = "**us-east-1** (ap-south-1 not found)"
		}
		w("| %s | $%g | %s | %s | %s |\n", p.Item, p.USD, p.Unit, region, p.Source)
	}
	w("\nMethod. All in this process, on the Meta intake's prefix and simulator: the webhook and api handlers (their `app.New`) behind\n")
	w("`runner.Router` on a loopback server, the ingest and sender handlers fed by `runner.Poller`s as Lambda's event source does (batches of the\n")
	w("topology's size, handled records deleted in one batch call). Each handler's AWS clients carry the capacity meter (WRU by AWS's rules from\n")
	w("the items written, RRU as DynamoDB Local reports) and the call counter (KMS, SQS); its logger is the one `lambdamain` builds (Info) writing\n")
	w("to a byte counter, plus %d bytes per invocation for Lambda's START, END and REPORT lines. Lambda duration is each invocation's handler\n", lambdaPlatformLogBytes)
	w("time here, rounded up to 1 ms, × the function's memory in infra/topology: local stand-ins on a shared machine, not AWS's latencies, so it\n")
	w("is an estimate of the right order, not a bill. SQS requests are the handlers' own calls plus the event source's receives that returned\n")
	w("messages and its batch deletes (empty receives of idle pollers are a fixed cost per queue, not per message, and are left out). API\n")
	w("Gateway requests are the webhook deliveries and API calls. Inbound: %d WhatsApp texts from new numbers (each makes a lead), then %d\n", costLeads, costLeads*costFollowUps)
	w("follow-ups from the same numbers, each delivered alone (one webhook request per message, as Meta mostly sends them). Outbound: one text\n")
	w("to each of those %d leads through `POST /v1/leads/{id}/messages`, sent by the sender, then a sent, a delivered and a read status webhook\n", costLeads)
	w("each. Lead Ads: %d new leads on a connected page (Graph fetch with the sealed page token). No free tier is applied.\n", costLeadAds)
	return b.String()
}

// wruByItem lists the write units per unit by item, largest first.
func wruByItem(u usage) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range u.WRUByItem {
		all = append(all, kv{k, v / float64(max(1, u.Units))})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for _, x := range all {
		size := ""
		if b := u.ItemBytes[x.k]; b > 0 {
			size = fmt.Sprintf(" (%d B, %d GSI)", b, u.ItemIndexes[x.k])
		}
		parts = append(parts, fmt.Sprintf("%s %.2f%s", x.k, x.v, size))
	}
	return strings.Join(parts, ", ")
}

func qty(f float64) string {
	switch {
	case f >= 100:
		return num(math.Round(f))
	case f >= 1:
		return fmt.Sprintf("%.2f", f)
	default:
		return fmt.Sprintf("%.4f", f)
	}
}

// priceFor names a price.
func priceFor(key string) string {
	p := prices[key]
	return fmt.Sprintf("$%g / %s", p.USD, p.Unit)
}

// summary is the cost model's console summary.
func (r *costResult) summary() string {
	var b strings.Builder
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "cost: %s: $%.2f per %s\n", s.Name, s.Total, num(float64(s.Per)))
	}
	return b.String()
}

// runCostOnly measures the cost model alone (on a fresh Meta setup) and
// splices its section into out, keeping every other section.
func runCostOnly(ctx context.Context, out string) (err error) {
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	m, err := setupMeta(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	r, err := measureCosts(ctx, m)
	if err != nil {
		return fmt.Errorf("cost model: %w", err)
	}
	if err := spliceFile(out, "Cost model", r.markdown()); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}
