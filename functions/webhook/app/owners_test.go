package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// uniqueID is a page or number id no other test uses.
func uniqueID(prefix string) string {
	return prefix + strconv.FormatInt(time.Now().UnixNano()%1e12, 10)
}

// Signed deliveries for a page or number no org owns are answered 200 and
// not enqueued, counted in a metric log line without the id; in a batch
// only the unowned entries are left out; a disconnected integration's
// events still go to ingest (which counts them).
func TestUnownedEntriesAreDropped(t *testing.T) {
	e := newEnv(t)
	e.keepUnowned = true
	now := time.Now()

	// A Lead Ads page no org owns.
	stray := uniqueID("9001")
	expectReceived(t, e.call(t, signedPost(t, metatest.LeadgenPayload(stray, "form-1", uniqueID("lg"), now))))
	e.expectEmpty(t)
	// A WhatsApp number no org owns.
	strayNumber := uniqueID("9002")
	expectReceived(t, e.call(t, signedPost(t, metatest.InboundPayload(strayNumber, "15550001111", metatest.Text("919876500001", "hello")))))
	e.expectEmpty(t)
	logs := e.logs.String()
	if strings.Count(logs, "webhook_unowned_entries") != 2 || strings.Contains(logs, stray) || strings.Contains(logs, strayNumber) ||
		strings.Contains(logs, "919876500001") {
		t.Fatalf("want two metric lines without ids or numbers:\n%s", logs)
	}

	// A batch of an owned and an unowned page: only the owned entry.
	owned, other := uniqueID("9003"), uniqueID("9004")
	e.own(t, "facebook_page", owned, "active")
	lead := uniqueID("lg")
	body, err := metatest.Batch(metatest.LeadgenPayload(owned, "form-1", lead, now), metatest.LeadgenPayload(other, "form-1", uniqueID("lg"), now))
	if err != nil {
		t.Fatal(err)
	}
	expectReceived(t, e.call(t, signedPost(t, body)))
	msgs := e.drain(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	wh, err := meta.ParseWebhook(msgs[0].payload(t))
	if err != nil || wh.Object != "page" || len(wh.Entry) != 1 {
		t.Fatalf("enqueued %s: %v", msgs[0].payload(t), err)
	}
	if v, err := wh.Entry[0].Changes[0].Leadgen(); err != nil || v.PageID != owned || v.LeadgenID != lead {
		t.Fatalf("enqueued entry %+v %v, want the owned page's lead", v, err)
	}

	// An owned page's delivery is enqueued verbatim; so is a disconnected
	// one's.
	disconnected := uniqueID("9005")
	e.own(t, "facebook_page", disconnected, "disconnected")
	for _, page := range []string{owned, disconnected} {
		body := metatest.LeadgenPayload(page, "form-1", uniqueID("lg"), now)
		expectReceived(t, e.call(t, signedPost(t, body)))
		if msgs := e.drain(t); len(msgs) != 1 || string(msgs[0].payload(t)) != string(body) {
			t.Fatalf("page %s: enqueued %d messages, want the body verbatim", page, len(msgs))
		}
	}
}

// fakeOwners is the owner lookup with a switchable failure.
type fakeOwners struct {
	mu      sync.Mutex
	owned   map[string]bool
	lookups int
	err     error
}

func (f *fakeOwners) IntegrationOwner(_ context.Context, kind integration.Kind, id string) (integration.Owner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return integration.Owner{}, f.err
	}
	if f.owned[string(kind)+"#"+id] {
		return integration.Owner{OrgID: "o1", Status: integration.StatusActive}, nil
	}
	return integration.Owner{}, integration.ErrNotFound
}

func (f *fakeOwners) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.lookups }

// countingSender counts what the handler enqueues.
type countingSender struct {
	mu     sync.Mutex
	sent   int
	bodies []string
}

func (c *countingSender) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	c.bodies = append(c.bodies, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (c *countingSender) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.sent }

// Owner lookups are remembered per instance (owned ones longer than
// unowned ones), and a failed lookup enqueues the event (fail open).
func TestOwnerCacheAndFailOpen(t *testing.T) {
	ctx := context.Background()
	owners := &fakeOwners{owned: map[string]bool{"facebook_page#p-owned": true}}
	queue := &countingSender{}
	clk := struct {
		sync.Mutex
		at time.Time
	}{at: time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)}
	now := func() time.Time { clk.Lock(); defer clk.Unlock(); return clk.at }
	advance := func(d time.Duration) { clk.Lock(); clk.at = clk.at.Add(d); clk.Unlock() }
	logs := &devstacktest.LogBuffer{}
	h, err := app.NewHandler(app.Deps{Queue: queue, QueueURL: "http://127.0.0.1:1/000000000000/intake",
		AppSecret: []byte(devAppSecret), VerifyToken: []byte(devVerifyToken), Log: logging.New(logs, slog.LevelInfo),
		Now: now, Owners: owners})
	if err != nil {
		t.Fatal(err)
	}
	post := func(page string) {
		t.Helper()
		resp, err := h(ctx, signedPost(t, metatest.LeadgenPayload(page, "f", "lg-1", now())))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d %v", resp.StatusCode, err)
		}
	}
	// Unowned: looked up once, then remembered for 5 s.
	post("p-stray")
	post("p-stray")
	if owners.count() != 1 || queue.count() != 0 {
		t.Fatalf("%d lookups, %d enqueued; want 1 and 0", owners.count(), queue.count())
	}
	advance(6 * time.Second)
	post("p-stray")
	if owners.count() != 2 || queue.count() != 0 {
		t.Fatalf("after 6 s: %d lookups, %d enqueued; want 2 and 0", owners.count(), queue.count())
	}
	// Owned: remembered for 5 minutes.
	post("p-owned")
	advance(4 * time.Minute)
	post("p-owned")
	if owners.count() != 3 || queue.count() != 2 {
		t.Fatalf("owned: %d lookups, %d enqueued; want 3 and 2", owners.count(), queue.count())
	}
	// A failed lookup enqueues, and is not remembered.
	owners.mu.Lock()
	owners.err = errors.New("table unreachable")
	owners.mu.Unlock()
	post("p-new")
	post("p-new")
	if owners.count() != 5 || queue.count() != 4 {
		t.Fatalf("failing lookups: %d lookups, %d enqueued; want 5 and 4", owners.count(), queue.count())
	}
	if !strings.Contains(logs.String(), "webhook owner lookup failed") {
		t.Fatalf("no warning of the failed lookup:\n%s", logs.String())
	}
	// Bodies the filter cannot judge are enqueued without a lookup.
	for _, body := range [][]byte{[]byte("not json"), []byte(`{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments","value":{}}]}]}`)} {
		resp, err := h(ctx, signedPost(t, body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d %v", resp.StatusCode, err)
		}
	}
	if owners.count() != 5 || queue.count() != 6 {
		t.Fatalf("unjudged bodies: %d lookups, %d enqueued; want 5 and 6", owners.count(), queue.count())
	}
}

// A batch left partly out is rebuilt from the bytes sent: the kept entries
// exactly as they were (spacing, numeric ids, escapes); a malformed entry
// list is enqueued whole.
func TestPartlyUnownedBatchKeepsEntriesAsSent(t *testing.T) {
	ctx := context.Background()
	owners := &fakeOwners{owned: map[string]bool{"facebook_page#111": true}}
	queue := &countingSender{}
	h, err := app.NewHandler(app.Deps{Queue: queue, QueueURL: "http://127.0.0.1:1/000000000000/intake",
		AppSecret: []byte(devAppSecret), VerifyToken: []byte(devVerifyToken), Log: logging.New(&devstacktest.LogBuffer{}, slog.LevelInfo),
		Owners: owners})
	if err != nil {
		t.Fatal(err)
	}
	owned := `{ "id": "111", "time": 1,
	  "changes": [ { "field": "leadgen", "value": { "page_id": 111, "leadgen_id": "L\u00e9-1" } } ] }`
	stray := `{"id":"222","time":1,"changes":[{"field":"leadgen","value":{"page_id":"222","leadgen_id":"L-2"}}]}`
	body := "{\n  \"object\" : \"page\",\n  \"entry\" : [ " + stray + " ,\n " + owned + " ]\n}"
	resp, err := h(ctx, signedPost(t, []byte(body)))
	if err != nil || resp.StatusCode != 200 || queue.count() != 1 {
		t.Fatalf("status %d %v, %d enqueued", resp.StatusCode, err, queue.count())
	}
	if want := `{"object":"page","entry":[` + owned + `]}`; queue.bodies[0] != want {
		t.Fatalf("enqueued %s\nwant %s", queue.bodies[0], want)
	}
	wh, err := meta.ParseWebhook([]byte(queue.bodies[0]))
	if err != nil || len(wh.Entry) != 1 {
		t.Fatalf("enqueued body does not parse: %v", err)
	}
	if v, err := wh.Entry[0].Changes[0].Leadgen(); err != nil || v.PageID != "111" || v.LeadgenID != "Lé-1" {
		t.Fatalf("kept entry %+v %v", v, err)
	}
	// A malformed entry list is not judged: enqueued whole.
	bad := `{"object":"page","entry":[` + stray + `,{"id":]}`
	if resp, err := h(ctx, signedPost(t, []byte(bad))); err != nil || resp.StatusCode != 200 || queue.count() != 2 || queue.bodies[1] != bad {
		t.Fatalf("malformed body: %d %v, %d enqueued", resp.StatusCode, err, queue.count())
	}
}
