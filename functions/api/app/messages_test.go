package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
)

const (
	waNumber = "106540352242922"
	waWABA   = "102290129340398"
	waToken  = "EAAGwa-token-0001"
)

// msgEnv is a test env with a WhatsApp number and templates in the
// simulator, and direct store access to play the ingest side.
type msgEnv struct {
	*testEnv
	store *dynamostore.Store
	sqs   *sqs.Client
}

func newMsgEnv(t *testing.T) *msgEnv {
	t.Helper()
	e := newEnv(t)
	e.sim.AddPhoneNumber(waNumber, "15550783881", "Sharma Realty", waWABA, waToken)
	buttons := json.RawMessage(`[{"type":"URL","text":"Track","url":"https://track.example.com/o/{{1}}"},{"type":"QUICK_REPLY","text":"Stop"}]`)
	e.sim.AddTemplate(waWABA, meta.Template{Name: "order_update", Language: "en_US", Category: "UTILITY", Components: []meta.TemplateComponent{
		{Type: "HEADER", Format: "TEXT", Text: "Order {{1}}"},
		{Type: "BODY", Text: "Hi {{1}}, your order {{2}} ships on {{3}}. Reply if {{2}} is wrong."},
		{Type: "BUTTONS", Buttons: buttons},
	}})
	e.sim.AddTemplate(waWABA, meta.Template{Name: "spring_sale", Language: "en_US", Category: "MARKETING", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "Hello {{1}}, 20% off this week!"},
	}})
	e.sim.AddTemplate(waWABA, meta.Template{Name: "spring_sale", Language: "hi", Category: "MARKETING", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "नमस्ते {{1}}"},
	}})
	e.sim.AddTemplate(waWABA, meta.Template{Name: "new_offer", Language: "en_US", Category: "MARKETING", Status: "PENDING", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "New offer"},
	}})
	e.sim.AddTemplate(waWABA, meta.Template{Name: "login_code", Language: "en_US", Category: "AUTHENTICATION", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "*{{1}}* is your verification code."},
		{Type: "BUTTONS", Buttons: json.RawMessage(`[{"type":"OTP","otp_type":"COPY_CODE","text":"Copy code"}]`)},
	}})
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &msgEnv{testEnv: e, store: dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName), sqs: sqs.NewFromConfig(cfg)}
}

func (e *msgEnv) connect(t *testing.T, owner session) {
	t.Helper()
	wa := map[string]any{"phone_number_id": waNumber, "waba_id": waWABA, "display_phone_number": "+1 555 078 3881", "access_token": waToken}
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, wa), 201)
}

// inbound stores an inbound WhatsApp message the way ingest does and moves
// the lead's window; consent, when set, is the ledger entry it carries.
func (e *msgEnv) inbound(t *testing.T, orgID, leadID, text string, at time.Time, consent *conversation.ConsentEntry) string {
	t.Helper()
	ctx := context.Background()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: orgID, LeadID: leadID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(), Type: "text",
		Text: text, Status: conversation.StatusReceived, At: at.UTC(), Number: waNumber}
	if consent != nil {
		consent.ID, consent.OrgID, consent.LeadID, consent.Evidence = ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), orgID, leadID, m.ID
	}
	if err := e.store.PutInboundMessage(ctx, m, consent); err != nil {
		t.Fatal(err)
	}
	if err := e.store.TouchLastInbound(ctx, orgID, leadID, at); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// jobs drains the outbound queue and returns the jobs on it.
func (e *msgEnv) jobs(t *testing.T) []map[string]string {
	t.Helper()
	var out []map[string]string
	for range 50 {
		res, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.cfg.OutboundQueueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var job map[string]string
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &job); err != nil {
				t.Fatalf("job %q: %v", aws.ToString(m.Body), err)
			}
			out = append(out, job)
		}
	}
	return out
}

// sendDelivered sends text to a lead through the API, then records it as
// the sender and a delivered status webhook would (without the sender
// running): it returns the message's provider id.
func (e *msgEnv) sendDelivered(t *testing.T, s session, leadID, text string) string {
	t.Helper()
	ctx := context.Background()
	sent := e.send(t, s, leadID, textMsg(text))
	expect(t, sent, 202)
	wamid := metatest.NewWAMID()
	if err := e.store.ClaimSend(ctx, s.OrgID, leadID, sent.str("id"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordSent(ctx, s.OrgID, leadID, sent.str("id"), wamid, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: wamid, Status: conversation.StatusDelivered, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return wamid
}

func (e *msgEnv) send(t *testing.T, s session, leadID string, body map[string]any) response {
	t.Helper()
	return e.do(t, "POST", "/v1/leads/"+leadID+"/messages", s.Access, body)
}

// optIn records, as staff with a reason, the lead's opt-in to WhatsApp
// messages of purpose (service or marketing): business-initiated messages
// need one (sendgate.Consent).
func (e *msgEnv) optIn(t *testing.T, s session, leadID, channel, purpose string) {
	t.Helper()
	expect(t, e.do(t, "PUT", "/v1/leads/"+leadID+"/preferences", s.Access, map[string]any{"channel": channel, "purpose": purpose,
		"state": "opted_in", "reason": "Asked on the phone to get these messages"}), 200)
}

var clientSeq atomic.Int64

// cid is a fresh client_message_id.
func cid() string {
	return fmt.Sprintf("client-%d-%d", time.Now().UnixNano(), clientSeq.Add(1))
}

func problemCode(t *testing.T, r response, status int, code string) {
	t.Helper()
	expect(t, r, status)
	if r.str("code") != code {
		t.Fatalf("problem code %q, want %q: %s", r.str("code"), code, r.Raw)
	}
}

func hasLocation(r response, loc string) bool {
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(m["location"]), loc) {
			return true
		}
	}
	return false
}

func textMsg(msg string) map[string]any {
	return map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "text", "text": msg}
}

func TestSendMessageGates(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	leadA := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210", "assignee_id": agent.UserID}).str("id")
	leadB := e.createLead(t, owner, map[string]any{"name": "Bina", "email": "bina@example.com"}).str("id")
	leadC := e.createLead(t, owner, map[string]any{"name": "Chetan", "phone": "98765 43211"}).str("id")
	leadD := e.createLead(t, owner, map[string]any{"name": "Devi", "phone": "98765 43212", "email": "devi@example.com"}).str("id")
	ctx := context.Background()
	e.verifiedSender(t, owner)

	// No WhatsApp number yet.
	problemCode(t, e.send(t, owner, leadA, textMsg("hello")), 409, "no_active_integration")
	problemCode(t, e.do(t, "GET", "/v1/whatsapp/templates", owner.Access, nil), 409, "no_active_integration")
	e.connect(t, owner)

	t.Run("window closed", func(t *testing.T) {
		r := e.send(t, owner, leadA, textMsg("hello"))
		problemCode(t, r, 422, "outside_customer_service_window")
		if !strings.Contains(r.str("detail"), "template") || !hasLocation(r, "body.type") {
			t.Fatalf("window problem does not name the fix: %s", r.Raw)
		}
		e.inbound(t, owner.OrgID, leadC, "old question", time.Now().Add(-25*time.Hour), nil)
		r = e.send(t, owner, leadC, textMsg("hello"))
		problemCode(t, r, 422, "outside_customer_service_window")
		if !strings.Contains(r.str("detail"), "closed at") {
			t.Fatalf("closed window detail %s", r.Raw)
		}
		interactive := map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick one", "buttons": []map[string]string{{"id": "a", "title": "A"}}}}
		problemCode(t, e.send(t, owner, leadC, interactive), 422, "outside_customer_service_window")
	})

	e.inbound(t, owner.OrgID, leadA, "Is the flat still available?", time.Now().Add(-time.Hour), nil)

	t.Run("idempotent text", func(t *testing.T) {
		e.jobs(t) // start from an empty queue
		body := textMsg("Yes, it is. When can you visit?")
		first := e.send(t, agent, leadA, body)
		expect(t, first, 202)
		id := first.str("id")
		if id == "" || first.str("status") != "queued" || first.str("direction") != "outbound" || first.str("client_message_id") != body["client_message_id"] {
			t.Fatalf("queued message %s", first.Raw)
		}
		again := e.send(t, agent, leadA, body)
		expect(t, again, 200)
		if again.str("id") != id {
			t.Fatalf("retry gave message %s, want %s", again.str("id"), id)
		}
		jobs := e.jobs(t)
		n := 0
		for _, j := range jobs {
			if j["message_id"] == id {
				n++
				if j["org_id"] != owner.OrgID || j["lead_id"] != leadA || len(j) != 3 {
					t.Fatalf("job %v", j)
				}
			}
		}
		// The retry found the message still queued and put its job on the
		// queue again (the sender claims it once).
		if n != 2 || len(jobs) != 2 {
			t.Fatalf("%d jobs for the message (%d in all), want 2: the first and the retry's", n, len(jobs))
		}
		// The stored payload is the Cloud API request the sender makes.
		m, err := e.store.GetMessage(ctx, owner.OrgID, leadA, id)
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
			t.Fatal(err)
		}
		tx, _ := p["text"].(map[string]any)
		if p["messaging_product"] != "whatsapp" || p["recipient_type"] != "individual" || p["to"] != "919876543210" || p["type"] != "text" ||
			tx["body"] != body["text"] || m.Number != waNumber || m.Status != conversation.StatusQueued {
			t.Fatalf("stored message %+v payload %s", m, m.Payload)
		}
		// The same key for another lead is a conflict, not a silent replay.
		problemCode(t, e.send(t, owner, leadD, body), 409, "client_message_id_reused")
	})

	t.Run("validation", func(t *testing.T) {
		long := strings.Repeat("a", 4097)
		r := e.send(t, owner, leadA, textMsg(long))
		expect(t, r, 422)
		if !hasLocation(r, "body.text") {
			t.Fatalf("long text %s", r.Raw)
		}
		r = e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "type": "text", "text": "no key"})
		expect(t, r, 422)
		if !hasLocation(r, "body.client_message_id") {
			t.Fatalf("missing client_message_id %s", r.Raw)
		}
		four := []map[string]string{{"id": "1", "title": "One"}, {"id": "2", "title": "Two"}, {"id": "3", "title": "Three"}, {"id": "4", "title": "Four"}}
		r = e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick", "buttons": four}})
		expect(t, r, 422)
		if !hasLocation(r, "body.interactive.buttons") {
			t.Fatalf("4 buttons %s", r.Raw)
		}
		r = e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick", "buttons": []map[string]string{{"id": "1", "title": "A title over twenty chars"}}}})
		expect(t, r, 422)
		rows := func(section string, n int) []map[string]string {
			var out []map[string]string
			for i := range n {
				out = append(out, map[string]string{"id": fmt.Sprint(section, "-", i), "title": fmt.Sprint("Row ", i)})
			}
			return out
		}
		r = e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick", "list": map[string]any{"button": "Options", "sections": []map[string]any{
				{"title": "First", "rows": rows("a", 6)}, {"title": "Second", "rows": rows("b", 5)}}}}})
		expect(t, r, 422)
		if !hasLocation(r, "body.interactive.list") {
			t.Fatalf("11 rows %s", r.Raw)
		}
		expect(t, e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick", "buttons": four[:3]}}), 202)
		expect(t, e.send(t, owner, leadA, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "interactive",
			"interactive": map[string]any{"body": "Pick", "footer": "Sharma Realty", "list": map[string]any{"button": "Options", "sections": []map[string]any{
				{"title": "First", "rows": rows("a", 5)}, {"title": "Second", "rows": rows("b", 5)}}}}}), 202)
	})

	t.Run("templates", func(t *testing.T) {
		tpl := func(name, lang string, comps ...map[string]any) map[string]any {
			return map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "template",
				"template": map[string]any{"name": name, "language": lang, "components": comps}}
		}
		params := func(typ string, vals ...string) map[string]any {
			var ps []map[string]string
			for _, v := range vals {
				ps = append(ps, map[string]string{"type": "text", "text": v})
			}
			return map[string]any{"type": typ, "parameters": ps}
		}
		r := e.send(t, owner, leadC, tpl("no_such_template", "en_US"))
		problemCode(t, r, 422, "unknown_template")
		if !hasLocation(r, "body.template.name") {
			t.Fatalf("unknown template %s", r.Raw)
		}
		problemCode(t, e.send(t, owner, leadC, tpl("spring_sale", "fr")), 422, "unknown_template")
		problemCode(t, e.send(t, owner, leadC, tpl("new_offer", "en_US")), 422, "template_not_approved")
		r = e.send(t, owner, leadC, tpl("order_update", "en_US", params("header", "A-17"), params("body", "Chetan", "A-17"), params("button", "A-17")))
		problemCode(t, r, 422, "template_parameters")
		if !hasLocation(r, "body.template.components[1].parameters") {
			t.Fatalf("wrong body count %s", r.Raw)
		}
		r = e.send(t, owner, leadC, tpl("order_update", "en_US", params("header", "A-17"), params("body", "Chetan", "A-17", "Friday")))
		problemCode(t, r, 422, "template_parameters")
		if !hasLocation(r, "body.template.components") {
			t.Fatalf("missing button %s", r.Raw)
		}
		// Outside the window (lead C last wrote 25 h ago) a template starts
		// contact, which needs the lead's WhatsApp service opt-in.
		r = e.send(t, owner, leadC, tpl("order_update", "en_US", params("header", "A-17"), params("body", "Chetan", "A-17", "Friday"), params("button", "A-17")))
		problemCode(t, r, 409, "consent_required")
		if r.str("channel") != "whatsapp" || r.str("purpose") != "service" {
			t.Fatalf("consent problem %s", r.Raw)
		}
		e.optIn(t, owner, leadC, "whatsapp", "service")
		// With it, the template opens the conversation.
		ok := e.send(t, owner, leadC, tpl("order_update", "en_US", params("header", "A-17"), params("body", "Chetan", "A-17", "Friday"), params("button", "A-17")))
		expect(t, ok, 202)
		m, err := e.store.GetMessage(ctx, owner.OrgID, leadC, ok.str("id"))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Type     string `json:"type"`
			Template struct {
				Name     string `json:"name"`
				Language struct {
					Code string `json:"code"`
				} `json:"language"`
				Components []struct {
					Type       string `json:"type"`
					SubType    string `json:"sub_type"`
					Index      string `json:"index"`
					Parameters []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"parameters"`
				} `json:"components"`
			} `json:"template"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != "template" || p.Template.Name != "order_update" || p.Template.Language.Code != "en_US" || len(p.Template.Components) != 3 ||
			p.Template.Components[2].SubType != "url" || p.Template.Components[2].Index != "0" || m.Details["category"] != "utility" {
			t.Fatalf("template payload %s details %v", m.Payload, m.Details)
		}
		expect(t, e.send(t, owner, leadC, tpl("login_code", "en_US", params("body", "482913"), params("button", "482913"))), 202)
		// A marketing template always needs the marketing opt-in; the
		// service opt-in is not one.
		r = e.send(t, owner, leadC, tpl("spring_sale", "hi", params("body", "Chetan")))
		problemCode(t, r, 409, "consent_required")
		if r.str("channel") != "whatsapp" || r.str("purpose") != "marketing" {
			t.Fatalf("marketing consent problem %s", r.Raw)
		}
	})

	t.Run("opted out", func(t *testing.T) {
		// STOP from lead D opts it out of WhatsApp.
		e.inbound(t, owner.OrgID, leadD, "STOP", time.Now().Add(-30*time.Minute), &conversation.ConsentEntry{
			Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: time.Now().Add(-30 * time.Minute), Source: "keyword"})
		r := e.send(t, owner, leadD, textMsg("Sorry to see you go"))
		problemCode(t, r, 409, "opted_out")
		// Email is another channel: a service email (the default purpose)
		// needs no opt-in, a marketing email the email marketing opt-in.
		r = e.send(t, owner, leadD, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Offers", "text": "New flats.", "purpose": "marketing"})
		problemCode(t, r, 409, "consent_required")
		if r.str("channel") != "email" || r.str("purpose") != "marketing" {
			t.Fatalf("email consent problem %s", r.Raw)
		}
		expect(t, e.send(t, owner, leadD, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Your visit", "text": "See you Friday."}), 202)
		// Lead C stopped marketing only: utility templates still go.
		stop := time.Now().Add(-10 * time.Minute)
		e.inbound(t, owner.OrgID, leadC, "Stop promotions", stop, &conversation.ConsentEntry{
			Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeMarketing, Action: conversation.OptOut, At: stop, Source: "template_button"})
		sale := map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "template",
			"template": map[string]any{"name": "spring_sale", "language": "en_US", "components": []map[string]any{{"type": "body", "parameters": []map[string]string{{"type": "text", "text": "Chetan"}}}}}}
		problemCode(t, e.send(t, owner, leadC, sale), 409, "opted_out")
		expect(t, e.send(t, owner, leadC, textMsg("Noted, no more offers.")), 202)
	})

	t.Run("missing contact", func(t *testing.T) {
		r := e.send(t, owner, leadB, textMsg("hi"))
		problemCode(t, r, 422, "missing_phone")
		if !hasLocation(r, "lead.phone") {
			t.Fatalf("missing phone %s", r.Raw)
		}
		r = e.send(t, owner, leadA, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Hi", "text": "Hello"})
		problemCode(t, r, 422, "missing_email")
		r = e.send(t, owner, leadB, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Hi"})
		expect(t, r, 422)
		if !hasLocation(r, "body.text") {
			t.Fatalf("email without body %s", r.Raw)
		}
	})

	t.Run("email", func(t *testing.T) {
		r := e.send(t, owner, leadB, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Brochure",
			"text": "Please find the brochure.", "html": "<p>Please find the brochure.</p>"})
		expect(t, r, 202)
		if r.str("channel") != "email" || r.str("status") != "queued" || r.str("details", "subject") != "Brochure" {
			t.Fatalf("email %s", r.Raw)
		}
		m, err := e.store.GetMessage(ctx, owner.OrgID, leadB, r.str("id"))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]string
		if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p["from"], `"Sharma Realty" <`) || p["to"] != "bina@example.com" || p["subject"] != "Brochure" ||
			p["text"] != "Please find the brochure." || p["html"] != "<p>Please find the brochure.</p>" {
			t.Fatalf("email payload %s", m.Payload)
		}
	})

	t.Run("email html is sanitized when accepted", func(t *testing.T) {
		html := `<p onclick="steal()">Your <b>brochure</b><script>alert(1)</script></p>` +
			`<a href="javascript:alert(1)">open</a><a href="https://example.com/b">brochure</a>` +
			`<form action="https://evil.example/c"><input name="password"></form><img src="https://track.example/p.gif">`
		r := e.send(t, owner, leadB, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Brochure",
			"text": "Plain <b>text</b> stays as written.", "html": html})
		expect(t, r, 202)
		m, err := e.store.GetMessage(ctx, owner.OrgID, leadB, r.str("id"))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]string
		if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
			t.Fatal(err)
		}
		want := `<p>Your <b>brochure</b></p>open<a href="https://example.com/b" rel="nofollow noreferrer noopener" target="_blank">brochure</a>`
		if p["html"] != want || p["text"] != "Plain <b>text</b> stays as written." || m.Text != p["text"] {
			t.Fatalf("stored email %s, text %q", m.Payload, m.Text)
		}
	})

	t.Run("access", func(t *testing.T) {
		problemCode(t, e.send(t, viewer, leadA, textMsg("hi")), 403, "forbidden")
		problemCode(t, e.send(t, agent, leadC, textMsg("hi")), 404, "not_found")
		expect(t, e.do(t, "GET", "/v1/leads/"+leadC+"/messages", agent.Access, nil), 404)
		expect(t, e.do(t, "POST", "/v1/leads/"+leadA+"/messages/read", viewer.Access, nil), 403)
		r := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
		expect(t, r, 200)
		denied, sent := false, 0
		for _, it := range r.items() {
			d, _ := it["details"].(map[string]any)
			if it["action"] == "permission.denied" && d["attempted"] == "message.send" && it["actor_id"] == viewer.UserID && it["target_id"] == leadA {
				denied = true
			}
			if it["action"] == "message.send" {
				sent++
				if strings.Contains(fmt.Sprint(d), "919876543210") || strings.Contains(fmt.Sprint(d), "visit") {
					t.Errorf("audit record holds message content: %v", d)
				}
			}
		}
		if !denied || sent == 0 {
			t.Fatalf("audit: viewer denial %v, %d message.send records", denied, sent)
		}
	})
}

func TestWhatsAppTemplates(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Templates Co")
	viewer := e.member(t, owner, "viewer")
	e.connect(t, owner)
	r := e.do(t, "GET", "/v1/whatsapp/templates", viewer.Access, nil)
	expect(t, r, 200)
	got := map[string]map[string]any{}
	for _, it := range r.items() {
		got[fmt.Sprint(it["name"], "/", it["language"])] = it
	}
	counts := func(it map[string]any) string {
		pc, _ := it["parameter_counts"].(map[string]any)
		return fmt.Sprint(pc["header"], pc["body"], pc["buttons"])
	}
	want := map[string]struct{ category, status, counts string }{
		"order_update/en_US": {"UTILITY", "APPROVED", "1 3 1"},
		"spring_sale/en_US":  {"MARKETING", "APPROVED", "0 1 0"},
		"spring_sale/hi":     {"MARKETING", "APPROVED", "0 1 0"},
		"new_offer/en_US":    {"MARKETING", "PENDING", "0 0 0"},
		"login_code/en_US":   {"AUTHENTICATION", "APPROVED", "0 1 1"},
	}
	if len(got) != len(want) {
		t.Fatalf("templates %s", r.Raw)
	}
	for k, w := range want {
		it := got[k]
		if it == nil || it["category"] != w.category || it["status"] != w.status || counts(it) != w.counts || it["waba_id"] != waWABA {
			t.Errorf("%s: %v, want %+v", k, it, w)
		}
	}
	if strings.Contains(r.Raw, waToken) {
		t.Fatal("template list shows the token")
	}
	// A revoked token is explained, not a 500.
	e.sim.RevokeToken(waToken)
	problemCode(t, e.do(t, "GET", "/v1/whatsapp/templates", owner.Access, nil), 409, "integration_token_invalid")
}

func TestConversationHistory(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "History Co")
	agent := e.member(t, owner, "agent")
	e.connect(t, owner)
	leadID := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210", "email": "asha@example.com", "assignee_id": agent.UserID}).str("id")
	ctx := context.Background()
	e.verifiedSender(t, owner)

	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	in1 := e.inbound(t, owner.OrgID, leadID, "Hi, is the flat available?", base, nil)
	reply := e.send(t, agent, leadID, textMsg("Yes! Want to visit?"))
	expect(t, reply, 202)
	replyID := reply.str("id")
	// Play the sender and the status webhooks.
	wamid := metatest.NewWAMID()
	sentAt := time.Now().Truncate(time.Second)
	if err := e.store.ClaimSend(ctx, owner.OrgID, leadID, replyID, sentAt); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordSent(ctx, owner.OrgID, leadID, replyID, wamid, sentAt); err != nil {
		t.Fatal(err)
	}
	for i, st := range []conversation.Status{conversation.StatusSent, conversation.StatusDelivered, conversation.StatusRead} {
		if _, err := e.store.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: wamid, Status: st, At: sentAt.Add(time.Duration(i+1) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	in2 := e.inbound(t, owner.OrgID, leadID, "Saturday 11am?", time.Now(), nil)
	mail := e.send(t, owner, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Visit confirmed", "text": "Saturday 11am."})
	expect(t, mail, 202)

	r := e.do(t, "GET", "/v1/leads/"+leadID+"/messages", agent.Access, nil)
	expect(t, r, 200)
	items := r.items()
	var order []string
	for _, it := range items {
		order = append(order, it["id"].(string))
	}
	wantOrder := []string{in1, replyID, in2, mail.str("id")}
	if strings.Join(order, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("order %v, want %v", order, wantOrder)
	}
	if items[0]["direction"] != "inbound" || items[0]["status"] != "received" || items[0]["text"] != "Hi, is the flat available?" {
		t.Fatalf("inbound item %v", items[0])
	}
	hist, _ := items[1]["status_history"].([]any)
	var sts []string
	for _, h := range hist {
		sts = append(sts, h.(map[string]any)["status"].(string))
	}
	if items[1]["status"] != "read" || strings.Join(sts, ",") != "sent,delivered,read" || items[1]["provider_id"] != wamid || items[1]["error"] != nil {
		t.Fatalf("outbound item %v", items[1])
	}
	if items[3]["channel"] != "email" || items[3]["status"] != "queued" {
		t.Fatalf("email item %v", items[3])
	}
	if r.Body["next_cursor"] != nil {
		t.Fatalf("one page only: %v", r.Body["next_cursor"])
	}

	// A failed message shows why.
	failed := e.send(t, agent, leadID, textMsg("Also, parking is included."))
	expect(t, failed, 202)
	if err := e.store.ClaimSend(ctx, owner.OrgID, leadID, failed.str("id"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.store.FailSend(ctx, owner.OrgID, leadID, failed.str("id"), conversation.StatusFailed, 131047, "Re-engagement message",
		"More than 24 hours have passed since the customer last replied.", time.Now()); err != nil {
		t.Fatal(err)
	}

	// Pages of two, both directions of reading.
	var asc, desc []string
	for _, order := range []string{"asc", "desc"} {
		cursor := ""
		for range 10 {
			r := e.do(t, "GET", "/v1/leads/"+leadID+"/messages?limit=2&order="+order+"&cursor="+url.QueryEscape(cursor), owner.Access, nil)
			expect(t, r, 200)
			for _, it := range r.items() {
				if order == "asc" {
					asc = append(asc, it["id"].(string))
				} else {
					desc = append(desc, it["id"].(string))
				}
				if it["id"] == failed.str("id") {
					why, _ := it["error"].(map[string]any)
					if it["status"] != "failed" || why["code"] != float64(131047) || why["title"] != "Re-engagement message" || why["reason"] == "" {
						t.Fatalf("failed item %v", it)
					}
					// No template configured: the offer names none.
					if re, ok := it["reengagement"].(map[string]any); !ok || re["template"] != nil || re["allowed"] != false {
						t.Fatalf("failed item's re-engagement offer %v", it["reengagement"])
					}
				} else if it["reengagement"] != nil {
					t.Fatalf("re-engagement offer on %v", it)
				}
			}
			c, _ := r.Body["next_cursor"].(string)
			if c == "" {
				break
			}
			cursor = c
		}
	}
	wantOrder = append(wantOrder, failed.str("id"))

	// With a re-engagement template configured the offer names it; the
	// lead never opted in to WhatsApp marketing, so it is not allowed.
	if err := automation.NewStore(e.store).PutSettings(ctx, owner.OrgID, automation.Settings{Reengagement: automation.Reengagement{
		Template: "still_interested", Language: "en"}}); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "GET", "/v1/leads/"+leadID+"/messages?order=desc&limit=1", owner.Access, nil)
	expect(t, r, 200)
	if it := r.items(); len(it) != 1 || it[0]["id"] != failed.str("id") {
		t.Fatalf("newest item %v", it)
	} else if re, _ := it[0]["reengagement"].(map[string]any); re["template"] != "still_interested" || re["language"] != "en" ||
		re["allowed"] != false || re["auto_send"] != false {
		t.Fatalf("re-engagement offer %v", it[0]["reengagement"])
	}
	e.optIn(t, owner, leadID, "whatsapp", "marketing")
	r = e.do(t, "GET", "/v1/leads/"+leadID+"/messages?order=desc&limit=1", owner.Access, nil)
	expect(t, r, 200)
	if re, _ := r.items()[0]["reengagement"].(map[string]any); re["allowed"] != true {
		t.Fatalf("re-engagement offer after opt-in %v", r.items()[0]["reengagement"])
	}
	if strings.Join(asc, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("asc pages %v, want %v", asc, wantOrder)
	}
	for i := range desc {
		if desc[i] != wantOrder[len(wantOrder)-1-i] || len(desc) != len(wantOrder) {
			t.Fatalf("desc pages %v, want reverse of %v", desc, wantOrder)
		}
	}
	// Cursors are bound to the listing.
	p1 := e.do(t, "GET", "/v1/leads/"+leadID+"/messages?limit=2", owner.Access, nil)
	c, _ := p1.Body["next_cursor"].(string)
	problemCode(t, e.do(t, "GET", "/v1/leads/"+leadID+"/messages?limit=3&cursor="+url.QueryEscape(c), owner.Access, nil), 400, "invalid_cursor")
	problemCode(t, e.do(t, "GET", "/v1/leads/"+leadID+"/messages?cursor=garbage", owner.Access, nil), 400, "invalid_cursor")
}

func TestInbox(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Inbox Co")
	agent := e.member(t, owner, "agent")
	e.connect(t, owner)
	open := e.createLead(t, owner, map[string]any{"name": "Open Window", "phone": "98765 43210", "assignee_id": agent.UserID}).str("id")
	closed := e.createLead(t, owner, map[string]any{"name": "Closed Window", "phone": "98765 43211"}).str("id")
	silent := e.createLead(t, owner, map[string]any{"name": "No Messages", "phone": "98765 43212"}).str("id")

	recent := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	e.inbound(t, owner.OrgID, open, "Hello", recent.Add(-time.Minute), nil)
	e.inbound(t, owner.OrgID, open, "Anyone there? I would like to book a visit for this Saturday morning, if that is possible, and bring my parents along too.", recent, nil)
	old := time.Now().Add(-30 * time.Hour).Truncate(time.Millisecond)
	e.inbound(t, owner.OrgID, closed, "Price?", old, nil)
	e.optIn(t, owner, closed, "whatsapp", "marketing")
	expect(t, e.send(t, owner, closed, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "template",
		"template": map[string]any{"name": "spring_sale", "language": "en_US", "components": []map[string]any{{"type": "body", "parameters": []map[string]string{{"type": "text", "text": "there"}}}}}}), 202)

	inbox := func(s session, query string) map[string]map[string]any {
		t.Helper()
		r := e.do(t, "GET", "/v1/conversations"+query, s.Access, nil)
		expect(t, r, 200)
		out := map[string]map[string]any{}
		for _, it := range r.items() {
			out[it["lead"].(map[string]any)["id"].(string)] = it
		}
		return out
	}
	all := inbox(owner, "")
	if len(all) != 2 || all[silent] != nil {
		t.Fatalf("inbox has %d conversations, want the 2 leads with messages: %v", len(all), all)
	}
	o, c := all[open], all[closed]
	ow, cw := o["window"].(map[string]any), c["window"].(map[string]any)
	// The reply to "closed" marked it read: whoever answers has read it.
	if ow["open"] != true || cw["open"] != false || o["unread_count"] != float64(2) || c["unread_count"] != float64(0) || c["read_at"] == nil {
		t.Fatalf("open %v\nclosed %v", o, c)
	}
	until, err := time.Parse(time.RFC3339, ow["until"].(string))
	if err != nil || !until.Equal(recent.Add(24*time.Hour)) {
		t.Fatalf("window until %v (%v), want %v", ow["until"], err, recent.Add(24*time.Hour))
	}
	lm := o["last_message"].(map[string]any)
	if lm["direction"] != "inbound" || !strings.HasPrefix(lm["preview"].(string), "Anyone there?") || len([]rune(lm["preview"].(string))) > 120 {
		t.Fatalf("last message %v", lm)
	}
	if lm := c["last_message"].(map[string]any); lm["direction"] != "outbound" || lm["preview"] != "[spring_sale]" {
		t.Fatalf("closed last message %v", lm)
	}

	// Agents see their own conversations; unread=true filters.
	if mine := inbox(agent, ""); len(mine) != 1 || mine[open] == nil {
		t.Fatalf("agent inbox %v", mine)
	}
	if mine := inbox(owner, "?assignee_id=me"); len(mine) != 0 {
		t.Fatalf("owner's own inbox %v", mine)
	}
	if unread := inbox(owner, "?unread=true"); len(unread) != 1 || unread[open] == nil {
		t.Fatalf("unread inbox %v", unread)
	}
	expect(t, e.do(t, "POST", "/v1/leads/"+open+"/messages/read", agent.Access, nil), 204)
	expect(t, e.do(t, "POST", "/v1/leads/"+closed+"/messages/read", agent.Access, nil), 404)
	if unread := inbox(owner, "?unread=true"); len(unread) != 0 {
		t.Fatalf("unread inbox after marking read %v", unread)
	}
	if o := inbox(owner, "")[open]; o["unread_count"] != float64(0) || o["read_at"] == nil {
		t.Fatalf("after read %v", o)
	}
	// A new message after the read marker is unread again.
	e.inbound(t, owner.OrgID, open, "Saturday works?", time.Now(), nil)
	if o := inbox(agent, "?unread=true")[open]; o == nil || o["unread_count"] != float64(1) {
		t.Fatalf("after new message %v", o)
	}

	// Newest conversation first: the "open" lead just wrote, so it leads;
	// a reply to "closed" moves that one to the top.
	order := func(s session, query string) []string {
		t.Helper()
		r := e.do(t, "GET", "/v1/conversations"+query, s.Access, nil)
		expect(t, r, 200)
		var ids []string
		for _, it := range r.items() {
			ids = append(ids, it["lead"].(map[string]any)["id"].(string))
		}
		return ids
	}
	if got := order(owner, ""); len(got) != 2 || got[0] != open || got[1] != closed {
		t.Fatalf("inbox order %v, want [%s %s]", got, open, closed)
	}
	expect(t, e.send(t, owner, closed, map[string]any{"channel": "whatsapp", "client_message_id": cid(), "type": "template",
		"template": map[string]any{"name": "spring_sale", "language": "en_US", "components": []map[string]any{{"type": "body", "parameters": []map[string]string{{"type": "text", "text": "again"}}}}}}), 202)
	if got := order(owner, ""); len(got) != 2 || got[0] != closed {
		t.Fatalf("inbox order after a reply %v, want %s first", got, closed)
	}
	// A message older than the latest (a late delivery) counts as unread
	// but moves neither the order nor the last message.
	lastBefore := inbox(owner, "")[closed]["last_message"].(map[string]any)["id"]
	e.inbound(t, owner.OrgID, closed, "Late hello", old.Add(-time.Hour), nil)
	if c := inbox(owner, "")[closed]; c["unread_count"] != float64(1) || c["last_message"].(map[string]any)["id"] != lastBefore {
		t.Fatalf("after a late message %v", c)
	}
	if got := order(owner, ""); got[0] != closed {
		t.Fatalf("a late message reordered the inbox: %v", got)
	}

	// Pages of one still visit every conversation once.
	seen := map[string]int{}
	cursor := ""
	for range 10 {
		r := e.do(t, "GET", "/v1/conversations?limit=1&cursor="+url.QueryEscape(cursor), owner.Access, nil)
		expect(t, r, 200)
		for _, it := range r.items() {
			seen[it["lead"].(map[string]any)["id"].(string)]++
		}
		c, _ := r.Body["next_cursor"].(string)
		if c == "" {
			break
		}
		cursor = c
	}
	if len(seen) != 2 || seen[open] != 1 || seen[closed] != 1 {
		t.Fatalf("paged inbox %v", seen)
	}

	// Leads nobody is assigned to have their own inbox; agents never see it.
	if got := order(owner, "?assignee_id=none"); len(got) != 1 || got[0] != closed {
		t.Fatalf("unassigned inbox %v, want [%s]", got, closed)
	}
	if mine := inbox(agent, "?assignee_id=none"); len(mine) != 1 || mine[open] == nil {
		t.Fatalf("an agent asking for unassigned leads got %v, want only their own", mine)
	}

	// Reassigning a lead moves its conversation between inboxes.
	other := e.member(t, owner, "agent")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+open, owner.Access, map[string]any{"assignee_id": other.UserID}), 200)
	if mine := inbox(agent, ""); len(mine) != 0 {
		t.Fatalf("former assignee still sees %v", mine)
	}
	if theirs := inbox(other, ""); len(theirs) != 1 || theirs[open] == nil {
		t.Fatalf("new assignee's inbox %v", theirs)
	}
	if got := order(owner, "?assignee_id="+other.UserID); len(got) != 1 || got[0] != open {
		t.Fatalf("inbox by assignee %v", got)
	}
	expect(t, e.do(t, "PATCH", "/v1/leads/"+open, owner.Access, map[string]any{"assignee_id": ""}), 200)
	if theirs := inbox(other, ""); len(theirs) != 0 {
		t.Fatalf("unassigned lead still in %v", theirs)
	}
	if got := order(owner, "?assignee_id=none"); len(got) != 2 || got[0] != closed || got[1] != open {
		t.Fatalf("unassigned inbox after unassigning %v, want [%s %s]", got, closed, open)
	}
	// A deleted lead leaves the inbox.
	expect(t, e.do(t, "DELETE", "/v1/leads/"+closed, owner.Access, nil), 204)
	if got := order(owner, ""); len(got) != 1 || got[0] != open {
		t.Fatalf("inbox after deleting a lead %v", got)
	}
}

// Client message ids of the platform's own messages (automations,
// campaigns) are out of a user's reach, so no user can claim one before
// the automation or campaign uses it; and an email subject cannot carry a
// line break (a header of its own).
func TestSendMessageReservedIDsAndSubject(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Reserved Ids Co")
	l := e.createLead(t, owner, map[string]any{"name": "Esha", "phone": "98765 43219", "email": "esha@example.com"}).str("id")
	e.connect(t, owner)
	e.inbound(t, owner.OrgID, l, "Hello?", time.Now().Add(-time.Hour), nil)
	for _, id := range []string{"auto:lead_ads:123456", "auto:after_hours:" + l + ":2026-12-04", " campaign:01ABC:" + l} {
		body := textMsg("hi")
		body["client_message_id"] = id
		r := e.send(t, owner, l, body)
		problemCode(t, r, 422, "reserved_client_message_id")
		if !hasLocation(r, "body.client_message_id") {
			t.Fatalf("reserved id problem does not name the field: %s", r.Raw)
		}
	}
	expect(t, e.send(t, owner, l, map[string]any{"channel": "whatsapp", "client_message_id": "AUTO-1", "type": "text", "text": "fine"}), 202)

	for _, subject := range []string{"Hi\r\nBcc: victim@example.com", "Hi\nthere", "Hi\rthere"} {
		r := e.send(t, owner, l, map[string]any{"channel": "email", "client_message_id": cid(), "subject": subject, "text": "Hello"})
		problemCode(t, r, 422, "invalid_subject")
		if !hasLocation(r, "body.subject") {
			t.Fatalf("subject problem does not name the field: %s", r.Raw)
		}
	}
}
