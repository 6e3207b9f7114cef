package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"
	"github.com/oklog/ulid/v2"

	senderapp "github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/tools/provision"
)

// The outbound figures: the sender's pacing under a backlog, the
// sends per second of one invocation, and duplicate sends under injected
// crashes and redeliveries.

// Fixture of the outbound figures (fake ids: they only open the simulator).
//
//nolint:gosec // G101: fixtures, not credentials
const (
	obNumberID = "106540352242999"
	obDisplay  = "15550783999"
	obWABAID   = "102290129340999"
	obToken    = "EAAGwa-bench-token"
	// obLambdaTimeout is the sender function's timeout: each handler call
	// gets it as its deadline.
	obLambdaTimeout = time.Minute
)

// outboundOptions size the outbound figures.
type outboundOptions struct {
	Messages, Recipients, Pollers, Rate int
	CrashMessages                       int
	CrashRate                           float64
	ThroughputN                         int
	Timeout                             time.Duration
}

// pacingResult is the backlog figure.
type pacingResult struct {
	Messages, Recipients, Pollers, Rate int
	Sent                                int
	Span                                time.Duration
	// Achieved is sends per second from the first send to the last.
	Achieved float64
	// WindowsOver counts one-second windows (simulator clock) with more
	// than Rate sends; MaxWindow is the busiest window.
	WindowsOver, MaxWindow, Windows int
	PairViolations                  int
	Setup                           time.Duration
	TimedOut                        bool

	// PerSecond is the sends in each second (simulator clock) from the
	// first send's second to the last's, for the pacing figure.
	PerSecond []int
}

// crashResult is the duplicate-send figure.
type crashResult struct {
	Messages, Crashes, Duplicates, Unknown, Accepted, Other, MaxPerMessage, Sent int
	CrashRate                                                                    float64
	TimedOut                                                                     bool
}

// outboundResult is every outbound figure.
type outboundResult struct {
	Pacing     pacingResult
	Throughput float64
	ThroughCmd string
	Crash      crashResult
	// Pacer are the pacer figures at 1,000 mps (table, in memory).
	Pacer   []pacerResult
	Elapsed time.Duration
}

// obEnv is a fresh prefix with an org whose WhatsApp number is connected in
// the simulator.
type obEnv struct {
	aws      aws.Config
	store    *dynamostore.Store
	sim      *metatest.Server
	orgID    string
	queueURL string
	cfg      config.Sender
}

func setupOutbound(ctx context.Context) (*obEnv, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	res, err := provision.Apply(ctx, cfg, topology.Default(), fmt.Sprintf("bout%d-", time.Now().UnixNano()%1e9))
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	sim := metatest.New(metatest.Options{})
	sim.AddPhoneNumber(obNumberID, obDisplay, "Bench Realty", obWABAID, obToken)
	e := &obEnv{aws: cfg, store: dynamostore.New(dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions), res.TableName), sim: sim, orgID: ulid.Make().String(),
		queueURL: res.QueueURLs[topology.QueueOutbound]}
	now := time.Now().UTC()
	owner := account.User{ID: ulid.Make().String(), OrgID: e.orgID, Name: "Owner", Email: fmt.Sprintf("ob%d@example.com", now.UnixNano()),
		Role: account.RoleOwner, Active: true}
	if err := e.store.CreateOrg(ctx, account.Org{ID: e.orgID, Name: "Bench Realty", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		sim.Close()
		return nil, fmt.Errorf("create org: %w", err)
	}
	sealed, err := envelope.New(kms.NewFromConfig(cfg), res.KeyID, envelope.Options{}).Seal(ctx, e.orgID, []byte(obToken))
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("seal token: %w", err)
	}
	if err := e.store.ConnectIntegration(ctx, integration.Integration{OrgID: e.orgID, Kind: integration.KindWhatsApp, ExternalID: obNumberID,
		DisplayPhoneNumber: obDisplay, WABAID: obWABAID, SealedToken: sealed, ConnectedAt: now, UpdatedAt: now}); err != nil {
		sim.Close()
		return nil, fmt.Errorf("connect number: %w", err)
	}
	e.cfg = config.Sender{TableName: res.TableName, KeyID: res.KeyID, OutboundQueueURL: e.queueURL, GraphBaseURL: sim.URL,
		GraphVersion: sim.Version(), EmailFrom: "no-reply@leadluence.local", NumberRatePerSecond: 80}
	return e, nil
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return fmt.Errorf("parallel: %w", ctx.Err())
	}
	return first
}

// backlog creates recipients leads (who wrote an hour ago, so text is
// allowed) and queues messages text messages to them round-robin, then puts
// every job on the outbound queue copies times. It returns the messages.
func (e *obEnv) backlog(ctx context.Context, tag string, messages, recipients, copies int) ([]conversation.Message, error) {
	leads := make([]lead.Lead, recipients)
	recent := time.Now().Add(-time.Hour).UTC()
	base := 70000 + rand.IntN(29000) //nolint:gosec // distinct phone numbers per run, not security
	err := parallel(ctx, recipients, 16, func(i int) error {
		now := time.Now().UTC()
		l := lead.Lead{ID: ulid.Make().String(), OrgID: e.orgID, Name: "Bench Lead", Phone: fmt.Sprintf("+91%d%05d", base, i),
			Source: "manual", Status: lead.StatusNew, CreatedAt: now, UpdatedAt: now, Version: 1, LastInboundAt: recent}
		if err := e.store.CreateLead(ctx, l); err != nil {
			return fmt.Errorf("create lead %d: %w", i, err)
		}
		leads[i] = l
		return nil
	})
	if err != nil {
		return nil, err
	}
	msgs := make([]conversation.Message, messages)
	err = parallel(ctx, messages, 16, func(i int) error {
		l := leads[i%recipients]
		body := fmt.Sprintf("%s message %d", tag, i)
		to := strings.TrimPrefix(l.Phone, "+")
		m := conversation.Message{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
			Direction: conversation.Outbound, Type: "text", Text: body, At: time.Now().UTC(), Number: obNumberID,
			ClientMessageID: tag + "-" + strconv.Itoa(i),
			Payload:         `{"messaging_product":"whatsapp","recipient_type":"individual","to":"` + to + `","type":"text","text":{"preview_url":false,"body":"` + body + `"}}`}
		stored, _, err := e.store.QueueOutbound(ctx, m)
		if err != nil {
			return fmt.Errorf("queue message %d: %w", i, err)
		}
		msgs[i] = stored
		return nil
	})
	if err != nil {
		return nil, err
	}
	q := sqs.NewFromConfig(e.aws)
	batches := (messages*copies + 9) / 10
	err = parallel(ctx, batches, 8, func(b int) error {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for k := b * 10; k < min((b+1)*10, messages*copies); k++ {
			m := msgs[k%messages]
			body := sendgate.Job{OrgID: m.OrgID, LeadID: m.LeadID, MessageID: m.ID}.Encode()
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(body)})
		}
		out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &e.queueURL, Entries: entries})
		if err != nil {
			return fmt.Errorf("enqueue jobs: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("enqueue jobs: %d failed", len(out.Failed))
		}
		return nil
	})
	return msgs, err
}

// drain runs pollers that receive from the outbound queue and call the
// sender handler as the Lambda event source does (batch of up to 10, the
// function's timeout as deadline, records not reported as failures
// deleted), until done says so or the deadline passes. It reports whether
// it stopped on the deadline.
func (e *obEnv) drain(ctx context.Context, h senderapp.Handler, pollers int, deadline time.Time, done func() bool) bool {
	q := sqs.NewFromConfig(e.aws)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range pollers {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil && time.Now().Before(deadline) {
				out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl: &e.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
					MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
					// The local stand-in reads only the older name of the parameter.
					AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}, //nolint:staticcheck // see above
				})
				if err != nil || len(out.Messages) == 0 {
					continue
				}
				var ev events.SQSEvent
				for _, m := range out.Messages {
					ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs"})
				}
				ictx, cancel := context.WithTimeout(ctx, obLambdaTimeout)
				resp, err := h(ictx, ev)
				cancel()
				if err != nil {
					continue // the whole batch comes back
				}
				failed := map[string]bool{}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				for _, r := range ev.Records {
					if !failed[r.MessageId] {
						_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &e.queueURL, ReceiptHandle: aws.String(r.ReceiptHandle)})
					}
				}
			}
		})
	}
	for ctx.Err() == nil && time.Now().Before(deadline) && !done() {
		sleep(ctx, 250*time.Millisecond)
	}
	timedOut := !done()
	stop.Store(true)
	wg.Wait()
	return timedOut
}

func (e *obEnv) sender(ctx context.Context, rate int, tweak func(*outbound.Sender)) (senderapp.Handler, error) {
	cfg := e.cfg
	cfg.NumberRatePerSecond = rate
	return e.senderWith(ctx, cfg, tweak)
}

// senderWith builds the sender handler with cfg, its AWS clients built
// with opts.
func (e *obEnv) senderWith(ctx context.Context, cfg config.Sender, tweak func(*outbound.Sender), opts ...awsenv.Option) (senderapp.Handler, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s, q, err := senderapp.NewSender(ctx, cfg, log, append([]awsenv.Option{awsenv.WithLogger(logging.Nop{})}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("build sender: %w", err)
	}
	if tweak != nil {
		tweak(s)
	}
	return senderapp.NewHandler(s, q, cfg.OutboundQueueURL, log), nil
}

// measurePacing queues the backlog, drains it with concurrent pollers and
// reads the simulator's send times.
func measurePacing(ctx context.Context, o outboundOptions) (pacingResult, error) {
	r := pacingResult{Messages: o.Messages, Recipients: o.Recipients, Pollers: o.Pollers, Rate: o.Rate}
	begin := time.Now()
	e, err := setupOutbound(ctx)
	if err != nil {
		return r, err
	}
	defer e.sim.Close()
	if _, err := e.backlog(ctx, "pace", o.Messages, o.Recipients, 1); err != nil {
		return r, err
	}
	r.Setup = time.Since(begin)
	h, err := e.sender(ctx, o.Rate, nil)
	if err != nil {
		return r, err
	}
	say("outbound: backlog of %d queued in %s; draining with %d pollers at %d mps ...", o.Messages, r.Setup.Round(time.Second), o.Pollers, o.Rate)
	r.TimedOut = e.drain(ctx, h, o.Pollers, time.Now().Add(o.Timeout), func() bool { return len(e.sim.Sent(obNumberID)) >= o.Messages })
	sent := e.sim.Sent(obNumberID)
	r.Sent = len(sent)
	if len(sent) < 2 {
		return r, errors.New("pacing: fewer than two sends")
	}
	times := make([]time.Time, len(sent))
	perTo := map[string][]time.Time{}
	windows := map[int64]int{}
	for i, s := range sent {
		times[i] = s.At
		perTo[s.To] = append(perTo[s.To], s.At)
		windows[s.At.Unix()]++
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	r.Span = times[len(times)-1].Sub(times[0])
	r.Achieved = float64(len(times)-1) / r.Span.Seconds()
	r.Windows = len(windows)
	for sec := times[0].Unix(); sec <= times[len(times)-1].Unix(); sec++ {
		r.PerSecond = append(r.PerSecond, windows[sec])
	}
	for _, n := range windows {
		r.MaxWindow = max(r.MaxWindow, n)
		if n > o.Rate {
			r.WindowsOver++
		}
	}
	// Pair limit: the generic cell rate algorithm with interval 6 s and
	// burst 2 (tolerance 6 s) over each recipient's send times.
	for _, ts := range perTo {
		r.PairViolations += pairViolations(ts)
	}
	return r, nil
}

// pairViolations counts the sends to one recipient (ts, sorted here) that
// break the pair limit: the generic cell rate algorithm with the pacer's
// interval and burst.
func pairViolations(ts []time.Time) int {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	n := 0
	var tat time.Time
	for _, t := range ts {
		if !tat.IsZero() && t.Before(tat.Add(-outbound.DefaultPairInterval*(outbound.DefaultPairBurst-1))) {
			n++
		}
		tat = later(tat, t).Add(outbound.DefaultPairInterval)
	}
	return n
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// measureCrashes queues messages with every job delivered twice and a
// sender that "dies" after ~rate of its provider calls (AfterProviderCall
// returns an error: nothing is recorded, the record comes back), then counts
// the simulator's sends per message.
func measureCrashes(ctx context.Context, o outboundOptions) (crashResult, error) {
	r := crashResult{Messages: o.CrashMessages, CrashRate: o.CrashRate}
	e, err := setupOutbound(ctx)
	if err != nil {
		return r, err
	}
	defer e.sim.Close()
	msgs, err := e.backlog(ctx, "crash", o.CrashMessages, o.CrashMessages, 2)
	if err != nil {
		return r, err
	}
	var crashes atomic.Int64
	h, err := e.sender(ctx, o.Rate, func(s *outbound.Sender) {
		s.SendingGrace, s.BackoffBase, s.BackoffMax = 2*time.Second, time.Second, 4*time.Second
		s.AfterProviderCall = func(context.Context, conversation.Message) error {
			if rand.Float64() < o.CrashRate { //nolint:gosec // fault injection, not security
				crashes.Add(1)
				return errors.New("injected crash after the provider call")
			}
			return nil
		}
	})
	if err != nil {
		return r, err
	}
	say("outbound: %d messages, every job twice, %.0f%% crashes after the provider call ...", o.CrashMessages, 100*o.CrashRate)
	q := sqs.NewFromConfig(e.aws)
	empty := func() bool {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &e.queueURL, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
		if err != nil {
			return false
		}
		for _, v := range out.Attributes {
			if v != "0" {
				return false
			}
		}
		return true
	}
	r.TimedOut = e.drain(ctx, h, o.Pollers, time.Now().Add(o.Timeout), empty)
	r.Crashes = int(crashes.Load())
	perBody := map[string]int{}
	sent := e.sim.Sent(obNumberID)
	r.Sent = len(sent)
	for _, s := range sent {
		perBody[s.Text]++
	}
	for _, n := range perBody {
		r.MaxPerMessage = max(r.MaxPerMessage, n)
		if n > 1 {
			r.Duplicates += n - 1
		}
	}
	for _, m := range msgs {
		got, err := e.store.GetMessage(ctx, m.OrgID, m.LeadID, m.ID)
		if err != nil {
			return r, fmt.Errorf("read message: %w", err)
		}
		switch got.Status {
		case conversation.StatusUnknown:
			r.Unknown++
		case conversation.StatusAccepted:
			r.Accepted++
		default:
			r.Other++
		}
	}
	return r, nil
}

// sendsPerSecond runs BenchmarkSendThroughput of the sender (one handler,
// batches of 10, against the simulator) and returns its sends/s.
func sendsPerSecond(ctx context.Context, root string, n int) (float64, string, error) {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkSendThroughput$", "-benchtime", strconv.Itoa(n) + "x", "-count", "1",
		"./functions/sender/app"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = root, os.Environ()
	out, err := cmd.CombinedOutput()
	shown := "go " + strings.Join(args, " ")
	if err != nil {
		return 0, shown, fmt.Errorf("%s: %w\n%s", shown, err, out)
	}
	m := regexp.MustCompile(`([0-9.]+) sends/s`).FindSubmatch(out)
	if m == nil {
		return 0, shown, fmt.Errorf("%s: no sends/s in\n%s", shown, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, shown, fmt.Errorf("parse sends/s: %w", err)
	}
	return v, shown, nil
}

// measureOutbound takes the three outbound figures.
func measureOutbound(ctx context.Context, root string, o outboundOptions) (*outboundResult, error) {
	begin := time.Now()
	r := &outboundResult{}
	var err error
	say("outbound: sends per second of one invocation (BenchmarkSendThroughput, %d sends) ...", o.ThroughputN)
	if r.Throughput, r.ThroughCmd, err = sendsPerSecond(ctx, root, o.ThroughputN); err != nil {
		return nil, err
	}
	say("outbound: pacing, %d messages to %d recipients at %d mps ...", o.Messages, o.Recipients, o.Rate)
	if r.Pacing, err = measurePacing(ctx, o); err != nil {
		return nil, fmt.Errorf("pacing: %w", err)
	}
	if r.Crash, err = measureCrashes(ctx, o); err != nil {
		return nil, fmt.Errorf("crashes: %w", err)
	}
	for _, mem := range []bool{false, true} {
		po := pacerOptions{Rate: 1000, Containers: 8, Workers: 8, Recipients: 4000, Duration: 10 * time.Second, InMemory: mem}
		say("outbound: the pacer at %d mps (in memory: %t) ...", po.Rate, mem)
		pr, err := measurePacer(ctx, po)
		if err != nil {
			return nil, fmt.Errorf("pacer at %d mps: %w", po.Rate, err)
		}
		r.Pacer = append(r.Pacer, pr)
	}
	r.Elapsed = time.Since(begin)
	return r, nil
}

// markdown renders the Outbound section of docs/benchmarks.md.
func (r *outboundResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p, c := r.Pacing, r.Crash
	w("\n## Outbound\n\n")
	w("The outbound figures, from `go run ./tools/bench -only outbound` (also part of the full run), %s, in %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second))
	w("Method: each figure gets a fresh resource prefix, the Meta simulator (`metatest`) with one WhatsApp number and an org\n")
	w("that has it connected. The sender is built by `functions/sender/app` (`NewSender`, `NewHandler`: DynamoDB pacer, token\n")
	w("cache, partial batch failures with visibility changes) and driven by pollers that receive up to 10 jobs from the\n")
	w("outbound queue (the SQS stand-in), call the handler with the function's 1-minute timeout as deadline and delete what\n")
	w("it did not report as failed, as the Lambda event source does. Send times are the simulator's receive times (`Sent()`).\n\n")
	w("| figure | value | goal |\n|---|---|---|\n")
	w("| backlog | %d text messages to %d recipients (round-robin), one number, limit %d mps, %d pollers | 10,000 to 1,000 |\n",
		p.Messages, p.Recipients, p.Rate, p.Pollers)
	w("| sent | %d of %d%s in %.1f s (first to last send) | all |\n", p.Sent, p.Messages, timedOut(p.TimedOut), p.Span.Seconds())
	w("| achieved rate | %.1f mps = **%.1f %%** of the limit | ≥ 95 %% |\n", p.Achieved, 100*p.Achieved/float64(p.Rate))
	w("| 1-second windows over %d | **%d** of %d (busiest: %d sends) | 0 |\n", p.Rate, p.WindowsOver, p.Windows, p.MaxWindow)
	w("| pair-limit violations (GCRA, 6 s, burst 2, per recipient) | **%d** | 0 |\n", p.PairViolations)
	w("| sends per second, one sender invocation | **%.0f** (`%s`) | — |\n", r.Throughput, r.ThroughCmd)
	w("| duplicate sends under %.0f %% crashes + every job delivered twice | **%d** (max %d send per message; %d messages, %d crashes)%s | 0 |\n",
		100*c.CrashRate, c.Duplicates, c.MaxPerMessage, c.Messages, c.Crashes, timedOut(c.TimedOut))
	w("| outcomes after the crashes | %d accepted, %d unknown, %d other; %d simulator sends | unknown = crashed after the call |\n\n",
		c.Accepted, c.Unknown, c.Other, c.Sent)
	w("Windows are counted on the simulator's clock (by the second of each request's arrival); the pacer counts\n")
	w("on the sender's clock when a slot is taken, so a send granted at the end of one second can arrive in the next.\n")
	w("The crash hook (`Sender.AfterProviderCall`) abandons the message after the simulator answered and before the\n")
	w("outcome is written, as a process dying there would; the redelivery finds it in \"sending\" and, after the\n")
	w("sending grace (2 s here), marks it unknown instead of sending again. Setup (leads, queued messages, jobs) of the\n")
	w("backlog took %s and is not timed.\n", p.Setup.Round(time.Second))
	for _, pr := range r.Pacer {
		b.WriteString(pr.markdown())
	}
	return b.String()
}

func timedOut(t bool) string {
	if t {
		return " (stopped at the time limit)"
	}
	return ""
}

func (r *outboundResult) summary() string {
	p, c := r.Pacing, r.Crash
	return fmt.Sprintf("outbound: %d/%d sent, %.1f mps = %.1f%% of %d, %d windows over, %d pair violations; one invocation %.0f sends/s; "+
		"crashes %d, duplicates %d, unknown %d\n", p.Sent, p.Messages, p.Achieved, 100*p.Achieved/float64(p.Rate), p.Rate, p.WindowsOver,
		p.PairViolations, r.Throughput, c.Crashes, c.Duplicates, c.Unknown)
}

// spliceSection replaces the "## Outbound" section of doc with section, or
// adds it (spliceNamed).
func spliceSection(doc, section string) string { return spliceNamed(doc, "Outbound", section) }

// spliceNamed replaces the "## <name>" section of doc (up to the next "## "
// heading or the hand-measured part, whichever comes first) with section,
// spliceFile replaces section name of the Markdown file out with section
// (spliceNamed), keeping every other section; a missing file starts empty.
func spliceFile(out, name, section string) error {
	doc, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", out, err)
	}
	if err := os.WriteFile(out, []byte(spliceNamed(string(doc), name, section)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// or adds it before the hand-measured part (at the end when there is none).
func spliceNamed(doc, name, section string) string {
	head := "\n## " + name + "\n"
	i := strings.Index(doc, head)
	if i < 0 {
		if k := strings.Index(doc, byHand); k >= 0 {
			return strings.TrimRight(doc[:k], "\n") + "\n" + strings.TrimRight(section, "\n") + "\n\n" + doc[k:]
		}
		return strings.TrimRight(doc, "\n") + "\n" + section
	}
	rest := doc[i+len(head):]
	end := len(rest)
	if j := strings.Index(rest, "\n## "); j >= 0 {
		end = j
	}
	if k := strings.Index(rest, byHand); k >= 0 && k < end {
		return doc[:i] + strings.TrimRight(section, "\n") + "\n\n" + rest[k:]
	}
	return doc[:i] + section + rest[end:]
}
