package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/unsubscribe"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/intaketest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

const (
	numberID = intaketest.NumberID
	display  = intaketest.Display
	wabaID   = intaketest.WABAID
)

var seq atomic.Int64

type env struct {
	*intaketest.Env
	res      devstacktest.Env
	t        testing.TB
	sqs      *sqs.Client
	queueURL string
	sender   *outbound.Sender
	handler  app.Handler
}

// options adjust the sender's config and the built sender before the
// handler is made.
type options struct {
	graphURL string
	tweak    func(*outbound.Sender)
	// noUnsubscribeKey leaves the unsubscribe key uncreated, as before the
	// api function's first start.
	noUnsubscribeKey bool
}

// publicBaseURL is the api's public base URL the sender is configured with.
const publicBaseURL = "https://api.leadluence.test"

func newEnv(t *testing.T, opt options) *env {
	t.Helper()
	return build(t, devstacktest.Fresh(t), opt)
}

// build makes the intake fixture over res, then the sender and handler.
func build(t testing.TB, res devstacktest.Env, opt options) *env {
	t.Helper()
	ie := intaketest.New(t, res.AWS, res.TableName, res.KeyID)
	if opt.graphURL == "" {
		opt.graphURL = ie.Sim.URL
	}
	cfg := config.Sender{TableName: res.TableName, KeyID: res.KeyID, OutboundQueueURL: res.QueueURLs["outbound"],
		GraphBaseURL: opt.graphURL, GraphVersion: ie.Sim.Version(), EmailFrom: "no-reply@leadluence.local", NumberRatePerSecond: 80,
		PublicBaseURL: publicBaseURL}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if !opt.noUnsubscribeKey {
		// The api function creates the unsubscribe key at its cold start.
		if _, err := unsubscribe.LoadKey(ie.Ctx, ie.Store, envelope.New(kms.NewFromConfig(res.AWS), res.KeyID, envelope.Options{})); err != nil {
			t.Fatal(err)
		}
	}
	// DynamoDB Local answers refused conditions with a CRC the SDK warns about.
	s, q, err := app.NewSender(ie.Ctx, cfg, log, awsenv.WithLogger(logging.Nop{}))
	if err != nil {
		t.Fatal(err)
	}
	s.SendingGrace = 2 * time.Second
	s.BackoffBase = time.Second
	if opt.tweak != nil {
		opt.tweak(s)
	}
	return &env{Env: ie, res: res, t: t, sqs: q, queueURL: cfg.OutboundQueueURL, sender: s, handler: app.NewHandler(s, q, cfg.OutboundQueueURL, log)}
}

// verifiedSender gives the fixture's org a sender address verified in the
// SES stand-in and stored so, and returns it: the sender sends emails only
// from such an address.
func (e *env) verifiedSender() string {
	e.t.Helper()
	addr := fmt.Sprintf("sales.%d.%d@sharma-realty.test", time.Now().UnixNano(), seq.Add(1))
	now := time.Now()
	if err := e.Store.PutEmailSender(e.Ctx, account.EmailSender{OrgID: e.OrgID, Email: addr, Status: account.SenderVerified,
		CheckedAt: now, SetBy: "u", SetAt: now}, e.senderOf()); err != nil {
		e.t.Fatal(err)
	}
	if err := devstack.VerifyEmailIdentity(e.Ctx, os.Getenv("AWS_ENDPOINT_URL_SESV2"), addr); err != nil {
		e.t.Fatal(err)
	}
	return addr
}

// senderOf returns the org's stored sender address, "" for none.
func (e *env) senderOf() string {
	snd, err := e.Store.GetEmailSender(e.Ctx, e.OrgID)
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		e.t.Fatal(err)
	}
	return snd.Email
}

// newLead creates a lead with a phone and an email, who last wrote on
// WhatsApp at lastInbound (zero: never).
func (e *env) newLead(lastInbound time.Time, consent map[string]string) lead.Lead {
	e.t.Helper()
	n := seq.Add(1)
	now := time.Now().UTC()
	l := lead.Lead{ID: ulid.Make().String(), OrgID: e.OrgID, Name: "Asha Verma", Phone: fmt.Sprintf("+9198%08d", 10000000+n),
		Email: fmt.Sprintf("asha%d@example.com", n), Source: "manual", Status: lead.StatusNew, CreatedAt: now, UpdatedAt: now, Version: 1,
		LastInboundAt: lastInbound, Consent: consent}
	if err := e.Store.CreateLead(e.Ctx, l); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// marketingOptIn is the current consent of a lead who opted in to WhatsApp
// marketing a day ago.
func marketingOptIn() map[string]string {
	return map[string]string{"whatsapp:marketing": "opt_in@" + time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339)}
}

// staffConsent records, as staff would through the preferences route, the
// lead's WhatsApp opt-in or opt-out of purpose.
func (e *env) staffConsent(l lead.Lead, purpose, action string) {
	e.t.Helper()
	at := time.Now().UTC()
	if err := e.Store.AppendConsent(e.Ctx, conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Purpose: purpose, Action: action, At: at, Source: conversation.SourceStaff,
		By: "staff-user", Reason: "The lead asked on the phone"}); err != nil {
		e.t.Fatal(err)
	}
	// Entries are kept to the second: the next one must be newer.
	time.Sleep(time.Until(at.Truncate(time.Second).Add(time.Second)))
}

// waID is the wa_id digits the api puts in "to".
func waID(l lead.Lead) string { return strings.TrimPrefix(l.Phone, "+") }

// queue stores an outbound message as the api does and returns it.
func (e *env) queue(l lead.Lead, ch conversation.Channel, typ, text string, payload any, details map[string]string) conversation.Message {
	e.t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	m := conversation.Message{ID: ulid.Make().String(), OrgID: e.OrgID, LeadID: l.ID, Channel: ch, Direction: conversation.Outbound,
		Type: typ, Text: text, Details: details, At: time.Now().UTC(), Payload: string(raw), ClientMessageID: ulid.Make().String()}
	if ch == conversation.ChannelWhatsApp {
		m.Number = numberID
	}
	stored, created, err := e.Store.QueueOutbound(e.Ctx, m)
	if err != nil || !created {
		e.t.Fatalf("queue outbound: %v (created %v)", err, created)
	}
	return stored
}

func (e *env) queueText(l lead.Lead, body string) conversation.Message {
	return e.queue(l, conversation.ChannelWhatsApp, "text", body, map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": waID(l), "type": "text",
		"text": map[string]any{"preview_url": false, "body": body},
	}, nil)
}

func (e *env) queueTemplate(l lead.Lead, name, category string) conversation.Message {
	return e.queue(l, conversation.ChannelWhatsApp, "template", "", map[string]any{
		"messaging_product": "whatsapp", "to": waID(l), "type": "template",
		"template": map[string]any{"name": name, "language": map[string]any{"code": "en"}},
	}, map[string]string{sendgate.DetailCategory: category})
}

// enqueue puts m's job on the outbound queue and receives it back as the
// Lambda event source would hand it over.
func (e *env) enqueue(m conversation.Message) events.SQSMessage {
	e.t.Helper()
	body := sendgate.Job{OrgID: m.OrgID, LeadID: m.LeadID, MessageID: m.ID}.Encode()
	if _, err := e.sqs.SendMessage(e.Ctx, &sqs.SendMessageInput{QueueUrl: &e.queueURL, MessageBody: &body}); err != nil {
		e.t.Fatal(err)
	}
	return e.receive(20 * time.Second)
}

// receive waits up to within for the next visible message of the queue.
func (e *env) receive(within time.Duration) events.SQSMessage {
	e.t.Helper()
	giveUp := time.Now().Add(within)
	for time.Now().Before(giveUp) {
		out, err := e.sqs.ReceiveMessage(e.Ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &e.queueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			// The local stand-in reads only the older name of the parameter.
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}, //nolint:staticcheck // see above
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(out.Messages) == 1 {
			m := out.Messages[0]
			return events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs"}
		}
	}
	e.t.Fatalf("no message on the outbound queue within %s", within)
	return events.SQSMessage{}
}

// deliver hands records to the handler as one batch and returns the ids it
// asked to retry; the others are deleted, as Lambda does.
func (e *env) deliver(recs ...events.SQSMessage) []string {
	e.t.Helper()
	resp, err := e.handler(e.Ctx, events.SQSEvent{Records: recs})
	if err != nil {
		e.t.Fatal(err)
	}
	failed := map[string]bool{}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
		ids = append(ids, f.ItemIdentifier)
	}
	for _, r := range recs {
		if !failed[r.MessageId] {
			_, _ = e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &e.queueURL, ReceiptHandle: aws.String(r.ReceiptHandle)})
		}
	}
	return ids
}

func (e *env) message(m conversation.Message) conversation.Message {
	e.t.Helper()
	got, err := e.Store.GetMessage(e.Ctx, m.OrgID, m.LeadID, m.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// wantStatus checks a message's state and failure title.
func (e *env) wantStatus(m conversation.Message, st conversation.Status, title string) conversation.Message {
	e.t.Helper()
	got := e.message(m)
	if got.Status != st || got.ErrorTitle != title {
		e.t.Fatalf("message %s: status %s title %q (code %d, reason %q), want %s %q", m.ID, got.Status, got.ErrorTitle, got.ErrorCode,
			got.Reason, st, title)
	}
	return got
}

// sesStore returns the mails the SES stand-in holds.
func sesStore(t testing.TB) []sesMail {
	t.Helper()
	resp, err := http.Get(strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/") + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []sesMail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Emails
}

type sesMail struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Subject     string   `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
}
