package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
)

// The fuzz test of every JSON request body the API takes. One target for
// all of them: its first input names the route ("METHOD /path" as in the
// OpenAPI document; any other text picks one by its hash), its second is
// the body. The body goes through the api function's own handler, built by
// app.New over the local stand-ins exactly as in Lambda (API Gateway event
// in, huma decoding and validation, the area's handler, the store), as the
// owner of an org set up once per fuzzing process, with path parameters
// naming that org's own lead, user, integration and so on. Whatever the
// body, the answer is never a 5xx (a panic is answered 500 by the server's
// recovery, so it counts), and every 4xx is an RFC 9457 problem+json of
// its status.
//
// Seeds: a valid body per route (fuzzSeedBodies), the request bodies of
// events/api, and a few malformed ones; crashers found are kept in
// testdata/fuzz/FuzzAPIBodies. `go test` runs the seeds; searching further:
//
//	go run ./tools/withstack -- go test -run '^$' -fuzz '^FuzzAPIBodies$' -fuzztime 60s ./functions/api/app/

// apiFuzz is what every input of one fuzzing process is sent with.
type apiFuzz struct {
	env   *testEnv
	owner string    // the caller's access token
	email string    // the caller's email
	other string    // a refresh token of another session of the caller (the seeds refresh and log it out)
	page  [2]string // a Facebook page the simulator knows and its token (not connected)
	// routes are "METHOD /path" of each operation with a request body, sorted.
	routes []string
	// params are path parameter values by the path's first segment after /v1.
	params map[string]map[string]string
}

// Fixed Meta ids of the fuzzing org.
const (
	fuzzWABA   = "102290129340398"
	fuzzNumber = "106540352242922"
	fuzzPage   = "104858765678112"
)

// fuzzFixture builds the api over a fresh copy of the stack and signs up
// an org with one of each resource a path parameter names.
func fuzzFixture(f *testing.F) *apiFuzz {
	f.Helper()
	a := &apiFuzz{env: newEnvWith(f, metatest.Options{})}
	a.email = uniqueEmail("fuzz")
	out := a.sendJSON(f, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "Fuzz Co", "name": "Fuzz Owner", "email": a.email, "password": password}, 201)
	a.owner = str(out, "access_token")
	// Room for every resource the fuzzed requests may create.
	org, _ := out["org"].(map[string]any)
	orgID, _ := org["id"].(string)
	a.env.setPlan(f, orgID, plan.Business)
	a.other = str(a.sendJSON(f, "POST", "/v1/auth/login", "", map[string]string{"email": a.email, "password": password}, 200), "refresh_token")
	user := str(a.sendJSON(f, "POST", "/v1/users", a.owner, map[string]string{"name": "An agent", "email": uniqueEmail("agent"), "role": "agent", "password": password}, 201), "id")
	lead := str(a.sendJSON(f, "POST", "/v1/leads", a.owner, map[string]any{"name": "Fuzz lead", "phone": "+919876543210", "email": uniqueEmail("lead"), "tags": []string{"spring"}}, 201), "id")
	a.env.sim.AddPhoneNumber(fuzzNumber, "15550783881", "A number", fuzzWABA, "EAAGwa-fuzz")
	a.sendJSON(f, "POST", "/v1/integrations/whatsapp-numbers", a.owner, map[string]any{"phone_number_id": fuzzNumber, "waba_id": fuzzWABA,
		"display_phone_number": "+1 555 078 3881", "access_token": "EAAGwa-fuzz"}, 201)
	a.page = [2]string{fuzzPage, "EAAGpage-fuzz"}
	a.env.sim.AddPage(a.page[0], "A page", a.page[1])
	a.sendJSON(f, "POST", "/v1/custom-fields", a.owner, map[string]any{"key": "band", "type": "single_select",
		"options": []map[string]string{{"value": "low"}, {"value": "high"}}}, 201)
	a.params = map[string]map[string]string{
		"custom-fields":    {"key": "band"},
		"leads":            {"id": lead},
		"users":            {"id": user},
		"campaigns":        {"id": ulid.Make().String()},
		"privacy-requests": {"id": ulid.Make().String()},
		"integrations":     {"kind": "whatsapp", "id": fuzzNumber},
		"unsubscribe":      {"token": "bm8.c2ln"},
	}
	resp := a.send(f, "GET", "/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody json.RawMessage `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil {
		f.Fatalf("openapi.json: %v", err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if len(op.RequestBody) > 0 {
				a.routes = append(a.routes, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(a.routes)
	if len(a.routes) == 0 {
		f.Fatal("no operation of the OpenAPI document takes a body")
	}
	return a
}

// fuzzSeedBodies are, per route, bodies that succeed (the first) or come
// close, for the fuzzing org set up by fuzzFixture.
func (a *apiFuzz) fuzzSeedBodies() map[string][]string {
	return map[string][]string{
		"POST /v1/auth/signup": {`{"org_name":"Signup Co","name":"Sam","email":"sam.fuzz@example.com","password":"correct-horse-battery"}`,
			`{"org_name":"","name":"S","email":"not-an-email","password":"short"}`},
		"POST /v1/auth/login":                {`{"email":"` + a.email + `","password":"` + password + `"}`, `{"email":"` + a.email + `","password":"wrong"}`},
		"POST /v1/auth/refresh":              {`{"refresh_token":"` + a.other + `"}`, `{"refresh_token":"01J00000000000000000000000.AAAA"}`},
		"POST /v1/auth/logout":               {`{"refresh_token":"` + a.other + `"}`},
		"POST /v1/me/policy-acknowledgement": {`{"version":"2026-01"}`},
		"POST /v1/users":                     {`{"name":"New agent","email":"new.fuzz@example.com","role":"agent","password":"correct-horse-battery"}`, `{"name":"x","email":"y@example.com","role":"emperor","password":"p"}`},
		"PATCH /v1/users/{id}":               {`{"name":"Renamed"}`, `{"role":"viewer"}`, `{"name":null}`},
		"POST /v1/leads": {`{"name":"Created lead","phone":"98765 43211","email":"created@example.com","tags":["website"]}`,
			`{"name":"L","phone":"+1 (415) 555-2671","custom_fields":{"budget":"10L"},"assignee_id":"01J00000000000000000000000"}`},
		"PATCH /v1/leads/{id}": {`{"status":"contacted"}`, `{"tags":["a","b"],"custom_fields":{"x":"y"}}`, `{"phone":"++91"}`,
			`{"tags":["","A","a"," a "]}`, `{"custom_fields":{"":"x","y":""}}`, `{"name":"\u0000"}`, `{"email":"A@B.example","phone":""}`,
			`{"assignee_id":"01J00000000000000000000000"}`, `{"custom_fields":null,"tags":null}`},
		"POST /v1/leads/{id}/messages":           {`{"channel":"email","client_message_id":"client-1","subject":"Visit","text":"See you at 11."}`, `{"channel":"whatsapp","client_message_id":"client-2","text":"Hi"}`},
		"PUT /v1/leads/{id}/preferences":         {`{"channel":"email","purpose":"marketing","state":"opted_out","reason":"asked on a call"}`},
		"POST /v1/integrations/facebook-pages":   {`{"page_id":"` + a.page[0] + `","page_access_token":"` + a.page[1] + `","form_ids":["555000111"]}`},
		"POST /v1/integrations/whatsapp-numbers": {`{"phone_number_id":"` + fuzzNumber + `","waba_id":"` + fuzzWABA + `","display_phone_number":"+1 555 078 3881","access_token":"EAAGwa-fuzz"}`},
		"PATCH /v1/integrations/{kind}/{id}":     {`{"messages_per_second":100}`, `{"messages_per_second":-1}`},
		"PUT /v1/automations": {`{"after_hours":{"enabled":true,"text":"Closed now.","hours":{"time_zone":"Asia/Kolkata","days":{"monday":{"open":"10:00","close":"19:00"}}}}}`,
			`{"after_hours":{"enabled":true,"text":"x","hours":{"time_zone":"Mars/Olympus","days":{"monday":{"open":"25:00","close":"19:00"}}}}}`},
		"POST /v1/campaigns":    {`{"name":"Spring sale","template":{"name":"spring_sale","language":"en_US"},"parameters":{"body":["{{lead.name}}"]},"filter":{"tag":"spring"}}`},
		"PUT /v1/email/sender":  {`{"email":"sales@acme.test"}`},
		"PUT /v1/org/retention": {`{"content_days":200}`, `{"content_days":0}`, `{"content_days":1e10}`, `{"content_days":-9223372036854775808}`},
		// Never the right password: that would close the fuzzing org.
		"POST /v1/org/close":           {`{"password":"not-the-password"}`},
		"POST /v1/org/reopen":          {`{"email":"` + a.email + `","password":"wrong"}`},
		"POST /v1/privacy-requests":    {`{"type":"access","subject":{"lead_id":"` + a.params["leads"]["id"] + `"}}`, `{"type":"export","subject":{"email":"someone@example.com"}}`},
		"POST /v1/unsubscribe/{token}": {`List-Unsubscribe=One-Click`},
		"POST /v1/custom-fields": {`{"key":"visit_on","label":"Visit on","type":"date","required":false}`,
			`{"key":"pan","type":"text","unique":true}`, `{"key":"plan","type":"multi_select","options":[{"value":"a","label":"A"},{"value":"b"}]}`,
			`{"key":"Bad Key","type":"text"}`, `{"key":"x","type":"single_select","options":[{"value":"a,b"},{"value":"A"},{"value":"a"}]}`,
			`{"key":"y","type":"boolean","unique":true,"options":[{"value":"\u0000"}]}`},
		"PATCH /v1/custom-fields/{key}": {`{"label":"Budget band","add_options":[{"value":"mid","label":"Mid"}]}`, `{"rename_options":{"low":"Low"}}`,
			`{"required":true}`, `{"rename_options":{"nope":"x"}}`, `{"add_options":[{"value":"LOW"}]}`, `{"label":""}`},
	}
}

// FuzzAPIBodies sends fuzzed bodies to every route that takes one.
func FuzzAPIBodies(f *testing.F) {
	a := fuzzFixture(f)
	seeds := a.fuzzSeedBodies()
	for _, route := range a.routes {
		for _, b := range seeds[route] {
			f.Add(route, []byte(b))
		}
		// No body and an empty object meet each schema's required fields.
		f.Add(route, []byte(``))
		f.Add(route, []byte(`{}`))
	}
	// Malformed JSON fails in huma's decoding, the same for every route.
	for _, b := range []string{`null`, `[]`, `"x"`, `{"a":`, "{\"name\":\"\xff\"}", `{"name":1e999}`} {
		f.Add("POST /v1/leads", []byte(b))
	}
	for route, b := range eventBodies(f) {
		f.Add(route, b)
	}
	f.Fuzz(func(t *testing.T, route string, body []byte) {
		route = a.pick(route)
		method, path := a.path(route)
		resp := a.send(t, method, path, a.owner, body)
		t.Logf("%s %d", route, resp.StatusCode)
		checkAnswer(t, route, body, resp)
	})
}

// send makes one request through the Lambda handler and returns its answer.
func (a *apiFuzz) send(tb testing.TB, method, path, token string, body []byte) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	r := httptest.NewRequest(method, "https://api.leadluence.test"+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "leadluence-fuzz/1.0")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	ev, err := apigw.FromRequest(r, method+" "+path, nil, 1<<20)
	if err != nil {
		tb.Fatalf("build event: %v", err)
	}
	resp, err := a.env.handler(context.Background(), ev)
	if err != nil {
		tb.Fatalf("%s %s: handler error %v", method, path, err)
	}
	return resp
}

// sendJSON is send for setup calls: it fails unless the answer is want.
func (a *apiFuzz) sendJSON(tb testing.TB, method, path, token string, body any, want int) map[string]any {
	tb.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	resp := a.send(tb, method, path, token, raw)
	if resp.StatusCode != want {
		tb.Fatalf("setup %s %s: %d %s, want %d", method, path, resp.StatusCode, resp.Body, want)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &out)
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// pick returns the route an input names, or one picked by its hash.
func (a *apiFuzz) pick(route string) string {
	if slices.Contains(a.routes, route) {
		return route
	}
	h := fnv.New32a()
	h.Write([]byte(route))
	return a.routes[int(h.Sum32()%uint32(len(a.routes)))]
}

// path fills the route's path parameters.
func (a *apiFuzz) path(route string) (method, path string) {
	method, path, _ = strings.Cut(route, " ")
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/v1/"), "/")
	for k, v := range a.params[first] {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return method, path
}

// checkAnswer fails on a 5xx and on a 4xx that is not a problem+json of
// its status.
func checkAnswer(t *testing.T, route string, body []byte, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("%s with body %q answered %d %s", route, body, resp.StatusCode, resp.Body)
	}
	if resp.StatusCode < 400 {
		return
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s with body %q answered %d with Content-Type %q: %s", route, body, resp.StatusCode, ct, resp.Body)
	}
	var p struct {
		Type   *string `json:"type"`
		Title  string  `json:"title"`
		Status int     `json:"status"`
		Detail *string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || p.Status != resp.StatusCode || p.Title == "" {
		t.Fatalf("%s with body %q answered %d %q: not an RFC 9457 problem of that status (%v)", route, body, resp.StatusCode, resp.Body, err)
	}
}

// eventBodies returns the request bodies of the API sample events.
func eventBodies(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "events", "api", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		if ev.Body == "" || ev.IsBase64Encoded {
			continue
		}
		out[ev.RouteKey] = []byte(ev.Body)
	}
	return out
}
