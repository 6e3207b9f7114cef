package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/importer/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

type env struct {
	t       *testing.T
	ctx     context.Context
	res     devstacktest.Env
	store   *dynamostore.Store
	queues  *sqs.Client
	handler app.Handler
	cfg     config.Importer
	log     *slog.Logger
	logs    *devstacktest.LogBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), res: devstacktest.Fresh(t), logs: &devstacktest.LogBuffer{}}
	e.log = logging.New(e.logs, slog.LevelDebug)
	e.store = dynamostore.New(dynamodb.NewFromConfig(e.res.AWS, dynamostore.ClientOptions), e.res.TableName)
	e.queues = sqs.NewFromConfig(e.res.AWS)
	e.res.SetFunctionEnv(t, "importer")
	cfg, err := config.Load[config.Importer]()
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	if e.handler, err = app.New(e.ctx, cfg, e.log); err != nil {
		t.Fatal(err)
	}
	return e
}

// org makes an org on plan p with its owner.
func (e *env) org(p plan.Name) account.User {
	e.t.Helper()
	now := time.Now().UTC()
	org := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: org, Name: "Owner", Email: "owner-" + strings.ToLower(org) + "@example.com",
		Role: account.RoleOwner, Active: true, PasswordHash: "hash", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateOrg(e.ctx, account.Org{ID: org, Name: "Importers", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SetOrgPlan(e.ctx, org, p); err != nil {
		e.t.Fatal(err)
	}
	return owner
}

// submit starts an import of file as u, its chunks on the imports queue.
func (e *env) submit(u account.User, file string, mapping map[string]string) (leadimport.Import, bool) {
	e.t.Helper()
	s := &leadimport.Submitter{Store: e.store, Enqueue: sqsqueue.New(e.queues, e.res.QueueURLs[topology.QueueImports]).Send}
	imp, existing, err := s.Submit(e.ctx, lead.Actor{User: u}, file, mapping)
	if err != nil {
		e.t.Fatal(err)
	}
	return imp, existing
}

// receive takes n messages off the imports queue.
func (e *env) receive(n int) []events.SQSMessage {
	e.t.Helper()
	var out []events.SQSMessage
	for try := 0; len(out) < n && try < 50; try++ {
		r, err := e.queues.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.res.QueueURLs[topology.QueueImports]),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range r.Messages {
			out = append(out, events.SQSMessage{MessageId: *m.MessageId, Body: *m.Body, EventSource: "aws:sqs"})
		}
	}
	if len(out) != n {
		e.t.Fatalf("%d messages on the imports queue, want %d", len(out), n)
	}
	return out
}

// apply runs the handler on each message, parallel at a time (as Lambda
// runs one batch of one message per instance).
func (e *env) apply(msgs []events.SQSMessage, parallel int) {
	e.t.Helper()
	var wg sync.WaitGroup
	next := make(chan events.SQSMessage)
	var failed atomic.Int64
	for range parallel {
		wg.Go(func() {
			for m := range next {
				resp, err := e.handler(e.ctx, events.SQSEvent{Records: []events.SQSMessage{m}})
				if err != nil || len(resp.BatchItemFailures) > 0 {
					failed.Add(1)
				}
			}
		})
	}
	for _, m := range msgs {
		next <- m
	}
	close(next)
	wg.Wait()
	if failed.Load() > 0 {
		e.t.Fatalf("%d chunks failed", failed.Load())
	}
}

func (e *env) importOf(orgID, id string) leadimport.Import {
	e.t.Helper()
	imp, err := e.store.GetImport(e.ctx, orgID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return imp
}

func (e *env) leadByPhone(orgID, phone string) lead.Lead {
	e.t.Helper()
	id, err := e.store.LeadIDByPhone(e.ctx, orgID, phone)
	if err != nil {
		e.t.Fatalf("lead of %s: %v", phone, err)
	}
	l, err := e.store.GetLead(e.ctx, orgID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) leadsCreated(orgID string) int {
	e.t.Helper()
	r, err := (&plan.Service{Counters: e.store, Orgs: e.store}).Usage(e.ctx, orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range r.Usage {
		if u.Metric == plan.LeadsPerMonth {
			return u.Used
		}
	}
	e.t.Fatal("no leads_per_month usage")
	return 0
}

// noPersonalData fails when the function's log holds a row's values.
func (e *env) noPersonalData() {
	e.t.Helper()
	logs := e.logs.String()
	if logs == "" {
		e.t.Fatal("nothing logged")
	}
	for _, v := range []string{"Person ", "+9198", "@example.com", "private note", "signed form"} {
		if strings.Contains(logs, v) {
			e.t.Fatalf("the log holds %q:\n%s", v, logs)
		}
	}
}

func rowPhone(i int) string { return fmt.Sprintf("+9198%08d", i) }

// The mapping of the files below: the file's own column names.
var mapping = map[string]string{"Full Name": "name", "Mobile": "phone", "E-mail": "email", "Labels": "tags", "Budget": "cf.budget",
	"WA opt-in": "whatsapp_marketing_opt_in", "Evidence": "consent_evidence"}

const header = "Full Name,Mobile,E-mail,Labels,Budget,WA opt-in,Evidence,Notes\n"

// bigFile is n rows: every 1000 rows, one with an invalid email (rejected),
// one with the phone of the row before (merged into that row's lead) and
// one opting in without evidence (rejected); every 100, one opting in with
// evidence.
func bigFile(n int) (file string, rejected, merged int) {
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		name, phone, email, optIn, evidence := fmt.Sprintf("Person %d", i), rowPhone(i), fmt.Sprintf("p%d@example.com", i), "", ""
		switch {
		case i%1000 == 7:
			email = "not-an-email"
			rejected++
		case i%1000 == 13:
			phone, email = rowPhone(i-1), ""
			merged++
		case i%1000 == 21:
			optIn = "yes"
			rejected++
		case i%100 == 3:
			optIn, evidence = "true", fmt.Sprintf("signed form %d", i)
		}
		fmt.Fprintf(&b, "%s,%s,%s,imported;VIP,%d,%s,%s,private note %d\n", name, phone, email, 1000+i, optIn, evidence, i)
	}
	return b.String(), rejected, merged
}

// A file of 10,000 rows with a mapping ends done with every row counted
// by its outcome: created, merged (into a lead the org had, and into the
// lead an earlier row of the file created), rejected with reasons; a
// lead that merges keeps what the business typed.
func TestImportTenThousandRows(t *testing.T) {
	e := newEnv(t)
	owner := e.org(plan.Business)
	now := time.Now().UTC()
	had := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "Asha Typed", Phone: rowPhone(5), Source: "walk-in", Status: lead.StatusQualified,
		Tags: []string{"vip"}, CustomFields: map[string]string{"budget": "typed"}, CreatedBy: owner.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := e.store.CreateLead(e.ctx, had); err != nil {
		t.Fatal(err)
	}
	had, err := e.store.GetLead(e.ctx, owner.OrgID, had.ID)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	file, rejected, merged := bigFile(n)
	merged++ // row index 5, into the lead the org had
	start := time.Now()
	imp, existing := e.submit(owner, file, mapping)
	if existing || imp.Status != leadimport.StatusRunning || imp.Rows != n || imp.Chunks < n/leadimport.MaxChunkRows {
		t.Fatalf("submitted %+v (existing %v)", imp, existing)
	}
	submitted := time.Since(start)
	e.apply(e.receive(imp.Chunks), 4)
	took := time.Since(start)
	got := e.importOf(owner.OrgID, imp.ID)
	t.Logf("%d rows in %d chunks: submitted in %v, done in %v, %.0f rows/s (4 chunks at a time, %d rows of a chunk at once)",
		n, imp.Chunks, submitted.Round(time.Millisecond), took.Round(time.Millisecond), n/took.Seconds(), e.cfg.Parallel)
	if got.Status != leadimport.StatusDone || got.ChunksDone != imp.Chunks || got.FinishedAt.IsZero() ||
		got.Created != n-rejected-merged || got.Merged != merged || got.Rejected != rejected {
		t.Fatalf("import %+v, want %d created, %d merged, %d rejected", got, n-rejected-merged, merged, rejected)
	}
	if used := e.leadsCreated(owner.OrgID); used != got.Created {
		t.Errorf("leads_per_month used %d, want %d (one per created lead)", used, got.Created)
	}
	rej, err := e.store.Rejections(e.ctx, owner.OrgID, imp.ID, leadimport.MaxRejections)
	if err != nil || len(rej) != rejected {
		t.Fatalf("rejections %+v, %v", rej, err)
	}
	// Row numbers are the file's lines (the header is line 1).
	if r := rej[0]; r.Row != 7+2 || r.Reason != leadimport.ReasonInvalid || r.Field != "email" {
		t.Errorf("first rejection %+v, want row 9 invalid email", r)
	}
	if r := rej[1]; r.Row != 21+2 || r.Reason != leadimport.ReasonInvalid || r.Field != lead.ColConsentEvidence {
		t.Errorf("second rejection %+v, want row 23 invalid consent_evidence", r)
	}
	// The lead the org had: empty fields filled, tags added, nothing it
	// had overwritten.
	m := e.leadByPhone(owner.OrgID, rowPhone(5))
	if m.ID != had.ID || m.Name != "Asha Typed" || m.Email != "p5@example.com" || m.Source != "walk-in" || m.Status != had.Status ||
		!slices.Equal(m.Tags, []string{"vip", "imported"}) || m.CustomFields["budget"] != "typed" {
		t.Errorf("merged lead %+v", m)
	}
	// Row 13 named row 12's phone: one lead, row 12's name.
	if l := e.leadByPhone(owner.OrgID, rowPhone(12)); l.Name != "Person 12" || l.Email != "p12@example.com" || l.Source != leadimport.SourceImport ||
		l.CustomFields["budget"] != "1012" || !slices.Equal(l.Tags, []string{"imported", "vip"}) {
		t.Errorf("lead of rows 12 and 13 %+v", l)
	}
	// An opt-in with its evidence is in the ledger, with the evidence.
	l := e.leadByPhone(owner.OrgID, rowPhone(103))
	ledger, err := e.store.ConsentLedger(e.ctx, owner.OrgID, l.ID)
	if err != nil || len(ledger) != 1 || ledger[0].Evidence != "signed form 103" || ledger[0].Action != "opt_in" ||
		!strings.HasPrefix(l.Consent["whatsapp:marketing"], "opt_in@") {
		t.Errorf("ledger %+v (%v), consent %v", ledger, err, l.Consent)
	}
	// Nothing of the rows is kept with the import: no names, phones,
	// emails, notes in its items.
	for _, item := range devstacktest.ScanTable(t, dynamodb.NewFromConfig(e.res.AWS), e.res.TableName) {
		pk := devstacktest.AttrStrings(item["PK"])
		if len(pk) == 0 || !strings.Contains(pk[0], "#IMPORT#") {
			continue
		}
		for k, v := range item {
			for _, s := range devstacktest.AttrStrings(v) {
				if strings.Contains(s, "Person") || strings.Contains(s, "+9198") || strings.Contains(s, "@example.com") || strings.Contains(s, "private") {
					t.Fatalf("import row item holds %s = %q", k, s)
				}
			}
		}
	}
}

// The same file with the same mapping is the same import; another mapping
// is another import.
func TestDuplicateSubmission(t *testing.T) {
	e := newEnv(t)
	owner := e.org(plan.Free)
	file, _, _ := bigFile(30)
	first, existing := e.submit(owner, file, mapping)
	if existing {
		t.Fatal("first submission found an existing import")
	}
	again, existing := e.submit(owner, file, mapping)
	if !existing || again.ID != first.ID {
		t.Fatalf("second submission %+v (existing %v), want %s", again, existing, first.ID)
	}
	e.apply(e.receive(first.Chunks), 1)
	// Only the first submission queued chunks.
	r, err := e.queues.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.res.QueueURLs[topology.QueueImports]), WaitTimeSeconds: 1})
	if err != nil || len(r.Messages) != 0 {
		t.Fatalf("left on the queue: %d, %v", len(r.Messages), err)
	}
	other := maps(mapping)
	delete(other, "Budget")
	third, existing := e.submit(owner, file, other)
	if existing || third.ID == first.ID {
		t.Fatalf("another mapping found import %s", third.ID)
	}
	list, err := e.store.ListImports(e.ctx, owner.OrgID, 10)
	if err != nil || len(list) != 2 || list[0].ID != third.ID || list[1].ID != first.ID || list[1].Status != leadimport.StatusDone {
		t.Fatalf("imports %+v, %v", list, err)
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A free org has 500 leads a month: the rows past it are rejected with
// plan_limit, and the rows that merge are not counted against it.
func TestImportPlanLimit(t *testing.T) {
	e := newEnv(t)
	owner := e.org(plan.Free)
	limit := plan.Of(plan.Free).Limits[plan.LeadsPerMonth]
	var b strings.Builder
	b.WriteString("name,phone\n")
	for i := range limit + 5 {
		fmt.Fprintf(&b, "Person %d,%s\n", i, rowPhone(i))
	}
	// Two more rows of phones already imported above: merged.
	fmt.Fprintf(&b, "Again,%s\nAgain,%s\n", rowPhone(0), rowPhone(1))
	imp, _ := e.submit(owner, b.String(), nil)
	e.apply(e.receive(imp.Chunks), 2)
	got := e.importOf(owner.OrgID, imp.ID)
	if got.Status != leadimport.StatusDone || got.Created != limit || got.Rejected != 5 || got.Merged != 2 {
		t.Fatalf("import %+v", got)
	}
	rej, err := e.store.Rejections(e.ctx, owner.OrgID, imp.ID, 10)
	if err != nil || len(rej) != 5 || rej[0].Reason != leadimport.ReasonPlanLimit {
		t.Fatalf("rejections %+v, %v", rej, err)
	}
	if used := e.leadsCreated(owner.OrgID); used != limit {
		t.Errorf("leads_per_month used %d, want %d", used, limit)
	}
}

// failingOutcomes is the table with the row outcomes failing after a
// number of them: the worker dies after writing leads whose outcome it
// has not stored.
type failingOutcomes struct {
	leadimport.Store
	left atomic.Int64
}

func (f *failingOutcomes) PutRowOutcome(ctx context.Context, orgID, importID string, o leadimport.RowOutcome, expires time.Time) (leadimport.RowOutcome, error) {
	if f.left.Add(-1) < 0 {
		return leadimport.RowOutcome{}, errors.New("injected: the table is gone")
	}
	return f.Store.PutRowOutcome(ctx, orgID, importID, o, expires)
}

// A chunk delivered again, after a delivery that wrote leads and died
// before storing their outcomes, and again after it was counted, creates
// no lead twice and counts every row once.
func TestRedeliveredChunk(t *testing.T) {
	e := newEnv(t)
	owner := e.org(plan.Growth)
	const n = 40
	file, rejected, merged := bigFile(n)
	imp, _ := e.submit(owner, file, mapping)
	msgs := e.receive(imp.Chunks)
	if len(msgs) != 1 {
		t.Fatalf("%d chunks", len(msgs))
	}
	w := app.NewWorker(e.store, e.cfg, e.log)
	f := &failingOutcomes{Store: e.store}
	f.left.Store(10)
	w.Store = f
	if resp, err := app.NewHandler(w, e.log)(e.ctx, events.SQSEvent{Records: msgs}); err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("the failing delivery answered %+v, %v", resp, err)
	}
	if !strings.Contains(e.logs.String(), "injected") {
		t.Fatalf("the failure is not logged: %s", e.logs.String())
	}
	if got := e.importOf(owner.OrgID, imp.ID); got.Processed() != 0 || got.Status != leadimport.StatusRunning {
		t.Fatalf("counted after a failed delivery: %+v", got)
	}
	// Redelivered twice: the second finds it counted.
	e.apply(msgs, 1)
	e.apply(msgs, 1)
	got := e.importOf(owner.OrgID, imp.ID)
	if got.Status != leadimport.StatusDone || got.Created != n-rejected-merged || got.Merged != merged || got.Rejected != rejected {
		t.Fatalf("import %+v, want %d created, %d merged, %d rejected", got, n-rejected-merged, merged, rejected)
	}
	leads, err := e.store.ListLeads(e.ctx, owner.OrgID, lead.Filter{}, 100, page.Cursor{})
	if err != nil || len(leads.Items) != got.Created {
		t.Fatalf("%d leads, want %d (%v)", len(leads.Items), got.Created, err)
	}
	if used := e.leadsCreated(owner.OrgID); used != got.Created {
		t.Errorf("leads_per_month used %d, want %d", used, got.Created)
	}
	l := e.leadByPhone(owner.OrgID, rowPhone(3))
	if ledger, err := e.store.ConsentLedger(e.ctx, owner.OrgID, l.ID); err != nil || len(ledger) != 1 {
		t.Errorf("row 3's ledger after three deliveries: %+v, %v", ledger, err)
	}
	e.noPersonalData()
}

// A lead deleted with an opt-out and imported again starts with the
// opt-out (the suppression entry of its phone), as a lead created any
// other way does.
func TestImportKeepsADeletedLeadsOptOut(t *testing.T) {
	e := newEnv(t)
	owner := e.org(plan.Growth)
	sealer := envelope.New(kms.NewFromConfig(e.res.AWS), e.res.KeyID, envelope.Options{})
	if _, err := suppression.LoadKey(e.ctx, e.store, sealer); err != nil {
		t.Fatal(err)
	}
	e.store.UseLazySuppression(&suppression.Lazy{Store: e.store, Sealer: sealer})
	now := time.Now().UTC()
	gone := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "Opted Out", Phone: rowPhone(77), Source: "manual", Status: lead.StatusNew,
		CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := e.store.CreateLead(e.ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AppendConsent(e.ctx, conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: owner.OrgID, LeadID: gone.ID,
		Channel: conversation.ChannelWhatsApp, Purpose: "marketing", Action: conversation.OptOut, At: now, Evidence: "STOP",
		Source: conversation.SourceStaff, Reason: "asked"}); err != nil {
		t.Fatal(err)
	}
	gone, err := e.store.GetLead(e.ctx, owner.OrgID, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteLead(e.ctx, gone); err != nil {
		t.Fatal(err)
	}
	imp, _ := e.submit(owner, "name,phone\nBack Again,"+rowPhone(77)+"\n", nil)
	e.apply(e.receive(imp.Chunks), 1)
	if got := e.importOf(owner.OrgID, imp.ID); got.Created != 1 {
		t.Fatalf("import %+v", got)
	}
	l := e.leadByPhone(owner.OrgID, rowPhone(77))
	if l.ID == gone.ID || !strings.HasPrefix(l.Consent["whatsapp:marketing"], "opt_out@") {
		t.Fatalf("imported lead %s consent %v", l.ID, l.Consent)
	}
}
