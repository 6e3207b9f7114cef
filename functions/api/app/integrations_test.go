package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
)

func TestIntegrations(t *testing.T) {
	e := newEnv(t)
	e.sim.AddPage("104858765678112", "Sharma Realty", "EAAGpage-token-0001")
	e.sim.AddPhoneNumber("106540352242922", "15550783881", "Sharma Realty", "102290129340398", "EAAGwa-token-0001")
	owner := e.signup(t, "Integrations Co")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")

	page := map[string]any{"page_id": "104858765678112", "page_access_token": "EAAGpage-token-0001", "form_ids": []string{"555000111"}}
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", manager.Access, page), 403)
	bad := map[string]any{"page_id": "104858765678112", "page_access_token": "EAAGwrong-token"}
	r := e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access, bad)
	expect(t, r, 422)
	if !strings.Contains(r.Raw, "body.page_access_token") {
		t.Fatalf("refused token not named: %s", r.Raw)
	}
	r = e.do(t, "POST", "/v1/integrations/facebook-pages", admin.Access, page)
	expect(t, r, 201)
	if r.str("status") != "active" || r.str("name") != "Sharma Realty" || strings.Contains(r.Raw, "EAAG") {
		t.Fatalf("connected page %s", r.Raw)
	}
	wa := map[string]any{"phone_number_id": "106540352242922", "waba_id": "102290129340398", "display_phone_number": "+1 555 078 3881", "access_token": "EAAGwa-token-0001"}
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, wa), 201)

	list := e.do(t, "GET", "/v1/integrations", manager.Access, nil)
	expect(t, list, 200)
	if len(list.items()) != 2 || strings.Contains(list.Raw, "EAAG") || strings.Contains(list.Raw, "token\"") {
		t.Fatalf("integration list %s (must never show a token)", list.Raw)
	}

	// A number's send rate is set by an owner or admin, shown, audited, and
	// kept when the number is connected again.
	const numberPath = "/v1/integrations/whatsapp/106540352242922"
	expect(t, e.do(t, "PATCH", numberPath, manager.Access, map[string]any{"messages_per_second": 250}), 403)
	expect(t, e.do(t, "PATCH", numberPath, owner.Access, map[string]any{"messages_per_second": 1001}), 422)
	expect(t, e.do(t, "PATCH", "/v1/integrations/facebook_page/104858765678112", owner.Access, map[string]any{"messages_per_second": 250}), 422)
	expect(t, e.do(t, "PATCH", "/v1/integrations/whatsapp/999", owner.Access, map[string]any{"messages_per_second": 250}), 404)
	r = e.do(t, "PATCH", numberPath, admin.Access, map[string]any{"messages_per_second": 250})
	expect(t, r, 200)
	if r.Body["messages_per_second"] != float64(250) {
		t.Fatalf("after setting the rate %s", r.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, wa), 201)
	for _, it := range e.do(t, "GET", "/v1/integrations", owner.Access, nil).items() {
		if it["kind"] == "whatsapp" && it["messages_per_second"] != float64(250) {
			t.Fatalf("rate after reconnecting: %v", it)
		}
	}
	r = e.do(t, "PATCH", numberPath, owner.Access, map[string]any{"messages_per_second": 0})
	if expect(t, r, 200); r.Body["messages_per_second"] != nil {
		t.Fatalf("rate back to the default %s", r.Raw)
	}
	var rates []any
	for _, it := range e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil).items() {
		if it["action"] == "integration.update" {
			rates = append(rates, it["details"].(map[string]any)["messages_per_second"])
		}
	}
	if len(rates) != 2 || rates[0] != "0" || rates[1] != "250" {
		t.Fatalf("audited rate changes %v, want 0 then 250 (newest first)", rates)
	}

	// A page belongs to one org.
	rival := e.signup(t, "Rival Co")
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", rival.Access, page), 409)

	// Disconnect stops collection; the page is then free for another org.
	expect(t, e.do(t, "DELETE", "/v1/integrations/facebook_page/104858765678112", manager.Access, nil), 403)
	expect(t, e.do(t, "DELETE", "/v1/integrations/facebook_page/104858765678112", owner.Access, nil), 202)
	expect(t, e.do(t, "DELETE", "/v1/integrations/facebook_page/999", owner.Access, nil), 404)
	list = e.do(t, "GET", "/v1/integrations", owner.Access, nil)
	for _, it := range list.items() {
		if it["kind"] == "facebook_page" && it["status"] != "disconnected" {
			t.Fatalf("page after disconnect: %v", it)
		}
	}
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", rival.Access, page), 201)

	// Connecting emptied nothing into the intake queue (nothing was parked).
	cfg, _ := awsconfig.LoadDefaultConfig(context.Background())
	out, err := sqs.NewFromConfig(cfg).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.cfg.IntakeQueueURL), WaitTimeSeconds: 0})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("intake queue has %d messages (%v)", len(out.Messages), err)
	}
}

// TestReconnectReplaysParkedEvents: events parked while a token was refused
// go back on the intake queue when the integration is connected again.
func TestReconnectReplaysParkedEvents(t *testing.T) {
	e := newEnv(t)
	e.sim.AddPage("104858765678112", "Sharma Realty", "EAAGpage-token-0001")
	owner := e.signup(t, "Parked Co")
	page := map[string]any{"page_id": "104858765678112", "page_access_token": "EAAGpage-token-0001"}
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access, page), 201)

	ctx := context.Background()
	cfg, _ := awsconfig.LoadDefaultConfig(ctx)
	db := dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName)
	change := `{"field":"leadgen","value":{"leadgen_id":"1220000000000009","page_id":"104858765678112","form_id":"555000111","created_time":1795860928}}`
	if err := db.ParkEvent(ctx, owner.OrgID, integration.KindFacebookPage, "104858765678112", "leadgen:1220000000000009", []byte(change)); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access, page), 201)

	out, err := sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.cfg.IntakeQueueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("intake queue has %d messages (%v), want the replayed event", len(out.Messages), err)
	}
	wh, err := meta.ParseWebhook([]byte(aws.ToString(out.Messages[0].Body)))
	if err != nil || wh.Object != "page" || len(wh.Entry) != 1 || len(wh.Entry[0].Changes) != 1 {
		t.Fatalf("replayed payload %s: %v", aws.ToString(out.Messages[0].Body), err)
	}
	if v, err := wh.Entry[0].Changes[0].Leadgen(); err != nil || v.LeadgenID != "1220000000000009" {
		t.Fatalf("replayed change %+v, %v", v, err)
	}
	if parked, _ := db.ParkedEvents(ctx, owner.OrgID, integration.KindFacebookPage, "104858765678112", 10); len(parked) != 0 {
		t.Fatalf("%d events still parked after replay", len(parked))
	}
}

// TestConnectChecksWhoseTokenAndWhichWABA: a page is connected only with a
// Page access token of that very page (a token that merely reads it, a
// user's or another page's, is 422) that the platform's own Meta app issued
// (Graph GET /app; another app's token is 422), and a WhatsApp number only
// with the WABA that lists it.
func TestConnectChecksWhoseTokenAndWhichWABA(t *testing.T) {
	e := newEnv(t)
	const pageA, pageB, tokA, tokB = "104858765670001", "104858765670002", "EAAGpage-token-A001", "EAAGpage-token-B001"
	e.sim.AddPage(pageA, "Sharma Realty", tokA)
	e.sim.AddPage(pageB, "Other Realty", tokB)
	e.sim.AddUserToken("100090000000001", "EAAGuser-token-0001")
	// One system-user token holds a number in each of two WABAs.
	const number1, waba1, number2, waba2, waTok = "106540352240001", "102290129340001", "106540352240002", "102290129340002", "EAAGwa-token-X001"
	e.sim.AddPhoneNumber(number1, "15550783881", "Sharma Realty", waba1, waTok)
	e.sim.AddPhoneNumber(number2, "15550783882", "Other Realty", waba2, waTok)
	owner := e.signup(t, "Token Checks Co")

	refused := func(t *testing.T, path string, body map[string]any, field, reason string) {
		t.Helper()
		r := e.do(t, "POST", path, owner.Access, body)
		expect(t, r, 422)
		if !strings.Contains(r.Raw, "body."+field) || !strings.Contains(r.Raw, reason) {
			t.Fatalf("refusal does not name %s and %q: %s", field, reason, r.Raw)
		}
	}
	t.Run("another page's token", func(t *testing.T) {
		refused(t, "/v1/integrations/facebook-pages", map[string]any{"page_id": pageA, "page_access_token": tokB}, "page_access_token", "not a Page access token of page "+pageA)
	})
	t.Run("a user token", func(t *testing.T) {
		refused(t, "/v1/integrations/facebook-pages", map[string]any{"page_id": pageA, "page_access_token": "EAAGuser-token-0001"}, "page_access_token", "not a Page access token of page "+pageA)
	})
	t.Run("the page's own token, issued through another Meta app", func(t *testing.T) {
		const pageC, tokC = "104858765670003", "EAAGpage-token-C001"
		e.sim.AddPage(pageC, "Third Realty", tokC)
		e.sim.SetTokenApp(tokC, "999000111222333")
		refused(t, "/v1/integrations/facebook-pages", map[string]any{"page_id": pageC, "page_access_token": tokC}, "page_access_token", "another Meta app")
	})
	t.Run("a number of another WABA", func(t *testing.T) {
		refused(t, "/v1/integrations/whatsapp-numbers", map[string]any{"phone_number_id": number1, "waba_id": waba2, "display_phone_number": "+1 555 078 3881",
			"access_token": waTok}, "waba_id", "does not list phone number "+number1)
	})
	t.Run("a WABA the token cannot see", func(t *testing.T) {
		refused(t, "/v1/integrations/whatsapp-numbers", map[string]any{"phone_number_id": number1, "waba_id": "102290129349999", "display_phone_number": "+1 555 078 3881",
			"access_token": waTok}, "waba_id", "was refused by Meta")
	})
	list := e.do(t, "GET", "/v1/integrations", owner.Access, nil)
	expect(t, list, 200)
	if len(list.items()) != 0 {
		t.Fatalf("a refused connection was stored: %s", list.Raw)
	}
	t.Run("the page's own token and the number's WABA", func(t *testing.T) {
		expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access, map[string]any{"page_id": pageA, "page_access_token": tokA}), 201)
		expect(t, e.do(t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, map[string]any{"phone_number_id": number1, "waba_id": waba1,
			"display_phone_number": "+1 555 078 3881", "access_token": waTok}), 201)
	})
}
