package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	ingestapp "github.com/leadluence/backend/functions/ingest/app"
	senderapp "github.com/leadluence/backend/functions/sender/app"
	webhookapp "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/leakscan"
)

// The leak scan runs one representative flow through the api, ingest and
// sender handlers with distinctive values, then fails if any of them shows
// up in a function's log (personal data and secrets) or in plaintext in the
// table (secrets: access tokens, the app secret, passwords, refresh tokens).
// The test lives with the api because the api tests already drive the
// sender and ingest handlers over the same stand-ins.

// senderRun runs the sender's handler on jobs, failures allowed.
func senderRun(ctx context.Context, t *testing.T, h senderapp.Handler, jobs []map[string]string) {
	t.Helper()
	if _, err := h(ctx, jobsEvent(t, jobs)); err != nil {
		t.Fatal(err)
	}
}

// webhookPost is Meta's POST of payload with signature sig to the webhook
// function, which must answer status.
func webhookPost(ctx context.Context, t *testing.T, h apigw.HandlerFunc, payload []byte, sig string, status int) {
	t.Helper()
	r := httptest.NewRequest("POST", webhookapp.Path, bytes.NewReader(payload))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(meta.SignatureHeader, sig)
	ev, err := apigw.FromRequest(r, "POST "+webhookapp.Path, nil, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h(ctx, ev)
	if err != nil || resp.StatusCode != status {
		t.Fatalf("webhook answered %d (%v), want %d", resp.StatusCode, err, status)
	}
}

// drainQueue receives every message on a queue, attributes included, as
// the SQS event source hands them to a function.
func drainQueue(ctx context.Context, t *testing.T, c *sqs.Client, url string) []events.SQSMessage {
	t.Helper()
	var out []events.SQSMessage
	for range 50 {
		res, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			attrs := map[string]events.SQSMessageAttribute{}
			for k, v := range m.MessageAttributes {
				attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
			}
			out = append(out, events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body),
				MessageAttributes: attrs, EventSource: "aws:sqs"})
		}
	}
	return out
}

// ingestRun runs the ingest handler on one payload, failures allowed.
func ingestRun(ctx context.Context, t *testing.T, h ingestapp.Handler, payload []byte) {
	t.Helper()
	if _, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprintf("leak-%d", time.Now().UnixNano()),
		Body: string(payload), EventSource: "aws:sqs"}}}); err != nil {
		t.Fatal(err)
	}
}

// TestLeakScannerCatches shows the scanner fails on what it is for.
func TestLeakScannerCatches(t *testing.T) {
	markers := []leakscan.Marker{
		{Name: "lead phone", Value: "+919811177302"},
		{Name: "lead email", Value: "Quillon.Vex@LeakMail.test"},
		{Name: "wa token", Value: "EAAGleakscan-wa-token-51XZ", Secret: true},
	}
	logs := map[string]string{
		"api":    `{"level":"INFO","msg":"ok","lead":"01J"}` + "\n" + `{"level":"INFO","msg":"send","to":"919811177302"}` + "\n" + `{"msg":"retry","err":"number 98111-77302 busy"}`,
		"sender": `{"msg":"mail","to":"quillon.vex@leakmail.test"}`,
		"ingest": `{"msg":"graph","auth":"` + base64.StdEncoding.EncodeToString([]byte("EAAGleakscan-wa-token-51XZ")) + `"}`,
	}
	got := leakscan.ScanLogs(logs, markers)
	if len(got) != 4 {
		t.Fatalf("findings %v, want the phone without '+', the national number, the lower-cased email and the base64 token", got)
	}
	for _, f := range got {
		if strings.Contains(f.Excerpt, "9811177302") || strings.Contains(strings.ToLower(f.Excerpt), "leakmail") || strings.Contains(f.Excerpt, "RUFBR2") {
			t.Fatalf("finding not masked: %v", f)
		}
	}
	// A line written through the functions' own (redacting) logger under
	// an attribute name the redaction does not know is caught.
	buf := &devstacktest.LogBuffer{}
	logging.New(buf, slog.LevelDebug).Info("graph call", "detail", "EAAGleakscan-wa-token-51XZ")
	if got := leakscan.ScanLogs(map[string]string{"sender": buf.String()}, markers); len(got) != 1 || got[0].Marker != "wa token" {
		t.Fatalf("findings %v in %s, want the token", got, buf.String())
	}
	items := []map[string]types.AttributeValue{{
		"PK":    &types.AttributeValueMemberS{Value: "ORG#1"},
		"SK":    &types.AttributeValueMemberS{Value: "INTEGRATION#wa"},
		"phone": &types.AttributeValueMemberS{Value: "+919811177302"},
		"data":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"token": &types.AttributeValueMemberS{Value: "EAAGleakscan-wa-token-51XZ"}}},
	}}
	got = leakscan.ScanItems(items, markers)
	if len(got) != 1 || got[0].Marker != "wa token" || !strings.Contains(got[0].Where, "SK=INTEGRATION#wa attribute data") {
		t.Fatalf("item findings %v, want the plaintext token only (a phone is not a secret)", got)
	}
}

// TestLeakScannerCatchesQueuesAndMails shows the queue and mail scans find
// a secret in a message left in a DLQ and in a mail, name where, ignore
// the person a body is addressed to, and leave the messages in place.
func TestLeakScannerCatchesQueuesAndMails(t *testing.T) {
	ctx := context.Background()
	res := devstacktest.Fresh(t)
	const token = "EAAGleakscan-queue-token-77QW"
	markers := []leakscan.Marker{
		{Name: "lead phone", Value: "+919811177399"},
		{Name: "wa token", Value: token, Secret: true},
	}
	q := sqs.NewFromConfig(res.AWS)
	dlq := res.QueueURLs[topology.QueueOutbound+"-dlq"]
	for _, body := range []string{`{"to":"+919811177399","text":"hello"}`, `{"to":"+919811177399","auth":"Bearer ` + token + `"}`} {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	queues := map[string]string{"outbound-dlq": dlq, "intake": res.QueueURLs[topology.QueueIntake]}
	got, n, err := leakscan.ScanQueues(ctx, q, queues, markers)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(got) != 1 || got[0].Marker != "wa token" || !strings.Contains(got[0].Where, "queue outbound-dlq message") {
		t.Fatalf("queue findings %v in %d messages, want the token in the DLQ's second message only", got, n)
	}
	if _, again, err := leakscan.ScanQueues(ctx, q, queues, markers); err != nil || again != 2 {
		t.Fatalf("a second scan read %d messages (%v), want the same 2 still there", again, err)
	}
	ses := sesv2.NewFromConfig(res.AWS)
	if _, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("noreply@leadluence.test"),
		Destination:      &sestypes.Destination{ToAddresses: []string{"quillon.vex@leakmail.test"}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("Your reset link")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("token=" + token)}},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	got, n, err = leakscan.ScanMails(ctx, os.Getenv("AWS_ENDPOINT_URL_SESV2"), markers)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(got) != 1 || got[0].Marker != "wa token" || !strings.HasPrefix(got[0].Where, "mail ") {
		t.Fatalf("mail findings %v in %d mails, want the token once", got, n)
	}
}

// TestNoLeaksInLogsOrTable is the end-to-end scan.
func TestNoLeaksInLogsOrTable(t *testing.T) {
	const (
		leakWANumber = "106540352249911"
		leakWABA     = "102290129349911"
		waToken      = "EAAGleakscan-wa-token-51XZ"
		pageToken    = "EAAGleakscan-page-token-72QW"
		pageID       = "104858765679911"
		formID       = "555000199911"
		appSecret    = "leakscan-app-secret-88Jt"
		pw           = "Pw-Zq7xLeakscan-9931"
		wrongPw      = "Wrong-Pw-Leakscan-4412"
		ownerName    = "Zarathustra Leakmark"
		leadName     = "Quillon Vexmarrow"
		leadPhone    = "+91 98111 77302"
		leadE164     = "+919811177302"
		leadEmail    = "Quillon.Vex@LeakMail.test"
		inboundWaID  = "919822266413"
		inboundName  = "Yusra Pellwhistle"
		inboundBody  = "inbound-body-7Kq2 squeamish ossifrage"
		outText      = "outbound-text-Hx93 lavender marmalade"
		outEmailBody = "email-body-Pq55 pickled quince"
		outSubject   = "subject-Rz81 velvet turnip"
		formName     = "Ottoline Brackenfurze"
		formEmail    = "ottoline.bracken@leadform.test"
		formPhone    = "+919833344556"
		verifyToken  = "leakscan-verify-token-63Bn"
	)
	ctx := context.Background()
	// The simulator signs webhooks with the marker app secret.
	e := newEnvWith(t, metatest.Options{AppSecret: []byte(appSecret)})
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	me := &msgEnv{testEnv: e, store: dynamostore.New(dynamodb.NewFromConfig(awsCfg), e.cfg.TableName), sqs: sqs.NewFromConfig(awsCfg)}
	e.sim.AddPhoneNumber(leakWANumber, "15550789911", "Leakscan Realty", leakWABA, waToken)
	e.sim.AddPage(pageID, "Leakscan Realty", pageToken)
	e.sim.AddForm(pageID, formID, "Site visit")

	senderLogs, ingestLogs := &devstacktest.LogBuffer{}, &devstacktest.LogBuffer{}
	sender, err := senderapp.New(ctx, config.Sender{TableName: e.cfg.TableName, KeyID: e.cfg.KeyID,
		OutboundQueueURL: e.cfg.OutboundQueueURL, GraphBaseURL: e.cfg.GraphBaseURL, GraphVersion: e.cfg.GraphVersion,
		EmailFrom: e.cfg.EmailFrom, NumberRatePerSecond: 80}, logging.New(senderLogs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	// Ingest dead-letters to the intake queue here: anything it would
	// dead-letter is drained with the next delivery and its log scanned.
	ingest, _, err := ingestapp.New(ctx, config.Ingest{TableName: e.cfg.TableName, KeyID: e.cfg.KeyID,
		IntakeDLQURL: e.cfg.IntakeQueueURL, GraphBaseURL: e.cfg.GraphBaseURL, GraphVersion: e.cfg.GraphVersion,
		DefaultRegion: "IN", OutboundQueueURL: e.cfg.OutboundQueueURL}, logging.New(ingestLogs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	webhookLogs := &devstacktest.LogBuffer{}
	keys := kms.NewFromConfig(awsCfg)
	secretCT, err := secret.Encrypt(ctx, keys, e.cfg.KeyID, topology.PurposeMetaAppSecret, []byte(appSecret))
	if err != nil {
		t.Fatal(err)
	}
	verifyCT, err := secret.Encrypt(ctx, keys, e.cfg.KeyID, topology.PurposeMetaVerifyToken, []byte(verifyToken))
	if err != nil {
		t.Fatal(err)
	}
	webhook, err := webhookapp.New(ctx, config.Webhook{IntakeQueueURL: e.cfg.IntakeQueueURL, KeyID: e.cfg.KeyID,
		AppSecretCiphertext: secretCT, VerifyTokenCiphertext: verifyCT, MaxBodyBytes: 3 << 20}, logging.New(webhookLogs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	// deliver is Meta's POST through the webhook function, then the intake
	// queue's messages through the ingest function.
	deliver := func(payload []byte) {
		t.Helper()
		webhookPost(ctx, t, webhook, payload, meta.Sign([]byte(appSecret), payload), 200)
		msgs := drainQueue(ctx, t, me.sqs, e.cfg.IntakeQueueURL)
		if len(msgs) == 0 {
			t.Fatal("the webhook queued nothing")
		}
		resp, err := ingest(ctx, events.SQSEvent{Records: msgs})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ingest: failures %v, err %v", resp.BatchItemFailures, err)
		}
	}
	runSender := func() {
		t.Helper()
		if _, sends := splitJobs(me.jobs(t)); len(sends) > 0 {
			feed(t, sender, sends)
		}
	}

	// Sign up, log in, refresh, fail a login.
	ownerEmail := uniqueEmail("Zara.Leakscan")
	r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "Leakscan Realty", "name": ownerName, "email": ownerEmail, "password": pw})
	expect(t, r, 201)
	signupAccess, signupRefresh := r.str("access_token"), r.str("refresh_token")
	// Room for the page and the number connected below.
	e.setPlan(t, r.str("org", "id"), plan.Business)
	r = e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": ownerEmail, "password": pw})
	expect(t, r, 200)
	loginRefresh := r.str("refresh_token")
	r = e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": loginRefresh})
	expect(t, r, 200)
	access, refreshed := r.str("access_token"), r.str("refresh_token")
	owner := session{UserID: r.str("user", "id"), OrgID: r.str("org", "id"), Access: access, Email: ownerEmail}
	if owner.OrgID == "" {
		owner.OrgID = e.do(t, "GET", "/v1/me", access, nil).str("org", "id")
	}
	expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": ownerEmail, "password": wrongPw}), 401)

	// Connect a WhatsApp number and a Facebook page.
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", access, map[string]any{"phone_number_id": leakWANumber,
		"waba_id": leakWABA, "display_phone_number": "+1 555 078 9911", "access_token": waToken}), 201)
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", access, map[string]any{"page_id": pageID,
		"page_access_token": pageToken, "form_ids": []string{formID}}), 201)

	// A lead by hand, an inbound WhatsApp message, a Lead Ads lead.
	leadID := e.createLead(t, owner, map[string]any{"name": leadName, "phone": leadPhone, "email": leadEmail}).str("id")
	deliver(e.sim.InboundPayload(leakWANumber, "15550789911", metatest.Text(inboundWaID, inboundBody).WithName(inboundName)))
	inboundLead, err := me.store.LeadIDByPhone(ctx, owner.OrgID, "+"+inboundWaID)
	if err != nil {
		t.Fatalf("lead of the inbound message: %v", err)
	}
	at := time.Now().Add(-time.Minute)
	leadgenID := e.sim.AddLead(formID, map[string][]string{"full_name": {formName}, "email": {formEmail}, "phone_number": {formPhone}}, at)
	deliver(e.sim.LeadgenPayload(pageID, formID, leadgenID, at))
	if _, err := me.store.LeadIDByPhone(ctx, owner.OrgID, formPhone); err != nil {
		t.Fatalf("Lead Ads lead: %v", err)
	}
	runSender()

	// A WhatsApp reply (the inbound message opened the window) and an
	// email from the org's verified sender address, both through the
	// sender.
	me.verifiedSender(t, owner)
	expect(t, me.send(t, owner, inboundLead, textMsg(outText)), 202)
	expect(t, me.send(t, owner, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": outSubject, "text": outEmailBody}), 202)
	runSender()

	// What goes wrong is logged with more detail: a Graph API outage on a
	// send (retried, then sent), a Lead Ads lead whose fetch
	// fails (retried, then applied), an event for a number not connected.
	e.sim.FailNext(1, 503)
	expect(t, me.send(t, owner, inboundLead, textMsg(outText+" again")), 202)
	retry := me.jobs(t)
	senderRun(ctx, t, sender, retry)
	senderRun(ctx, t, sender, retry)
	leadgen2 := e.sim.AddLead(formID, map[string][]string{"full_name": {formName + " Two"}, "email": {"two." + formEmail}}, at)
	e.sim.FailNext(1, 500)
	ingestRun(ctx, t, ingest, e.sim.LeadgenPayload(pageID, formID, leadgen2, at))
	ingestRun(ctx, t, ingest, e.sim.LeadgenPayload(pageID, formID, leadgen2, at))
	ingestRun(ctx, t, ingest, e.sim.InboundPayload("106540352240000", "15550780000", metatest.Text(inboundWaID, inboundBody)))
	forged := e.sim.InboundPayload(leakWANumber, "15550789911", metatest.Text(inboundWaID, inboundBody))
	webhookPost(ctx, t, webhook, forged, meta.Sign([]byte("not-"+appSecret), forged), 401)
	handshake := httptest.NewRequest("GET", webhookapp.Path+"?hub.mode=subscribe&hub.verify_token=wrong-"+verifyToken+"&hub.challenge=12345", nil)
	hev, err := apigw.FromRequest(handshake, "GET "+webhookapp.Path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook(ctx, hev); err != nil {
		t.Fatal(err)
	}

	// A data-subject access request and its export.
	req := fileRequest(t, e, owner, map[string]any{"type": "access", "subject": map[string]any{"phone": leadPhone}})
	expect(t, e.do(t, "GET", "/v1/privacy-requests/"+req.str("id")+"/export", access, nil), 200)

	markers := []leakscan.Marker{
		{Name: "password", Value: pw, Secret: true},
		{Name: "wrong password", Value: wrongPw, Secret: true},
		{Name: "wa access token", Value: waToken, Secret: true},
		{Name: "page access token", Value: pageToken, Secret: true},
		{Name: "app secret", Value: appSecret, Secret: true},
		{Name: "verify token", Value: verifyToken, Secret: true},
		{Name: "signup refresh token", Value: signupRefresh, Secret: true},
		{Name: "login refresh token", Value: loginRefresh, Secret: true},
		{Name: "rotated refresh token", Value: refreshed, Secret: true},
		{Name: "signup access token", Value: signupAccess},
		{Name: "access token", Value: access},
		{Name: "owner name", Value: ownerName},
		{Name: "owner email", Value: ownerEmail},
		{Name: "lead name", Value: leadName},
		{Name: "lead phone", Value: leadE164},
		{Name: "lead phone as typed", Value: leadPhone},
		{Name: "lead email", Value: leadEmail},
		{Name: "inbound phone", Value: "+" + inboundWaID},
		{Name: "inbound profile name", Value: inboundName},
		{Name: "inbound body", Value: inboundBody},
		{Name: "outbound text", Value: outText},
		{Name: "email subject", Value: outSubject},
		{Name: "email body", Value: outEmailBody},
		{Name: "form name", Value: formName},
		{Name: "form email", Value: formEmail},
		{Name: "form phone", Value: formPhone},
	}
	for _, m := range markers {
		if m.Value == "" {
			t.Fatalf("marker %s is empty", m.Name)
		}
	}
	logs := map[string]string{"api": e.logs.String(), "webhook": webhookLogs.String(), "ingest": ingestLogs.String(), "sender": senderLogs.String()}
	// The api logs only what goes wrong; ingest and sender log every
	// payload and batch, so an empty log there means nothing was captured.
	for _, fn := range []string{"webhook", "ingest", "sender"} {
		if logs[fn] == "" {
			t.Fatalf("%s logged nothing: the scan would prove nothing", fn)
		}
	}
	for fn, l := range logs {
		t.Logf("%s: %d log lines scanned", fn, strings.Count(l, "\n"))
	}
	for _, f := range leakscan.ScanLogs(logs, markers) {
		t.Errorf("log leak: %v", f)
	}

	items := devstacktest.ScanTable(t, dynamodb.NewFromConfig(awsCfg), e.cfg.TableName)
	if len(items) < 10 {
		t.Fatalf("table holds %d items: the flow did not run", len(items))
	}
	for _, f := range leakscan.ScanItems(items, markers) {
		t.Errorf("secret at rest: %v", f)
	}
	// The scan read the table the flow wrote: the lead's phone, stored as
	// it must be, is found when asked for.
	if got := leakscan.ScanItems(items, []leakscan.Marker{{Name: "lead phone", Value: leadE164, Secret: true}}); len(got) == 0 {
		t.Fatal("the table scan does not see the lead's phone: it is not reading the flow's table")
	}
}
