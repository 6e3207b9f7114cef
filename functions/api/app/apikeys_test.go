package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// newKey has s create an API key with scopes and returns its id and key.
func (e *testEnv) newKey(t *testing.T, s session, name string, scopes ...string) (id, key string) {
	t.Helper()
	r := e.do(t, "POST", "/v1/api-keys", s.Access, map[string]any{"name": name, "scopes": scopes})
	expect(t, r, 201)
	return r.str("id"), r.str("key")
}

func actor(it map[string]any) string {
	s, _ := it["actor_id"].(string)
	return s
}

// API keys: made by a verified owner or admin, shown once, listed without
// the key, used as a bearer credential on their scopes' routes only
// (leads created with source api, the key as actor), revoked at once.
func TestAPIKeys(t *testing.T) {
	// Every route is called with each key below: no rate limit here.
	t.Setenv("LEADLUENCE_API_KEY_REQUESTS_PER_MINUTE", "1000")
	e := newEnv(t)
	owner := e.signup(t, "Key Co")
	manager := e.member(t, owner, "manager")
	body := map[string]any{"name": "Web form", "scopes": []string{"leads:write"}}
	if r := e.do(t, "POST", "/v1/api-keys", owner.Access, body); r.Status != 403 || r.str("code") != "email_unverified" {
		t.Fatalf("an unverified owner: %d %s", r.Status, r.Raw)
	}
	e.verify(t, owner)
	expect(t, e.do(t, "POST", "/v1/api-keys", manager.Access, body), 403)
	expect(t, e.do(t, "GET", "/v1/api-keys", manager.Access, nil), 403)
	expect(t, e.do(t, "POST", "/v1/api-keys", owner.Access, map[string]any{"name": "Bad", "scopes": []string{"leads:delete"}}), 422)

	writeID, writeKey := e.newKey(t, owner, "Web form", "leads:write")
	readID, readKey := e.newKey(t, owner, "Reporting", "leads:read")
	if !strings.HasPrefix(writeKey, "ll_live_") || len(writeKey) < len("ll_live_")+43 || writeKey == readKey {
		t.Fatalf("keys %q %q", writeKey, readKey)
	}
	list := e.do(t, "GET", "/v1/api-keys", owner.Access, nil)
	expect(t, list, 200)
	if items := list.items(); len(items) != 2 || items[0]["id"] != readID || items[1]["id"] != writeID ||
		items[1]["last_used_at"] != nil || !strings.HasPrefix(writeKey, items[1]["prefix"].(string)) || len(items[1]["prefix"].(string)) < 10 {
		t.Fatalf("list %s", list.Raw)
	}
	if strings.Contains(list.Raw, writeKey) || strings.Contains(list.Raw, readKey) {
		t.Fatal("the list shows a key")
	}

	// The write key creates leads (source api unless given), through the
	// same rules as any lead (one lead per phone).
	r := e.do(t, "POST", "/v1/leads", writeKey, map[string]any{"name": "Form lead", "phone": "9876500001"})
	expect(t, r, 201)
	leadID := r.str("id")
	if r.str("source") != "api" || r.str("phone") != "+919876500001" {
		t.Fatalf("lead from a key: %s", r.Raw)
	}
	r = e.do(t, "POST", "/v1/leads", writeKey, map[string]any{"name": "Spring lead", "email": "spring@example.com", "source": "spring-form"})
	expect(t, r, 201)
	if r.str("source") != "spring-form" {
		t.Fatalf("named source: %s", r.Raw)
	}
	if r := e.do(t, "POST", "/v1/leads", writeKey, map[string]any{"name": "Again", "phone": "+91 98765 00001"}); r.Status != 409 || r.str("code") != "duplicate_lead" {
		t.Fatalf("duplicate from a key: %d %s", r.Status, r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads", writeKey, nil), 403)
	expect(t, e.do(t, "GET", "/v1/leads/"+leadID, writeKey, nil), 403)

	// The read key reads them, and nothing else.
	r = e.do(t, "GET", "/v1/leads", readKey, nil)
	expect(t, r, 200)
	if len(r.items()) != 2 {
		t.Fatalf("list with the read key: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+leadID, readKey, nil), 200)
	expect(t, e.do(t, "POST", "/v1/leads", readKey, map[string]any{"name": "No", "phone": "9876500002"}), 403)
	expect(t, e.do(t, "PATCH", "/v1/leads/"+leadID, readKey, map[string]any{"status": "won"}), 403)

	// The key is the actor of the audit trail, and its use is listed.
	r = e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, r, 200)
	var created, denied, keys int
	for _, it := range r.items() {
		switch {
		case it["action"] == "api_key.create":
			keys++
		case it["action"] == "lead.create" && it["actor_id"] == "api_key:"+writeID:
			created++
		case it["action"] == "permission.denied" && strings.HasPrefix(actor(it), "api_key:"):
			denied++
		}
	}
	if created != 2 || denied == 0 || keys != 2 {
		t.Fatalf("audit: %d leads created by the key, %d denials: %s", created, denied, r.Raw)
	}
	// Every other route of the document is 403 for either key.
	allowed := map[string]string{"POST /v1/leads": writeKey, "GET /v1/leads": readKey, "GET /v1/leads/{id}": readKey}
	for _, op := range readOperations(t, e) {
		if op.public {
			continue
		}
		for _, key := range []string{writeKey, readKey} {
			if allowed[op.key()] == key {
				continue
			}
			params := map[string]string{}
			for _, p := range pathParams(op.path) {
				params[p] = "01ABCDEFGHJKMNPQRSTVWXYZ00"
			}
			var b any
			if op.body {
				b = map[string]any{}
			}
			if r := e.do(t, op.method, fill(op.path, params), key, b); r.Status != http.StatusForbidden {
				t.Errorf("%s with an API key: %d, want 403: %s", op.key(), r.Status, r.Raw)
			}
		}
	}

	list = e.do(t, "GET", "/v1/api-keys", owner.Access, nil)
	for _, it := range list.items() {
		if it["last_used_at"] == nil {
			t.Fatalf("a used key without last_used_at: %s", list.Raw)
		}
	}

	// Revoked: refused at once; a junk key too.
	expect(t, e.do(t, "DELETE", "/v1/api-keys/"+writeID, manager.Access, nil), 403)
	expect(t, e.do(t, "DELETE", "/v1/api-keys/"+writeID, owner.Access, nil), 204)
	expect(t, e.do(t, "POST", "/v1/leads", writeKey, map[string]any{"name": "Late", "phone": "9876500003"}), 401)
	expect(t, e.do(t, "DELETE", "/v1/api-keys/"+writeID, owner.Access, nil), 404)
	expect(t, e.do(t, "GET", "/v1/leads", "ll_live_"+strings.Repeat("A", 43), nil), 401)
	expect(t, e.do(t, "GET", "/v1/leads", "ll_live_short", nil), 401)
	expect(t, e.do(t, "GET", "/v1/leads", readKey, nil), 200)
	if acts := auditActions(t, e, owner); acts["api_key.revoke"] != 1 {
		t.Fatalf("audit %v", acts)
	}

	// Another org's key sees none of this org's leads.
	other := e.signup(t, "Other Key Co")
	e.verify(t, other)
	_, otherKey := e.newKey(t, other, "Other", "leads:read")
	expect(t, e.do(t, "GET", "/v1/leads/"+leadID, otherKey, nil), 404)
	if r := e.do(t, "GET", "/v1/leads", otherKey, nil); len(r.items()) != 0 {
		t.Fatalf("another org's key lists %s", r.Raw)
	}
	// A closed org's keys stop.
	expect(t, e.do(t, "POST", "/v1/org/close", owner.Access, map[string]any{"password": password}), 200)
	if r := e.do(t, "GET", "/v1/leads", readKey, nil); r.Status != 403 || r.str("code") != "org_closed" {
		t.Fatalf("a closed org's key: %d %s", r.Status, r.Raw)
	}
}

// Each key has a token bucket of LEADLUENCE_API_KEY_REQUESTS_PER_MINUTE a
// minute holding a minute's worth; an empty one is 429 rate_limited with
// Retry-After, and another key has its own.
func TestAPIKeyRateLimit(t *testing.T) {
	// 3 a minute: 3 at once, then one every 20 s.
	t.Setenv("LEADLUENCE_API_KEY_REQUESTS_PER_MINUTE", "3")
	e := newEnv(t)
	owner := e.signup(t, "Busy Co")
	e.verify(t, owner)
	_, key := e.newKey(t, owner, "Busy", "leads:read")
	_, other := e.newKey(t, owner, "Quiet", "leads:read")
	for range 3 {
		expect(t, e.do(t, "GET", "/v1/leads", key, nil), 200)
	}
	r := e.do(t, "GET", "/v1/leads", key, nil)
	if r.Status != 429 || r.str("code") != "rate_limited" {
		t.Fatalf("over the limit: %d %v %s", r.Status, r.Header, r.Raw)
	}
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > 20 {
		t.Fatalf("Retry-After %q, want 1..20", r.Header.Get("Retry-After"))
	}
	expect(t, e.do(t, "GET", "/v1/leads", other, nil), 200)
	// Users are not limited by it.
	for range 4 {
		expect(t, e.do(t, "GET", "/v1/leads", owner.Access, nil), 200)
	}
}

// An API key may come in X-Api-Key instead of Authorization: Bearer; that
// header takes only an API key, and never together with Authorization.
func TestAPIKeyHeader(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Header Co")
	e.verify(t, owner)
	_, key := e.newKey(t, owner, "Form", "leads:read", "leads:write")
	r := e.do(t, "POST", "/v1/leads", "", map[string]any{"name": "Form Lead", "phone": "9876543210"}, "X-Api-Key", key)
	expect(t, r, 201)
	id := r.str("id")
	if r := e.do(t, "GET", "/v1/leads/"+id, "", nil, "X-Api-Key", key); r.Status != 200 || r.str("id") != id {
		t.Fatalf("get with X-Api-Key: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", "/v1/leads", "", nil, "X-Api-Key", key); r.Status != 200 || len(r.items()) != 1 {
		t.Fatalf("list with X-Api-Key: %d %s", r.Status, r.Raw)
	}
	// Scopes apply as with Authorization.
	expect(t, e.do(t, "GET", "/v1/me", "", nil, "X-Api-Key", key), 403)
	// Only an API key, and not with Authorization.
	expect(t, e.do(t, "GET", "/v1/leads", "", nil, "X-Api-Key", owner.Access), 401)
	expect(t, e.do(t, "GET", "/v1/leads", owner.Access, nil, "X-Api-Key", key), 401)
	expect(t, e.do(t, "GET", "/v1/leads", "", nil, "X-Api-Key", "ll_live_"+strings.Repeat("A", 43)), 401)
}
