package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/logging"
)

// loseNextTransactAnswer is an SDK option: when armed, the next
// TransactWriteItems is applied and then answered with a 500, as when an
// answer is lost after the commit.
func loseNextTransactAnswer(armed *atomic.Bool) awsenv.Option {
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("LoseAnswer", func(ctx context.Context, in middleware.InitializeInput,
			next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil && awsmiddleware.GetOperationName(ctx) == "TransactWriteItems" && armed.CompareAndSwap(true, false) {
				return middleware.InitializeOutput{}, md, &smithy.GenericAPIError{Code: "InternalServerError", Message: "answer lost", Fault: smithy.FaultServer}
			}
			return out, md, err
		}), middleware.After)
	}})
}

// A send whose message write is applied but answered with an error still
// puts the message's job on the queue, and so does a retry that finds its
// message still queued: before, the retry answered 200 and nothing ever
// queued the job (found by the pipeline torture test, tools/torture,
// seeds 1 and 5).
func TestSendWriteAnswerLost(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	leadID := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210"}).str("id")
	e.inbound(t, owner.OrgID, leadID, "Is the flat still available?", time.Now().Add(-time.Hour), nil)
	e.jobs(t) // start from an empty queue

	var armed atomic.Bool
	h, err := app.New(context.Background(), e.cfg, logging.New(io.Discard, slog.LevelDebug), loseNextTransactAnswer(&armed))
	if err != nil {
		t.Fatal(err)
	}
	body := textMsg("Yes, it is.")
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/leads/" + leadID + "/messages"
	r := httptest.NewRequest("POST", path, bytes.NewReader(raw))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+owner.Access)
	ev, err := apigw.FromRequest(r, "POST "+path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if armed.Load() {
		t.Fatal("the send wrote no transaction: the fault was not injected")
	}
	if resp.StatusCode != 202 {
		t.Fatalf("send with its write answer lost: %d %s, want 202", resp.StatusCode, resp.Body)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &sent); err != nil {
		t.Fatal(err)
	}
	again := e.send(t, owner, leadID, body)
	expect(t, again, 200)
	if again.str("id") != sent["id"] {
		t.Fatalf("retry gave message %s, want %v", again.str("id"), sent["id"])
	}
	n := 0
	for _, j := range e.jobs(t) {
		if j["message_id"] == sent["id"] {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d jobs for the message, want 2: the first request's and the retry's", n)
	}

	// A retry that finds its message still queued puts the job on the
	// queue again at once: the first request may have stored the message
	// and then stopped, or failed, before its enqueue; its client retries
	// at once.
	body = textMsg("We are open on Sunday.")
	now := time.Now().UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: owner.OrgID, LeadID: leadID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, At: now, Type: "text", Number: waNumber,
		ClientMessageID: body["client_message_id"].(string), Payload: `{"messaging_product":"whatsapp","to":"919876543210","type":"text","text":{"body":"We are open on Sunday."}}`}
	if _, created, err := e.store.QueueOutbound(context.Background(), m); err != nil || !created {
		t.Fatalf("queue outbound: created %v, %v", created, err)
	}
	again = e.send(t, owner, leadID, body)
	expect(t, again, 200)
	jobs := e.jobs(t)
	if again.str("id") != m.ID || len(jobs) != 1 || jobs[0]["message_id"] != m.ID {
		t.Fatalf("retry answered %s, jobs %v: want the stored message and its job", again.Raw, jobs)
	}
}

// enqueueFailsClaimAnswerLost is an SDK option: when armed, the next SQS
// SendMessage is answered with a 500 (nothing queued), and the next
// UpdateItem after it (the api's claim of the message it could not queue)
// is applied and then answered with a 500.
func enqueueFailsClaimAnswerLost(stage *atomic.Int32) awsenv.Option {
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("FailEnqueueLoseClaim", func(ctx context.Context, in middleware.InitializeInput,
			next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			if op == "SendMessage" && stage.CompareAndSwap(1, 2) {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InternalError", Message: "queue down", Fault: smithy.FaultServer}
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil && op == "UpdateItem" && stage.CompareAndSwap(2, 0) {
				return middleware.InitializeOutput{}, md, &smithy.GenericAPIError{Code: "InternalServerError", Message: "answer lost", Fault: smithy.FaultServer}
			}
			return out, md, err
		}), middleware.After)
	}})
}

// A send whose job cannot be queued ends failed (503 queue_unavailable)
// also when the answer of the claim made before marking it failed is lost:
// before, the message stayed sending for good, with no job to send it
// (found by the pipeline torture test's SES leg, tools/torture, seed 5).
func TestUnqueuedSendClaimAnswerLost(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	leadID := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210"}).str("id")
	e.inbound(t, owner.OrgID, leadID, "Is the flat still available?", time.Now().Add(-time.Hour), nil)

	var stage atomic.Int32
	h, err := app.New(context.Background(), e.cfg, logging.New(io.Discard, slog.LevelDebug), enqueueFailsClaimAnswerLost(&stage))
	if err != nil {
		t.Fatal(err)
	}
	body := textMsg("Yes, it is.")
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/leads/" + leadID + "/messages"
	r := httptest.NewRequest("POST", path, bytes.NewReader(raw))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+owner.Access)
	ev, err := apigw.FromRequest(r, "POST "+path, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	stage.Store(1)
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if stage.Load() != 0 {
		t.Fatalf("fault stage %d: the send did not fail its enqueue and then claim the message", stage.Load())
	}
	if resp.StatusCode != 503 {
		t.Fatalf("send whose enqueue failed: %d %s, want 503", resp.StatusCode, resp.Body)
	}
	m, ok, err := e.store.MessageByClientID(context.Background(), owner.OrgID, body["client_message_id"].(string))
	if err != nil || !ok {
		t.Fatalf("message by client id: %v %v", ok, err)
	}
	if m.Status != conversation.StatusFailed {
		t.Fatalf("message is %s after its enqueue failed and its claim's answer was lost, want failed", m.Status)
	}
}
