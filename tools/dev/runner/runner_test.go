package runner_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRouterBuildsAPIGatewayEvents checks the event a handler receives for
// a real HTTP request: route key, path parameters, query, headers, source
// IP and body, as API Gateway's payload format 2.0 has them.
func TestRouterBuildsAPIGatewayEvents(t *testing.T) {
	st := topology.Stack{Functions: []topology.Function{{Name: "fn", Routes: []topology.Route{
		{Method: "PATCH", Path: "/v1/leads/{id}"}, {Method: "GET", Path: "/v1/leads"},
	}}}}
	var got events.APIGatewayV2HTTPRequest
	h := runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = ev
		return events.APIGatewayV2HTTPResponse{StatusCode: 202, Headers: map[string]string{"Content-Type": "application/json", "ETag": `"2"`}, Body: `{"ok":true}`}, nil
	}}}
	srv := httptest.NewServer(runner.Router(st, h, quiet))
	defer srv.Close()

	req, _ := http.NewRequest("PATCH", srv.URL+"/v1/leads/01JABC?x=1&x=2", strings.NewReader(`{"status":"won"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("If-Match", `"1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || resp.Header.Get("ETag") != `"2"` || string(body) != `{"ok":true}` {
		t.Fatalf("response %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if got.RouteKey != "PATCH /v1/leads/{id}" || got.PathParameters["id"] != "01JABC" || got.RawPath != "/v1/leads/01JABC" ||
		got.RawQueryString != "x=1&x=2" || got.QueryStringParameters["x"] != "1,2" || got.Headers["if-match"] != `"1"` ||
		got.RequestContext.HTTP.SourceIP != "127.0.0.1" || got.Body != `{"status":"won"}` || got.IsBase64Encoded || got.Version != "2.0" {
		t.Fatalf("event %+v", got)
	}

	// Routes not in the topology are answered by the gateway, not the function.
	for _, path := range []string{"/v1/leads/01JABC/extra", "/nope"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	// API Gateway answers a method with no route 404, not 405.
	if resp, _ := http.Post(srv.URL+"/v1/leads", "application/json", nil); resp.StatusCode != 404 {
		t.Errorf("POST on a GET-only route = %d, want 404", resp.StatusCode)
	}
}

func TestCheckNamesMissingHandlers(t *testing.T) {
	st := topology.Stack{Functions: []topology.Function{
		{Name: "api", Routes: []topology.Route{{Method: "GET", Path: "/"}}},
		{Name: "ingest", Consumes: &topology.QueueTrigger{Queue: "intake"}},
		{Name: "retention", Schedules: []topology.Schedule{{Name: "daily", Every: time.Hour}}},
	}}
	err := runner.Handlers{}.Check(st)
	for _, name := range []string{"api", "ingest", "retention"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Check does not name %s: %v", name, err)
		}
	}
	if err := (runner.Handlers{}).Check(topology.Stack{}); err != nil {
		t.Errorf("empty topology: %v", err)
	}
}

// TestPollerPartialFailuresAndRedrive runs a consumer against the SQS
// stand-in: handled messages are deleted, reported failures come back and
// end in the DLQ after maxReceiveCount.
func TestPollerPartialFailuresAndRedrive(t *testing.T) {
	ctx := context.Background()
	st := topology.Stack{Table: topology.Default().Table, Key: topology.Default().Key, Queues: []topology.Queue{
		{Name: "work", VisibilityTimeout: time.Second, MaxReceiveCount: 2, Retention: time.Hour},
	}}
	res := devstacktest.FreshStack(t, st)
	client := sqs.NewFromConfig(res.AWS)
	url := res.QueueURLs["work"]
	for _, body := range []string{"good-1", "bad", "good-2"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	handled := map[string]int{}
	p := &runner.Poller{Client: client, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:000000000000:work", BatchSize: 10, Log: quiet,
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				handled[r.Body]++
				if r.EventSource != "aws:sqs" || r.MessageId == "" {
					return resp, errors.New("malformed record")
				}
				if r.Body == "bad" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		}}
	deadline := time.Now().Add(20 * time.Second)
	for handled["bad"] < 2 && time.Now().Before(deadline) {
		if _, err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if handled["good-1"] != 1 || handled["good-2"] != 1 || handled["bad"] != 2 {
		t.Fatalf("handled %v; want each good message once and the bad one twice", handled)
	}
	// After maxReceiveCount the failing message goes to the DLQ.
	dlqURL := strings.TrimSuffix(url, "work") + "work-dlq"
	var moved []sqstypes.Message
	for time.Now().Before(deadline) && len(moved) == 0 {
		_, _ = p.PollOnce(ctx) // a receive past maxReceiveCount triggers the redrive
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlqURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		moved = out.Messages
	}
	if len(moved) != 1 || aws.ToString(moved[0].Body) != "bad" {
		t.Fatalf("DLQ holds %v, want the bad message", moved)
	}
	if handled["bad"] != 2 {
		t.Fatalf("bad message handled %d times, want 2 (maxReceiveCount)", handled["bad"])
	}
}

// TestCORS checks the local runner's CORS against the topology's: a
// preflight from the allowed origin is answered with the methods, headers
// and max age; one from another origin, or asking for a header the API
// does not read, gets no CORS header; actual answers echo only the allowed
// origin, and a function's own CORS headers never pass.
func TestCORS(t *testing.T) {
	st := topology.Default()
	st.Functions = []topology.Function{{Name: "fn", Routes: []topology.Route{{Method: "POST", Path: "/v1/leads"}}}}
	h := runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"fn": func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"Access-Control-Allow-Origin": "*", "ETag": `"1"`}, Body: `{}`}, nil
	}}}
	origins, err := topology.ParseOrigins("http://localhost:5173")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(runner.CORS(st.API.CORS, origins, runner.Router(st, h, quiet)))
	defer srv.Close()
	do := func(method, origin string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/v1/leads", strings.NewReader(`{}`))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}

	resp := do("OPTIONS", "http://localhost:5173", preflight)
	allowHeaders := strings.Split(resp.Header.Get("Access-Control-Allow-Headers"), ",")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") || resp.Header.Get("Access-Control-Max-Age") != "3600" {
		t.Errorf("preflight from the allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"authorization", "content-type", "idempotency-key"} {
		if !contains(allowHeaders, want) {
			t.Errorf("preflight allows headers %v, want %s among them", allowHeaders, want)
		}
	}
	for name, r := range map[string]*http.Response{
		"other origin":     do("OPTIONS", "https://evil.example.com", preflight),
		"unread header":    do("OPTIONS", "http://localhost:5173", map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-custom"}),
		"unallowed method": do("OPTIONS", "http://localhost:5173", map[string]string{"Access-Control-Request-Method": "TRACE"}),
	} {
		if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight, %s: %d %v, want 204 without CORS headers", name, r.StatusCode, r.Header)
		}
	}

	resp = do("POST", "http://localhost:5173", nil)
	if resp.StatusCode != 201 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "etag") {
		t.Errorf("request from the allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	for _, origin := range []string{"https://evil.example.com", ""} {
		resp = do("POST", origin, nil)
		if resp.StatusCode != 201 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("request from %q: %d %v, want no CORS headers", origin, resp.StatusCode, resp.Header)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
