package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	ingest "github.com/leadluence/backend/functions/ingest/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/dev/runner"
)

// e2eOptions size the end-to-end figures.
type e2eOptions struct {
	// Samples latency samples are taken after Warmups discarded ones.
	Samples, Warmups int
	// Load messages are delivered by Senders concurrent senders for the
	// throughput figure.
	Load, Senders int
	// Pollers feed the intake queue to the ingest handler.
	Pollers int
	// Idle is a poller's sleep after an empty receive; PollGap the
	// latency probe's sleep between two GET /v1/leads.
	Idle, PollGap time.Duration
	// SampleTimeout bounds one latency sample, LoadTimeout the whole
	// throughput run.
	SampleTimeout, LoadTimeout time.Duration
}

// e2eResult is the end-to-end figures.
type e2eResult struct {
	Opts e2eOptions
	// Latency is Deliver start → the lead first seen through the API,
	// Accept Deliver start → the webhook's 200, per sample.
	Latency, Accept []time.Duration
	// Polls is the GET /v1/leads?limit=1 made per sample; GetTook the
	// time of each of them, all samples together.
	Polls   []int
	GetTook []time.Duration
	// DeliverTook is the first Deliver start → the last 200; StoredTook
	// the first Deliver start → the last message stored.
	DeliverTook, StoredTook time.Duration
	// Stored is how many load messages the ingest handler took by the
	// deadline; Steady the rate between the 10th and 90th percentile of
	// their completion times, in events/s.
	Stored int
	Steady float64
	// Verified is how many of the load's leads GET /v1/leads returned
	// afterwards.
	Verified int
	// Rejected counts deliveries not answered 200; Failed the records the
	// ingest handler failed (retried by the queue later).
	Rejected, Failed int
	// Receives and Empty count the pollers' ReceiveMessage calls.
	Receives, Empty int64
}

// ingestTap wraps the ingest handler and records when each record it took
// was done.
type ingestTap struct {
	h      ingest.Handler
	mu     sync.Mutex
	done   []time.Time
	failed int
}

func (t *ingestTap) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp, err := t.h(ctx, ev)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed += len(ev.Records)
		return resp, err
	}
	t.failed += len(resp.BatchItemFailures)
	for range len(ev.Records) - len(resp.BatchItemFailures) {
		t.done = append(t.done, now)
	}
	return resp, nil
}

// take returns the completion times and failures so far and starts again.
func (t *ingestTap) take() ([]time.Time, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	done, failed := t.done, t.failed
	t.done, t.failed = nil, 0
	return done, failed
}

func (t *ingestTap) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.done)
}

// measureE2E runs the real path in-process: the simulator delivers signed
// webhooks to runner.Router (webhook and api handlers) on a loopback
// server, the webhook puts them on the intake queue, Pollers feed them to
// an ingest handler, and the probe reads the lead back through the API as
// org B's owner. It takes the latency samples one at a time, then the
// throughput run.
func measureE2E(ctx context.Context, m *metaEnv, o e2eOptions) (e2eResult, error) {
	r := e2eResult{Opts: o}
	h, err := m.newIngest(ctx)
	if err != nil {
		return r, err
	}
	tap := &ingestTap{h: h}
	client := sqs.NewFromConfig(m.awsCfg)
	queueURL := m.res.QueueURLs[topology.QueueIntake]
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &queueURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return r, fmt.Errorf("intake queue attributes: %w", err)
	}
	fn, _ := m.st.Function("ingest")
	batch := 10
	if fn.Consumes != nil {
		batch = fn.Consumes.BatchSize
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var receives, empty atomic.Int64
	for range o.Pollers {
		p := &runner.Poller{Client: client, QueueURL: queueURL, QueueARN: attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
			BatchSize: batch, Handler: tap.handle, Log: m.log, Wait: 0, Function: fn.Name, Timeout: fn.Timeout}
		wg.Go(func() {
			// WaitTimeSeconds 0 (Wait 0) and a short sleep when the queue is
			// empty: the SQS stand-in holds a long poll for more than one
			// message for the whole wait even when messages are there.
			for pctx.Err() == nil {
				n, err := p.PollOnce(pctx)
				receives.Add(1)
				switch {
				case err != nil && pctx.Err() == nil:
					m.log.Error("poll intake queue", "err", err)
					sleep(pctx, 100*time.Millisecond)
				case n == 0:
					empty.Add(1)
					sleep(pctx, o.Idle)
				}
			}
		})
	}
	defer func() {
		stop()
		wg.Wait()
	}()

	if err := latencySamples(ctx, m, o, &r); err != nil {
		return r, err
	}
	// A lead is readable before the handler has stored the message and
	// returned: let the last sample finish before the throughput run.
	for settle := time.Now(); tap.count() < o.Warmups+o.Samples && time.Since(settle) < o.SampleTimeout; {
		sleep(ctx, 5*time.Millisecond)
	}
	_, failed := tap.take()
	r.Failed += failed
	if err := throughput(ctx, m, o, tap, &r); err != nil {
		return r, err
	}
	r.Receives, r.Empty = receives.Load(), empty.Load()
	return r, nil
}

// latencySamples delivers one WhatsApp message from a new number at a time
// and polls GET /v1/leads?limit=1 until the sender's lead is the newest.
func latencySamples(ctx context.Context, m *metaEnv, o e2eOptions, r *e2eResult) error {
	for i := -o.Warmups; i < o.Samples; i++ {
		from := fmt.Sprintf("9197100%05d", i+o.Warmups+1)
		msg := metatest.Text(from, "Hi! Is the 2BHK in Baner still available?").WithName(fmt.Sprintf("Bench Sender %d", i+o.Warmups+1))
		payload := m.sim.InboundPayload(numberB, displayB, msg)
		begin := time.Now()
		status, err := m.sim.Deliver(ctx, m.hookURL, payload)
		accept := time.Since(begin)
		if err != nil {
			return fmt.Errorf("latency sample %d: %w", i, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("latency sample %d: webhook answered %d", i, status)
		}
		polls := 0
		for {
			t0 := time.Now()
			phone, err := m.newestLeadPhone(ctx, m.orgB.Token)
			r.GetTook = append(r.GetTook, time.Since(t0))
			polls++
			if err != nil {
				return fmt.Errorf("latency sample %d: %w", i, err)
			}
			if phone == "+"+from {
				break
			}
			if time.Since(begin) > o.SampleTimeout {
				return fmt.Errorf("latency sample %d: the lead of %s was not readable through the API within %s", i, from, o.SampleTimeout)
			}
			sleep(ctx, o.PollGap)
		}
		took := time.Since(begin)
		if i >= 0 {
			r.Latency, r.Accept, r.Polls = append(r.Latency, took), append(r.Accept, accept), append(r.Polls, polls)
		}
	}
	return nil
}

// newestLeadPhone returns the phone of the org's newest lead, through the
// API.
func (m *metaEnv) newestLeadPhone(ctx context.Context, token string) (string, error) {
	var out struct {
		Items []struct {
			Phone *string `json:"phone"`
		} `json:"items"`
	}
	if err := m.call(ctx, http.MethodGet, "/v1/leads?limit=1", token, nil, http.StatusOK, &out); err != nil {
		return "", err
	}
	if len(out.Items) == 0 || out.Items[0].Phone == nil {
		return "", nil
	}
	return *out.Items[0].Phone, nil
}

// throughput delivers o.Load messages from new numbers with o.Senders
// concurrent senders and waits, until o.LoadTimeout, for the ingest
// handler to have taken them all; then it counts their leads through the
// API.
func throughput(ctx context.Context, m *metaEnv, o e2eOptions, tap *ingestTap, r *e2eResult) error {
	want := map[string]bool{}
	payloads := make([][]byte, o.Load)
	for i := range o.Load {
		from := fmt.Sprintf("9197200%05d", i+1)
		want["+"+from] = true
		msg := metatest.Text(from, "Hello, please call me back about the 3BHK.").WithName(fmt.Sprintf("Load Sender %d", i+1))
		payloads[i] = m.sim.InboundPayload(numberB, displayB, msg)
	}
	jobs := make(chan []byte)
	var rejected atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range o.Senders {
		wg.Go(func() {
			for p := range jobs {
				if status, err := m.sim.Deliver(ctx, m.hookURL, p); err != nil || status != http.StatusOK {
					rejected.Add(1)
				}
			}
		})
	}
	for _, p := range payloads {
		select {
		case jobs <- p:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	r.DeliverTook = time.Since(begin)
	r.Rejected = int(rejected.Load())
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deliver load: %w", err)
	}
	for tap.count() < o.Load && time.Since(begin) < o.LoadTimeout && ctx.Err() == nil {
		sleep(ctx, 10*time.Millisecond)
	}
	done, failed := tap.take()
	r.Failed += failed
	r.Stored = len(done)
	if len(done) > 0 {
		slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
		r.StoredTook = done[len(done)-1].Sub(begin)
		lo, hi := done[len(done)/10], done[len(done)*9/10]
		if span := hi.Sub(lo); span > 0 {
			r.Steady = float64(len(done)*9/10-len(done)/10) / span.Seconds()
		}
	}

	// Read the leads back through the API, page by page (bounded).
	cursor := ""
	for page := 0; page < (o.Load+o.Samples+o.Warmups)/100+5; page++ {
		var out struct {
			Items []struct {
				Phone *string `json:"phone"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		path := "/v1/leads?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := m.call(ctx, http.MethodGet, path, m.orgB.Token, nil, http.StatusOK, &out); err != nil {
			return err
		}
		for _, it := range out.Items {
			if it.Phone != nil && want[*it.Phone] {
				r.Verified++
				delete(want, *it.Phone)
			}
		}
		if out.NextCursor == nil {
			break
		}
		cursor = *out.NextCursor
	}
	return nil
}
