package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
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

// updateFault is what enqueueFails does to one UpdateItem.
type updateFault int

const (
	updateOK      updateFault = iota // applied and answered
	updateLost                       // applied, answered with a 500
	updateRefused                    // not applied, answered with a 500
)

// enqueueFails is an SDK option: when armed, the next SQS SendMessage is
// answered with a 500 (nothing queued), and each UpdateItem after it (the
// api marking the message it could not queue failed) meets the next of
// faults.
type enqueueFails struct {
	mu     sync.Mutex
	armed  bool
	failed bool
	faults []updateFault
}

func (f *enqueueFails) option() awsenv.Option {
	fault := func(msg string) error {
		return &smithy.GenericAPIError{Code: "InternalServerError", Message: msg, Fault: smithy.FaultServer}
	}
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("FailEnqueue", func(ctx context.Context, in middleware.InitializeInput,
			next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			f.mu.Lock()
			kind := updateOK
			switch {
			case op == "SendMessage" && f.armed && !f.failed:
				f.failed = true
				f.mu.Unlock()
				return middleware.InitializeOutput{}, middleware.Metadata{}, fault("queue down")
			case op == "UpdateItem" && f.failed && len(f.faults) > 0:
				kind, f.faults = f.faults[0], f.faults[1:]
			}
			f.mu.Unlock()
			if kind == updateRefused {
				return middleware.InitializeOutput{}, middleware.Metadata{}, fault("refused")
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil && kind == updateLost {
				return middleware.InitializeOutput{}, md, fault("answer lost")
			}
			return out, md, err
		}), middleware.After)
	}})
}

// A send whose job cannot be queued ends failed (503 queue_unavailable)
// also when a write of the api marking it failed is lost or refused once:
// before, a claim applied with its answer lost, or a failure mark refused,
// left the message sending for good with no job to send it (found by the
// pipeline torture test's SES leg, tools/torture, seed 5).
func TestUnqueuedSendEndsFailed(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	leadID := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210"}).str("id")
	e.inbound(t, owner.OrgID, leadID, "Is the flat still available?", time.Now().Add(-time.Hour), nil)

	for name, faults := range map[string][]updateFault{
		"claim answer lost":           {updateLost},
		"claim refused":               {updateRefused},
		"failure refused":             {updateOK, updateRefused},
		"failure lost":                {updateOK, updateLost},
		"claim lost, failure refused": {updateLost, updateRefused},
	} {
		t.Run(name, func(t *testing.T) {
			f := &enqueueFails{faults: slices.Clone(faults)}
			h, err := app.New(context.Background(), e.cfg, logging.New(io.Discard, slog.LevelDebug), f.option())
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
			f.mu.Lock()
			f.armed = true
			f.mu.Unlock()
			resp, err := h(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			failed, left := f.failed, len(f.faults)
			f.mu.Unlock()
			if !failed || left != 0 {
				t.Fatalf("enqueue failed %v, %d faults not met: the send did not fail its enqueue and then mark the message", failed, left)
			}
			if resp.StatusCode != 503 {
				t.Fatalf("send whose enqueue failed: %d %s, want 503", resp.StatusCode, resp.Body)
			}
			m, ok, err := e.store.MessageByClientID(context.Background(), owner.OrgID, body["client_message_id"].(string))
			if err != nil || !ok {
				t.Fatalf("message by client id: %v %v", ok, err)
			}
			if m.Status != conversation.StatusFailed {
				t.Fatalf("message is %s after its enqueue failed, want failed", m.Status)
			}
		})
	}
}
