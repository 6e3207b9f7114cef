package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/leakscan"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

var asOf = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)

// env is a fresh table with a store whose reads are counted.
type env struct {
	t     *testing.T
	ctx   context.Context
	res   devstacktest.Env
	store *dynamostore.Store
	// itemsRead counts the items DynamoDB returned or scanned.
	itemsRead atomic.Int64
	scans     atomic.Int64
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, ctx: context.Background(), res: devstacktest.Fresh(t)}
	db := dynamodb.NewFromConfig(e.res.AWS, func(o *dynamodb.Options) {
		o.Logger = logging.Nop{}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("count-reads", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				switch r := out.Result.(type) {
				case *dynamodb.QueryOutput:
					e.itemsRead.Add(int64(max(r.ScannedCount, r.Count)))
				case *dynamodb.GetItemOutput:
					if r.Item != nil {
						e.itemsRead.Add(1)
					}
				case *dynamodb.ScanOutput:
					e.scans.Add(1)
				}
				return out, md, err
			}), middleware.After)
		})
	})
	e.store = dynamostore.New(db, e.res.TableName)
	return e
}

func (e *env) runner(rate float64) *retention.Runner {
	return &retention.Runner{Store: e.store, Audit: e.store, Rate: rate, Margin: 50 * time.Millisecond,
		Log: e.log()}
}

// log is the retention function's logger for the test: when the test
// ends, it must hold none of the test's personal data (leads' phones, the
// messages' content).
func (e *env) log() *slog.Logger {
	return leakscan.Checked(e.t, "retention",
		leakscan.Marker{Name: "lead phone", Value: "+919876500000"}, leakscan.Marker{Name: "lead phone", Value: queueLeadPhone},
		leakscan.Marker{Name: "phone in a message", Value: "+919876543210"}, leakscan.Marker{Name: "email in a message", Value: "priya@example.com"},
		leakscan.Marker{Name: "message text", Value: body}, leakscan.Marker{Name: "media caption", Value: "my pan card"})
}

// org creates an org (as sign-up does) with a lead, and its content period
// when days is not 0.
func (e *env) org(t *testing.T, days int) (orgID, leadID string) {
	t.Helper()
	orgID = ulid.Make().String()
	now := time.Now().UTC()
	owner := account.User{ID: ulid.Make().String(), OrgID: orgID, Name: "Owner", Email: strings.ToLower(orgID) + "@example.com",
		Role: account.RoleOwner, Active: true, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateOrg(e.ctx, account.Org{ID: orgID, Name: "Org " + orgID, DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	if days != 0 {
		if err := e.store.PutRetentionSettings(e.ctx, orgID, retention.Settings{ContentDays: days, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	l := lead.Lead{ID: ulid.Make().String(), OrgID: orgID, Name: "Lead", Phone: "+919876500000", Source: "manual", Status: lead.StatusNew,
		Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	return orgID, l.ID
}

const body = "Call me on +91 98765 43210 or write to priya@example.com about the 2 BHK flat near the station, thanks a lot!"

// message writes an inbound message of the given age at asOf.
func (e *env) message(t *testing.T, orgID, leadID string, age time.Duration) string {
	t.Helper()
	at := asOf.Add(-age)
	id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	m := conversation.Message{ID: id, OrgID: orgID, LeadID: leadID, Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound,
		ProviderID: "wamid." + id, Type: "image", Text: body, Status: conversation.StatusReceived, At: at,
		Media: &conversation.Media{ID: "media-" + id, Caption: "my pan card"}, Details: map[string]string{"context_id": "wamid.x"}}
	if err := e.store.PutInboundMessage(e.ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) sanitized(t *testing.T, orgID, leadID, id string) bool {
	t.Helper()
	m, err := e.store.GetMessage(e.ctx, orgID, leadID, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.SanitizedAt.IsZero() {
		if m.Text != body || m.Media == nil || len(m.Details) == 0 {
			t.Errorf("message %s is not sanitized but changed: %+v", id, m)
		}
		return false
	}
	if m.Media != nil || len(m.Details) != 0 || strings.Contains(m.Text, "98765") || strings.Contains(m.Text, "priya") || len([]rune(m.Text)) > retention.PreviewRunes {
		t.Errorf("message %s sanitized badly: %+v", id, m)
	}
	return true
}

func (e *env) auditCounts(t *testing.T, orgID string) []string {
	t.Helper()
	recs, _, err := e.store.ListAudit(e.ctx, orgID, 100, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Action == retention.ActionContentSanitized {
			if strings.Contains(fmt.Sprint(r.Details), "priya") {
				t.Errorf("audit record holds content: %v", r.Details)
			}
			out = append(out, r.Details["messages"])
		}
	}
	return out
}

const day = 24 * time.Hour

func TestContentLifecycle(t *testing.T) {
	e := newEnv(t)
	orgA, leadA := e.org(t, 0)  // default: 90 days
	orgB, leadB := e.org(t, 30) // 30 days
	ages := []time.Duration{200 * day, 100 * day, 60 * day, 10 * day, 29*day + 23*time.Hour}
	ids := map[string][]string{}
	for _, age := range ages {
		ids[orgA] = append(ids[orgA], e.message(t, orgA, leadA, age))
		ids[orgB] = append(ids[orgB], e.message(t, orgB, leadB, age))
	}
	wantA := []bool{true, true, false, false, false}
	wantB := []bool{true, true, true, false, false}

	// The plan shows what is due and writes nothing.
	plan, err := e.runner(1000).Plan(e.ctx, asOf)
	if err != nil {
		t.Fatal(err)
	}
	due := map[string]int{}
	for _, p := range plan {
		due[p.OrgID] = p.Due
	}
	if due[orgA] != 2 || due[orgB] != 3 {
		t.Fatalf("plan = %+v, want 2 due for A and 3 for B", plan)
	}
	for i := range ages {
		if e.sanitized(t, orgA, leadA, ids[orgA][i]) || e.sanitized(t, orgB, leadB, ids[orgB][i]) {
			t.Fatal("the plan sanitized a message")
		}
	}

	// The scheduled handler runs at the event's time.
	cfg := config.Retention{TableName: e.res.TableName, Rate: 1000, Margin: time.Second}
	h, err := app.New(e.ctx, cfg, e.log())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Schedule(e.ctx, events.EventBridgeEvent{Time: asOf}); err != nil {
		t.Fatal(err)
	}
	for i := range ages {
		if got := e.sanitized(t, orgA, leadA, ids[orgA][i]); got != wantA[i] {
			t.Errorf("org A, age %s: sanitized %v, want %v", ages[i], got, wantA[i])
		}
		if got := e.sanitized(t, orgB, leadB, ids[orgB][i]); got != wantB[i] {
			t.Errorf("org B, age %s: sanitized %v, want %v", ages[i], got, wantB[i])
		}
	}
	if a, b := e.auditCounts(t, orgA), e.auditCounts(t, orgB); len(a) != 1 || a[0] != "2" || len(b) != 1 || b[0] != "3" {
		t.Fatalf("audit counts A %v B %v, want [2] and [3]", a, b)
	}

	// A second run changes nothing and writes no audit record.
	res, err := e.runner(1000).Run(e.ctx, asOf)
	if err != nil || res.Total() != 0 || !res.Complete {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if a := e.auditCounts(t, orgA); len(a) != 1 {
		t.Fatalf("audit after the second run: %v", a)
	}
	// History still lists every message, sanitized ones with their time.
	msgs, err := e.store.Messages(e.ctx, orgB, leadB)
	if err != nil || len(msgs) != len(ages) {
		t.Fatalf("history of B: %d messages, %v", len(msgs), err)
	}
	if e.scans.Load() != 0 {
		t.Fatalf("%d scans", e.scans.Load())
	}
}

func TestRunStopsBeforeItsDeadlineAndResumes(t *testing.T) {
	e := newEnv(t)
	orgID, leadID := e.org(t, 0)
	const n = 12
	for i := range n {
		e.message(t, orgID, leadID, time.Duration(100+i)*day)
	}
	// 20 messages a second with 400 ms left and a 50 ms margin: a few.
	ctx, cancel := context.WithTimeout(e.ctx, 400*time.Millisecond)
	res, err := e.runner(20).Run(ctx, asOf)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.Total() == 0 || res.Total() >= n {
		t.Fatalf("first run: complete %v, sanitized %d; want it stopped part way", res.Complete, res.Total())
	}
	if cp, ok, err := e.store.RetentionCheckpoint(e.ctx, retention.JobContent); err != nil || !ok || !cp.AsOf.Equal(asOf) || cp.Org != orgID {
		t.Fatalf("checkpoint %+v %v %v", cp, ok, err)
	}
	if a := e.auditCounts(t, orgID); len(a) != 0 {
		t.Fatalf("audit before the org finished: %v", a)
	}
	first := res.Total()
	// The next run (later, at another time) resumes the checkpoint's run.
	res, err = e.runner(1000).Run(e.ctx, asOf.Add(time.Hour))
	if err != nil || !res.Complete || !res.Resumed || !res.AsOf.Equal(asOf) {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	// The resumed run reports the whole run, the part before the stop included.
	if res.Total() != n || first >= n {
		t.Fatalf("sanitized %d (first part %d), want %d", res.Total(), first, n)
	}
	if a := e.auditCounts(t, orgID); len(a) != 1 || a[0] != fmt.Sprint(n) {
		t.Fatalf("audit %v, want one record of %d", a, n)
	}
	if _, ok, _ := e.store.RetentionCheckpoint(e.ctx, retention.JobContent); ok {
		t.Fatal("checkpoint left after the run completed")
	}
}

func TestNothingDueReadsBoundedItems(t *testing.T) {
	e := newEnv(t)
	const orgs = 3
	for i := range orgs {
		orgID, leadID := e.org(t, 0)
		// Many recent messages: none due.
		for j := range 60 + 60*i {
			e.message(t, orgID, leadID, time.Duration(j)*time.Hour)
		}
	}
	e.itemsRead.Store(0)
	res, err := e.runner(1000).Run(e.ctx, asOf)
	if err != nil || res.Total() != 0 || !res.Complete {
		t.Fatalf("run: %+v, %v", res, err)
	}
	// One settings item per org, and the checkpoint lookup.
	if got := e.itemsRead.Load(); got > orgs+1 {
		t.Fatalf("a run with nothing due read %d items, want at most %d", got, orgs+1)
	}
	if e.scans.Load() != 0 {
		t.Fatalf("%d scans", e.scans.Load())
	}
}
