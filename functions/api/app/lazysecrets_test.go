package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	accountapp "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/logging"
)

// callRecorder records the AWS operations a handler makes and fails its
// KMS calls while failKMS is set.
type callRecorder struct {
	mu      sync.Mutex
	ops     []string
	failKMS atomic.Bool
}

func (c *callRecorder) option() awsenv.Option {
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("RecordCalls", func(ctx context.Context, in middleware.InitializeInput,
			next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			svc, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			c.mu.Lock()
			c.ops = append(c.ops, svc+":"+op)
			c.mu.Unlock()
			if svc == "KMS" && c.failKMS.Load() {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "KMSInternalException", Message: "injected", Fault: smithy.FaultServer}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	}})
}

// take returns the operations recorded since the last take.
func (c *callRecorder) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.ops
	c.ops = nil
	return out
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// invoke sends one request to a Lambda handler as API Gateway does.
func invoke(t *testing.T, h apigw.HandlerFunc, method, path, token string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	ev, err := apigw.FromRequest(r, method+" "+path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSecretsLoadOnFirstUse proves that the api loads its platform secrets
// (token secret, suppression key, unsubscribe key) on the first request
// that needs them, not at its cold start: building the handler makes no
// AWS call; the health route, the OpenAPI document and a request without
// credentials answered 401 read no secret; a failed load answers 500 and
// is not kept (the next request loads them); concurrent first requests
// load them once.
func TestSecretsLoadOnFirstUse(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Lazy Secrets") // through the account function
	rec := &callRecorder{}
	h, err := app.New(context.Background(), e.cfg, logging.New(io.Discard, slog.LevelError), rec.option())
	if err != nil {
		t.Fatal(err)
	}
	if ops := rec.take(); len(ops) != 0 {
		t.Fatalf("building the handler made AWS calls: %v", ops)
	}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/health", 200},
		{"GET", "/openapi.json", 200},
		{"GET", "/v1/leads", 401},
	} {
		if resp := invoke(t, h, tt.method, tt.path, ""); resp.StatusCode != tt.status {
			t.Fatalf("%s %s: %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.status, resp.Body)
		}
		ops := rec.take()
		if slices.Contains(ops, "KMS:Decrypt") || slices.Contains(ops, "KMS:GenerateDataKey") || slices.Contains(ops, "DynamoDB:GetItem") {
			t.Errorf("%s %s loaded secrets: %v", tt.method, tt.path, ops)
		}
	}

	rec.failKMS.Store(true)
	if resp := invoke(t, h, "GET", "/v1/leads", owner.Access); resp.StatusCode != 500 {
		t.Fatalf("GET /v1/leads with KMS failing: %d, want 500: %s", resp.StatusCode, resp.Body)
	}
	rec.failKMS.Store(false)
	rec.take()
	if resp := invoke(t, h, "GET", "/v1/leads", owner.Access); resp.StatusCode != 200 {
		t.Fatalf("GET /v1/leads after the failed load: %d, want 200: %s", resp.StatusCode, resp.Body)
	}
	if n := count(rec.take(), "KMS:Decrypt"); n == 0 {
		t.Error("the request after a failed load opened no secret: the failure was kept?")
	}
	if resp := invoke(t, h, "GET", "/v1/leads", owner.Access); resp.StatusCode != 200 {
		t.Fatalf("GET /v1/leads: %d", resp.StatusCode)
	}
	if n := count(rec.take(), "KMS:Decrypt"); n != 0 {
		t.Errorf("a request after the load opened secrets again (%d KMS Decrypt calls)", n)
	}

	// A fresh handler: eight first requests at once load the three
	// secrets once (one KMS Decrypt each), not eight times.
	rec2 := &callRecorder{}
	h2, err := app.New(context.Background(), e.cfg, logging.New(io.Discard, slog.LevelError), rec2.option())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if resp := invoke(t, h2, "GET", "/v1/leads", owner.Access); resp.StatusCode != 200 {
				t.Errorf("concurrent GET /v1/leads: %d: %s", resp.StatusCode, resp.Body)
			}
		})
	}
	wg.Wait()
	if n := count(rec2.take(), "KMS:Decrypt"); n == 0 || n > 3 {
		t.Errorf("eight concurrent first requests made %d KMS Decrypt calls, want at most 3 (one load)", n)
	}

	// A new account function opens the secrets another instance created
	// (login), on its first request too.
	rec3 := &callRecorder{}
	acct, err := accountapp.New(context.Background(), e.accountCfg, logging.New(io.Discard, slog.LevelError), rec3.option())
	if err != nil {
		t.Fatal(err)
	}
	if ops := rec3.take(); len(ops) != 0 {
		t.Fatalf("building the account handler made AWS calls: %v", ops)
	}
	resp := invokeBody(t, acct, "POST", "/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, owner.Email, password))
	if resp.StatusCode != 200 {
		t.Fatalf("login through a new account handler: %d: %s", resp.StatusCode, resp.Body)
	}
	ops := rec3.take()
	if count(ops, "KMS:Decrypt") == 0 || count(ops, "KMS:GenerateDataKey") != 0 {
		t.Errorf("a new account instance's first login: %v, want the existing secrets opened (Decrypt), none created", ops)
	}
}

// invokeBody is invoke with a JSON body and a client address.
func invokeBody(t *testing.T, h apigw.HandlerFunc, method, path, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	ev, err := apigw.FromRequest(r, method+" "+path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ev.RequestContext.HTTP.SourceIP = testClientIP(r)
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
