package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	accountapp "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// testEnv is one provisioned copy of the stack's resources with the
// handlers of both HTTP functions (api and account) built over it, served
// the way the local runner serves them: each HTTP request becomes an API
// Gateway v2 event for the Lambda handler of the function the topology
// routes it to.
type testEnv struct {
	sim *metatest.Server
	cfg config.API
	// accountCfg is the account function's configuration.
	accountCfg config.Account
	// handler routes an event to the api's or the account's handler, as
	// API Gateway routes it.
	handler apigw.HandlerFunc
	srv     *httptest.Server
	logs    *devstacktest.LogBuffer
	// started is when the env was made: the mail its api sent is the SES
	// stand-in's mail since then.
	started time.Time
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvWith(t, metatest.Options{})
}

// newEnvWith is newEnv with the simulator built with opts.
func newEnvWith(t testing.TB, opts metatest.Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	started := time.Now().Add(-time.Second)
	stack := devstacktest.Fresh(t)
	sim := metatest.New(opts)
	t.Cleanup(sim.Close)
	t.Setenv("LEADLUENCE_GRAPH_BASE_URL", sim.URL)
	t.Setenv("LEADLUENCE_GRAPH_VERSION", sim.Version())
	t.Setenv("LEADLUENCE_META_APP_ID", sim.AppID())
	stack.SetFunctionEnv(t, "account")
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		t.Fatal(err)
	}
	stack.SetFunctionEnv(t, "api")
	cfg, err := config.Load[config.API]()
	if err != nil {
		t.Fatal(err)
	}
	logs := &devstacktest.LogBuffer{}
	apiH, err := app.New(ctx, cfg, logging.New(logs, slog.LevelDebug))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	accountH, err := accountapp.New(ctx, accountCfg, logging.New(logs, slog.LevelDebug))
	if err != nil {
		t.Fatalf("account app.New: %v", err)
	}
	h := runner.Dispatch(topology.Default(), map[string]apigw.HandlerFunc{"api": apiH, "account": accountH}, "api")
	env := &testEnv{sim: sim, cfg: cfg, accountCfg: accountCfg, handler: h, logs: logs, started: started}
	env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := apigw.FromRequest(r, r.Method+" "+r.URL.Path, nil, 1<<20)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		ev.RequestContext.HTTP.SourceIP = testClientIP(r)
		resp, err := h(r.Context(), ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = apigw.WriteResponse(w, resp)
	}))
	t.Cleanup(env.srv.Close)
	return env
}

// clientIPHeader names, on a test's request, the client address the
// gateway event says it came from (testClientIP).
const clientIPHeader = "X-Test-Client-Ip"

var clientIPSeq atomic.Int64

// testClientIP is the source address of a test request: the one its
// clientIPHeader names, else one no other request had, so that the
// per-client limits of the public routes (httpapi.DefaultClientLimits)
// count only the requests of the tests about them.
func testClientIP(r *http.Request) string {
	if ip := r.Header.Get(clientIPHeader); ip != "" {
		return ip
	}
	n := clientIPSeq.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (r response) items() []map[string]any {
	list, _ := r.Body["items"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, it := range list {
		out = append(out, it.(map[string]any))
	}
	return out
}

func (e *testEnv) do(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "leadluence-tests/1.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	if status >= 400 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("error answered with Content-Type %q, want application/problem+json", r.Header.Get("Content-Type"))
	}
}

// session is a signed-in user.
type session struct {
	UserID, OrgID, Access, Refresh, Email string
}

var emailSeq atomic.Int64

func uniqueEmail(name string) string {
	return fmt.Sprintf("%s.%d.%d@example.com", name, time.Now().UnixNano(), emailSeq.Add(1))
}

const password = "correct-horse-battery"

// The org is on the business plan, so that tests may add the users,
// campaigns and integrations they need; signupOn picks the plan.
func (e *testEnv) signup(t *testing.T, org string) session {
	t.Helper()
	return e.signupOn(t, org, plan.Business)
}

// signupOn is signup with the org on plan p, set before its first
// authenticated request (the api remembers an org's plan for a minute).
func (e *testEnv) signupOn(t *testing.T, org string, p plan.Name) session {
	t.Helper()
	email := uniqueEmail("owner")
	r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": org, "name": "Owner of " + org, "email": email, "password": password})
	expect(t, r, 201)
	s := session{UserID: r.str("user", "id"), OrgID: r.str("org", "id"), Access: r.str("access_token"), Refresh: r.str("refresh_token"), Email: email}
	if p != plan.Free {
		e.setPlan(t, s.OrgID, p)
	}
	return s
}

// setPlan puts the org on plan p, as `make plan` does; the api applies it
// at once to an org it has not served an authenticated request yet.
func (e *testEnv) setPlan(t testing.TB, orgID string, p plan.Name) {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName).SetOrgPlan(context.Background(), orgID, p); err != nil {
		t.Fatal(err)
	}
}

// member creates a user with role in owner's org and logs it in.
func (e *testEnv) member(t *testing.T, owner session, role string) session {
	t.Helper()
	email := uniqueEmail(role)
	r := e.do(t, "POST", "/v1/users", owner.Access, map[string]string{"name": "A " + role, "email": email, "role": role, "password": password})
	expect(t, r, 201)
	return e.login(t, email)
}

func (e *testEnv) login(t *testing.T, email string) session {
	t.Helper()
	r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	expect(t, r, 200)
	return session{UserID: r.str("user", "id"), OrgID: r.str("org", "id"), Access: r.str("access_token"), Refresh: r.str("refresh_token"), Email: email}
}

func (e *testEnv) createLead(t *testing.T, s session, body map[string]any) response {
	t.Helper()
	r := e.do(t, "POST", "/v1/leads", s.Access, body)
	expect(t, r, 201)
	return r
}
