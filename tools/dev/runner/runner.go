// Package runner does for Leadluence what `sam local start-api` does: it
// serves the topology's HTTP routes by turning each request into an API
// Gateway HTTP API v2 event for the owning function's handler, polls each
// consumed queue and calls its consumer with SQS events (batch size,
// partial batch failures and redrive honoured), and fires schedules. The
// handlers are the very ones the functions' main.go pass to lambda.Start.
//
// Each invocation gets what Lambda gives it: a context whose deadline is
// the function's timeout from the topology, carrying a lambdacontext
// (request id, function ARN). A handler still running at its deadline is
// abandoned and the invocation fails, as Lambda's "Task timed out": the
// gateway answers 500, a queue batch is left on the queue for a retry. A
// response payload over Lambda's synchronous limit (6 MB) fails the
// invocation the same way; so does a request whose event would exceed it.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
)

// SQSHandler is a queue consumer's Lambda handler.
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// ScheduleHandler is a scheduled function's Lambda handler.
type ScheduleHandler func(ctx context.Context, ev events.EventBridgeEvent) error

// Handlers holds each function's handlers by function name.
type Handlers struct {
	HTTP     map[string]apigw.HandlerFunc
	Queue    map[string]SQSHandler
	Schedule map[string]ScheduleHandler
}

// Check reports every trigger in st that has no handler, so that a
// function added to the topology cannot silently go unserved locally.
func (h Handlers) Check(st topology.Stack) error {
	var errs []error
	for _, fn := range st.Functions {
		if len(fn.Routes) > 0 && h.HTTP[fn.Name] == nil {
			errs = append(errs, fmt.Errorf("function %s has routes but no local HTTP handler", fn.Name))
		}
		if fn.Consumes != nil && h.Queue[fn.Name] == nil {
			errs = append(errs, fmt.Errorf("function %s consumes %s but has no local SQS handler", fn.Name, fn.Consumes.Queue))
		}
		if len(fn.Schedules) > 0 && h.Schedule[fn.Name] == nil {
			errs = append(errs, fmt.Errorf("function %s has schedules but no local schedule handler", fn.Name))
		}
	}
	return errors.Join(errs...)
}

// maxPayload is API Gateway's request payload limit.
const maxPayload = 10 << 20

// MaxSyncPayload is Lambda's limit on a synchronous invocation's request
// event and on its response, each as JSON (6 MB).
const MaxSyncPayload = 6 << 20

// DefaultTimeout is Lambda's timeout for a function that sets none.
const DefaultTimeout = 3 * time.Second

// ErrTimedOut is the error of an invocation still running at its deadline.
var ErrTimedOut = errors.New("task timed out")

// invoke calls h as Lambda invokes function fn: under a context whose
// deadline is timeout away (DefaultTimeout when zero) and which carries a
// lambdacontext, cut loose from the caller's cancellation (a client that
// hangs up does not stop a running function). It returns ErrTimedOut
// when h has not returned by the deadline, leaving h to finish in the
// background as a frozen Lambda sandbox would not.
func invoke(ctx context.Context, fn string, timeout time.Duration, h func(ctx context.Context) error) error {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), time.Now().Add(timeout))
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rand.Uint32(), rand.Uint32N(1<<16), rand.Uint32N(1<<12), rand.Uint32N(1<<12), rand.Uint64N(1<<48)), //nolint:gosec // an id, not a secret
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:" + fn,
	})
	done := make(chan error, 1)
	go func() { done <- h(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w after %.2f seconds", ErrTimedOut, timeout.Seconds())
	}
}

// Router serves every HTTP route of st through its function's handler.
func Router(st topology.Stack, h Handlers, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, fn := range st.Functions {
		handler := h.HTTP[fn.Name]
		for _, route := range fn.Routes {
			params := pathParams(route.Path)
			mux.HandleFunc(route.Key(), func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				pp := map[string]string{}
				for _, p := range params {
					pp[p] = r.PathValue(p)
				}
				if len(pp) == 0 {
					pp = nil
				}
				ev, err := apigw.FromRequest(r, route.Key(), pp, maxPayload)
				if err == nil {
					err = fitsSync("request", ev)
				}
				if err != nil {
					gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
					return
				}
				var resp events.APIGatewayV2HTTPResponse
				err = invoke(r.Context(), fn.Name, fn.Timeout, func(ctx context.Context) error {
					var err error
					if resp, err = handler(ctx, ev); err != nil {
						return err
					}
					return fitsSync("response", resp)
				})
				if err != nil {
					log.Error("function error", "function", fn.Name, "route", route.Key(), "err", err)
					gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
					return
				}
				if err := apigw.WriteResponse(w, resp); err != nil {
					log.Error("write response", "route", route.Key(), "err", err)
				}
				log.Info("request", "function", fn.Name, "route", route.Key(), "status", resp.StatusCode,
					"ms", time.Since(start).Milliseconds())
			})
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		gatewayError(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

// fitsSync fails when v, as JSON, is over Lambda's synchronous payload
// limit.
func fitsSync(what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", what, err)
	}
	if len(b) > MaxSyncPayload {
		return fmt.Errorf("%s payload of %d bytes exceeds the maximum allowed payload size (%d bytes)", what, len(b), MaxSyncPayload)
	}
	return nil
}

// gatewayError answers as API Gateway does for requests no route takes.
func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// pathParams lists the {placeholders} of a route path.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
		}
	}
	return out
}

// SQSAPI is the part of the SQS client a poller needs.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Poller feeds one queue to its consumer the way Lambda's event source
// mapping does: batches of up to BatchSize, the whole batch retried on a
// handler error, only the reported failures retried otherwise (they come
// back after the visibility timeout and go to the DLQ after
// maxReceiveCount, as the queue's redrive policy says).
type Poller struct {
	Client    SQSAPI
	QueueURL  string
	QueueARN  string
	BatchSize int
	Handler   SQSHandler
	Log       *slog.Logger
	// Wait is the long-poll wait; keep it short locally (see
	// architecture.md: the SQS stand-in waits the full time on batches).
	Wait time.Duration
	// Function names the consumer in its lambdacontext; Timeout is its
	// timeout from the topology (DefaultTimeout when zero). A batch still
	// running at the deadline fails whole.
	Function string
	Timeout  time.Duration
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.Log.Error("poll queue", "queue", p.QueueARN, "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// PollOnce receives one batch, hands it to the consumer and deletes the
// messages it handled. It returns how many messages it received.
func (p *Poller) PollOnce(ctx context.Context) (int, error) {
	out, err := p.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &p.QueueURL,
		MaxNumberOfMessages:         int32(max(1, min(p.BatchSize, 10))),
		WaitTimeSeconds:             int32(min(p.Wait, 20*time.Second) / time.Second), //nolint:gosec // at most 20
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		// The SQS stand-in reads only the older field; consumers need
		// ApproximateReceiveCount from it.
		AttributeNames:        []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}, //nolint:staticcheck // see above
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return 0, fmt.Errorf("receive: %w", err)
	}
	if len(out.Messages) == 0 {
		return 0, nil
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(out.Messages))}
	for _, m := range out.Messages {
		ev.Records = append(ev.Records, toRecord(m, p.QueueARN))
	}
	var resp events.SQSEventResponse
	err = invoke(ctx, p.Function, p.Timeout, func(ctx context.Context) error {
		var err error
		resp, err = p.Handler(ctx, ev)
		return err
	})
	if err != nil {
		// Lambda retries the whole batch: leave every message to reappear.
		p.Log.Error("consumer failed the batch", "queue", p.QueueARN, "err", err)
		return len(out.Messages), nil
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		if !failed[aws.ToString(m.MessageId)] {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(del) > 0 {
		if _, err := p.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &p.QueueURL, Entries: del}); err != nil {
			return len(out.Messages), fmt.Errorf("delete handled messages: %w", err)
		}
	}
	return len(out.Messages), nil
}

func toRecord(m sqstypes.Message, arn string) events.SQSMessage {
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
	}
	return events.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, MessageAttributes: attrs,
		EventSourceARN: arn, EventSource: "aws:sqs", AWSRegion: "us-east-1",
	}
}

// RunSchedule calls function fn's handler h every interval until ctx
// ends, with the event EventBridge sends for a scheduled rule, each call
// under fn's timeout.
func RunSchedule(ctx context.Context, fn topology.Function, name string, every time.Duration, h ScheduleHandler, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev := events.EventBridgeEvent{Version: "0", ID: fmt.Sprint(now.UnixNano()), DetailType: "Scheduled Event",
				Source: "aws.events", AccountID: "000000000000", Time: now.UTC(), Region: "us-east-1",
				Resources: []string{"arn:aws:events:us-east-1:000000000000:rule/" + name}, Detail: scheduleDetail(name)}
			if err := invoke(ctx, fn.Name, fn.Timeout, func(ctx context.Context) error { return h(ctx, ev) }); err != nil {
				log.Error("scheduled run failed", "schedule", name, "err", err)
			}
		}
	}
}

// scheduleDetail is the detail of a schedule's event, as infra/stack
// sends it: {"schedule": name}.
func scheduleDetail(name string) json.RawMessage {
	b, err := json.Marshal(map[string]string{"schedule": name})
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
