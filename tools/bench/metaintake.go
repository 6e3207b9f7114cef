package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	accountapp "github.com/leadluence/backend/functions/account/app"
	api "github.com/leadluence/backend/functions/api/app"
	ingest "github.com/leadluence/backend/functions/ingest/app"
	webhook "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/provision"
)

// The deploy-time secrets of the webhook in the Meta intake figures; the
// simulator signs with the same app secret.
//
//nolint:gosec // G101: published values for the local bench only
const (
	benchAppSecret   = "bench-app-secret"
	benchVerifyToken = "bench-verify-token"
)

// Simulator fixtures. Org A connects page A (the ingest figures: WCU and
// KMS calls); org B connects page B and a WhatsApp number (end to end).
const (
	pageA, formA, tokenA = "104858765670001", "555000111", "EAAGbench-page-token-a"
	pageB, formB, tokenB = "104858765670002", "555000222", "EAAGbench-page-token-b"
	numberB, displayB    = "106540352240002", "15550783882"
	wabaB, waTokenB      = "102290129340002", "EAAGbench-wa-token-b"
)

// metaEnv is the Meta intake setup: resources under their own prefix, the
// simulator, the api and webhook handlers served by runner.Router on a
// loopback httptest server, and two signed-up orgs with their connections.
type metaEnv struct {
	awsCfg aws.Config
	st     topology.Stack
	res    topology.Resolved
	prefix string
	log    *slog.Logger
	sim    *metatest.Server
	srv    *httptest.Server
	client *http.Client
	store  *dynamostore.Store
	// hookURL is the router's /webhooks/meta.
	hookURL    string
	orgA, orgB orgSession
	// Setup is how long all of this took.
	Setup time.Duration
}

// orgSession is a signed-up org and its owner's access token.
type orgSession struct {
	ID, Token string
}

// close stops the server and the simulator.
func (m *metaEnv) close() {
	if m.srv != nil {
		m.srv.Close()
	}
	if m.sim != nil {
		m.sim.Close()
	}
}

// setupMeta provisions a fresh prefix, fills the webhook's ciphertext
// params and every function's resource environment (as tools/dev does),
// starts the simulator and the router, signs up org A and org B through the
// API and connects their page and number through the API, which checks
// the tokens against the simulator and seals them with KMS.
func setupMeta(ctx context.Context) (*metaEnv, error) {
	begin := time.Now()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	m := &metaEnv{awsCfg: awsCfg, st: topology.Default(), prefix: fmt.Sprintf("benchmeta%d-", time.Now().UnixNano()%1e9),
		log: logging.New(os.Stderr, slog.LevelError), client: &http.Client{Timeout: 30 * time.Second}}
	if m.res, err = provision.Apply(ctx, awsCfg, m.st, m.prefix); err != nil {
		return nil, fmt.Errorf("provision %s*: %w", m.prefix, err)
	}
	m.store = dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), m.res.TableName)
	for _, fn := range m.st.Functions {
		for k, v := range topology.ResourceEnv(fn, m.res) {
			if err := os.Setenv(k, v); err != nil {
				return nil, fmt.Errorf("set %s: %w", k, err)
			}
		}
	}
	keys := kms.NewFromConfig(awsCfg)
	for env, p := range map[string]struct{ purpose, value string }{
		topology.EnvMetaAppSecretCiphertext:   {topology.PurposeMetaAppSecret, benchAppSecret},
		topology.EnvMetaVerifyTokenCiphertext: {topology.PurposeMetaVerifyToken, benchVerifyToken},
	} {
		ct, err := secret.Encrypt(ctx, keys, m.res.KeyID, p.purpose, []byte(p.value))
		if err != nil {
			return nil, fmt.Errorf("encrypt %s: %w", env, err)
		}
		if err := os.Setenv(env, ct); err != nil {
			return nil, fmt.Errorf("set %s: %w", env, err)
		}
	}

	m.sim = metatest.New(metatest.Options{AppSecret: []byte(benchAppSecret)})
	m.sim.AddPage(pageA, "Bench Realty A", tokenA)
	m.sim.AddForm(pageA, formA, "Book a site visit")
	m.sim.AddPage(pageB, "Bench Realty B", tokenB)
	m.sim.AddForm(pageB, formB, "Book a site visit")
	m.sim.AddPhoneNumber(numberB, displayB, "Bench Realty B", wabaB, waTokenB)
	for k, v := range map[string]string{"LEADLUENCE_GRAPH_BASE_URL": m.sim.URL, "LEADLUENCE_GRAPH_VERSION": m.sim.Version(),
		"LEADLUENCE_META_APP_ID": m.sim.AppID()} {
		if err := os.Setenv(k, v); err != nil {
			m.close()
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}

	apiCfg, err := config.Load[config.API]()
	if err != nil {
		m.close()
		return nil, fmt.Errorf("api config: %w", err)
	}
	apiH, err := api.New(ctx, apiCfg, m.log.With("function", "api"))
	if err != nil {
		m.close()
		return nil, fmt.Errorf("build api: %w", err)
	}
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		m.close()
		return nil, fmt.Errorf("account config: %w", err)
	}
	accountH, err := accountapp.New(ctx, accountCfg, m.log.With("function", "account"))
	if err != nil {
		m.close()
		return nil, fmt.Errorf("build account: %w", err)
	}
	hookCfg, err := config.Load[config.Webhook]()
	if err != nil {
		m.close()
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	hookH, err := webhook.New(ctx, hookCfg, m.log.With("function", "webhook"))
	if err != nil {
		m.close()
		return nil, fmt.Errorf("build webhook: %w", err)
	}
	m.srv = httptest.NewServer(runner.Router(m.st, runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"api": apiH, "account": accountH, "webhook": hookH}}, m.log))
	m.hookURL = m.srv.URL + webhook.Path

	if m.orgA, err = m.signup(ctx, "Bench Realty A"); err != nil {
		m.close()
		return nil, err
	}
	if m.orgB, err = m.signup(ctx, "Bench Realty B"); err != nil {
		m.close()
		return nil, err
	}
	for _, c := range []struct {
		org  orgSession
		path string
		body any
	}{
		{m.orgA, "/v1/integrations/facebook-pages", map[string]string{"page_id": pageA, "page_access_token": tokenA}},
		{m.orgB, "/v1/integrations/facebook-pages", map[string]string{"page_id": pageB, "page_access_token": tokenB}},
		{m.orgB, "/v1/integrations/whatsapp-numbers", map[string]string{"phone_number_id": numberB, "waba_id": wabaB,
			"display_phone_number": displayB, "access_token": waTokenB}},
	} {
		if err := m.call(ctx, http.MethodPost, c.path, c.org.Token, c.body, http.StatusCreated, nil); err != nil {
			m.close()
			return nil, err
		}
	}
	m.Setup = time.Since(begin)
	return m, nil
}

// signup creates an org and its owner through the API.
func (m *metaEnv) signup(ctx context.Context, org string) (orgSession, error) {
	var out struct {
		Org struct {
			ID string `json:"id"`
		} `json:"org"`
		AccessToken string `json:"access_token"`
	}
	email := fmt.Sprintf("owner.%d@example.com", time.Now().UnixNano())
	if err := m.call(ctx, http.MethodPost, "/v1/auth/signup", "", map[string]string{
		"org_name": org, "name": "Bench Owner", "email": email, "password": "bench-password-0123",
	}, http.StatusCreated, &out); err != nil {
		return orgSession{}, err
	}
	if out.Org.ID == "" || out.AccessToken == "" {
		return orgSession{}, fmt.Errorf("signup of %q answered no org id or access token", org)
	}
	// Growth has room for a page and a number (free allows one
	// integration); set before the org's first authenticated request.
	if err := m.store.SetOrgPlan(ctx, out.Org.ID, plan.Growth); err != nil {
		return orgSession{}, fmt.Errorf("put %q on a plan: %w", org, err)
	}
	return orgSession{ID: out.Org.ID, Token: out.AccessToken}, nil
}

// call makes one API request through the router and decodes the answer
// into out (when not nil); an answer other than want is an error.
func (m *metaEnv) call(ctx context.Context, method, path, token string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.srv.URL+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("User-Agent", "leadluence-bench/1.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s answered %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// newIngest builds an ingest handler the way functions/ingest/main.go
// does, from the environment setupMeta filled, with extra SDK options.
func (m *metaEnv) newIngest(ctx context.Context, opts ...awsenv.Option) (ingest.Handler, error) {
	cfg, err := config.Load[config.Ingest]()
	if err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	h, _, err := ingest.New(ctx, cfg, m.log.With("function", "ingest"), opts...)
	if err != nil {
		return nil, fmt.Errorf("build ingest: %w", err)
	}
	return h, nil
}

// sqsEvent is the event Lambda's event source mapping gives the ingest
// function for messages carrying these payloads as the webhook enqueues
// them (a payload that is valid UTF-8 travels as is).
func (m *metaEnv) sqsEvent(seq int, payloads ...[]byte) events.SQSEvent {
	var ev events.SQSEvent
	for i, p := range payloads {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("bench-%d-%d", seq, i), Body: string(p), EventSource: "aws:sqs", AWSRegion: "us-east-1",
			EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:" + m.prefix + topology.QueueIntake,
		})
	}
	return ev
}

// applyAll hands ev to h and fails on any record the handler did not
// take.
func applyAll(ctx context.Context, h ingest.Handler, ev events.SQSEvent) error {
	resp, err := h(ctx, ev)
	if err != nil {
		return fmt.Errorf("ingest handler: %w", err)
	}
	if n := len(resp.BatchItemFailures); n > 0 {
		return fmt.Errorf("ingest handler failed %d of %d records (see the log above)", n, len(ev.Records))
	}
	return nil
}

// newLeadAds adds a Lead Ads lead with the given phone (and an email made
// from it) to a form in the simulator and returns its leadgen id and
// webhook payload.
func (m *metaEnv) newLeadAds(page, form, phone string, n int) (leadgenID string, payload []byte) {
	now := time.Now().UTC()
	id := m.sim.AddLead(form, map[string][]string{
		"full_name": {fmt.Sprintf("Bench Lead %d", n)}, "phone_number": {phone},
		"email": {fmt.Sprintf("bench.lead.%s@example.com", strings.TrimPrefix(phone, "+"))}, "preferred_city": {"Pune"},
		"budget": {"80L - 1.2Cr"},
	}, now)
	return id, m.sim.LeadgenPayload(page, form, id, now)
}

// calibration is one write made to see how DynamoDB Local reports
// consumed capacity, against AWS's rules.
type calibration struct {
	What     string
	Reported float64
	Rule     float64
}

// calibrate makes a few writes of known sizes through a metered client and
// returns what DynamoDB Local reported for each next to AWS's rules.
func calibrate(ctx context.Context, m *metaEnv) ([]calibration, error) {
	meter := &capacityMeter{}
	cfg, err := awsenv.Load(ctx, meter.options())
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions)
	const pk = "BENCH#CALIBRATION"
	seq := 0
	item := func(size int, indexed bool) map[string]ddbtypes.AttributeValue {
		seq++
		it := map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: pk}, "SK": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%03d", seq)},
		}
		if indexed {
			it["GSI1PK"], it["GSI1SK"] = &ddbtypes.AttributeValueMemberS{Value: pk}, &ddbtypes.AttributeValueMemberS{Value: fmt.Sprint(seq)}
		}
		it["pad"] = &ddbtypes.AttributeValueMemberS{Value: strings.Repeat("x", max(0, size-itemSize(it)-len("pad")))}
		return it
	}
	transact := func(items ...map[string]ddbtypes.AttributeValue) error {
		var tw []ddbtypes.TransactWriteItem
		for _, it := range items {
			tw = append(tw, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: &m.res.TableName, Item: it}})
		}
		if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tw}); err != nil {
			return fmt.Errorf("transact write: %w", err)
		}
		return nil
	}
	put := func(it map[string]ddbtypes.AttributeValue) error {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &m.res.TableName, Item: it}); err != nil {
			return fmt.Errorf("put item: %w", err)
		}
		return nil
	}
	var out []calibration
	for _, c := range []struct {
		what string
		do   func() error
	}{
		{"PutItem, one 600 B item", func() error { return put(item(600, false)) }},
		{"PutItem, one 3,000 B item in GSI1", func() error { return put(item(3000, true)) }},
		{"TransactWriteItems, one 100 B item", func() error { return transact(item(100, false)) }},
		{"TransactWriteItems, five 100 B items", func() error {
			return transact(item(100, false), item(100, false), item(100, false), item(100, false), item(100, false))
		}},
		{"TransactWriteItems, five 600 B items", func() error {
			return transact(item(600, false), item(600, false), item(600, false), item(600, false), item(600, false))
		}},
		{"TransactWriteItems, five 100 B items, the first in GSI1", func() error {
			return transact(item(100, true), item(100, false), item(100, false), item(100, false), item(100, false))
		}},
	} {
		meter.take()
		if err := c.do(); err != nil {
			return nil, fmt.Errorf("calibration write %q: %w", c.what, err)
		}
		t := sumCapacity(meter.take())
		out = append(out, calibration{What: c.what, Reported: t.WriteUnits, Rule: t.Estimated})
	}
	return out, nil
}

// wcuSample is what one delivery to the ingest handler cost.
type wcuSample struct {
	LeadgenID string
	Calls     []capacityCall
	Took      time.Duration
}

// wcuResult is the capacity figure: new Lead Ads leads, and the same
// payloads delivered again.
type wcuResult struct {
	New, Dup []wcuSample
	// Calibration shows how DynamoDB Local reports capacity.
	Calibration []calibration
}

// measureWCU runs `reps` Lead Ads leads for org A through an ingest handler
// built with the capacity meter: each leadgen payload once (a new lead,
// with its activity and event claim, checked in the table afterwards), then
// the same payload again (a duplicate).
func measureWCU(ctx context.Context, m *metaEnv, reps int) (wcuResult, error) {
	var r wcuResult
	var err error
	if r.Calibration, err = calibrate(ctx, m); err != nil {
		return r, err
	}
	plain := dynamodb.NewFromConfig(m.awsCfg, dynamostore.ClientOptions)
	meter := &capacityMeter{readBack: func(ctx context.Context, table string, key map[string]ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil
		}
		return out.Item
	}}
	h, err := m.newIngest(ctx, meter.options())
	if err != nil {
		return r, err
	}
	for i := range reps {
		phone := fmt.Sprintf("+9198100%05d", i+1)
		id, payload := m.newLeadAds(pageA, formA, phone, i+1)
		for _, dup := range []bool{false, true} {
			meter.take()
			begin := time.Now()
			if err := applyAll(ctx, h, m.sqsEvent(i, payload)); err != nil {
				return r, fmt.Errorf("lead %s (duplicate %t): %w", id, dup, err)
			}
			s := wcuSample{LeadgenID: id, Took: time.Since(begin), Calls: meter.take()}
			if err := m.checkLead(ctx, m.orgA.ID, id, phone); err != nil {
				return r, err
			}
			if dup {
				r.Dup = append(r.Dup, s)
			} else {
				r.New = append(r.New, s)
			}
		}
	}
	return r, nil
}

// checkLead checks that a Lead Ads lead was stored once: its event claimed,
// a lead holding its phone whose provenance names the submission, and no
// timeline entry but its "created" one (a new lead records its submission
// on itself; a duplicate delivery adds nothing).
func (m *metaEnv) checkLead(ctx context.Context, orgID, leadgenID, phone string) error {
	if _, ok, err := m.store.EventClaimed(ctx, orgID, "leadgen:"+leadgenID); err != nil {
		return fmt.Errorf("leadgen %s: read event claim: %w", leadgenID, err)
	} else if !ok {
		return fmt.Errorf("leadgen %s: event not claimed", leadgenID)
	}
	leadID, err := m.store.LeadIDByPhone(ctx, orgID, phone)
	if err != nil {
		return fmt.Errorf("leadgen %s: no lead with phone %s: %w", leadgenID, phone, err)
	}
	l, err := m.store.GetLead(ctx, orgID, leadID)
	if err != nil {
		return fmt.Errorf("leadgen %s: read lead: %w", leadgenID, err)
	}
	if l.Provenance == nil || l.Provenance.LeadgenID != leadgenID {
		return fmt.Errorf("leadgen %s: lead %s provenance %+v", leadgenID, leadID, l.Provenance)
	}
	acts, err := m.store.Activities(ctx, orgID, leadID)
	if err != nil {
		return fmt.Errorf("leadgen %s: activities: %w", leadgenID, err)
	}
	if len(acts) != 1 || acts[0].Kind != lead.ActivityCreated {
		return fmt.Errorf("leadgen %s: lead %s has %d activities, want its %q one alone", leadgenID, leadID, len(acts), lead.ActivityCreated)
	}
	return nil
}

// kmsResult is the KMS figure: one ingest handler (one container) taking
// Lead Ads events for one org, each needing a Graph lead fetch with the
// page token sealed in the table.
type kmsResult struct {
	Events int
	// Batch is the records per handler call (the topology's batch size).
	Batch int
	// Calls are the AWS calls of the handler, "Service.Operation".
	Calls map[string]int
	// GraphLeads counts GET /{leadgen-id}; GraphAll every Graph request.
	GraphLeads, GraphAll int
	Took                 time.Duration
	// Claimed is how many of the events were found claimed afterwards.
	Claimed int
}

// kmsCalls returns the number of KMS calls.
func (k kmsResult) kmsCalls() int {
	n := 0
	for op, c := range k.Calls {
		if strings.HasPrefix(op, "KMS.") {
			n += c
		}
	}
	return n
}

// measureKMS builds a fresh ingest handler with the call counter and feeds
// it n leadgen events for org A's page, in batches of the topology's batch
// size, counting its KMS calls and the simulator's Graph calls.
func measureKMS(ctx context.Context, m *metaEnv, n, batch int) (kmsResult, error) {
	r := kmsResult{Events: n, Batch: batch}
	c := &callCounter{}
	h, err := m.newIngest(ctx, c.options())
	if err != nil {
		return r, err
	}
	ids := make([]string, n)
	payloads := make([][]byte, n)
	for i := range n {
		ids[i], payloads[i] = m.newLeadAds(pageA, formA, fmt.Sprintf("+9198200%05d", i+1), 1000+i)
	}
	v := "/" + m.sim.Version()
	graphCalls := func() int { return m.sim.Calls("", v+"/*") + m.sim.Calls("", v+"/*/*") + m.sim.Calls("", v+"/*/*/*") }
	leadsBefore, allBefore := m.sim.Calls(http.MethodGet, v+"/*"), graphCalls()
	c.take()
	begin := time.Now()
	for i := 0; i < n; i += batch {
		if err := applyAll(ctx, h, m.sqsEvent(i, payloads[i:min(i+batch, n)]...)); err != nil {
			return r, fmt.Errorf("events %d-%d: %w", i+1, min(i+batch, n), err)
		}
	}
	r.Took = time.Since(begin)
	r.Calls = c.take()
	r.GraphLeads, r.GraphAll = m.sim.Calls(http.MethodGet, v+"/*")-leadsBefore, graphCalls()-allBefore
	for _, id := range ids {
		_, ok, err := m.store.EventClaimed(ctx, m.orgA.ID, "leadgen:"+id)
		if err != nil {
			return r, fmt.Errorf("check leadgen %s: %w", id, err)
		}
		if ok {
			r.Claimed++
		}
	}
	if r.Claimed != n {
		return r, errors.New("not every leadgen event was applied")
	}
	return r, nil
}
