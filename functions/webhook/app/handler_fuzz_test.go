package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/meta"
)

// memQueue is an intake queue in memory that always takes the message.
type memQueue struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
}

func (q *memQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

// FuzzReceive sends arbitrary POSTs through the webhook handler (the
// X-Hub-Signature-256 header as sent, or made right for the body when sign
// is set; the body as text or base64-encoded, as API Gateway passes some)
// with an intake queue in memory that always takes the message. The
// handler must not panic; it answers 200 only to a valid signature, and then
// has enqueued the body byte for byte (when it fits one message); it
// answers every refusal as a 4xx problem+json and enqueues nothing; with a
// queue that works it never answers 5xx. The handshake (GET) gets the same
// fuzzed text as its query string.
// Run (under withstack, as the package's TestMain wants the local stack):
//
//	go run ./tools/withstack -- go test -run '^$' -fuzz '^FuzzReceive$' -fuzztime 20s ./functions/webhook/app/
func FuzzReceive(f *testing.F) {
	secret := []byte(devAppSecret)
	metas, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", "meta", "*.json"))
	for _, p := range metas {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "", true, false)
		f.Add(b, meta.Sign(secret, b), false, true)
	}
	for _, s := range []string{"", "{}", "\xff\xfe", `{"object":"page","entry":[{"changes":[{"value":"\u0000"}]}]}`} {
		f.Add([]byte(s), "", true, false)
	}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", "webhook", "*.json"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		body := []byte(ev.Body)
		if ev.RawQueryString != "" {
			body = []byte(ev.RawQueryString)
		}
		f.Add(body, ev.Headers[strings.ToLower(meta.SignatureHeader)], false, ev.IsBase64Encoded)
	}
	f.Add([]byte("hub.mode=subscribe&hub.verify_token="+devVerifyToken+"&hub.challenge=1158201444"), "", false, false)
	f.Add([]byte("hub.mode=subscribe&hub.verify_token=%zz"), "", false, false)
	f.Add([]byte(`{"object":"page"}`), "sha256="+strings.Repeat("G", 64), false, false)

	f.Fuzz(func(t *testing.T, body []byte, header string, sign, b64 bool) {
		q := &memQueue{}
		h, err := app.NewHandler(app.Deps{Queue: q, QueueURL: "http://127.0.0.1:1/000000000000/intake", AppSecret: secret,
			VerifyToken: []byte(devVerifyToken), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			header = meta.Sign(secret, body)
		}
		ev := events.APIGatewayV2HTTPRequest{RawPath: app.Path, RouteKey: "POST " + app.Path,
			Headers: map[string]string{"content-type": "application/json", strings.ToLower(meta.SignatureHeader): header}}
		ev.RequestContext.HTTP.Method = "POST"
		ev.RequestContext.HTTP.Path = app.Path
		ev.Body = string(body)
		if b64 {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		resp, err := h(context.Background(), ev)
		if err != nil {
			t.Fatalf("POST answered an error: %v", err)
		}
		valid := meta.VerifySignature(secret, body, header) == nil
		switch {
		case resp.StatusCode == http.StatusOK:
			if !valid {
				t.Fatalf("POST with signature %q answered 200", header)
			}
			checkEnqueued(t, q, body)
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			checkProblem(t, resp)
			if len(q.sent) > 0 {
				t.Fatalf("POST answered %d but enqueued %d messages", resp.StatusCode, len(q.sent))
			}
			if valid && len(body) > 0 {
				t.Fatalf("POST with a valid signature answered %d %s", resp.StatusCode, resp.Body)
			}
		default:
			t.Fatalf("POST answered %d %s with a queue that works", resp.StatusCode, resp.Body)
		}

		get := events.APIGatewayV2HTTPRequest{RawPath: app.Path, RouteKey: "GET " + app.Path, RawQueryString: string(body)}
		get.RequestContext.HTTP.Method = "GET"
		get.RequestContext.HTTP.Path = app.Path
		resp, err = h(context.Background(), get)
		if err != nil {
			t.Fatalf("GET answered an error: %v", err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if resp.Body == "" {
				t.Fatalf("handshake %q answered 200 without the challenge", body)
			}
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			checkProblem(t, resp)
		default:
			t.Fatalf("handshake %q answered %d %s", body, resp.StatusCode, resp.Body)
		}
	})
}

// checkProblem fails unless resp is an RFC 9457 problem+json of its status.
func checkProblem(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%d answered with Content-Type %q", resp.StatusCode, ct)
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || p.Status != resp.StatusCode || p.Title == "" {
		t.Fatalf("%d answered %q, not a problem of that status (%v)", resp.StatusCode, resp.Body, err)
	}
}

// checkEnqueued checks that an accepted body went on the queue: as is in
// one whole message, or in a split set.
func checkEnqueued(t *testing.T, q *memQueue, body []byte) {
	t.Helper()
	if len(q.sent) == 0 {
		t.Fatal("POST answered 200 but enqueued nothing")
	}
	m := q.sent[0]
	if len(q.sent) > 1 || aws.ToString(m.MessageAttributes[intakemsg.AttrPayload].StringValue) != intakemsg.PayloadWhole {
		return // split sets: FuzzSplitJSON and the split tests
	}
	got := []byte(aws.ToString(m.MessageBody))
	if aws.ToString(m.MessageAttributes[intakemsg.AttrEncoding].StringValue) == intakemsg.EncodingBase64 {
		var err error
		if got, err = base64.StdEncoding.DecodeString(string(got)); err != nil {
			t.Fatalf("base64 message body does not decode: %v", err)
		}
	}
	if string(got) != string(body) {
		t.Fatalf("enqueued %q for body %q", got, body)
	}
}
