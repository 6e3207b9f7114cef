package main

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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	accountapp "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/dev/runner"
)

// callCounter counts AWS operations by "Service.Operation". It counts in
// the Initialize step, so an SDK retry is not counted twice.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

// options returns the SDK option that installs the counter on every client.
func (c *callCounter) options() awsenv.Option {
	count := middleware.InitializeMiddlewareFunc("LeadluenceBenchCallCounter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			if c.calls == nil {
				c.calls = map[string]int{}
			}
			c.calls[awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		})
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error { return s.Initialize.Add(count, middleware.After) },
	})
}

// take returns the counts so far and starts again from zero.
func (c *callCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// callRow is what one request cost.
type callRow struct {
	// Request is "POST /v1/leads", or "cold start (app.New)".
	Request string
	Status  int
	Calls   map[string]int
	Took    time.Duration
}

// service returns the number of calls to service ("DynamoDB").
func (r callRow) service(service string) int {
	n := 0
	for k, v := range r.Calls {
		if strings.HasPrefix(k, service+".") {
			n += v
		}
	}
	return n
}

// ops formats the calls to service (or, with service "", to every other
// service than DynamoDB) as "GetItem ×1, Query ×1".
func (r callRow) ops(service string) string {
	var parts []string
	for k, v := range r.Calls {
		svc, op, _ := strings.Cut(k, ".")
		switch {
		case service != "" && svc == service:
			parts = append(parts, fmt.Sprintf("%s ×%d", op, v))
		case service == "" && svc != "DynamoDB":
			parts = append(parts, fmt.Sprintf("%s %s ×%d", svc, op, v))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// countCalls builds the api handler in-process with the counter installed,
// signs up on the fresh prefix and counts the calls of each request.
func countCalls(ctx context.Context, e *env) ([]callRow, error) {
	for k, v := range e.resEnv {
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	if os.Getenv(topology.EnvMetaAppID) == "" {
		if err := os.Setenv(topology.EnvMetaAppID, metatest.DefaultAppID); err != nil {
			return nil, fmt.Errorf("set %s: %w", topology.EnvMetaAppID, err)
		}
	}
	cfg, err := config.Load[config.API]()
	if err != nil {
		return nil, err
	}
	c := &callCounter{}
	begin := time.Now()
	apiH, err := app.New(ctx, cfg, logging.New(io.Discard, slog.LevelError), c.options())
	if err != nil {
		return nil, fmt.Errorf("app.New: %w", err)
	}
	rows := []callRow{{Request: "cold start (app.New)", Took: time.Since(begin), Calls: c.take()}}
	// Sign-up and login are the account function's routes; its cold start
	// is not counted here.
	st := topology.Default()
	if acct, ok := st.Function("account"); ok {
		for k, v := range topology.ResourceEnv(acct, e.res) {
			if err := os.Setenv(k, v); err != nil {
				return nil, fmt.Errorf("set %s: %w", k, err)
			}
		}
	}
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		return nil, err
	}
	accountH, err := accountapp.New(ctx, accountCfg, logging.New(io.Discard, slog.LevelError), c.options())
	if err != nil {
		return nil, fmt.Errorf("account app.New: %w", err)
	}
	c.take()
	h := runner.Dispatch(st, map[string]apigw.HandlerFunc{"api": apiH, "account": accountH}, "api")

	type reply struct {
		status int
		body   map[string]any
	}
	do := func(method, path, routeKey string, params map[string]string, token string, body any, want int) (reply, error) {
		var raw []byte
		if body != nil {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return reply{}, fmt.Errorf("%s %s: encode body: %w", method, path, err)
			}
		}
		ev := mustEvent(method, path, routeKey, params, token, raw)
		c.take()
		begin := time.Now()
		resp, err := h(ctx, ev)
		took := time.Since(begin)
		if err != nil {
			return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rows = append(rows, callRow{Request: routeKey, Status: resp.StatusCode, Took: took, Calls: c.take()})
		if resp.StatusCode != want {
			return reply{}, fmt.Errorf("%s %s answered %d, want %d: %s", method, path, resp.StatusCode, want, resp.Body)
		}
		r := reply{status: resp.StatusCode}
		if strings.HasPrefix(strings.TrimSpace(resp.Body), "{") {
			if err := json.Unmarshal([]byte(resp.Body), &r.body); err != nil {
				return reply{}, fmt.Errorf("%s %s: decode response: %w", method, path, err)
			}
		}
		return r, nil
	}
	str := func(m map[string]any, key string) string { s, _ := m[key].(string); return s }

	if _, err := do("GET", "/v1/health", "GET /v1/health", nil, "", nil, http.StatusOK); err != nil {
		return rows, err
	}
	email := fmt.Sprintf("bench.%d@example.com", time.Now().UnixNano())
	const password = "bench-password-0123"
	if _, err := do("POST", "/v1/auth/signup", "POST /v1/auth/signup", nil, "",
		map[string]string{"org_name": "Bench Co", "name": "Bench Owner", "email": email, "password": password}, http.StatusCreated); err != nil {
		return rows, err
	}
	login, err := do("POST", "/v1/auth/login", "POST /v1/auth/login", nil, "",
		map[string]string{"email": email, "password": password}, http.StatusOK)
	if err != nil {
		return rows, err
	}
	token := str(login.body, "access_token")
	if token == "" {
		return rows, fmt.Errorf("login answered no access_token")
	}
	created, err := do("POST", "/v1/leads", "POST /v1/leads", nil, token,
		map[string]string{"name": "Bench Lead", "phone": "+919876543210", "email": "lead@example.com"}, http.StatusCreated)
	if err != nil {
		return rows, err
	}
	id := str(created.body, "id")
	if id == "" {
		return rows, fmt.Errorf("POST /v1/leads answered no id")
	}
	if _, err := do("GET", "/v1/leads/"+id, "GET /v1/leads/{id}", map[string]string{"id": id}, token, nil, http.StatusOK); err != nil {
		return rows, err
	}
	if _, err := do("GET", "/v1/leads", "GET /v1/leads", nil, token, nil, http.StatusOK); err != nil {
		return rows, err
	}
	return rows, nil
}

// mustEvent builds the API Gateway HTTP API event for a request, the way
// the local runner does. It panics only on a malformed path, a bug here.
func mustEvent(method, path, routeKey string, params map[string]string, token string, body []byte) events.APIGatewayV2HTTPRequest {
	r := httptest.NewRequest(method, "http://api.local"+path, bytes.NewReader(body))
	r.Header.Set("User-Agent", "leadluence-bench/1.0")
	r.Header.Set("Accept", "application/json")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	ev, err := apigw.FromRequest(r, routeKey, params, 1<<20)
	if err != nil {
		panic(fmt.Sprintf("build event for %s %s: %v", method, path, err))
	}
	return ev
}
