package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/outbound"
)

// The burst figure: one number's burst of outbound messages through the
// whole sender (functions/sender/app: NewSender, NewHandler, the DynamoDB
// pacer, the token cache, the Graph client) against the local stack and
// the Meta simulator, at the limit the product promises a number (1,000
// messages a second), where the pacer figures drive the pacer alone.
// Everything is on 127.0.0.1; the run stops when every message is sent or
// at its time limit.

// burstOptions size the burst figure; N 0 leaves it out.
type burstOptions struct {
	N, Rate, Pollers int
	Timeout          time.Duration
	// SeparateReads has the sender read a send's org, lead and number
	// with three GetItems, as it did before its one BatchGetItem, for a
	// comparison.
	SeparateReads bool
}

// burstResult is the burst figure.
type burstResult struct {
	burstOptions
	Sent, Duplicates                int
	Span                            time.Duration
	Achieved                        float64
	WindowsOver, MaxWindow, Windows int
	PairViolations                  int
	TimedOut                        bool
	Setup, Drain                    time.Duration
	// Calls and Time are the sender's AWS calls by "Service.Operation"
	// and the time spent in them (summed over concurrent invocations).
	Calls map[string]int
	Time  map[string]time.Duration
	// Handler is the summed wall time of the handler invocations.
	Handler     time.Duration
	Invocations int
}

// timedCalls counts AWS operations and sums their time, SDK retries
// included, by "Service.Operation".
type timedCalls struct {
	mu    sync.Mutex
	calls map[string]int
	time  map[string]time.Duration
}

func (c *timedCalls) options() awsenv.Option {
	mw := middleware.InitializeMiddlewareFunc("LeadluenceBenchTimedCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			begin := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			c.mu.Lock()
			if c.calls == nil {
				c.calls, c.time = map[string]int{}, map[string]time.Duration{}
			}
			c.calls[op]++
			c.time[op] += time.Since(begin)
			c.mu.Unlock()
			return out, md, err //nolint:wrapcheck // a middleware passes the SDK's error on unchanged
		})
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error { return s.Initialize.Add(mw, middleware.After) },
	})
}

// take returns the counts and times so far and starts again.
func (c *timedCalls) take() (map[string]int, map[string]time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, times := c.calls, c.time
	c.calls, c.time = map[string]int{}, map[string]time.Duration{}
	return calls, times
}

// measureBurst queues o.N text messages from one number to o.N recipients
// (one each, so the pair limit never binds), then drains them through the
// sender handler with o.Pollers pollers at o.Rate, and reads the
// simulator's send times and the sender's AWS calls.
func measureBurst(ctx context.Context, o burstOptions) (burstResult, error) {
	r := burstResult{burstOptions: o}
	begin := time.Now()
	e, err := setupOutbound(ctx)
	if err != nil {
		return r, err
	}
	defer e.sim.Close()
	if _, err := e.backlog(ctx, "burst", o.N, o.N, 1); err != nil {
		return r, err
	}
	r.Setup = time.Since(begin)
	tc := &timedCalls{}
	cfg := e.cfg
	cfg.NumberRatePerSecond = o.Rate
	var tweak func(*outbound.Sender)
	if o.SeparateReads {
		// The store without its SendSubjects: the sender falls back to
		// the three reads.
		tweak = func(s *outbound.Sender) { s.Store = struct{ outbound.Store }{s.Store} }
	}
	h, err := e.senderWith(ctx, cfg, tweak, tc.options())
	if err != nil {
		return r, err
	}
	tc.take() // building the sender is not a message's cost
	var mu sync.Mutex
	timed := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		t0 := time.Now()
		resp, err := h(ctx, ev)
		mu.Lock()
		r.Handler += time.Since(t0)
		r.Invocations++
		mu.Unlock()
		return resp, err
	}
	say("burst: %d messages from one number queued in %s; draining through the sender with %d pollers at %d mps (at most %s) ...",
		o.N, r.Setup.Round(time.Second), o.Pollers, o.Rate, o.Timeout)
	t0 := time.Now()
	r.TimedOut = e.drain(ctx, timed, o.Pollers, time.Now().Add(o.Timeout), func() bool { return len(e.sim.Sent(obNumberID)) >= o.N })
	r.Drain = time.Since(t0)
	r.Calls, r.Time = tc.take()
	sent := e.sim.Sent(obNumberID)
	r.Sent = len(sent)
	if len(sent) < 2 {
		return r, errors.New("burst: fewer than two sends")
	}
	times := make([]time.Time, len(sent))
	perTo := map[string][]time.Time{}
	perBody := map[string]int{}
	windows := map[int64]int{}
	for i, s := range sent {
		times[i] = s.At
		perTo[s.To] = append(perTo[s.To], s.At)
		perBody[s.Text]++
		windows[s.At.Unix()]++
	}
	for _, n := range perBody {
		r.Duplicates += n - 1
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	r.Span = times[len(times)-1].Sub(times[0])
	r.Achieved = float64(len(times)-1) / r.Span.Seconds()
	r.Windows = len(windows)
	for _, n := range windows {
		r.MaxWindow = max(r.MaxWindow, n)
		if n > o.Rate {
			r.WindowsOver++
		}
	}
	for _, ts := range perTo {
		r.PairViolations += pairViolations(ts)
	}
	return r, nil
}

// perMessage is n per sent message.
func (r burstResult) perMessage(n float64) float64 { return n / float64(max(1, r.Sent)) }

// markdown renders the burst section.
func (r burstResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Sender at 1,000 mps\n\n")
	w("One number's burst through the whole sender, from `go run ./tools/bench -only burst` (also part of the full run; `-burst-n 0`\n")
	w("leaves it out), %s: %d text messages queued to %d recipients (one each, so only the number's limit binds), drained by\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.N, r.N)
	w("%d pollers calling the sender handler (`functions/sender/app`: DynamoDB pacer, token cache, Graph client) against DynamoDB Local,\n", r.Pollers)
	w("the SQS stand-in and the Meta simulator, all on 127.0.0.1, on a 2-core machine shared with other work; the run stops when\n")
	w("every message is sent or after %s. Send times are the simulator's.", r.Timeout)
	if r.SeparateReads {
		w(" This run reads a send's org, lead and number with three GetItems (`-burst-separate-reads`), not one BatchGetItem.")
	}
	w("\n\n")
	w("| figure | value | goal |\n|---|---|---|\n")
	w("| sent | %d of %d%s in %.1f s (first to last send; drain %.1f s, setup %s not timed) | all |\n",
		r.Sent, r.N, timedOut(r.TimedOut), r.Span.Seconds(), r.Drain.Seconds(), r.Setup.Round(time.Second))
	w("| achieved rate | %.1f mps = **%.1f %%** of the %d mps limit | 1,000 mps |\n", r.Achieved, 100*r.Achieved/float64(r.Rate), r.Rate)
	w("| 1-second windows over %d | **%d** of %d (busiest: %d sends) | 0 |\n", r.Rate, r.WindowsOver, r.Windows, r.MaxWindow)
	w("| pair-limit violations | **%d** | 0 |\n", r.PairViolations)
	w("| duplicate sends | **%d** | 0 |\n\n", r.Duplicates)
	w("Where the time goes: the sender's AWS calls per message sent and their mean latency. A handler call sends its batch's\n")
	w("messages concurrently, so at most %d messages are in flight; each spends about the sum of its calls' latencies (the\n", 10*r.Pollers)
	w("reads partly side by side) plus the Graph call to the simulator, which bounds the rate at about in-flight ÷ that time.\n\n")
	w("| call | per message | mean ms per call | ms per message |\n|---|---:|---:|---:|\n")
	ops := make([]string, 0, len(r.Calls))
	for op := range r.Calls {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		return r.Time[ops[i]] > r.Time[ops[j]] || r.Time[ops[i]] == r.Time[ops[j]] && ops[i] < ops[j]
	})
	var calls int
	var inAWS time.Duration
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, op := range ops {
		n := r.Calls[op]
		calls += n
		inAWS += r.Time[op]
		w("| %s | %.2f | %.1f | %.1f |\n", op, r.perMessage(float64(n)), ms(r.Time[op])/float64(max(1, n)), r.perMessage(ms(r.Time[op])))
	}
	w("| **all** | **%.2f** | %.1f | **%.1f** |\n\n", r.perMessage(float64(calls)), ms(inAWS)/float64(max(1, calls)), r.perMessage(ms(inAWS)))
	w("Handler time: %d invocations, %.0f ms each on average (a batch of up to 10).\n", r.Invocations, ms(r.Handler)/float64(max(1, r.Invocations)))
	return b.String()
}

func (r burstResult) summary() string {
	return fmt.Sprintf("burst: %d/%d sent through the sender, %.1f mps = %.1f%% of %d, %d windows over, %d pair violations, %d duplicates\n",
		r.Sent, r.N, r.Achieved, 100*r.Achieved/float64(r.Rate), r.Rate, r.WindowsOver, r.PairViolations, r.Duplicates)
}

// runBurstOnly measures the burst figure alone and splices its section into
// out, keeping every other section.
func runBurstOnly(ctx context.Context, out string, o burstOptions) (err error) {
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	r, err := measureBurst(ctx, o)
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	if err := spliceFile(out, "Sender at 1,000 mps", r.markdown()); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}
