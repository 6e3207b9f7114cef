package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/ingest/app"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/intaketest"
)

// autoEnv is the ingest handler wired with the outbound queue, and the
// org's automation settings.
type autoEnv struct {
	*env
	outboundURL string
	settings    *automation.Store
}

func newAutoEnv(t *testing.T, st automation.Settings) *autoEnv {
	t.Helper()
	res := devstacktest.Fresh(t)
	ie := intaketest.New(t, res.AWS, res.TableName, res.KeyID)
	cfg := config.Ingest{TableName: res.TableName, KeyID: res.KeyID, IntakeDLQURL: res.QueueURLs["intake-dlq"],
		GraphBaseURL: ie.Sim.URL, GraphVersion: ie.Sim.Version(), DefaultRegion: "IN", OutboundQueueURL: res.QueueURLs["outbound"]}
	if cfg.OutboundQueueURL == "" {
		t.Fatalf("no outbound queue in %v", res.QueueURLs)
	}
	h, _, err := app.New(ie.Ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e := &autoEnv{env: &env{Env: ie, t: t, ctx: ie.Ctx, sim: ie.Sim, store: ie.Store, sqs: sqs.NewFromConfig(ie.AWS),
		dlqURL: cfg.IntakeDLQURL, handler: h, orgID: ie.OrgID}, outboundURL: cfg.OutboundQueueURL,
		settings: automation.NewStore(ie.Store)}
	if err := e.settings.PutSettings(e.ctx, e.orgID, st); err != nil {
		t.Fatal(err)
	}
	// The org maps its forms' consent question to a WhatsApp service
	// opt-in: the welcome starts contact, so it needs one.
	if err := e.store.PutConsentMapping(e.ctx, e.orgID, conversation.ConsentMapping{Rules: []conversation.ConsentRule{
		{Question: consentQuestion, Yes: []string{"Yes"}, Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// consentQuestion is the test forms' consent question.
const consentQuestion = "can_we_message_you_on_whatsapp?"

// jobs drains the outbound queue (bounded: 30 receives) and returns the
// jobs on it.
func (e *autoEnv) jobs() []sendgate.Job {
	e.t.Helper()
	var jobs []sendgate.Job
	for range 30 {
		out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.outboundURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return jobs
		}
		for _, m := range out.Messages {
			j, err := sendgate.DecodeJob(aws.ToString(m.Body))
			if err != nil {
				e.t.Fatal(err)
			}
			jobs = append(jobs, j)
		}
	}
	e.t.Fatal("outbound queue did not drain")
	return nil
}

// automationAudits returns the org's automation.send records.
func (e *autoEnv) automationAudits() []map[string]string {
	e.t.Helper()
	recs, _, err := e.store.ListAudit(e.ctx, e.orgID, 100, page.Cursor{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs {
		if r.Action == automation.ActionSend {
			if r.ActorID != automation.ActorID {
				e.t.Fatalf("audit actor %q", r.ActorID)
			}
			d := map[string]string{"outcome": r.Outcome, "target": r.TargetID}
			for k, v := range r.Details {
				d[k] = v
			}
			out = append(out, d)
		}
	}
	return out
}

func (e *autoEnv) outboundOf(leadID string) []conversation.Message {
	e.t.Helper()
	msgs, err := e.store.Messages(e.ctx, e.orgID, leadID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []conversation.Message
	for _, m := range msgs {
		if m.Direction == conversation.Outbound {
			out = append(out, m)
		}
	}
	return out
}

var welcome = automation.LeadAdsWelcome{Enabled: true, Template: "site_visit_welcome", Language: "en",
	Parameters: []string{"first_name", "which_city?"}}

// alwaysClosed has no opening hours: every time is after hours.
var alwaysClosed = automation.BusinessHours{TimeZone: "Asia/Kolkata", Days: map[string]automation.OpenHours{}}

// alwaysOpen is open around the clock every day.
func alwaysOpen() automation.BusinessHours {
	h := automation.BusinessHours{TimeZone: "Asia/Kolkata", Days: map[string]automation.OpenHours{}}
	for _, d := range []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"} {
		h.Days[d] = automation.OpenHours{Open: "00:00", Close: "24:00"}
	}
	return h
}

func TestLeadAdsWelcomeIsQueuedOnceUnderRedelivery(t *testing.T) {
	e := newAutoEnv(t, automation.Settings{LeadAds: welcome})
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	id := e.sim.AddLead(formID, map[string][]string{"full_name": {"Asha Verma"}, "phone_number": {"+919812345678"}, "which_city?": {"Pune"},
		consentQuestion: {"Yes"}}, at)
	payload := e.sim.LeadgenPayload(pageID, formID, id, at)
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if failed := e.deliver(payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	l := e.leadByPhone("+919812345678")
	ledger, err := e.store.ConsentLedger(e.ctx, e.orgID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[0].Source != conversation.SourceLeadAdsForm || ledger[0].Action != conversation.OptIn ||
		ledger[0].Channel != conversation.ChannelWhatsApp || ledger[0].Purpose != conversation.PurposeService ||
		ledger[0].Evidence != "leadgen:"+id+"#question:"+consentQuestion || l.Consent["whatsapp:service"] == "" {
		t.Fatalf("consent ledger %+v, consent %v", ledger, l.Consent)
	}
	jobs := e.jobs()
	msgs := e.outboundOf(l.ID)
	if len(jobs) != 1 || len(msgs) != 1 {
		t.Fatalf("%d jobs, %d outbound messages; want 1 each: %+v", len(jobs), len(msgs), jobs)
	}
	m := msgs[0]
	if jobs[0] != (sendgate.Job{OrgID: e.orgID, LeadID: l.ID, MessageID: m.ID}) {
		t.Fatalf("job %+v for message %s", jobs[0], m.ID)
	}
	if m.ClientMessageID != "auto:leadads:"+id || m.Type != "template" || m.Status != conversation.StatusQueued || m.Number != numberID ||
		m.Details[sendgate.DetailCategory] != sendgate.CategoryUtility {
		t.Fatalf("message %+v", m)
	}
	var p struct {
		To       string `json:"to"`
		Template struct {
			Name       string `json:"name"`
			Components []struct {
				Parameters []struct{ Text string } `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		t.Fatal(err)
	}
	if p.To != "919812345678" || p.Template.Name != welcome.Template || len(p.Template.Components) != 1 ||
		len(p.Template.Components[0].Parameters) != 2 || p.Template.Components[0].Parameters[0].Text != "Asha" ||
		p.Template.Components[0].Parameters[1].Text != "Pune" {
		t.Fatalf("payload %s", m.Payload)
	}
	if a := e.automationAudits(); len(a) != 1 || a[0]["outcome"] != "success" || a[0]["message_id"] != m.ID || a[0]["automation"] != "leadads" {
		t.Fatalf("audit %+v", a)
	}
}

func TestLeadAdsWelcomeOffAndGated(t *testing.T) {
	// Disabled: nothing is queued or audited.
	off := welcome
	off.Enabled = false
	e := newAutoEnv(t, automation.Settings{LeadAds: off})
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	id := e.sim.AddLead(formID, map[string][]string{"full_name": {"Ravi K"}, "phone_number": {"+919812340001"}, "which_city?": {"Pune"}}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id, at)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if jobs, a := e.jobs(), e.automationAudits(); len(jobs) != 0 || len(a) != 0 {
		t.Fatalf("disabled automation: jobs %+v audit %+v", jobs, a)
	}

	// Enabled, but the lead lacks a parameter's field: refused, audited.
	if err := e.settings.PutSettings(e.ctx, e.orgID, automation.Settings{LeadAds: welcome}); err != nil {
		t.Fatal(err)
	}
	id = e.sim.AddLead(formID, map[string][]string{"full_name": {"Meera S"}, "phone_number": {"+919812340002"}}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id, at)); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if jobs := e.jobs(); len(jobs) != 0 {
		t.Fatalf("jobs %+v", jobs)
	}
	if a := e.automationAudits(); len(a) != 1 || a[0]["outcome"] != "denied" || a[0]["reason"] != "template_parameters" {
		t.Fatalf("audit %+v", a)
	}

	// Enabled, every field there, but the person did not say yes to the
	// consent question: no welcome, audited as consent_required.
	for i, answer := range [][]string{nil, {"No"}} {
		fields := map[string][]string{"full_name": {"Kiran P"}, "phone_number": {fmt.Sprintf("+91981234001%d", i)}, "which_city?": {"Pune"}}
		if answer != nil {
			fields[consentQuestion] = answer
		}
		id = e.sim.AddLead(formID, fields, at)
		if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id, at)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		if jobs := e.jobs(); len(jobs) != 0 {
			t.Fatalf("welcome without consent queued %+v", jobs)
		}
		refused := 0
		for _, a := range e.automationAudits() {
			if a["outcome"] == "denied" && a["reason"] == sendgate.TitleConsentRequired {
				refused++
			}
		}
		if refused != i+1 {
			t.Fatalf("%d consent_required refusals audited, want %d", refused, i+1)
		}
	}
}

// A custom disclaimer checkbox the org maps is an opt-in too; unticked it
// is none.
func TestLeadAdsDisclaimerCheckboxRecordsOptIn(t *testing.T) {
	e := newAutoEnv(t, automation.Settings{LeadAds: welcome})
	if err := e.store.PutConsentMapping(e.ctx, e.orgID, conversation.ConsentMapping{Rules: []conversation.ConsentRule{
		{Disclaimer: "marketing_whatsapp", Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeAll}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for _, tt := range []struct {
		phone, checked string
		optedIn        bool
	}{{"+919812345601", "1", true}, {"+919812345602", "0", false}} {
		id := e.sim.PutLead(meta.Lead{FormID: formID, FieldData: []meta.FieldData{{Name: "full_name", Values: []string{"Asha Verma"}},
			{Name: "phone_number", Values: []string{tt.phone}}, {Name: "which_city?", Values: []string{"Pune"}}},
			CustomDisclaimerResponses: []meta.DisclaimerResponse{{CheckboxKey: "marketing_whatsapp", IsChecked: meta.Checked(tt.checked)}}})
		if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id, at)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		l := e.leadByPhone(tt.phone)
		st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeMarketing)
		if (st == conversation.StateOptedIn) != tt.optedIn {
			t.Fatalf("checked %q: marketing %s (consent %v)", tt.checked, st, l.Consent)
		}
		if n := len(e.jobs()); (n == 1) != tt.optedIn {
			t.Fatalf("checked %q: %d welcome jobs", tt.checked, n)
		}
	}
}

func TestAfterHoursReplyOncePerClosedPeriod(t *testing.T) {
	text := "Thanks for writing! We are closed now and will answer when we open at 9:00."
	e := newAutoEnv(t, automation.Settings{AfterHours: automation.AfterHours{Enabled: true, Text: text, Hours: alwaysClosed}})
	from := "919876500101"
	first := metatest.Text(from, "is the flat still available?").At(time.Now().Add(-time.Minute))
	payload := e.sim.InboundPayload(numberID, display, first)
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if failed := e.deliver(payload); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	// A second message in the same closed period gets no second reply.
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text(from, "hello?"))); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	l := e.leadByPhone("+" + from)
	jobs, msgs := e.jobs(), e.outboundOf(l.ID)
	if len(jobs) != 1 || len(msgs) != 1 {
		t.Fatalf("%d jobs, %d outbound messages; want 1 each: %+v", len(jobs), len(msgs), jobs)
	}
	m := msgs[0]
	_, period := alwaysClosed.Closed(time.Now())
	if jobs[0].MessageID != m.ID || m.Type != "text" || m.Text != text || m.ClientMessageID != "auto:afterhours:"+l.ID+":"+period ||
		!strings.Contains(m.Payload, `"to":"`+from+`"`) {
		t.Fatalf("job %+v message %+v", jobs[0], m)
	}
	if a := e.automationAudits(); len(a) != 1 || a[0]["outcome"] != "success" || a[0]["automation"] != "afterhours" {
		t.Fatalf("audit %+v", a)
	}

	// STOP is stored and opts the lead out: no reply to it.
	other := "919876500102"
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text(other, "STOP"))); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if jobs := e.jobs(); len(jobs) != 0 {
		t.Fatalf("reply to STOP: %+v", jobs)
	}
}

func TestAfterHoursReplyNotInsideHoursNorWhenDisabled(t *testing.T) {
	text := "We are closed."
	e := newAutoEnv(t, automation.Settings{AfterHours: automation.AfterHours{Enabled: true, Text: text, Hours: alwaysOpen()}})
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text("919876500201", "hi"))); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if err := e.settings.PutSettings(e.ctx, e.orgID, automation.Settings{AfterHours: automation.AfterHours{Enabled: false, Text: text,
		Hours: alwaysClosed}}); err != nil {
		t.Fatal(err)
	}
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, metatest.Text("919876500202", "hi"))); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if jobs, a := e.jobs(), e.automationAudits(); len(jobs) != 0 || len(a) != 0 {
		t.Fatalf("jobs %+v audit %+v", jobs, a)
	}
}

// failedOutbound creates a lead with phone +from (opted in to WhatsApp
// marketing when optIn) and an outbound text sent to it from numberID, and
// returns the lead, the message and the payload of a failed status with
// error 131047 for it.
func (e *autoEnv) failedOutbound(from string, optIn bool) (lead.Lead, conversation.Message, []byte) {
	e.t.Helper()
	l := lead.Lead{ID: ulid.Make().String(), OrgID: e.orgID, Name: "Asha", Phone: "+" + from, Status: lead.StatusNew, Version: 1}
	if optIn {
		l.Consent = map[string]string{conversation.ConsentKey(conversation.ChannelWhatsApp, conversation.PurposeMarketing): conversation.OptIn + "@" +
			time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)}
	}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		e.t.Fatal(err)
	}
	wamid := metatest.NewWAMID()
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	m := conversation.Message{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Outbound, ProviderID: wamid, Number: numberID, Type: "text", Text: "Are you still looking?",
		Status: conversation.StatusAccepted, At: at}
	if err := e.store.PutInboundMessage(e.ctx, m, nil); err != nil {
		e.t.Fatal(err)
	}
	return l, m, e.sim.StatusPayload(numberID, display, metatest.StatusFailed(wamid, from, 131047, "Re-engagement message").At(at.Add(time.Second)))
}

var reengagement = automation.Reengagement{AutoSend: true, Template: "still_interested", Language: "en"}

func TestReengagementTemplateQueuedOncePerFailedMessage(t *testing.T) {
	e := newAutoEnv(t, automation.Settings{Reengagement: reengagement})
	from := "919876500301"
	l, failed, payload := e.failedOutbound(from, true)
	if f := e.deliver(payload, payload); len(f) != 0 {
		t.Fatalf("retries asked: %v", f)
	}
	if f := e.deliver(payload); len(f) != 0 {
		t.Fatalf("retries asked: %v", f)
	}
	got, err := e.store.GetMessage(e.ctx, e.orgID, l.ID, failed.ID)
	if err != nil || got.Status != conversation.StatusFailed || got.ErrorCode != 131047 {
		t.Fatalf("failed message %+v (%v)", got, err)
	}
	jobs, msgs := e.jobs(), e.outboundOf(l.ID)
	if len(jobs) != 1 || len(msgs) != 2 {
		t.Fatalf("%d jobs, %d outbound messages; want 1 job and the template beside the failed message: %+v", len(jobs), len(msgs), msgs)
	}
	var tm conversation.Message
	for _, m := range msgs {
		if m.ID != failed.ID {
			tm = m
		}
	}
	if jobs[0].MessageID != tm.ID || tm.Type != "template" || tm.Status != conversation.StatusQueued || tm.Number != numberID ||
		tm.ClientMessageID != automation.ReengageClientID(failed.ID) || tm.Details["template"] != "still_interested" ||
		tm.Details[sendgate.DetailCategory] != sendgate.CategoryMarketing || tm.Details["reengages"] != failed.ID ||
		!strings.Contains(tm.Payload, `"to":"`+from+`"`) || !strings.Contains(tm.Payload, `"name":"still_interested"`) {
		t.Fatalf("job %+v template message %+v", jobs[0], tm)
	}
	if a := e.automationAudits(); len(a) != 1 || a[0]["outcome"] != "success" || a[0]["automation"] != automation.KindReengage {
		t.Fatalf("audit %+v", a)
	}
}

func TestReengagementNotSentWithoutConsentNorWhenOff(t *testing.T) {
	e := newAutoEnv(t, automation.Settings{Reengagement: reengagement})
	// No marketing opt-in: the business may not start contact.
	l, _, payload := e.failedOutbound("919876500302", false)
	if f := e.deliver(payload, payload); len(f) != 0 {
		t.Fatalf("retries asked: %v", f)
	}
	if jobs, msgs := e.jobs(), e.outboundOf(l.ID); len(jobs) != 0 || len(msgs) != 1 {
		t.Fatalf("sent without consent: jobs %+v messages %+v", jobs, msgs)
	}
	if a := e.automationAudits(); len(a) != 2 || a[0]["outcome"] != "denied" || a[0]["reason"] != sendgate.TitleConsentRequired {
		t.Fatalf("audit %+v", a)
	}

	// Auto-send off: nothing, even with consent.
	off := reengagement
	off.AutoSend = false
	if err := e.settings.PutSettings(e.ctx, e.orgID, automation.Settings{Reengagement: off}); err != nil {
		t.Fatal(err)
	}
	l, _, payload = e.failedOutbound("919876500303", true)
	if f := e.deliver(payload); len(f) != 0 {
		t.Fatalf("retries asked: %v", f)
	}
	if jobs, msgs := e.jobs(), e.outboundOf(l.ID); len(jobs) != 0 || len(msgs) != 1 {
		t.Fatalf("sent while off: jobs %+v messages %+v", jobs, msgs)
	}
}
