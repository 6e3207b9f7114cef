package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/unsubscribe"
	"github.com/leadluence/backend/tools/intaketest"
)

func TestReplyInsideWindowIsSentOnce(t *testing.T) {
	e := newEnv(t, options{})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	const body = "Namaste! Your site visit is at 11 tomorrow."
	m := e.queueText(l, body)
	rec := e.enqueue(m)

	// SQS hands the job to two invocations at once, one of them with the
	// same job twice in its batch.
	dup := rec
	dup.MessageId += "-copy"
	var wg sync.WaitGroup
	for _, batch := range [][]events.SQSMessage{{rec}, {dup, rec}} {
		wg.Go(func() {
			if resp, err := e.handler(e.Ctx, events.SQSEvent{Records: batch}); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("batch: %+v, %v", resp, err)
			}
		})
	}
	wg.Wait()
	// ... and again after it was sent.
	if failed := e.deliver(rec); len(failed) != 0 {
		t.Fatalf("redelivery asked for retries: %v", failed)
	}

	sent := e.Sim.Sent(numberID)
	if len(sent) != 1 {
		t.Fatalf("simulator got %d sends, want exactly 1", len(sent))
	}
	if sent[0].To != waID(l) || sent[0].Type != "text" || sent[0].Text != body {
		t.Fatalf("sent %+v", sent[0])
	}
	got := e.wantStatus(m, conversation.StatusAccepted, "")
	if got.ProviderID != sent[0].ID {
		t.Fatalf("provider id %q, simulator's wamid %q", got.ProviderID, sent[0].ID)
	}

	// Meta's status webhook finds the message by its wamid and moves it on.
	p := &intake.Processor{Store: e.Store, Graph: meta.NewClient(e.Sim.URL, e.Sim.Version(), nil),
		Tokens: envelope.New(kms.NewFromConfig(e.AWS), e.res.KeyID, envelope.Options{}), Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if _, err := p.Process(e.Ctx, e.Sim.StatusPayload(numberID, display, metatest.StatusDelivered(sent[0].ID, waID(l)))); err != nil {
		t.Fatal(err)
	}
	e.wantStatus(m, conversation.StatusDelivered, "")
}

func TestGatesStopMessagesBeforeMeta(t *testing.T) {
	e := newEnv(t, options{})
	e.Sim.AddTemplate(wabaID, meta.Template{Name: "visit_reminder", Language: "en", Category: "UTILITY"})
	e.Sim.AddTemplate(wabaID, meta.Template{Name: "spring_offer", Language: "en", Category: "MARKETING"})
	stale := time.Now().Add(-25 * time.Hour)
	optedOut := map[string]string{"whatsapp:all": "opt_out@" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	hourAgo := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	marketingOut := map[string]string{"whatsapp:marketing": "opt_out@" + hourAgo, "whatsapp:service": "opt_in@" + hourAgo}

	outside := e.queueText(e.newLead(stale, nil), "Are you still interested?")
	stopped := e.queueText(e.newLead(time.Now().Add(-time.Hour), optedOut), "Hello again")
	noMarketing := e.queueTemplate(e.newLead(stale, marketingOut), "spring_offer", sendgate.CategoryMarketing)
	utility := e.queueTemplate(e.newLead(stale, marketingOut), "visit_reminder", sendgate.CategoryUtility)
	// Outside the window a template starts contact: without an opt-in the
	// sender refuses it as the api would have.
	noOptIn := e.queueTemplate(e.newLead(stale, nil), "visit_reminder", sendgate.CategoryUtility)
	// Consent may change while a message waits: staff recorded the lead's
	// marketing opt-in, the template was queued, then the lead withdrew it.
	withdrawn := e.newLead(stale, nil)
	e.staffConsent(withdrawn, conversation.PurposeMarketing, conversation.OptIn)
	offer := e.queueTemplate(withdrawn, "spring_offer", sendgate.CategoryMarketing)
	e.staffConsent(withdrawn, conversation.PurposeMarketing, conversation.OptOut)
	for _, m := range []conversation.Message{outside, stopped, noMarketing, utility, noOptIn, offer} {
		if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
	}
	e.wantStatus(outside, conversation.StatusFailed, sendgate.TitleOutsideWindow)
	e.wantStatus(stopped, conversation.StatusFailed, sendgate.TitleOptedOut)
	e.wantStatus(noMarketing, conversation.StatusFailed, sendgate.TitleOptedOut)
	// A utility template may go outside the window with a service opt-in,
	// despite a marketing opt-out.
	e.wantStatus(utility, conversation.StatusAccepted, "")
	refused := e.wantStatus(noOptIn, conversation.StatusFailed, sendgate.TitleConsentRequired)
	if !strings.Contains(refused.Reason, "not opted in to WhatsApp service messages") || strings.Contains(strings.ToLower(refused.Reason), "dynamo") {
		t.Fatalf("consent reason %q", refused.Reason)
	}
	e.wantStatus(offer, conversation.StatusFailed, sendgate.TitleOptedOut)
	if got := e.message(outside); !strings.Contains(got.Reason, "template") {
		t.Fatalf("window reason does not name the fix: %q", got.Reason)
	}

	// A disconnected number sends nothing.
	if err := e.Store.DisconnectIntegration(e.Ctx, e.OrgID, integration.KindWhatsApp, numberID, time.Now()); err != nil {
		t.Fatal(err)
	}
	gone := e.queueText(e.newLead(time.Now().Add(-time.Hour), nil), "Hi")
	e.deliver(e.enqueue(gone))
	e.wantStatus(gone, conversation.StatusFailed, sendgate.TitleIntegrationInactive)

	if sent := e.Sim.Sent(numberID); len(sent) != 1 || sent[0].Type != "template" {
		t.Fatalf("simulator got %+v, want only the utility template", sent)
	}
}

func TestRevokedTokenMarksIntegration(t *testing.T) {
	e := newEnv(t, options{})
	e.Sim.RevokeToken(intaketest.WAToken)
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	m := e.queueText(l, "Hello")
	if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	got := e.wantStatus(m, conversation.StatusFailed, "Access token invalid")
	if got.ErrorCode != 190 || !strings.Contains(got.Reason, "reconnect") {
		t.Fatalf("failure %d %q", got.ErrorCode, got.Reason)
	}
	in, err := e.Store.GetIntegration(e.Ctx, e.OrgID, integration.KindWhatsApp, numberID)
	if err != nil || in.Status != integration.StatusTokenInvalid {
		t.Fatalf("integration %s (%v), want token_invalid", in.Status, err)
	}
	// The next message stops at the gate without calling Meta.
	next := e.queueText(l, "Hello?")
	e.deliver(e.enqueue(next))
	e.wantStatus(next, conversation.StatusFailed, sendgate.TitleIntegrationInactive)
	if n := e.Sim.Calls("POST", "/*/messages"); n != 1 {
		t.Fatalf("%d send calls, want 1", n)
	}
}

func TestOutageIsRetriedThenSentOnce(t *testing.T) {
	e := newEnv(t, options{})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	m := e.queueText(l, "Hello")
	e.Sim.FailNext(1, http.StatusServiceUnavailable)
	rec := e.enqueue(m)
	if failed := e.deliver(rec); !slices.Equal(failed, []string{rec.MessageId}) {
		t.Fatalf("retries asked %v, want the record", failed)
	}
	e.wantStatus(m, conversation.StatusQueued, "")

	// The visibility change brings it back after the backoff.
	again := e.receive(30 * time.Second)
	if again.MessageId != rec.MessageId {
		t.Fatalf("got back %s, want %s", again.MessageId, rec.MessageId)
	}
	if failed := e.deliver(again); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	e.wantStatus(m, conversation.StatusAccepted, "")
	if n := len(e.Sim.Sent(numberID)); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
}

// refuser stands in for the Cloud API answering every send with one Graph
// error (the simulator has no switch for 131050).
func refuser(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStoppedMarketingRecordsOptOut(t *testing.T) {
	url := refuser(t, http.StatusBadRequest, `{"error":{"message":"(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.","type":"OAuthException","code":131050,"fbtrace_id":"AbC"}}`)
	e := newEnv(t, options{graphURL: url})
	l := e.newLead(time.Time{}, marketingOptIn())
	m := e.queueTemplate(l, "spring_offer", sendgate.CategoryMarketing)
	rec := e.enqueue(m)
	if failed := e.deliver(rec); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	got := e.wantStatus(m, conversation.StatusFailed, "User has stopped marketing messages")
	if got.ErrorCode != 131050 || got.Reason == "" {
		t.Fatalf("failure %d %q", got.ErrorCode, got.Reason)
	}
	e.deliver(rec) // redelivery writes nothing more
	ledger, err := e.Store.ConsentLedger(e.Ctx, e.OrgID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[0].Channel != conversation.ChannelWhatsApp || ledger[0].Purpose != conversation.PurposeMarketing ||
		ledger[0].Action != conversation.OptOut || ledger[0].Evidence != m.ID {
		t.Fatalf("ledger %+v", ledger)
	}
	after, err := e.Store.GetLead(e.Ctx, e.OrgID, l.ID)
	if err != nil || !strings.HasPrefix(after.Consent["whatsapp:marketing"], conversation.OptOut+"@") {
		t.Fatalf("lead consent %v (%v)", after.Consent, err)
	}
	// The next marketing template stops at the consent gate.
	next := e.queueTemplate(l, "spring_offer", sendgate.CategoryMarketing)
	e.deliver(e.enqueue(next))
	e.wantStatus(next, conversation.StatusFailed, sendgate.TitleOptedOut)
}

func TestEmailGoesThroughSES(t *testing.T) {
	e := newEnv(t, options{})
	from := e.verifiedSender()
	l := e.newLead(time.Time{}, nil)
	m := e.queue(l, conversation.ChannelEmail, "email", "See you at 11.", sendgate.Email{From: from, To: l.Email, Subject: "Your site visit",
		Text: "See you at 11.", HTML: "<p>See you at 11.</p>"}, nil)
	if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	got := e.wantStatus(m, conversation.StatusAccepted, "")
	if got.ProviderID == "" {
		t.Fatal("no SES message id recorded")
	}
	i := slices.IndexFunc(sesStore(t), func(s sesMail) bool { return s.MessageID == got.ProviderID })
	if i < 0 {
		t.Fatalf("SES stand-in has no mail %s", got.ProviderID)
	}
	mail := sesStore(t)[i]
	if mail.From != from || !slices.Equal(mail.Destination.To, []string{l.Email}) || mail.Subject != "Your site visit" ||
		mail.Body.Text != "See you at 11." {
		t.Fatalf("mail %+v", mail)
	}
	headers := map[string]string{}
	for _, h := range mail.Headers {
		headers[h.Name] = h.Value
	}
	// RFC 8058 one-click: the lead's signed link and nothing else (no
	// mailto: no mailbox of the platform reads one).
	e.wantUnsubscribeLink(headers, l)

	// A lead who opted out of email gets none.
	out := e.newLead(time.Time{}, map[string]string{"email:all": "opt_out@" + time.Now().UTC().Format(time.RFC3339)})
	refused := e.queue(out, conversation.ChannelEmail, "email", "Hi", sendgate.Email{From: from, To: out.Email, Subject: "Hi", Text: "Hi"}, nil)
	e.deliver(e.enqueue(refused))
	e.wantStatus(refused, conversation.StatusFailed, sendgate.TitleOptedOut)
	if slices.ContainsFunc(sesStore(t), func(s sesMail) bool { return slices.Contains(s.Destination.To, out.Email) }) {
		t.Fatal("an opted-out lead got an email")
	}
}

// TestEmailOnlyFromVerifiedSender: the sender re-checks, at send time, that
// an email's From is the org's own sender address and still verified (the
// stored claim state): the platform address, an address released or
// replaced after the email was queued, or one not verified any more, fail
// the email unsent (no_verified_sender) with a plain reason. A verified
// address is trusted for up to 30 s without reading it again.
func TestEmailOnlyFromVerifiedSender(t *testing.T) {
	var skew atomic.Int64
	e := newEnv(t, options{tweak: func(s *outbound.Sender) {
		s.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}})
	queue := func(from string) (conversation.Message, lead.Lead) {
		t.Helper()
		l := e.newLead(time.Time{}, nil)
		return e.queue(l, conversation.ChannelEmail, "email", "Hi", sendgate.Email{From: from, To: l.Email, Subject: "Your visit", Text: "Hi"}, nil), l
	}
	sent := func(m conversation.Message) sesMail {
		t.Helper()
		if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		got := e.wantStatus(m, conversation.StatusAccepted, "")
		i := slices.IndexFunc(sesStore(t), func(s sesMail) bool { return s.MessageID == got.ProviderID })
		if i < 0 {
			t.Fatalf("SES stand-in has no mail %s", got.ProviderID)
		}
		return sesStore(t)[i]
	}
	refused := func(m conversation.Message, l lead.Lead) {
		t.Helper()
		if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		got := e.wantStatus(m, conversation.StatusFailed, sendgate.TitleNoVerifiedSender)
		if strings.Contains(got.Reason, "arn:") || !strings.Contains(got.Reason, "PUT /v1/email/sender") {
			t.Fatalf("reason %q", got.Reason)
		}
		if slices.ContainsFunc(sesStore(t), func(s sesMail) bool { return slices.Contains(s.Destination.To, l.Email) }) {
			t.Fatal("SES got the email")
		}
	}

	// No address of its own: not even from the platform address.
	refused(queue(`"Sharma Realty" <no-reply@leadluence.local>`))

	addr := e.verifiedSender()
	mail := sent(func() conversation.Message { m, _ := queue(`"Sharma Realty" <` + addr + `>`); return m }())
	if mail.From != `"Sharma Realty" <`+addr+`>` || len(mail.ReplyTo) != 0 {
		t.Fatalf("verified sender: mail %+v", mail)
	}

	// Queued while verified, then the org moved to another address: the
	// old one is no longer the org's (once the 30 s are over).
	m, l := queue(`"Sharma Realty" <` + addr + `>`)
	next := e.verifiedSender()
	skew.Add(int64(31 * time.Second))
	refused(m, l)
	sent(func() conversation.Message { m, _ := queue(next); return m }())

	// The address failed its re-check: trusted up to 30 s, then refused.
	if err := e.Store.SetEmailSenderStatus(e.Ctx, e.OrgID, next, account.SenderFailed); err != nil {
		t.Fatal(err)
	}
	sent(func() conversation.Message { m, _ := queue(next); return m }())
	skew.Add(int64(31 * time.Second))
	refused(queue(next))

	// Released after the email was queued.
	again := e.verifiedSender()
	m, l = queue(again)
	if err := e.Store.DeleteEmailSender(e.Ctx, e.OrgID, again); err != nil {
		t.Fatal(err)
	}
	refused(m, l)
}

func TestCrashAfterProviderCallIsNotResent(t *testing.T) {
	var crash atomic.Bool
	crash.Store(true)
	e := newEnv(t, options{tweak: func(s *outbound.Sender) {
		s.AfterProviderCall = func(context.Context, conversation.Message) error {
			if crash.CompareAndSwap(true, false) {
				return errors.New("killed")
			}
			return nil
		}
	}})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	m := e.queueText(l, "Hello")
	rec := e.enqueue(m)
	if failed := e.deliver(rec); len(failed) != 1 {
		t.Fatalf("retries asked %v, want the record back", failed)
	}
	e.wantStatus(m, conversation.StatusSending, "")

	// Redelivered: the sender waits out the grace, then gives up on it.
	if failed := e.deliver(e.receive(30 * time.Second)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	got := e.wantStatus(m, conversation.StatusUnknown, sendgate.TitleUnknownOutcome)
	if got.Reason != "sender stopped while sending; not retried to avoid a duplicate" {
		t.Fatalf("reason %q", got.Reason)
	}
	if n := len(e.Sim.Sent(numberID)); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
}

func TestLostAnswerIsUnknownAndUnreachableIsRetried(t *testing.T) {
	e := newEnv(t, options{tweak: func(s *outbound.Sender) { s.SendTimeout = 300 * time.Millisecond }})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	m := e.queueText(l, "Hello")
	e.Sim.Delay(2 * time.Second) // the request arrives, the answer does not
	if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	e.Sim.Delay(0)
	e.wantStatus(m, conversation.StatusUnknown, sendgate.TitleUnknownOutcome)

	// Nothing listens: the request never left, so it is safe to retry.
	down := newEnv(t, options{graphURL: "http://127.0.0.1:1"})
	l2 := down.newLead(time.Now().Add(-time.Hour), nil)
	m2 := down.queueText(l2, "Hello")
	rec := down.enqueue(m2)
	if failed := down.deliver(rec); !slices.Equal(failed, []string{rec.MessageId}) {
		t.Fatalf("retries asked %v, want the record", failed)
	}
	down.wantStatus(m2, conversation.StatusQueued, "")
}

func TestPairPacingDefersToBookedSlot(t *testing.T) {
	const interval = 3 * time.Second
	e := newEnv(t, options{tweak: func(s *outbound.Sender) {
		s.Pacer.PairInterval = interval
		s.MaxPairHold = 500 * time.Millisecond
	}})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	var recs []events.SQSMessage
	var msgs []conversation.Message
	for _, text := range []string{"one", "two", "three"} {
		m := e.queueText(l, text)
		msgs = append(msgs, m)
		recs = append(recs, e.enqueue(m))
	}
	failed := e.deliver(recs...)
	if len(failed) != 1 {
		t.Fatalf("retries asked %v, want one (the burst is 2)", failed)
	}
	if n := len(e.Sim.Sent(numberID)); n != 2 {
		t.Fatalf("%d sent at once, want 2", n)
	}
	if failed := e.deliver(e.receive(30 * time.Second)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	for _, m := range msgs {
		e.wantStatus(m, conversation.StatusAccepted, "")
	}
	sent := e.Sim.Sent(numberID)
	if len(sent) != 3 {
		t.Fatalf("%d sends, want 3", len(sent))
	}
	// The third went in its slot, an interval after the first's (less the
	// time the first took from its slot to the simulator).
	if gap := sent[2].At.Sub(sent[0].At); gap < interval-time.Second {
		t.Fatalf("third send %s after the first, want at least %s", gap, interval)
	}
}

func TestNumberRateComesFromTheIntegration(t *testing.T) {
	// GIVEN a number whose integration allows 1 message per second, and a
	// sender that does not wait for the next second
	e := newEnv(t, options{tweak: func(s *outbound.Sender) { s.MaxNumberWait = time.Millisecond }})
	if _, err := e.Store.SetIntegrationRate(e.Ctx, e.OrgID, integration.KindWhatsApp, numberID, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	// WHEN three replies to three leads arrive in one batch
	var recs []events.SQSMessage
	var msgs []conversation.Message
	for range 3 {
		m := e.queueText(e.newLead(time.Now().Add(-time.Hour), nil), "hello")
		msgs = append(msgs, m)
		recs = append(recs, e.enqueue(m))
	}
	failed := e.deliver(recs...)
	// THEN at most one goes per second (two if the batch straddles a
	// second), the rest go back to the queue, unsent, and are sent later
	sent := len(e.Sim.Sent(numberID))
	if sent > 2 || sent+len(failed) != 3 {
		t.Fatalf("%d sent and %d retried, want at most 2 sent at 1 per second and the rest retried", sent, len(failed))
	}
	for range 10 {
		if len(e.Sim.Sent(numberID)) == 3 {
			break
		}
		e.deliver(e.receive(30 * time.Second))
	}
	for _, m := range msgs {
		e.wantStatus(m, conversation.StatusAccepted, "")
	}
}

// TestStoppedMarketingInStatusWebhookRecordsOptOut: Meta may accept a
// marketing template and report 131050 later, in a "failed" status
// webhook; that too records the marketing opt-out, once.
func TestStoppedMarketingInStatusWebhookRecordsOptOut(t *testing.T) {
	e := newEnv(t, options{})
	e.Sim.AddTemplate(wabaID, meta.Template{Name: "spring_offer", Language: "en", Category: "MARKETING"})
	l := e.newLead(time.Time{}, marketingOptIn())
	m := e.queueTemplate(l, "spring_offer", sendgate.CategoryMarketing)
	if failed := e.deliver(e.enqueue(m)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	sent := e.wantStatus(m, conversation.StatusAccepted, "")
	p := &intake.Processor{Store: e.Store, Graph: meta.NewClient(e.Sim.URL, e.Sim.Version(), nil),
		Tokens: envelope.New(kms.NewFromConfig(e.AWS), e.res.KeyID, envelope.Options{}), Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	payload := e.Sim.StatusPayload(numberID, display, metatest.StatusFailed(sent.ProviderID, waID(l), 131050,
		"User has stopped marketing messages"))
	for range 2 { // a redelivered webhook writes nothing more
		if _, err := p.Process(e.Ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	e.wantStatus(m, conversation.StatusFailed, "User has stopped marketing messages")
	ledger, err := e.Store.ConsentLedger(e.Ctx, e.OrgID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[0].Channel != conversation.ChannelWhatsApp || ledger[0].Purpose != conversation.PurposeMarketing ||
		ledger[0].Action != conversation.OptOut || ledger[0].Evidence != sent.ProviderID {
		t.Fatalf("ledger %+v", ledger)
	}
	next := e.queueTemplate(l, "spring_offer", sendgate.CategoryMarketing)
	e.deliver(e.enqueue(next))
	e.wantStatus(next, conversation.StatusFailed, sendgate.TitleOptedOut)
}

// wantUnsubscribeLink checks an email's headers carry the one-click
// unsubscribe link of lead l (RFC 8058), signed with the platform key.
func (e *env) wantUnsubscribeLink(headers map[string]string, l lead.Lead) {
	e.t.Helper()
	prefix := "<" + publicBaseURL + unsubscribe.PathPrefix
	got := headers["List-Unsubscribe"]
	if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, ">") || strings.Contains(got, "mailto:") ||
		headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		e.t.Fatalf("unsubscribe headers %v", headers)
	}
	signer, err := unsubscribe.Open(e.Ctx, e.Store, envelope.New(kms.NewFromConfig(e.AWS), e.res.KeyID, envelope.Options{}))
	if err != nil || signer == nil {
		e.t.Fatalf("open unsubscribe key: %v", err)
	}
	c, err := signer.Verify(strings.TrimSuffix(strings.TrimPrefix(got, prefix), ">"))
	if err != nil || c.OrgID != l.OrgID || c.LeadID != l.ID {
		e.t.Fatalf("unsubscribe token of %s names %+v (%v), want lead %s", got, c, err, l.ID)
	}
}

// TestEmailWaitsForTheUnsubscribeKey: before the api function has created
// the unsubscribe key, no email can carry its link, so none is sent; the
// delivery comes back and goes once the key exists.
func TestEmailWaitsForTheUnsubscribeKey(t *testing.T) {
	e := newEnv(t, options{noUnsubscribeKey: true})
	l := e.newLead(time.Time{}, nil)
	m := e.queue(l, conversation.ChannelEmail, "email", "Hi", sendgate.Email{From: e.verifiedSender(), To: l.Email, Subject: "Hi", Text: "Hi"}, nil)
	rec := e.enqueue(m)
	if failed := e.deliver(rec); len(failed) != 1 {
		t.Fatalf("failures %v, want the delivery back", failed)
	}
	e.wantStatus(m, conversation.StatusQueued, "")
	if _, err := unsubscribe.LoadKey(e.Ctx, e.Store, envelope.New(kms.NewFromConfig(e.AWS), e.res.KeyID, envelope.Options{})); err != nil {
		t.Fatal(err)
	}
	if failed := e.deliver(rec); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	e.wantStatus(m, conversation.StatusAccepted, "")
}
