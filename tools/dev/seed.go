package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/leadluence/backend/shared/apigw"
)

// demoAccount is the seeded owner that the "try this" lines log in as.
type demoAccount struct {
	Org, Email, Password string
}

var demo = demoAccount{Org: "Demo Realty", Email: "owner@demo.leadluence.local", Password: "demo-password-123"}

// seedDemo signs up the demo org through the API itself (so it gets the same
// validation, hashing and audit as any org) unless it exists, puts it on a
// plan with room for its page and number (setPlan, as `make plan` does),
// and adds a few leads.
func seedDemo(ctx context.Context, api apigw.HandlerFunc, connectMeta bool, setPlan func(ctx context.Context, orgID string) error) (demoAccount, error) {
	call := func(method, path, token, body string) (int, map[string]any, error) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:0"
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "leadluence-dev-seed")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		ev, err := apigw.FromRequest(r, method+" "+path, nil, 1<<20)
		if err != nil {
			return 0, nil, err
		}
		resp, err := api(ctx, ev)
		if err != nil {
			return 0, nil, err
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(resp.Body), &out)
		return resp.StatusCode, out, nil
	}
	creds := fmt.Sprintf(`{"email":%q,"password":%q}`, demo.Email, demo.Password)
	status, out, err := call(http.MethodPost, "/v1/auth/login", "", creds)
	if err != nil {
		return demo, err
	}
	if status == http.StatusOK {
		if connectMeta {
			token, _ := out["access_token"].(string)
			return demo, connectDemoMeta(call, token)
		}
		return demo, nil
	}
	status, out, err = call(http.MethodPost, "/v1/auth/signup", "",
		fmt.Sprintf(`{"org_name":%q,"name":"Demo Owner","email":%q,"password":%q}`, demo.Org, demo.Email, demo.Password))
	if err != nil {
		return demo, err
	}
	if status != http.StatusCreated {
		return demo, fmt.Errorf("signup answered %d: %v", status, out)
	}
	token, _ := out["access_token"].(string)
	// Before its first authenticated request: the api remembers an org's
	// plan for a minute.
	org, _ := out["org"].(map[string]any)
	orgID, _ := org["id"].(string)
	if err := setPlan(ctx, orgID); err != nil {
		return demo, fmt.Errorf("put the demo org on a plan: %w", err)
	}
	for _, l := range []string{
		`{"name":"Aarav Mehta","phone":"+91 98200 11111","email":"aarav@example.com","source":"facebook_lead_ads","tags":["2bhk"]}`,
		`{"name":"Diya Nair","phone":"98450 22222","status":"contacted","source":"website"}`,
		`{"name":"Kabir Singh","email":"kabir@example.com","status":"qualified","source":"referral","custom_fields":{"budget":"1.2 Cr"}}`,
	} {
		if status, out, err := call(http.MethodPost, "/v1/leads", token, l); err != nil || status != http.StatusCreated {
			return demo, fmt.Errorf("seed lead: %d %v: %w", status, out, err)
		}
	}
	if connectMeta {
		return demo, connectDemoMeta(call, token)
	}
	return demo, nil
}

type apiCall func(method, path, token, body string) (int, map[string]any, error)

// connectDemoMeta connects the simulator's demo page and number to the demo
// org (again after each restart: the simulator forgets, the table does not)
// and maps the demo form's consent question to a WhatsApp service opt-in.
func connectDemoMeta(call apiCall, token string) error {
	if status, out, err := call(http.MethodPut, "/v1/org/consent-mapping", token, demoConsentMapping); err != nil || status != http.StatusOK {
		return fmt.Errorf("map the demo form's consent question: %d %v: %w", status, out, err)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/integrations/facebook-pages", fmt.Sprintf(`{"page_id":%q,"page_access_token":%q}`, demoPageID, demoPageToken)},
		{"/v1/integrations/whatsapp-numbers", fmt.Sprintf(`{"phone_number_id":%q,"waba_id":%q,"display_phone_number":%q,"access_token":%q}`,
			demoNumberID, demoWABAID, demoDisplay, demoWAToken)},
	} {
		status, out, err := call(http.MethodPost, c.path, token, c.body)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("connect %s: %d %v", c.path, status, out)
		}
	}
	return nil
}
