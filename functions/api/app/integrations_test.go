package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
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

	// A page belongs to one org.
	rival := e.signup(t, "Rival Co")
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", rival.Access, page), 409)

	// Disconnect stops collection; the page is then free for another org.
	expect(t, e.do(t, "DELETE", "/v1/integrations/facebook_page/104858765678112", manager.Access, nil), 403)
	expect(t, e.do(t, "DELETE", "/v1/integrations/facebook_page/104858765678112", owner.Access, nil), 204)
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
