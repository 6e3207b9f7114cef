package runner_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	webhook "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/tools/dev/runner"
)

// hungListener accepts connections and never answers; it is a dependency
// that hangs. Its URL is returned.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// invocation records what a handler's context carried.
type invocation struct {
	mu       sync.Mutex
	deadline time.Time
	hasDL    bool
	lc       *lambdacontext.LambdaContext
}

func (i *invocation) record(ctx context.Context) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.deadline, i.hasDL = ctx.Deadline()
	i.lc, _ = lambdacontext.FromContext(ctx)
}

func (i *invocation) check(t *testing.T, before time.Time, timeout time.Duration, fn string) {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.hasDL || i.deadline.Before(before.Add(timeout)) || i.deadline.After(time.Now().Add(timeout)) {
		t.Errorf("handler context deadline %v (set %v), want the function's timeout %v from the call", i.deadline, i.hasDL, timeout)
	}
	if i.lc == nil || i.lc.AwsRequestID == "" || !strings.HasSuffix(i.lc.InvokedFunctionArn, ":function:"+fn) {
		t.Errorf("handler lambdacontext %+v, want a request id and the ARN of %s", i.lc, fn)
	}
}

// TestWebhookAnswers5xxWhenTheQueueHangs serves the real webhook handler
// with its intake queue on a listener that never answers: the handler's
// context carries the function's timeout (shortened here), and the handler
// keeps some of it back, so the request ends in its own 503 (Meta delivers
// again) instead of hanging or timing out.
func TestWebhookAnswers503WhenTheQueueHangs(t *testing.T) {
	hung := hungListener(t)
	fn, ok := topology.Default().Function("webhook")
	if !ok {
		t.Fatal("no webhook function in the topology")
	}
	// Long enough that the fifth the handler keeps back (600 ms) covers a
	// loaded machine running the race detector.
	fn.Timeout = 3 * time.Second
	secret := []byte("app-secret")
	queue := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(hung),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	hook, err := webhook.NewHandler(webhook.Deps{Queue: queue, QueueURL: hung + "/000000000000/intake",
		AppSecret: secret, VerifyToken: []byte("token"), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var seen invocation
	h := runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"webhook": func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		seen.record(ctx)
		return hook(ctx, ev)
	}}}
	srv := httptest.NewServer(runner.Router(topology.Stack{Functions: []topology.Function{fn}}, h, quiet))
	defer srv.Close()

	body := []byte(`{"object":"page","entry":[{"id":"1","time":1795860929,"changes":[{"field":"leadgen","value":{"leadgen_id":"2","page_id":"1","form_id":"3","created_time":1795860928}}]}]}`)
	req, _ := http.NewRequest("POST", srv.URL+webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.SignatureHeader, meta.Sign(secret, body))
	before := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("webhook answered %d %s with its queue hung; want its own 503 (it keeps time back to answer) so Meta retries", resp.StatusCode, out)
	}
	t.Logf("webhook answered %d %s", resp.StatusCode, out)
	seen.check(t, before, fn.Timeout, "webhook")
}

// TestHandlerPastItsTimeoutFails checks that a handler that ignores its
// deadline is abandoned at it: the gateway answers 500, as for Lambda's
// "Task timed out".
func TestHandlerPastItsTimeoutFails(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fn := topology.Function{Name: "fn", Timeout: 100 * time.Millisecond, Routes: []topology.Route{{Method: "GET", Path: "/slow"}}}
	var seen invocation
	h := runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"fn": func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		seen.record(ctx)
		<-release // a dependency that never answers and takes no context
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}}}
	srv := httptest.NewServer(runner.Router(topology.Stack{Functions: []topology.Function{fn}}, h, quiet))
	defer srv.Close()
	before := time.Now()
	resp, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("a handler past its timeout answered %d, want 500", resp.StatusCode)
	}
	seen.check(t, before, fn.Timeout, "fn")
}

// TestPayloadLimits checks Lambda's 6 MB synchronous limit on the response
// (500, the invocation fails) and on the request event (413), both under
// API Gateway's own 10 MB.
func TestPayloadLimits(t *testing.T) {
	fn := topology.Function{Name: "fn", Routes: []topology.Route{{Method: "POST", Path: "/echo"}, {Method: "GET", Path: "/big"}}}
	h := runner.Handlers{HTTP: map[string]apigw.HandlerFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RouteKey == "GET /big" {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: strings.Repeat("x", runner.MaxSyncPayload)}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}, nil
	}}}
	srv := httptest.NewServer(runner.Router(topology.Stack{Functions: []topology.Function{fn}}, h, quiet))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a response over 6 MB answered %d, want 500", resp.StatusCode)
	}
	for size, want := range map[int]int{1 << 20: 200, 7 << 20: http.StatusRequestEntityTooLarge} {
		resp, err := http.Post(srv.URL+"/echo", "text/plain", strings.NewReader(strings.Repeat("y", size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("a %d-byte request answered %d, want %d", size, resp.StatusCode, want)
		}
	}
}

// oneMessageQueue hands out one message on every receive and records
// deletes.
type oneMessageQueue struct {
	mu      sync.Mutex
	deleted int
}

func (q *oneMessageQueue) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return &sqs.ReceiveMessageOutput{Messages: []sqstypes.Message{{MessageId: aws.String("m1"), ReceiptHandle: aws.String("r1"), Body: aws.String("{}")}}}, nil
}

func (q *oneMessageQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted += len(in.Entries)
	return &sqs.DeleteMessageBatchOutput{}, nil
}

// TestConsumerPastItsTimeoutLeavesTheBatch checks that a consumer hung on
// a dependency times out with its batch left on the queue (so it comes
// back for a retry), and that its context carried the deadline.
func TestConsumerPastItsTimeoutLeavesTheBatch(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	q := &oneMessageQueue{}
	var seen invocation
	p := &runner.Poller{Client: q, QueueURL: "http://queue", QueueARN: "arn:aws:sqs:us-east-1:000000000000:work", BatchSize: 1,
		Log: quiet, Function: "consumer", Timeout: 100 * time.Millisecond,
		Handler: func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			seen.record(ctx)
			<-release
			return events.SQSEventResponse{}, nil
		}}
	before := time.Now()
	if n, err := p.PollOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("PollOnce = %d, %v", n, err)
	}
	if q.deleted != 0 {
		t.Fatalf("a timed-out batch had %d messages deleted, want none (they must come back)", q.deleted)
	}
	seen.check(t, before, p.Timeout, "consumer")
}
