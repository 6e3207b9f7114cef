package app_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/ingest/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/intaketest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

const (
	pageID    = intaketest.PageID
	formID    = intaketest.FormID
	pageToken = intaketest.PageToken
	numberID  = intaketest.NumberID
	display   = intaketest.Display
)

var seq atomic.Int64

type env struct {
	*intaketest.Env
	t       *testing.T
	ctx     context.Context
	sim     *metatest.Server
	store   *dynamostore.Store
	sqs     *sqs.Client
	dlqURL  string
	handler app.Handler
	orgID   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	res := devstacktest.Fresh(t)
	ie := intaketest.New(t, res.AWS, res.TableName, res.KeyID)
	cfg := config.Ingest{TableName: res.TableName, KeyID: res.KeyID, IntakeDLQURL: res.QueueURLs["intake-dlq"],
		GraphBaseURL: ie.Sim.URL, GraphVersion: ie.Sim.Version(), DefaultRegion: "IN", EmailFrom: "no-reply@leadluence.local"}
	h, _, err := app.New(ie.Ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: ie, t: t, ctx: ie.Ctx, sim: ie.Sim, store: ie.Store, sqs: sqs.NewFromConfig(ie.AWS), dlqURL: cfg.IntakeDLQURL,
		handler: h, orgID: ie.OrgID}
}

// deliver hands payloads to the handler as one SQS batch and returns the
// ids of the records it asked to retry.
func (e *env) deliver(payloads ...[]byte) []string {
	e.t.Helper()
	var ev events.SQSEvent
	for i, p := range payloads {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m-%d-%d", i, seq.Add(1)), Body: string(p), EventSource: "aws:sqs"})
	}
	resp, err := e.handler(e.ctx, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

func (e *env) leadByPhone(phone string) lead.Lead {
	e.t.Helper()
	id, err := e.store.LeadIDByPhone(e.ctx, e.orgID, phone)
	if err != nil {
		e.t.Fatalf("lead with %s: %v", phone, err)
	}
	l, err := e.store.GetLead(e.ctx, e.orgID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func TestLeadAdsLeadIsCreatedOnce(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	leadgen := e.sim.AddLead(formID, map[string][]string{
		"full_name": {"Asha Verma"}, "phone_number": {"+919812345678"}, "email": {"Asha@Example.com"},
		"which_city?": {"Pune"}, "budget": {"50-75L"},
	}, at)
	payload := e.sim.LeadgenPayload(pageID, formID, leadgen, at)

	// Delivered twice in one batch, and once more later (Meta retry).
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if failed := e.deliver(payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	l := e.leadByPhone("+919812345678")
	if l.Name != "Asha Verma" || l.Email != "asha@example.com" || l.Source != "facebook_lead_ads" ||
		l.CustomFields["which_city?"] != "Pune" || l.CustomFields["budget"] != "50-75L" {
		t.Fatalf("lead %+v", l)
	}
	if l.Provenance == nil || l.Provenance.LeadgenID != leadgen || l.Provenance.FormID != formID {
		t.Fatalf("provenance %+v", l.Provenance)
	}
	listed, err := e.store.ListLeads(e.ctx, e.orgID, lead.Filter{}, 100, page.Cursor{})
	if err != nil || len(listed.Items) != 1 {
		t.Fatalf("org has %d leads (%v), want 1", len(listed.Items), err)
	}
	// The submission is recorded on the lead (provenance); its timeline
	// starts with its creation by the system.
	if acts, _ := e.store.Activities(e.ctx, e.orgID, l.ID); len(acts) != 1 || acts[0].Kind != lead.ActivityCreated || acts[0].ActorID != "" ||
		acts[0].Details["source"] != "facebook_lead_ads" {
		t.Fatalf("activities %+v", acts)
	}
	if n := e.sim.Calls("GET", "/{id}"); n > 1 {
		t.Logf("graph lead fetches: %d", n)
	}

	// The same person submits another form: attached as an activity.
	again := e.sim.AddLead(formID, map[string][]string{"first_name": {"Asha"}, "last_name": {"V"}, "email": {"asha@example.com"}}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, again, at)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	acts, _ := e.store.Activities(e.ctx, e.orgID, l.ID)
	if len(acts) != 2 || acts[1].Kind != "lead_ads_resubmission" {
		t.Fatalf("activities after resubmission %+v", acts)
	}
}

// A Lead Ads phone that cannot be read does not lose the lead when it has
// an email: the lead is keyed by the email and keeps what was typed.
func TestLeadAdsUnreadablePhoneIsKeptAsEntered(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	leadgen := e.sim.AddLead(formID, map[string][]string{
		"full_name": {"Ravi Kumar"}, "phone_number": {"call me maybe"}, "email": {"ravi@example.com"},
	}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, leadgen, at)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	id, err := e.store.LeadIDByEmail(e.ctx, e.orgID, "ravi@example.com")
	if err != nil {
		t.Fatalf("lead by email: %v", err)
	}
	l, err := e.store.GetLead(e.ctx, e.orgID, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Phone != "" || l.CustomFields["phone_as_entered"] != "call me maybe" {
		t.Fatalf("phone %q, phone_as_entered %q", l.Phone, l.CustomFields["phone_as_entered"])
	}
}

func TestGraphOutageIsRetriedAndRevokedTokenParks(t *testing.T) {
	e := newEnv(t)
	at := time.Now().UTC()
	id := e.sim.AddLead(formID, map[string][]string{"full_name": {"Ravi"}, "email": {"ravi@example.com"}}, at)
	payload := e.sim.LeadgenPayload(pageID, formID, id, at)

	e.sim.FailNext(1, 503)
	if failed := e.deliver(payload); len(failed) != 1 {
		t.Fatalf("a Graph 503 must be retried; failures %v", failed)
	}
	if failed := e.deliver(payload); len(failed) != 0 {
		t.Fatalf("redelivery after the outage failed: %v", failed)
	}
	if _, err := e.store.LeadIDByEmail(e.ctx, e.orgID, "ravi@example.com"); err != nil {
		t.Fatalf("lead missing after retry: %v", err)
	}

	e.sim.RevokeToken(pageToken)
	id2 := e.sim.AddLead(formID, map[string][]string{"full_name": {"Meena"}, "email": {"meena@example.com"}}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id2, at)); len(failed) != 0 {
		t.Fatalf("a revoked token parks the event, it does not retry: %v", failed)
	}
	in, err := e.store.GetIntegration(e.ctx, e.orgID, integration.KindFacebookPage, pageID)
	if err != nil || in.Status != integration.StatusTokenInvalid {
		t.Fatalf("integration %+v, %v; want token_invalid", in, err)
	}
	parked, err := e.store.ParkedEvents(e.ctx, e.orgID, integration.KindFacebookPage, pageID, 10)
	if err != nil || len(parked) != 1 {
		t.Fatalf("parked %d events (%v), want 1", len(parked), err)
	}
}

func TestDisconnectedIntegrationDropsAndCounts(t *testing.T) {
	e := newEnv(t)
	if err := e.store.DisconnectIntegration(e.ctx, e.orgID, integration.KindWhatsApp, numberID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text("919876500001", "hello"))); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if _, err := e.store.LeadIDByPhone(e.ctx, e.orgID, "+919876500001"); err == nil {
		t.Fatal("a message for a disconnected number was stored")
	}
	in, _ := e.store.GetIntegration(e.ctx, e.orgID, integration.KindWhatsApp, numberID)
	if in.DroppedEvents != 1 {
		t.Fatalf("dropped = %d, want 1", in.DroppedEvents)
	}
}

func TestWhatsAppMessagesOfEveryType(t *testing.T) {
	e := newEnv(t)
	from := "919876500002"
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	msgs := []metatest.InboundMessage{
		metatest.Text(from, "Hi, is the 2BHK available?").At(at).WithName("Kiran"),
		metatest.Image(from, "floor plan").At(at.Add(time.Second)),
		metatest.Audio(from).At(at.Add(2 * time.Second)),
		metatest.Video(from, "walkthrough").At(at.Add(3 * time.Second)),
		metatest.Document(from, "id.pdf", "my id").At(at.Add(4 * time.Second)),
		metatest.Sticker(from).At(at.Add(5 * time.Second)),
		metatest.Location(from, 18.52, 73.85, "Home", "Pune").At(at.Add(6 * time.Second)),
		metatest.Contacts(from, "Sita", "+919800000000").At(at.Add(7 * time.Second)),
		metatest.ButtonReply(from, "wamid.ctx", "yes", "Yes").At(at.Add(8 * time.Second)),
		metatest.ListReply(from, "wamid.ctx", "slot-1", "Saturday", "10 am").At(at.Add(9 * time.Second)),
		metatest.Button(from, "wamid.ctx", "visit", "Book a visit").At(at.Add(10 * time.Second)),
		metatest.Reaction(from, "wamid.ctx", "👍").At(at.Add(11 * time.Second)),
		metatest.Unsupported(from).At(at.Add(12 * time.Second)),
	}
	payload := e.sim.InboundPayload(numberID, display, msgs...)
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	l := e.leadByPhone("+" + from)
	if l.Name != "Kiran" || l.Source != "whatsapp" || !l.LastInboundAt.Equal(at.Add(12*time.Second)) {
		t.Fatalf("lead %+v", l)
	}
	stored, err := e.store.Messages(e.ctx, e.orgID, l.ID)
	if err != nil || len(stored) != len(msgs) {
		t.Fatalf("stored %d messages (%v), want %d (each once)", len(stored), err, len(msgs))
	}
	for i, m := range stored {
		want := msgs[i].Message
		if m.ProviderID != want.ID || m.Type != want.Type || m.Direction != conversation.Inbound {
			t.Errorf("message %d = %+v, want wamid %s type %s", i, m, want.ID, want.Type)
		}
	}
	if stored[1].Media == nil || stored[1].Media.ID == "" || stored[0].Text != "Hi, is the 2BHK available?" ||
		stored[6].Details["latitude"] != "18.52" || stored[8].Details["reply_id"] != "yes" {
		t.Errorf("type details lost: %+v / %+v / %+v", stored[1], stored[6], stored[8])
	}
}

func TestOptOutAndOptIn(t *testing.T) {
	e := newEnv(t)
	from := "919876500003"
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	stop := metatest.Text(from, "STOP").At(at)
	start := metatest.Text(from, "start").At(at.Add(time.Minute))
	hinglish := metatest.Text(from, "band karo").At(at.Add(2 * time.Minute))
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, stop, start, hinglish)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	l := e.leadByPhone("+" + from)
	ledger, err := e.store.ConsentLedger(e.ctx, e.orgID, l.ID)
	if err != nil || len(ledger) != 3 {
		t.Fatalf("ledger %+v, %v", ledger, err)
	}
	want := []struct{ action, evidence string }{{conversation.OptOut, stop.Message.ID}, {conversation.OptIn, start.Message.ID}, {conversation.OptOut, hinglish.Message.ID}}
	for i, w := range want {
		if ledger[i].Action != w.action || ledger[i].Evidence != w.evidence || ledger[i].Channel != conversation.ChannelWhatsApp || ledger[i].At.IsZero() {
			t.Errorf("ledger[%d] = %+v, want %s with evidence %s", i, ledger[i], w.action, w.evidence)
		}
	}
	if got := e.leadByPhone("+" + from).Consent["whatsapp:all"]; got == "" || got[:7] != "opt_out" {
		t.Errorf("current consent %q, want opt_out", got)
	}
}

func TestStatusesAreMonotonicAndUnknownOnesRetried(t *testing.T) {
	e := newEnv(t)
	recipient := "919876500004"
	l := lead.Lead{ID: ulid.Make().String(), OrgID: e.orgID, Name: "Out", Phone: "+" + recipient, Status: lead.StatusNew, Version: 1}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	wamid := metatest.NewWAMID()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	// Statuses before the send is recorded: retried, not dropped.
	early := e.sim.StatusPayload(numberID, display, metatest.StatusDelivered(wamid, recipient).At(at.Add(2*time.Second)))
	if failed := e.deliver(early); len(failed) != 1 {
		t.Fatalf("status for an unknown message must be retried; failures %v", failed)
	}
	out := conversation.Message{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Outbound, ProviderID: wamid, Type: "text", Text: "Hello", Status: conversation.StatusAccepted, At: at}
	if err := e.store.PutInboundMessage(e.ctx, out, nil); err != nil {
		t.Fatal(err)
	}
	sent := e.sim.StatusPayload(numberID, display, metatest.StatusSent(wamid, recipient).At(at.Add(time.Second)))
	read := e.sim.StatusPayload(numberID, display, metatest.StatusRead(wamid, recipient).At(at.Add(3*time.Second)))
	if failed := e.deliver(early, read, sent, sent); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	m, err := e.store.MessageByProviderID(e.ctx, wamid)
	if err != nil || m.Status != conversation.StatusRead {
		t.Fatalf("message status %s (%v), want read (never backwards)", m.Status, err)
	}
	failedP := e.sim.StatusPayload(numberID, display, metatest.StatusFailed(wamid, recipient, 131026, "Message undeliverable").At(at.Add(4*time.Second)))
	e.deliver(failedP)
	m, _ = e.store.MessageByProviderID(e.ctx, wamid)
	if m.Status != conversation.StatusFailed || m.ErrorCode != 131026 {
		t.Fatalf("message %+v; failed must win with its code", m)
	}
	log, _ := e.store.StatusLog(e.ctx, wamid)
	if len(log) != 4 {
		t.Fatalf("status log %d entries, want 4 (delivered, sent, read, failed; duplicates once)", len(log))
	}
}

func TestUnparseablePayloadGoesToTheDLQWithItsReason(t *testing.T) {
	e := newEnv(t)
	if failed := e.deliver([]byte(`{"object":"page","entry":`)); len(failed) != 0 {
		t.Fatalf("a permanent failure is dead-lettered, not retried: %v", failed)
	}
	out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.dlqURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
		MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("dlq has %d messages (%v), want 1", len(out.Messages), err)
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != `{"object":"page","entry":` || aws.ToString(m.MessageAttributes["failure_reason"].StringValue) == "" {
		t.Fatalf("dlq message %q attrs %v", aws.ToString(m.Body), m.MessageAttributes)
	}
}

func TestBase64AndPartMessages(t *testing.T) {
	e := newEnv(t)
	msg := metatest.Text("919876500005", "hello in base64")
	payload := e.sim.InboundPayload(numberID, display, msg)
	str := func(s string) events.SQSMessageAttribute {
		return events.SQSMessageAttribute{DataType: "String", StringValue: &s}
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "b64", Body: base64.StdEncoding.EncodeToString(payload), MessageAttributes: map[string]events.SQSMessageAttribute{
			intakemsg.AttrEncoding: str(intakemsg.EncodingBase64), intakemsg.AttrPayload: str(intakemsg.PayloadWhole)}},
		{MessageId: "part", Body: base64.StdEncoding.EncodeToString([]byte("not json")), MessageAttributes: map[string]events.SQSMessageAttribute{
			intakemsg.AttrEncoding: str(intakemsg.EncodingBase64), intakemsg.AttrPayload: str(intakemsg.PayloadPart),
			intakemsg.AttrSplitIndex: str("0"), intakemsg.AttrSplitCount: str("2"), intakemsg.AttrSplitID: str("abc")}},
	}}
	resp, err := e.handler(e.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v, %v", resp, err)
	}
	l := e.leadByPhone("+919876500005")
	if msgs, _ := e.store.Messages(e.ctx, e.orgID, l.ID); len(msgs) != 1 || msgs[0].Text != "hello in base64" {
		t.Fatalf("base64 message not applied: %+v", msgs)
	}
	out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.dlqURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
		MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].MessageAttributes["failure_reason"].StringValue), "raw part 0 of 2") {
		t.Fatalf("the part was not dead-lettered with its place: %+v, %v", out.Messages, err)
	}
}
