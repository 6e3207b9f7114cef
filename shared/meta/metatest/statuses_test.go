package metatest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
)

// hookSecret signs status webhooks in these tests; the server's own app
// secret differs, so a test passing with it proves the override is used.
var hookSecret = []byte("status-hook-secret")

// hit is one request received by a statusReceiver.
type hit struct {
	body []byte
	sig  string
	ua   string
}

// statusReceiver is a webhook endpoint that records every request and
// answers failures, in order, before answering 200.
type statusReceiver struct {
	mu       sync.Mutex
	hits     []hit
	failures []int // statuses to answer first, one per request
	always   int   // if set, every request is answered with it
}

func newStatusReceiver(t *testing.T, failures ...int) (*statusReceiver, string) {
	t.Helper()
	rc := &statusReceiver{failures: failures}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{body: b, sig: r.Header.Get(meta.SignatureHeader), ua: r.UserAgent()})
		status := http.StatusOK
		switch {
		case rc.always != 0:
			status = rc.always
		case len(rc.failures) > 0:
			status, rc.failures = rc.failures[0], rc.failures[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	return rc, hs.URL + "/webhooks/meta"
}

func (rc *statusReceiver) snapshot() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// waitHits polls until the receiver has at least n requests, or fails the
// test at a generous deadline.
func (rc *statusReceiver) waitHits(t *testing.T, n int) []hit {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		hs := rc.snapshot()
		if len(hs) >= n {
			return hs
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %d requests, want %d", len(hs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fast is a StatusWebhook to url that reports and retries at once.
func fast(url string) metatest.StatusWebhook {
	return metatest.StatusWebhook{URL: url, AppSecret: hookSecret,
		Sent: metatest.NoDelay, Delivered: metatest.NoDelay, Read: metatest.NoDelay, Backoff: metatest.NoDelay}
}

// newSim starts a simulator with one WhatsApp number and hook.
func newSim(t *testing.T, hook metatest.StatusWebhook) (*metatest.Server, *meta.Client) {
	t.Helper()
	srv := metatest.New(metatest.Options{AppSecret: []byte("server-secret"), StatusWebhook: hook})
	t.Cleanup(srv.Close)
	srv.AddPhoneNumber(phoneID, display, "Example Clinic", wabaID, "wa")
	return srv, meta.NewClient(srv.URL, "", nil)
}

func sendText(t *testing.T, c *meta.Client, to string) meta.SendResult {
	t.Helper()
	res, err := c.SendMessage(context.Background(), phoneID, "wa",
		map[string]any{"messaging_product": "whatsapp", "to": to, "type": "text", "text": map[string]string{"body": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// statusOf checks that h is a signed WhatsApp webhook for the test number
// with exactly one status, and returns it.
func statusOf(t *testing.T, h hit) meta.Status {
	t.Helper()
	if err := meta.VerifySignature(hookSecret, h.body, h.sig); err != nil {
		t.Fatalf("signature %q over %s: %v", h.sig, h.body, err)
	}
	if h.ua != "facebookexternalua" {
		t.Errorf("User-Agent = %q", h.ua)
	}
	w, err := meta.ParseWebhook(h.body)
	if err != nil {
		t.Fatal(err)
	}
	if w.Object != meta.ObjectWhatsAppBusinessAccount || len(w.Entry) != 1 || w.Entry[0].ID != wabaID || len(w.Entry[0].Changes) != 1 {
		t.Fatalf("webhook = %s", h.body)
	}
	ch := w.Entry[0].Changes[0]
	v, err := ch.WhatsApp()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Field != meta.FieldMessages || v.MessagingProduct != "whatsapp" || v.Metadata.PhoneNumberID != phoneID ||
		v.Metadata.DisplayPhoneNumber != display || len(v.Statuses) != 1 || len(v.Messages) != 0 {
		t.Fatalf("value = %s", ch.Value)
	}
	st := v.Statuses[0]
	if st.Timestamp == "" {
		t.Errorf("status without timestamp: %+v", st)
	}
	return st
}

func TestStatusWebhookReportsSentDeliveredRead(t *testing.T) {
	rc, url := newStatusReceiver(t)
	_, c := newSim(t, fast(url))
	res := sendText(t, c, "+"+cust)

	hits := rc.waitHits(t, 3)
	var got []string
	for _, h := range hits {
		st := statusOf(t, h)
		got = append(got, st.Status)
		if st.ID != res.MessageID || st.RecipientID != cust {
			t.Errorf("status %s for %s to %s, want %s to %s", st.Status, st.ID, st.RecipientID, res.MessageID, cust)
		}
		switch st.Status {
		case meta.StatusSent, meta.StatusDelivered:
			if st.Conversation == nil || st.Conversation.ID == "" || st.Pricing == nil || st.Pricing.Category != "service" {
				t.Errorf("%s without conversation and pricing: %+v", st.Status, st)
			}
		case meta.StatusRead:
			if st.Conversation != nil || st.Pricing != nil || len(st.Errors) != 0 {
				t.Errorf("read = %+v", st)
			}
		}
	}
	if fmt.Sprint(got) != "[sent delivered read]" {
		t.Errorf("statuses = %v, want [sent delivered read]", got)
	}
}

func TestStatusWebhookDefaultsToServerSecret(t *testing.T) {
	rc, url := newStatusReceiver(t)
	hook := fast(url)
	hook.AppSecret = nil
	srv, c := newSim(t, hook)
	sendText(t, c, cust)
	h := rc.waitHits(t, 1)[0]
	if err := meta.VerifySignature(srv.AppSecret(), h.body, h.sig); err != nil {
		t.Errorf("signed with the server's secret: %v", err)
	}
}

func TestStatusWebhookTemplatePricing(t *testing.T) {
	rc, url := newStatusReceiver(t)
	srv, c := newSim(t, fast(url))
	srv.AddTemplate(wabaID, meta.Template{Name: "spring_offer", Language: "en", Category: "MARKETING"})
	res, err := c.SendMessage(context.Background(), phoneID, "wa", map[string]any{"messaging_product": "whatsapp", "to": cust,
		"type": "template", "template": map[string]any{"name": "spring_offer", "language": map[string]string{"code": "en"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rc.waitHits(t, 3)[:2] {
		st := statusOf(t, h)
		if st.ID != res.MessageID || st.Pricing == nil || st.Pricing.Category != "marketing" || !st.Pricing.Billable ||
			st.Conversation == nil || st.Conversation.Origin == nil || st.Conversation.Origin.Type != "marketing" {
			t.Errorf("%s of a marketing template: %+v %+v %+v", st.Status, st, st.Conversation, st.Pricing)
		}
	}
}

func TestStatusWebhookUndeliverable(t *testing.T) {
	const extra = "919876513102"
	for _, to := range []string{"+" + metatest.UndeliverableWaID, "+91 98765 13102"} {
		t.Run(to, func(t *testing.T) {
			rc, url := newStatusReceiver(t)
			hook := fast(url)
			hook.Undeliverable = []string{"+" + extra}
			srv, c := newSim(t, hook)
			res := sendText(t, c, to)
			rc.waitHits(t, 2)
			// Close waits for the reporting to end: nothing may follow "failed".
			srv.Close()
			hits := rc.snapshot()
			if len(hits) != 2 {
				t.Fatalf("got %d webhooks, want sent and failed", len(hits))
			}
			sent, failed := statusOf(t, hits[0]), statusOf(t, hits[1])
			if sent.Status != meta.StatusSent || sent.ID != res.MessageID {
				t.Errorf("first = %+v", sent)
			}
			want := meta.Error{Code: 131026, Title: "Message undeliverable", Message: "Message undeliverable",
				ErrorData: &meta.ErrorData{Details: "Message Undeliverable."}, Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
			if failed.Status != meta.StatusFailed || failed.ID != res.MessageID || failed.RecipientID != res.WaID ||
				failed.Pricing != nil || failed.Conversation != nil {
				t.Errorf("second = %+v", failed)
			}
			if diff := cmp.Diff([]meta.Error{want}, failed.Errors); diff != "" {
				t.Errorf("failed errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusWebhookRetries(t *testing.T) {
	// The first try of "sent" finds the endpoint failing, the retry a 500,
	// the third succeeds; "delivered" fails once more.
	rc, url := newStatusReceiver(t, http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusOK, http.StatusBadGateway)
	_, c := newSim(t, fast(url))
	res := sendText(t, c, cust)

	hits := rc.waitHits(t, 6)
	var got []string
	for _, h := range hits {
		st := statusOf(t, h)
		if st.ID != res.MessageID {
			t.Errorf("status for %s", st.ID)
		}
		got = append(got, st.Status)
	}
	if fmt.Sprint(got) != "[sent sent sent delivered delivered read]" {
		t.Errorf("deliveries = %v", got)
	}
	if string(hits[0].body) != string(hits[2].body) || string(hits[3].body) != string(hits[4].body) {
		t.Error("a retry did not resend the same bytes")
	}
}

func TestStatusWebhookGivesUpAfterAttempts(t *testing.T) {
	rc, url := newStatusReceiver(t)
	rc.always = http.StatusInternalServerError
	hook := fast(url)
	hook.Attempts = 2
	srv, c := newSim(t, hook)
	sendText(t, c, cust)
	rc.waitHits(t, 6)
	srv.Close() // waits for the reporting goroutine: the count is final
	var got []string
	for _, h := range rc.snapshot() {
		got = append(got, statusOf(t, h).Status)
	}
	if fmt.Sprint(got) != "[sent sent delivered delivered read read]" {
		t.Errorf("deliveries = %v", got)
	}
}

func TestStatusWebhookRetriesUnreachable(t *testing.T) {
	// An endpoint that is not listening: every try fails to connect.
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL + "/webhooks/meta"
	hs.Close()
	hook := fast(url)
	hook.Attempts = 3
	srv, c := newSim(t, hook)
	sendText(t, c, cust)
	deadline := time.Now().Add(10 * time.Second)
	// Every status is tried Attempts times and dropped, then the next follows.
	for srv.StatusesPending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d messages being reported", srv.StatusesPending())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var got []string
	for _, a := range srv.StatusAttempts() {
		if a.HTTPStatus != 0 || a.Err == "" {
			t.Errorf("attempt %+v reached the endpoint", a)
		}
		got = append(got, fmt.Sprintf("%s#%d", a.Status, a.Attempt))
	}
	if fmt.Sprint(got) != "[sent#1 sent#2 sent#3 delivered#1 delivered#2 delivered#3 read#1 read#2 read#3]" {
		t.Errorf("attempts = %v", got)
	}
}

func TestStatusWebhookCloseStopsPending(t *testing.T) {
	t.Run("waiting to report", func(t *testing.T) {
		rc, url := newStatusReceiver(t)
		hook := fast(url)
		hook.Sent, hook.Delivered, hook.Read = time.Hour, time.Hour, time.Hour
		srv, c := newSim(t, hook)
		sendText(t, c, cust)
		closeWithin(t, srv)
		if n := len(rc.snapshot()); n != 0 {
			t.Errorf("%d webhooks delivered after Close", n)
		}
	})
	t.Run("waiting to retry", func(t *testing.T) {
		rc, url := newStatusReceiver(t, http.StatusServiceUnavailable)
		hook := fast(url)
		hook.Backoff = time.Hour
		srv, c := newSim(t, hook)
		sendText(t, c, cust)
		rc.waitHits(t, 1)
		closeWithin(t, srv)
		if n := len(rc.snapshot()); n != 1 {
			t.Errorf("%d webhooks, want only the first failed try", n)
		}
	})
	t.Run("sends after Close", func(t *testing.T) {
		rc, url := newStatusReceiver(t)
		srv, _ := newSim(t, fast(url))
		closeWithin(t, srv)
		if srv.StatusesPending() != 0 || len(rc.snapshot()) != 0 {
			t.Error("reporting after Close")
		}
	})
}

// closeWithin closes srv and fails the test if Close hangs.
func closeWithin(t *testing.T, srv *metatest.Server) {
	t.Helper()
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with deliveries pending")
	}
	if n := srv.StatusesPending(); n != 0 {
		t.Errorf("Pending after Close = %d", n)
	}
}

func TestStatusWebhookOrderPerMessage(t *testing.T) {
	rc, url := newStatusReceiver(t)
	_, c := newSim(t, fast(url))
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids <- sendText(t, c, fmt.Sprintf("1650555%04d", 2000+i)).MessageID })
	}
	wg.Wait()
	close(ids)
	seq := map[string][]string{}
	for _, h := range rc.waitHits(t, 3*n) {
		st := statusOf(t, h)
		seq[st.ID] = append(seq[st.ID], st.Status)
	}
	for id := range ids {
		if fmt.Sprint(seq[id]) != "[sent delivered read]" {
			t.Errorf("%s: %v", id, seq[id])
		}
	}
}

func TestNewRefusesNonLoopbackStatusWebhook(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a public status webhook did not panic")
		}
	}()
	metatest.New(metatest.Options{StatusWebhook: metatest.StatusWebhook{URL: "https://example.com/webhooks/meta"}})
}
