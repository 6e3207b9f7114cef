package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
)

func TestCloseAndReopenOrg(t *testing.T) {
	e := newEnv(t)
	e.sim.AddPage("104858765678112", "Sharma Realty", "EAAGpage-token-0001")
	owner := e.signup(t, "Closing Co")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	page := map[string]any{"page_id": "104858765678112", "page_access_token": "EAAGpage-token-0001"}
	expect(t, e.do(t, "POST", "/v1/integrations/facebook-pages", owner.Access, page), 201)
	expect(t, e.do(t, "GET", "/v1/leads", owner.Access, nil), 200)

	// Only an owner closes, and each refusal is audited.
	for _, s := range []session{admin, manager, agent, viewer} {
		r := e.do(t, "POST", "/v1/org/close", s.Access, map[string]string{"password": password})
		expect(t, r, 403)
		if r.str("code") != "forbidden" {
			t.Fatalf("non-owner close: %s", r.Raw)
		}
	}
	r := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, r, 200)
	denied := 0
	for _, it := range r.items() {
		if d, _ := it["details"].(map[string]any); it["action"] == "permission.denied" && d["attempted"] == "org.close" {
			denied++
		}
	}
	if denied != 4 {
		t.Fatalf("%d audited close denials, want 4", denied)
	}

	// A wrong password closes nothing.
	r = e.do(t, "POST", "/v1/org/close", owner.Access, map[string]string{"password": "not-the-password"})
	expect(t, r, 403)
	if r.str("code") != "wrong_password" {
		t.Fatalf("wrong password: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads", admin.Access, nil), 200)

	r = e.do(t, "POST", "/v1/org/close", owner.Access, map[string]string{"password": password})
	expect(t, r, 200)
	if r.Body["closed"] != true || r.str("closed_at") == "" || r.str("reopen_until") == "" || r.Body["integrations_disconnected"] != float64(1) {
		t.Fatalf("close: %s", r.Raw)
	}

	// Every existing access token is refused at once, login and refresh too.
	for _, s := range []session{owner, admin, viewer} {
		r = e.do(t, "GET", "/v1/leads", s.Access, nil)
		expect(t, r, 403)
		if r.str("code") != "org_closed" {
			t.Fatalf("closed org's caller: %s", r.Raw)
		}
	}
	r = e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": password})
	expect(t, r, 403)
	if r.str("code") != "org_closed" {
		t.Fatalf("login while closed: %s", r.Raw)
	}
	r = e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": admin.Refresh})
	expect(t, r, 403)
	if r.str("code") != "org_closed" {
		t.Fatalf("refresh while closed: %s", r.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/org/close", owner.Access, map[string]string{"password": password}), 403)

	// The integration is disconnected and its token deleted.
	ctx := context.Background()
	cfg, _ := awsconfig.LoadDefaultConfig(ctx)
	db := dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName)
	in, err := db.GetIntegration(ctx, owner.OrgID, integration.KindFacebookPage, "104858765678112")
	if err != nil || in.Status != integration.StatusDisconnected || len(in.SealedToken) != 0 {
		t.Fatalf("integration after close: %s, token %d bytes, %v", in.Status, len(in.SealedToken), err)
	}

	// Reopening takes the owner's credentials; nobody else's.
	r = e.do(t, "POST", "/v1/org/reopen", "", map[string]string{"email": owner.Email, "password": "not-the-password"})
	expect(t, r, 401)
	expect(t, e.do(t, "POST", "/v1/org/reopen", "", map[string]string{"email": admin.Email, "password": password}), 401)
	r = e.do(t, "POST", "/v1/org/reopen", "", map[string]string{"email": owner.Email, "password": password})
	expect(t, r, 200)
	if r.Body["closed"] != false || r.str("note") == "" {
		t.Fatalf("reopen: %s", r.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/org/reopen", "", map[string]string{"email": owner.Email, "password": password}), 409)
	// Closing revoked every session: refresh tokens from before stay dead.
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": admin.Refresh}), 401)
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": owner.Refresh}), 401)
	// Access tokens from before the closure stay refused after reopening.
	expect(t, e.do(t, "GET", "/v1/leads", owner.Access, nil), 401)
	// Tokens carry whole seconds: sign in from the next second on, as a
	// person would (one issued in the closure's second is refused).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	again := e.login(t, owner.Email)
	expect(t, e.do(t, "GET", "/v1/leads", again.Access, nil), 200)
	e.login(t, viewer.Email)
	r = e.do(t, "GET", "/v1/integrations", again.Access, nil)
	expect(t, r, 200)
	if items := r.items(); len(items) != 1 || items[0]["status"] != "disconnected" {
		t.Fatalf("integrations after reopen: %s", r.Raw)
	}
	r = e.do(t, "GET", "/v1/audit?limit=100", again.Access, nil)
	expect(t, r, 200)
	seen := map[string]bool{}
	for _, it := range r.items() {
		seen[it["action"].(string)+"/"+it["outcome"].(string)] = true
	}
	for _, want := range []string{"org.close/success", "org.close/denied", "org.reopen/success", "org.reopen/denied"} {
		if !seen[want] {
			t.Errorf("audit trail lacks %s (has %v)", want, seen)
		}
	}

	// Closed more than 90 days ago, the account cannot be reopened.
	expect(t, e.do(t, "POST", "/v1/org/close", again.Access, map[string]string{"password": password}), 200)
	users, err := db.ListUsers(ctx, owner.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetOrgClosed(ctx, owner.OrgID, users, time.Now().Add(-91*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The org is listed among those closed before the window's start.
	closed, _, err := db.ClosedOrgs(ctx, time.Now().Add(-90*24*time.Hour), "", 1000)
	if err != nil || !slices.ContainsFunc(closed, func(o account.Org) bool { return o.ID == owner.OrgID }) {
		t.Fatalf("closed orgs past the window lack the org (%v)", err)
	}
	r = e.do(t, "POST", "/v1/org/reopen", "", map[string]string{"email": owner.Email, "password": password})
	expect(t, r, 410)
	if r.str("code") != "org_deleting" {
		t.Fatalf("reopen after 90 days: %s", r.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": password}), 403)
}
