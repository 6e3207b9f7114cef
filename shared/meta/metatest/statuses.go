package metatest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/meta"
)

// Defaults of a StatusWebhook whose fields are left zero.
const (
	// DefaultSentDelay is how long after a send is accepted "sent" is reported.
	DefaultSentDelay = 200 * time.Millisecond
	// DefaultDeliveredDelay is how long after a send is accepted
	// "delivered" (or "failed") is reported.
	DefaultDeliveredDelay = 600 * time.Millisecond
	// DefaultReadDelay is how long after a send is accepted "read" is reported.
	DefaultReadDelay = 1200 * time.Millisecond
	// DefaultStatusAttempts is how many times one status webhook is tried.
	DefaultStatusAttempts = 5
	// DefaultStatusBackoff is the wait before the first retry of a status
	// webhook; each further retry waits twice as long as the one before.
	DefaultStatusBackoff = 250 * time.Millisecond
)

// NoDelay is a StatusWebhook delay or backoff meaning "at once" (tests);
// any negative duration does the same.
const NoDelay time.Duration = -1

// UndeliverableWaID is a reserved recipient (+1 650 555 0126, a fictional
// number): with a StatusWebhook set, every message sent to it is reported
// "sent" and then "failed" with error 131026 (StatusUndeliverable), never
// delivered or read. StatusWebhook.Undeliverable adds more such numbers.
const UndeliverableWaID = "16505550126"

// StatusWebhook makes a Server report the fate of every message it accepts,
// as WhatsApp does: after each send it answers with a wamid, it POSTs to URL,
// in order, a "sent", a "delivered" and a "read" status webhook for that
// wamid and recipient (one status per webhook, shaped by StatusPayload and
// signed on the raw bytes with X-Hub-Signature-256). A recipient that is
// undeliverable (UndeliverableWaID or one of Undeliverable) gets "sent" and
// then "failed" with error 131026 instead of "delivered" and "read".
//
// Statuses are delivered in the background, never delaying the send's answer.
// A webhook answered with a non-2xx status, or not reached at all, is sent
// again, byte for byte, with doubling backoff, up to Attempts times; after
// that it is dropped and the message's next status follows. A message's
// statuses always arrive one after the other, in order. Close cancels every
// pending status and waits for the deliveries in flight to stop.
//
// The zero value (empty URL) reports nothing.
type StatusWebhook struct {
	// URL is the loopback webhook endpoint, e.g.
	// "http://127.0.0.1:8080/webhooks/meta"; empty turns statuses off.
	URL string
	// AppSecret keys the signature; empty means the server's (Options.AppSecret).
	AppSecret []byte
	// Sent, Delivered and Read are how long after a send is accepted each
	// status is reported (Delivered also times "failed"). Zero means the
	// Default...Delay constants; NoDelay reports at once.
	Sent, Delivered, Read time.Duration
	// Attempts is how many times each status webhook is tried; zero or
	// less means DefaultStatusAttempts.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next one;
	// zero means DefaultStatusBackoff, NoDelay retries at once.
	Backoff time.Duration
	// Undeliverable lists more recipients (wa_ids; any "+", spaces or
	// dashes are ignored) whose messages fail with 131026.
	Undeliverable []string
}

// statusHook is a StatusWebhook with its defaults applied.
type statusHook struct {
	url                   string
	secret                []byte
	sent, delivered, read time.Duration
	attempts              int
	backoff               time.Duration
	undeliverable         map[string]bool
}

// newStatusHook checks w and applies its defaults; nil means statuses are off.
func newStatusHook(w StatusWebhook, serverSecret []byte) (*statusHook, error) {
	if w.URL == "" {
		return nil, nil
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("status webhook %q: %w", w.URL, errNotLoopback)
	}
	h := &statusHook{
		url: w.URL, secret: slices.Clone(w.AppSecret),
		sent: orDefault(w.Sent, DefaultSentDelay), delivered: orDefault(w.Delivered, DefaultDeliveredDelay),
		read: orDefault(w.Read, DefaultReadDelay), attempts: w.Attempts, backoff: orDefault(w.Backoff, DefaultStatusBackoff),
		undeliverable: map[string]bool{UndeliverableWaID: true},
	}
	if len(h.secret) == 0 {
		h.secret = serverSecret
	}
	if h.attempts <= 0 {
		h.attempts = DefaultStatusAttempts
	}
	for _, n := range w.Undeliverable {
		h.undeliverable[digits(n)] = true
	}
	return h, nil
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// StatusUndeliverable is the "failed" status WhatsApp reports for a message
// it could not deliver: error 131026 with Meta's title, message and details.
func StatusUndeliverable(wamid, recipientWaID string) StatusUpdate {
	u := StatusFailed(wamid, recipientWaID, 131026, "Message undeliverable")
	u.Status.Errors[0].ErrorData = &meta.ErrorData{Details: "Message Undeliverable."}
	return u
}

// statusJob is one accepted send whose statuses are still to be reported.
type statusJob struct {
	wamid, recipient             string
	phoneNumberID, display, waba string
	category                     string // template category; "" for service messages
	accepted                     time.Time
}

// StatusAttempt is one try at delivering a status webhook.
type StatusAttempt struct {
	// ID and Status are the wamid and the status ("sent", "failed", ...) reported.
	ID, Status string
	// Attempt counts from 1 for each status.
	Attempt int
	// HTTPStatus is the webhook's answer, 0 when it was not reached (see Err).
	HTTPStatus int
	// Err is why the webhook was not reached, "" otherwise.
	Err string
	// At is when the try ended.
	At time.Time
}

// StatusAttempts returns every try at delivering a status webhook so far,
// oldest first (at most the last 10,000).
func (s *Server) StatusAttempts() []StatusAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.attempts)
}

// StatusesPending counts the accepted messages whose statuses are still
// being reported; it is 0 once every status went out (or was dropped after
// its last attempt) and after Close.
func (s *Server) StatusesPending() int { return int(s.pending.Load()) }

func (s *Server) recordAttempt(a StatusAttempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.attempts = append(s.st.attempts, a)
	if len(s.st.attempts) > maxSentPerPhone {
		s.st.attempts = slices.Clone(s.st.attempts[len(s.st.attempts)-maxSentPerPhone:])
	}
}

// reportLocked starts reporting j's statuses in the background; s.mu is held.
func (s *Server) reportLocked(j statusJob) {
	if s.hook == nil || s.closed {
		return
	}
	s.pending.Add(1)
	s.wg.Go(func() {
		defer s.pending.Add(-1)
		s.report(j)
	})
}

// report delivers j's statuses one after the other until done or closed.
func (s *Server) report(j statusJob) {
	h := s.hook
	steps := []struct {
		after time.Duration
		build func(wamid, recipient string) StatusUpdate
	}{{h.sent, StatusSent}, {h.delivered, StatusDelivered}, {h.read, StatusRead}}
	if h.undeliverable[j.recipient] {
		steps = steps[:2]
		steps[1].build = StatusUndeliverable
	}
	for _, st := range steps {
		if !sleep(s.ctx, time.Until(j.accepted.Add(st.after))) {
			return
		}
		u := priced(st.build(j.wamid, j.recipient), j.category).At(time.Now())
		if !s.deliverStatus(u.Status, statusPayload(j.waba, j.phoneNumberID, j.display, []StatusUpdate{u})) {
			return
		}
	}
}

// deliverStatus POSTs payload, signed, until a 2xx answer or the last
// attempt; it reports false once the server is closed.
func (s *Server) deliverStatus(st meta.Status, payload []byte) bool {
	h := s.hook
	sig := meta.Sign(h.secret, payload)
	wait := h.backoff
	for attempt := 1; ; attempt++ {
		status, err := s.post(s.ctx, h.url, payload, sig)
		if s.ctx.Err() != nil {
			return false // closed: the try was cut short, not answered
		}
		a := StatusAttempt{ID: st.ID, Status: st.Status, Attempt: attempt, HTTPStatus: status, At: time.Now()}
		if err != nil {
			a.Err = err.Error()
		}
		s.recordAttempt(a)
		if err == nil && status >= 200 && status < 300 {
			return true
		}
		if attempt >= h.attempts {
			return true // dropped, as Meta gives up in the end; the next status still goes
		}
		if !sleep(s.ctx, wait) {
			return false
		}
		wait *= 2
	}
}

// priced gives a template message's sent and delivered statuses the
// template's category as conversation origin and billable pricing.
func priced(u StatusUpdate, category string) StatusUpdate {
	category = strings.ToLower(category)
	if category == "" || category == "service" {
		return u
	}
	if c := u.Status.Conversation; c != nil {
		cc := *c
		cc.Origin = &meta.ConversationOrigin{Type: category}
		u.Status.Conversation = &cc
	}
	if u.Status.Pricing != nil {
		u.Status.Pricing = &meta.Pricing{Billable: true, PricingModel: "PMP", Category: category, Type: "regular"}
	}
	return u
}

// sleep waits d (nothing if d <= 0) and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
