// Package outbound sends the messages the api function and the ingest
// function's automations queue: it re-checks the gates of package sendgate
// (consent, WhatsApp's 24-hour customer-service window, an active
// integration), paces sends per business number and per recipient across
// concurrent invocations (a limiter whose state every sender shares,
// PaceStore), calls the WhatsApp Cloud API or the email service (Mailer),
// and records the outcome on the message's state
// machine (queued → sending → accepted / failed / unknown).
//
// A message is sent at most once: only the invocation whose claim (queued →
// sending) succeeds calls the provider, and a message found in "sending"
// whose sender is gone is marked unknown, never sent again.
package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptrace"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/sendgate"
)

// Store is what the sender needs of storage (dynamostore.Store). The send
// state moves return conversation.ErrNotQueued when the message is not in
// the state the move starts from.
type Store interface {
	GetMessage(ctx context.Context, orgID, leadID, msgID string) (conversation.Message, error)
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	GetIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string) (integration.Integration, error)
	SetIntegrationStatus(ctx context.Context, orgID string, kind integration.Kind, externalID string, st integration.Status) error
	ClaimSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	ReleaseSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	FailSend(ctx context.Context, orgID, leadID, msgID string, st conversation.Status, code int, title, reason string, at time.Time) error
	RecordSent(ctx context.Context, orgID, leadID, msgID, providerID string, at time.Time) error
	AppendConsent(ctx context.Context, c conversation.ConsentEntry) error
	ConsentLedger(ctx context.Context, orgID, leadID string) ([]conversation.ConsentEntry, error)
}

// Orgs reads an org, to refuse sends of a closed one (dynamostore.Store).
type Orgs interface {
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
}

// Subjects are what a send checks besides its message: its org, its lead
// and, for WhatsApp, the number's integration; nil when not found.
type Subjects struct {
	Org         *account.Org
	Lead        *lead.Lead
	Integration *integration.Integration
}

// SubjectReader reads a send's Subjects in one request (dynamostore.Store:
// they share the org's partition). A sender whose Store and Orgs have it
// makes that one read instead of three (Store.GetLead,
// Store.GetIntegration, Orgs.GetOrg); number is empty for an email.
type SubjectReader interface {
	SendSubjects(ctx context.Context, orgID, leadID, number string) (Subjects, error)
}

// WhatsApp sends WhatsApp Cloud API messages (meta.Client).
type WhatsApp interface {
	SendMessage(ctx context.Context, phoneNumberID, token string, payload any) (meta.SendResult, error)
}

// Mailer sends email (sesmail.Client) and returns the provider's message
// id. It must not retry on its own: a retried send whose first answer was
// lost would send twice. Its errors are the provider's, for ClassifyEmail.
type Mailer interface {
	SendEmail(ctx context.Context, e Email) (messageID string, err error)
}

// Email is one email as it is handed to the Mailer.
type Email struct {
	// From may carry a display name ("Sharma Realty" <a@b>).
	From string
	To   string
	// ReplyTo is empty for none.
	ReplyTo string
	Subject string
	// Text and HTML are the bodies; either may be empty.
	Text, HTML string
	// Headers are extra header fields, in order.
	Headers []Header
}

// Header is one header field of an Email.
type Header struct {
	Name, Value string
}

// UnsubscribeLinks makes the one-click unsubscribe URL of a lead's emails
// (unsubscribe.Links). An error leaves the email unsent, for a retry.
type UnsubscribeLinks interface {
	Link(ctx context.Context, orgID, leadID string) (string, error)
}

// Senders reads an org's own sender address (dynamostore.Store): its stored
// claim state is what the email service last said about it, kept current
// by account.SenderService (a pending address checked at most once a
// minute, a verified one hourly; a release or a takeover written at once).
type Senders interface {
	GetEmailSender(ctx context.Context, orgID string) (account.EmailSender, error)
}

// Opener opens sealed integration tokens (envelope.Sealer).
type Opener interface {
	Open(ctx context.Context, orgID string, blob []byte) ([]byte, error)
}

// Defaults of the Sender's tunables.
const (
	DefaultSendTimeout   = 10 * time.Second
	DefaultMaxPairHold   = 10 * time.Second
	DefaultMaxNumberWait = 5 * time.Second
	DefaultSendingGrace  = 30 * time.Second
	DefaultNumberRate    = 80
	DefaultBackoffBase   = 2 * time.Second
	DefaultBackoffMax    = 5 * time.Minute
	// recordTimeout bounds the write of a send's outcome, which runs even
	// when the invocation's context is done: the provider has answered.
	recordTimeout = 10 * time.Second
	// unknownReason explains a message found in "sending" whose sender is gone.
	unknownReason = "sender stopped while sending; not retried to avoid a duplicate"
)

// Sender sends one queued message per Send call. Set the fields, then use
// it from any number of goroutines.
type Sender struct {
	Store    Store
	WhatsApp WhatsApp
	Mailer   Mailer
	Tokens   Opener
	// Unsubscribe makes the List-Unsubscribe URL every email carries (RFC
	// 8058 one-click); nil sends emails without one (the sender function
	// always sets it).
	Unsubscribe UnsubscribeLinks
	// Orgs, when set, is read before each send: a message of a closed org
	// fails unsent (org_closed).
	Orgs Orgs
	// Senders, when set, is read before each email: an email whose From is
	// not the org's own sender address, verified, fails unsent
	// (no_verified_sender). A verified address is remembered for
	// senderCacheTTL, so that a burst of emails reads it once.
	Senders Senders
	senders senderCache
	// Pacer paces WhatsApp sends; nil sends unpaced.
	Pacer *Pacer
	// Reengage, when set, runs the re-engagement automation for a WhatsApp
	// message that failed with error 131047 (automation.Runner); its
	// failures are logged (the message has failed already).
	Reengage Reengager
	Log      *slog.Logger

	// NumberRate is the sends per second allowed per business number
	// (default DefaultNumberRate) when its integration sets none
	// (integration.Integration.MessagesPerSecond).
	NumberRate int
	// EmailFrom is the From of emails whose payload names none.
	EmailFrom string
	// SendTimeout bounds one provider call (default DefaultSendTimeout).
	SendTimeout time.Duration
	// MaxPairHold is how long a send may wait in the invocation for its
	// recipient's slot; a later slot sends the message back to the queue
	// until then (default DefaultMaxPairHold).
	MaxPairHold time.Duration
	// MaxNumberWait is how long a send may wait for a one-second window of
	// its number with room (default DefaultMaxNumberWait).
	MaxNumberWait time.Duration
	// SendingGrace is how long a message found in "sending" is watched for
	// another live invocation to finish it before it is marked unknown. It
	// must exceed the longest claimed stretch: SendTimeout plus the outcome
	// write (default DefaultSendingGrace).
	SendingGrace time.Duration
	// BackoffBase and BackoffMax shape retries (defaults DefaultBackoffBase,
	// DefaultBackoffMax).
	BackoffBase, BackoffMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AfterProviderCall, when set, runs after the provider answered and
	// before the outcome is recorded. A non-nil error abandons the message
	// there, as if the process had died: tests use it to stage a crash.
	AfterProviderCall func(ctx context.Context, m conversation.Message) error
}

// Delivery is one queue delivery of a job.
type Delivery struct {
	sendgate.Job
	// ReceiveCount is SQS's ApproximateReceiveCount: 1 on the first
	// delivery, 0 when unknown.
	ReceiveCount int
}

// Outcome is what a Send did.
type Outcome string

// Outcomes.
const (
	// OutcomeSent: the provider accepted the message; its id is recorded.
	OutcomeSent Outcome = "sent"
	// OutcomeFailed: the message failed (a gate, or the provider refused it).
	OutcomeFailed Outcome = "failed"
	// OutcomeUnknown: whether the provider got the message cannot be known.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeSkipped: nothing to do (already handled, or another sender has it).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeRetry: the message is queued again; deliver it after RetryAfter.
	OutcomeRetry Outcome = "retry"
)

// Result is the outcome of one Send.
type Result struct {
	Outcome Outcome
	// ProviderID is the wamid or SES message id of a sent message.
	ProviderID string
	// Refusal explains a failed, unknown or retried message.
	Refusal sendgate.Refusal
	// RetryAfter is when to deliver a retried message again.
	RetryAfter time.Duration
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Backoff is the wait before a retry on the attempt-th delivery (1 for the
// first): exponential from base, at most maxDelay, with equal jitter (half
// fixed, half random) so that retries of many messages spread out.
func Backoff(attempt int, base, maxDelay time.Duration) time.Duration {
	d := maxDelay
	if shift := max(attempt, 1) - 1; shift < 30 {
		if b := base << shift; b > 0 && b < maxDelay {
			d = b
		}
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) //nolint:gosec // jitter, not security
}

// backoff is the retry delay for this delivery, at least minDelay.
func (s *Sender) backoff(d Delivery, minDelay time.Duration) time.Duration {
	return max(Backoff(d.ReceiveCount, orDefault(s.BackoffBase, DefaultBackoffBase), orDefault(s.BackoffMax, DefaultBackoffMax)), minDelay)
}

// RetryDelay is the wait before redelivering d after an error.
func (s *Sender) RetryDelay(d Delivery) time.Duration { return s.backoff(d, 0) }

// Send sends the message of one delivery, or records why it was not. An
// error means the delivery should be retried after RetryDelay; the message
// is then queued, or left in "sending" only if the outcome of a provider
// call could not be recorded (a later delivery marks it unknown).
func (s *Sender) Send(ctx context.Context, d Delivery) (Result, error) {
	m, err := s.Store.GetMessage(ctx, d.OrgID, d.LeadID, d.MessageID)
	if errors.Is(err, conversation.ErrUnknownMessage) {
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "no such message"}}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("send %s: %w", d.MessageID, err)
	}
	if m.Direction == conversation.Inbound {
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "an inbound message"}}, nil
	}
	switch m.Status {
	case conversation.StatusQueued:
	case conversation.StatusSending:
		return s.abandoned(ctx, d)
	case conversation.StatusFailed:
		// A redelivery finishes what the first delivery may have left undone.
		if m.ErrorCode == 131050 {
			if err := s.optOutMarketing(ctx, m); err != nil {
				return Result{}, err
			}
		}
		if m.ErrorCode == codeReengagement {
			s.reengage(ctx, m)
		}
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "already " + string(m.Status)}}, nil
	default:
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "already " + string(m.Status)}}, nil
	}

	if sr, ok := s.Store.(SubjectReader); ok && s.Orgs != nil {
		return s.sendWithSubjects(ctx, d, m, sr)
	}
	if s.Orgs != nil {
		o, err := s.Orgs.GetOrg(ctx, m.OrgID)
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return Result{}, fmt.Errorf("send %s: read org: %w", m.ID, err)
		}
		if err != nil || o.Closed() {
			return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleOrgClosed,
				Reason: "The organisation's account is closed; nothing was sent."})
		}
	}

	// The lead and the number's integration are read side by side.
	var (
		in     *integration.Integration
		inErr  error
		inDone = make(chan struct{})
	)
	go func() {
		defer close(inDone)
		if m.Channel != conversation.ChannelWhatsApp {
			return
		}
		got, err := s.Store.GetIntegration(ctx, m.OrgID, integration.KindWhatsApp, m.Number)
		switch {
		case err == nil:
			in = &got
		case !errors.Is(err, integration.ErrNotFound):
			inErr = err
		}
	}()
	l, err := s.Store.GetLead(ctx, m.OrgID, m.LeadID)
	<-inDone
	if errors.Is(err, lead.ErrNotFound) {
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleLeadNotFound, Reason: "The lead no longer exists; nothing was sent."})
	}
	if err = errors.Join(err, inErr); err != nil {
		return Result{}, fmt.Errorf("send %s: %w", m.ID, err)
	}
	if r := sendgate.Check(m, l, in, s.now()); r != nil {
		return s.refuse(ctx, m, *r)
	}
	if m.Channel == conversation.ChannelWhatsApp {
		return s.sendWhatsApp(ctx, d, m, *in)
	}
	return s.sendEmail(ctx, d, m)
}

// sendWithSubjects is the rest of Send with the org, the lead and the
// number read in one request, with the same refusals in the same order.
func (s *Sender) sendWithSubjects(ctx context.Context, d Delivery, m conversation.Message, sr SubjectReader) (Result, error) {
	number := ""
	if m.Channel == conversation.ChannelWhatsApp {
		number = m.Number
	}
	sub, err := sr.SendSubjects(ctx, m.OrgID, m.LeadID, number)
	if err != nil {
		return Result{}, fmt.Errorf("send %s: %w", m.ID, err)
	}
	if sub.Org == nil || sub.Org.Closed() {
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleOrgClosed,
			Reason: "The organisation's account is closed; nothing was sent."})
	}
	if sub.Lead == nil {
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleLeadNotFound, Reason: "The lead no longer exists; nothing was sent."})
	}
	if r := sendgate.Check(m, *sub.Lead, sub.Integration, s.now()); r != nil {
		return s.refuse(ctx, m, *r)
	}
	if m.Channel == conversation.ChannelWhatsApp {
		return s.sendWhatsApp(ctx, d, m, *sub.Integration)
	}
	return s.sendEmail(ctx, d, m)
}

// Reengager reacts to a message that failed with error 131047
// (automation.Runner).
type Reengager interface {
	Reengage(ctx context.Context, orgID, leadID, msgID, number string) (string, error)
}

// codeReengagement is WhatsApp's error code for a free-form message sent
// more than 24 hours after the lead last wrote.
const codeReengagement = 131047

// reengage runs the re-engagement automation for m, failed with 131047
// (not for a template).
// The automation queues at most one template per failed message, so a
// redelivery calling it again queues nothing new.
func (s *Sender) reengage(ctx context.Context, m conversation.Message) {
	// A template is what WhatsApp accepts outside the window: a failed one
	// is never answered with another (no loop).
	if s.Reengage == nil || m.Channel != conversation.ChannelWhatsApp || m.Type == "template" {
		return
	}
	if _, err := s.Reengage.Reengage(ctx, m.OrgID, m.LeadID, m.ID, m.Number); err != nil {
		s.logger().ErrorContext(ctx, "re-engagement automation", "message_id", m.ID, "err", err)
	}
}

// abandoned handles a message found in "sending": another invocation may
// be sending it right now (SQS delivered the job twice), or the one that
// claimed it died. It is watched for SendingGrace; if it is still sending
// then, it is marked unknown, never sent again.
func (s *Sender) abandoned(ctx context.Context, d Delivery) (Result, error) {
	grace := orDefault(s.SendingGrace, DefaultSendingGrace)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace+time.Second {
		return Result{Outcome: OutcomeRetry, RetryAfter: grace, Refusal: sendgate.Refusal{Reason: "another sender holds the message"}}, nil
	}
	giveUp := time.Now().Add(grace)
	for step := 100 * time.Millisecond; time.Now().Before(giveUp); step = min(step*2, 2*time.Second) {
		if err := sleep(ctx, min(step, time.Until(giveUp))); err != nil {
			return Result{}, err
		}
		m, err := s.Store.GetMessage(ctx, d.OrgID, d.LeadID, d.MessageID)
		if err != nil {
			return Result{}, fmt.Errorf("watch sending %s: %w", d.MessageID, err)
		}
		if m.Status != conversation.StatusSending {
			return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "finished by another sender: " + string(m.Status)}}, nil
		}
	}
	r := sendgate.Refusal{Title: sendgate.TitleUnknownOutcome, Reason: unknownReason}
	err := s.Store.FailSend(ctx, d.OrgID, d.LeadID, d.MessageID, conversation.StatusUnknown, 0, r.Title, r.Reason, s.now())
	if errors.Is(err, conversation.ErrNotQueued) {
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "finished by another sender"}}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("mark %s unknown: %w", d.MessageID, err)
	}
	return Result{Outcome: OutcomeUnknown, Refusal: r}, nil
}

// refuse fails a queued message that must not be sent: claim, then fail.
func (s *Sender) refuse(ctx context.Context, m conversation.Message, r sendgate.Refusal) (Result, error) {
	if err := s.Store.ClaimSend(ctx, m.OrgID, m.LeadID, m.ID, s.now()); err != nil {
		if errors.Is(err, conversation.ErrNotQueued) {
			return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "claimed by another sender"}}, nil
		}
		return Result{}, fmt.Errorf("refuse %s: %w", m.ID, err)
	}
	if err := s.failSend(ctx, m, conversation.StatusFailed, r.Code, r.Title, r.Reason, s.now()); err != nil {
		return Result{}, fmt.Errorf("refuse %s: %w", m.ID, err)
	}
	return Result{Outcome: OutcomeFailed, Refusal: r}, nil
}

// hasTime reports whether ctx leaves room for a provider call and its
// outcome write.
func (s *Sender) hasTime(ctx context.Context, extra time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > extra+orDefault(s.SendTimeout, DefaultSendTimeout)+2*time.Second
}

func (s *Sender) sendWhatsApp(ctx context.Context, d Delivery, m conversation.Message, in integration.Integration) (Result, error) {
	wa, err := sendgate.ParseWhatsApp(m.Payload) // Check has read it already
	if err != nil {
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleInvalidPayload, Reason: err.Error()})
	}
	token, err := s.Tokens.Open(ctx, m.OrgID, in.SealedToken)
	if errors.Is(err, envelope.ErrOpen) {
		if serr := s.Store.SetIntegrationStatus(ctx, m.OrgID, integration.KindWhatsApp, m.Number, integration.StatusTokenInvalid); serr != nil {
			return Result{}, fmt.Errorf("mark %s token_invalid: %w", m.Number, serr)
		}
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleIntegrationInactive, Reason: "The WhatsApp number's stored token cannot be opened; reconnect the number under Integrations, then send again."})
	}
	if err != nil {
		return Result{}, fmt.Errorf("open token of %s: %w", m.Number, err)
	}
	rate := in.MessagesPerSecond
	if rate <= 0 {
		rate = orDefault(s.NumberRate, DefaultNumberRate)
	}
	window, res, err := s.pace(ctx, d, m.Number, wa.To, rate)
	if res != nil || err != nil {
		return *res, err
	}
	if !s.hasTime(ctx, 0) {
		return Result{Outcome: OutcomeRetry, Refusal: sendgate.Refusal{Reason: "invocation ending"}}, nil
	}
	if res, claimed, err := s.claim(ctx, m); !claimed {
		return res, err
	}
	// Meta counts a send in the second it arrives. If the claim carried us
	// past the second our slot was granted in, take a slot in this second
	// (the old one stays counted: that only under-uses the limit); if none
	// comes soon, put the message back unsent.
	if res, err := s.repace(ctx, m, window, rate); res != nil || err != nil {
		return *res, err
	}
	cctx, cancel := context.WithTimeout(ctx, orDefault(s.SendTimeout, DefaultSendTimeout))
	cctx, written := traceWrites(cctx)
	sent, err := s.WhatsApp.SendMessage(cctx, m.Number, string(token), json.RawMessage(m.Payload))
	cancel()
	if hook := s.AfterProviderCall; hook != nil {
		if herr := hook(ctx, m); herr != nil {
			return Result{}, herr
		}
	}
	if err == nil {
		return s.recordSent(ctx, m, sent.MessageID)
	}
	return s.recordFailure(ctx, d, m, ClassifyWhatsApp(err, written.Load()), err)
}

func (s *Sender) sendEmail(ctx context.Context, d Delivery, m conversation.Message) (Result, error) {
	e, err := sendgate.ParseEmail(m.Payload)
	if err != nil {
		return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleInvalidPayload, Reason: err.Error()})
	}
	if e.From == "" {
		e.From = s.EmailFrom
	}
	if s.Senders != nil {
		ok, err := s.verifiedSender(ctx, m.OrgID, e.From)
		if err != nil {
			return Result{}, fmt.Errorf("send %s: %w", m.ID, err)
		}
		if !ok {
			return s.refuse(ctx, m, sendgate.Refusal{Title: sendgate.TitleNoVerifiedSender,
				Reason: "The organisation's sender address is not verified any more (it was released, replaced, or failed " +
					"verification); nothing was sent. An owner or admin sets it with PUT /v1/email/sender."})
		}
	}
	link := ""
	if s.Unsubscribe != nil {
		if link, err = s.Unsubscribe.Link(ctx, m.OrgID, m.LeadID); err != nil {
			return Result{}, fmt.Errorf("send %s: %w", m.ID, err)
		}
	}
	email := composeEmail(e, link)
	if !s.hasTime(ctx, 0) {
		return Result{Outcome: OutcomeRetry, Refusal: sendgate.Refusal{Reason: "invocation ending"}}, nil
	}
	if res, claimed, err := s.claim(ctx, m); !claimed {
		return res, err
	}
	cctx, cancel := context.WithTimeout(ctx, orDefault(s.SendTimeout, DefaultSendTimeout))
	cctx, written := traceWrites(cctx)
	id, err := s.Mailer.SendEmail(cctx, email)
	cancel()
	if hook := s.AfterProviderCall; hook != nil {
		if herr := hook(ctx, m); herr != nil {
			return Result{}, herr
		}
	}
	if err == nil && id != "" {
		return s.recordSent(ctx, m, id)
	}
	if err == nil {
		return s.recordFailure(ctx, d, m, unknownVerdict("The email service accepted the email without a message id."), errors.New("no message id"))
	}
	return s.recordFailure(ctx, d, m, ClassifyEmail(err, written.Load()), err)
}

// senderCacheTTL is how long a verified sender address is trusted without
// reading it again: a release or a failed re-check stops emails from it
// at most this long after.
const senderCacheTTL = 30 * time.Second

// senderCache remembers verified sender addresses by org.
type senderCache struct {
	mu sync.Mutex
	m  map[string]cachedSender
}

type cachedSender struct {
	email string
	until time.Time
}

// verifiedSender reports whether from (a display name allowed) is the
// org's own sender address and verified, from the stored claim state.
func (s *Sender) verifiedSender(ctx context.Context, orgID, from string) (bool, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return false, nil
	}
	addr := strings.ToLower(a.Address)
	now := s.now()
	s.senders.mu.Lock()
	c, ok := s.senders.m[orgID]
	s.senders.mu.Unlock()
	if ok && now.Before(c.until) && c.email == addr {
		return true, nil
	}
	snd, err := s.Senders.GetEmailSender(ctx, orgID)
	if errors.Is(err, account.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read email sender: %w", err)
	}
	if snd.Status != account.SenderVerified {
		return false, nil // not remembered: it may be verified any moment
	}
	s.senders.mu.Lock()
	if s.senders.m == nil {
		s.senders.m = map[string]cachedSender{}
	}
	s.senders.m[orgID] = cachedSender{email: snd.Email, until: now.Add(senderCacheTTL)}
	s.senders.mu.Unlock()
	return snd.Email == addr, nil
}

// composeEmail builds the email of a payload: Reply-To when the payload
// names one, and, with an unsubscribe URL, List-Unsubscribe with it and
// List-Unsubscribe-Post as RFC 8058 asks for one-click unsubscribes. No
// mailto is offered: no mailbox of the platform reads unsubscribe mail.
func composeEmail(e sendgate.Email, unsubscribeURL string) Email {
	out := Email{From: e.From, To: e.To, ReplyTo: e.ReplyTo, Subject: e.Subject, Text: e.Text, HTML: e.HTML}
	if unsubscribeURL != "" {
		out.Headers = []Header{{Name: "List-Unsubscribe", Value: "<" + unsubscribeURL + ">"},
			{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}}
	}
	return out
}

// claim moves the message to sending; only one sender gets it.
func (s *Sender) claim(ctx context.Context, m conversation.Message) (Result, bool, error) {
	err := s.Store.ClaimSend(ctx, m.OrgID, m.LeadID, m.ID, s.now())
	if errors.Is(err, conversation.ErrNotQueued) {
		return Result{Outcome: OutcomeSkipped, Refusal: sendgate.Refusal{Reason: "claimed by another sender"}}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("claim %s: %w", m.ID, err)
	}
	return Result{}, true, nil
}

// outcomeCtx is for writes after a provider call: they must happen even if
// the invocation's context ends meanwhile.
func outcomeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

func (s *Sender) recordSent(ctx context.Context, m conversation.Message, providerID string) (Result, error) {
	wctx, cancel := outcomeCtx(ctx)
	defer cancel()
	err := s.Store.RecordSent(wctx, m.OrgID, m.LeadID, m.ID, providerID, s.now())
	if errors.Is(err, conversation.ErrNotQueued) {
		// Another delivery gave up on us and marked it unknown meanwhile.
		s.logger().WarnContext(ctx, "sent message was marked unknown before its id was recorded", "message_id", m.ID, "provider_id", providerID)
		return Result{Outcome: OutcomeSent, ProviderID: providerID}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("record sent %s (provider id %s): %w", m.ID, providerID, err)
	}
	return Result{Outcome: OutcomeSent, ProviderID: providerID}, nil
}

func (s *Sender) recordFailure(ctx context.Context, d Delivery, m conversation.Message, v Verdict, cause error) (Result, error) {
	wctx, cancel := outcomeCtx(ctx)
	defer cancel()
	now := s.now()
	switch v.Action {
	case ActionRetry:
		if err := s.Store.ReleaseSend(wctx, m.OrgID, m.LeadID, m.ID, now); err != nil {
			return Result{}, fmt.Errorf("release %s after %w: %w", m.ID, cause, err)
		}
		return Result{Outcome: OutcomeRetry, Refusal: v.Refusal, RetryAfter: s.backoff(d, v.MinDelay)}, nil
	case ActionUnknown:
		if err := s.failSend(wctx, m, conversation.StatusUnknown, v.Code, v.Title, v.Reason, now); err != nil {
			return Result{}, fmt.Errorf("mark %s unknown after %w: %w", m.ID, cause, err)
		}
		return Result{Outcome: OutcomeUnknown, Refusal: v.Refusal}, nil
	case ActionTokenInvalid:
		if err := s.Store.SetIntegrationStatus(wctx, m.OrgID, integration.KindWhatsApp, m.Number, integration.StatusTokenInvalid); err != nil {
			s.logger().ErrorContext(ctx, "mark integration token_invalid", "number", m.Number, "err", err)
		}
	}
	if err := s.failSend(wctx, m, conversation.StatusFailed, v.Code, v.Title, v.Reason, now); err != nil {
		return Result{}, fmt.Errorf("fail %s after %w: %w", m.ID, cause, err)
	}
	if v.OptOutMarketing {
		m.ErrorCode = v.Code
		if err := s.optOutMarketing(wctx, m); err != nil {
			return Result{}, err
		}
	}
	if v.Code == codeReengagement {
		s.reengage(wctx, m)
	}
	return Result{Outcome: OutcomeFailed, Refusal: v.Refusal}, nil
}

// optOutMarketing records that the lead stopped WhatsApp marketing messages
// (error 131050 on message m), once: the ledger entry's evidence is the
// message id.
func (s *Sender) optOutMarketing(ctx context.Context, m conversation.Message) error {
	ledger, err := s.Store.ConsentLedger(ctx, m.OrgID, m.LeadID)
	if err != nil {
		return fmt.Errorf("read consent of lead %s: %w", m.LeadID, err)
	}
	for _, c := range ledger {
		if c.Evidence == m.ID && c.Purpose == conversation.PurposeMarketing && c.Action == conversation.OptOut {
			return nil
		}
	}
	err = s.Store.AppendConsent(ctx, conversation.ConsentEntry{
		ID: ulid.Make().String(), OrgID: m.OrgID, LeadID: m.LeadID, Channel: conversation.ChannelWhatsApp,
		Purpose: conversation.PurposeMarketing, Action: conversation.OptOut, At: s.now().UTC(), Evidence: m.ID, Source: "provider",
	})
	if err != nil {
		return fmt.Errorf("record marketing opt-out of lead %s: %w", m.LeadID, err)
	}
	return nil
}

// repace makes sure the number's slot is in the current second after a
// claim; see sendWhatsApp. A non-nil Result means the claimed message was
// put back to queued, unsent.
func (s *Sender) repace(ctx context.Context, m conversation.Message, window time.Time, rate int) (*Result, error) {
	if s.Pacer == nil || s.now().Unix() == window.Unix() {
		return nil, nil
	}
	_, err := s.Pacer.TakeNumberSlot(ctx, m.Number, rate, orDefault(s.MaxNumberWait, DefaultMaxNumberWait))
	var pe *PacedError
	if errors.As(err, &pe) {
		wctx, cancel := outcomeCtx(ctx)
		defer cancel()
		if rerr := s.Store.ReleaseSend(wctx, m.OrgID, m.LeadID, m.ID, s.now()); rerr != nil {
			return &Result{}, fmt.Errorf("release %s after pacing: %w", m.ID, rerr)
		}
		return &Result{Outcome: OutcomeRetry, RetryAfter: pe.RetryAfter, Refusal: sendgate.Refusal{Title: "paced", Reason: "Waiting for the business number's send rate."}}, nil
	}
	if err != nil {
		wctx, cancel := outcomeCtx(ctx)
		defer cancel()
		if rerr := s.Store.ReleaseSend(wctx, m.OrgID, m.LeadID, m.ID, s.now()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return &Result{}, err
	}
	return nil, nil
}

// pace waits for the recipient's slot and a slot of the number, and returns
// the one-second window granted. A non-nil Result sends the message back to
// the queue (nothing was claimed).
func (s *Sender) pace(ctx context.Context, d Delivery, number, to string, rate int) (time.Time, *Result, error) {
	p := s.Pacer
	if p == nil {
		return time.Time{}, nil, nil
	}
	var at time.Time
	booked := false
	if d.ReceiveCount != 1 { // a redelivery, or not known not to be
		t, ok, err := p.TakeBooking(ctx, d.OrgID, d.MessageID)
		if err != nil {
			return time.Time{}, &Result{}, err
		}
		at, booked = t, ok && !p.Late(t, s.now())
	}
	if !booked {
		t, err := p.BookPair(ctx, number, to)
		if err != nil {
			return time.Time{}, &Result{}, err
		}
		at = t
	}
	wait := at.Sub(s.now())
	if wait > orDefault(s.MaxPairHold, DefaultMaxPairHold) || !s.hasTime(ctx, wait+orDefault(s.MaxNumberWait, DefaultMaxNumberWait)) {
		if err := p.SaveBooking(ctx, d.OrgID, d.MessageID, at); err != nil {
			return time.Time{}, &Result{}, err
		}
		return time.Time{}, &Result{Outcome: OutcomeRetry, RetryAfter: wait, Refusal: sendgate.Refusal{Title: "paced",
			Reason: "Waiting for the recipient's next send slot (WhatsApp allows about one message every 6 seconds per recipient)."}}, nil
	}
	if err := sleep(ctx, wait); err != nil {
		return time.Time{}, &Result{}, err
	}
	window, err := p.TakeNumberSlot(ctx, number, rate, orDefault(s.MaxNumberWait, DefaultMaxNumberWait))
	var pe *PacedError
	if errors.As(err, &pe) {
		return time.Time{}, &Result{Outcome: OutcomeRetry, RetryAfter: pe.RetryAfter, Refusal: sendgate.Refusal{Title: "paced", Reason: "Waiting for the business number's send rate."}}, nil
	}
	if err != nil {
		return time.Time{}, &Result{}, err
	}
	return window, nil, nil
}

func (s *Sender) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// traceWrites returns a context whose HTTP requests report, through the
// flag, whether one was written to the connection in full: after that a
// lost answer may mean a delivered message.
func traceWrites(ctx context.Context) (context.Context, *atomic.Bool) {
	var written atomic.Bool
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	}), &written
}
