package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/invoke/rie"
)

// Peak memory: the ingest and sender bootstraps run as child processes of
// the bench against a runtime API that hands them 1,000 events in batches
// of the topology's size, one invocation after another as one Lambda
// container gets them; after the last response the bench reads the
// child's peak resident set (VmHWM in /proc/<pid>/status) and kills it.

// goalRSSBytes is the peak resident memory goal of ingest and sender on a
// batch of 1,000 events.
const goalRSSBytes = 64 << 20

// rssEvents is how many events (records) each memory run hands over.
const rssEvents = 1000

// rssRun is one memory run.
type rssRun struct {
	Name        string
	What        string
	Events      int
	Invocations int
	// PeakKB is VmHWM, RSSKB is VmRSS at the end, in KiB.
	PeakKB, RSSKB int64
	Took          time.Duration
	// Failed counts records the handler reported as failed.
	Failed int
}

// seqAPI is a Lambda runtime API that serves a list of events in order, one
// per GET .../invocation/next, and collects the responses.
type seqAPI struct {
	events [][]byte
	closed chan struct{}
	result chan runtimeResult

	mu   sync.Mutex
	next int
}

func (a *seqAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/2018-06-01/runtime/"
	path := strings.TrimPrefix(r.URL.Path, base)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		a.mu.Lock()
		i := a.next
		if i < len(a.events) {
			a.next++
		}
		a.mu.Unlock()
		if i >= len(a.events) {
			select {
			case <-r.Context().Done():
			case <-a.closed:
			}
			return
		}
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", fmt.Sprintf("bench-%d", i+1))
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(runTimeout).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(a.events[i])
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/") && strings.HasSuffix(path, "/response"):
		body, err := io.ReadAll(r.Body)
		a.result <- runtimeResult{at: time.Now(), body: body, err: err}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && (strings.HasSuffix(path, "/error") || path == "init/error"):
		body, _ := io.ReadAll(r.Body)
		a.result <- runtimeResult{at: time.Now(), err: fmt.Errorf("bootstrap posted %s: %s", path, body)}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// runSequence runs bootstrap with env against a seqAPI serving evs and
// returns its peak and final resident memory, the failed records (from
// the SQS batch responses) and the time from start to the last response.
func runSequence(ctx context.Context, bootstrap string, env map[string]string, evs [][]byte) (rssRun, error) {
	r := rssRun{Invocations: len(evs)}
	api := &seqAPI{events: evs, closed: make(chan struct{}), result: make(chan runtimeResult, len(evs)+1)}
	c, out, stop, err := startOnRuntime(api, api.closed, bootstrap, env)
	if err != nil {
		return r, err
	}
	defer stop()
	timeout := time.NewTimer(10 * time.Minute)
	defer timeout.Stop()
	for range evs {
		select {
		case res := <-api.result:
			if res.err != nil {
				return r, fmt.Errorf("%w%s", res.err, out.tail())
			}
			r.Failed += strings.Count(string(res.body), `"itemIdentifier"`)
		case <-c.done:
			return r, fmt.Errorf("bootstrap exited: %w%s", exitErr(c.proc.Err), out.tail())
		case <-ctx.Done():
			return r, fmt.Errorf("memory run: %w", ctx.Err())
		case <-timeout.C:
			return r, fmt.Errorf("bootstrap did not answer %d events within 10 minutes%s", len(evs), out.tail())
		}
	}
	r.Took = time.Since(c.started)
	if r.PeakKB, r.RSSKB, err = procMemory(c.cmd.Process.Pid); err != nil {
		return r, err
	}
	return r, nil
}

// procMemory reads VmHWM and VmRSS (KiB) of a live process.
func procMemory(pid int) (peak, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the child's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			peak = n
		case "VmRSS":
			rss = n
		}
	}
	if peak == 0 {
		return 0, 0, errors.New("no VmHWM in the child's /proc status")
	}
	return peak, rss, nil
}

// childEnv is a function's environment for a direct run: what
// rie.FunctionEnv sets, the stack's AWS settings and every LEADLUENCE_
// variable of this process (resources and Graph URL set up by the bench),
// then extra.
func childEnv(fn topology.Function, extra map[string]string) map[string]string {
	mine := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "LEADLUENCE_") {
			mine[k] = v
		}
	}
	return rie.FunctionEnv(fn, mine, extra)
}

// batches splits records into SQS events of size n.
func batches(records []events.SQSMessage, n int) ([][]byte, error) {
	var out [][]byte
	for i := 0; i < len(records); i += n {
		b, err := json.Marshal(events.SQSEvent{Records: records[i:min(i+n, len(records))]})
		if err != nil {
			return nil, fmt.Errorf("encode an SQS event: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// measureIngestRSS runs the ingest bootstrap on 1,000 WhatsApp messages
// (100 new numbers, 10 messages each, a minute apart) for org B.
func measureIngestRSS(ctx context.Context, root string, m *metaEnv) (rssRun, error) {
	fn, _ := m.st.Function("ingest")
	batch := 10
	if fn.Consumes != nil {
		batch = fn.Consumes.BatchSize
	}
	const senders = 100
	base := 919740000000 + time.Now().UnixNano()%9000*100
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var records []events.SQSMessage
	for k := range rssEvents / senders {
		for i := range senders {
			msg := metatest.Text(strconv.FormatInt(base+int64(i), 10), fmt.Sprintf("Message %d: is the 3BHK in Kharadi available for a visit on Sunday?", k+1)).
				WithName(fmt.Sprintf("Memory Sender %d", i)).At(start.Add(time.Duration(k) * time.Minute))
			records = append(records, m.sqsEvent(k*senders+i, m.sim.InboundPayload(numberB, displayB, msg)).Records...)
		}
	}
	evs, err := batches(records, batch)
	if err != nil {
		return rssRun{}, err
	}
	say("memory: ingest bootstrap on %d WhatsApp messages in %d invocations ...", len(records), len(evs))
	r, err := runSequence(ctx, filepath.Join(root, "bin", "local", "ingest", "bootstrap"), childEnv(fn, nil), evs)
	r.Name, r.Events = "ingest", len(records)
	r.What = fmt.Sprintf("%d WhatsApp texts from %d new numbers (%d leads made), batches of %d", len(records), senders, senders, batch)
	if err != nil {
		return r, fmt.Errorf("ingest memory run: %w", err)
	}
	return r, nil
}

// measureSenderRSS queues 1,000 texts to 1,000 leads on a fresh outbound
// setup and runs the sender bootstrap on their jobs.
func measureSenderRSS(ctx context.Context, root string) (rssRun, error) {
	fn, _ := topology.Default().Function("sender")
	batch := 10
	if fn.Consumes != nil {
		batch = fn.Consumes.BatchSize
	}
	e, err := setupOutbound(ctx)
	if err != nil {
		return rssRun{}, err
	}
	defer e.sim.Close()
	say("memory: queueing %d texts for the sender bootstrap ...", rssEvents)
	msgs, err := e.backlog(ctx, "rss", rssEvents, rssEvents, 0)
	if err != nil {
		return rssRun{}, err
	}
	var records []events.SQSMessage
	for i, m := range msgs {
		records = append(records, events.SQSMessage{MessageId: fmt.Sprintf("rss-%d", i), ReceiptHandle: fmt.Sprintf("rss-%d", i),
			Body: sendgate.Job{OrgID: m.OrgID, LeadID: m.LeadID, MessageID: m.ID}.Encode(), EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	evs, err := batches(records, batch)
	if err != nil {
		return rssRun{}, err
	}
	env := childEnv(fn, map[string]string{
		topology.EnvTable: e.cfg.TableName, topology.EnvKeyID: e.cfg.KeyID, topology.QueueURLEnv(topology.QueueOutbound): e.cfg.OutboundQueueURL,
		"LEADLUENCE_GRAPH_BASE_URL": e.cfg.GraphBaseURL, "LEADLUENCE_GRAPH_VERSION": e.cfg.GraphVersion, topology.EnvPublicBaseURL: "http://127.0.0.1",
	})
	say("memory: sender bootstrap on %d jobs in %d invocations (paced at %d mps) ...", len(records), len(evs), e.cfg.NumberRatePerSecond)
	r, err := runSequence(ctx, filepath.Join(root, "bin", "local", "sender", "bootstrap"), env, evs)
	r.Name, r.Events = "sender", len(records)
	r.What = fmt.Sprintf("%d texts to %d leads, one number at %d mps, batches of %d", len(records), len(records), e.cfg.NumberRatePerSecond, batch)
	if err != nil {
		return r, fmt.Errorf("sender memory run: %w", err)
	}
	if sent := len(e.sim.Sent(obNumberID)); sent != len(records)-r.Failed {
		return r, fmt.Errorf("sender memory run: %d sends for %d jobs (%d failed)", sent, len(records), r.Failed)
	}
	return r, nil
}

// measureHelloRSS runs the hello-world on as many invocations of its echo
// event: the floor of a Go Lambda process.
func measureHelloRSS(ctx context.Context, hello string, invocations int) (rssRun, error) {
	evs := make([][]byte, invocations)
	for i := range evs {
		evs[i] = helloPayload
	}
	r, err := runSequence(ctx, hello, rie.FunctionEnv(topology.Function{Name: "hello", MemoryMB: 512}), evs)
	r.Name, r.What = "hello-world", fmt.Sprintf("%d echo invocations", invocations)
	if err != nil {
		return r, fmt.Errorf("hello memory run: %w", err)
	}
	return r, nil
}

// memoryMarkdown renders the memory section.
func memoryMarkdown(runs []rssRun) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Memory\n\n")
	w("Peak resident memory of a bootstrap (the host build, `bin/local/<fn>/bootstrap`, %s) run directly as a child of the bench against a runtime\n", runtime.GOARCH)
	w("API that hands it the events one invocation after another, as one Lambda container gets them; after the last response the bench reads\n")
	w("the child's `VmHWM` (peak) and `VmRSS` from `/proc/<pid>/status`. Goal: ingest and sender ≤ %d MiB on a batch of %d events.\n\n", goalRSSBytes>>20, rssEvents)
	w("| bootstrap | events | invocations | peak RSS (VmHWM) | RSS at the end | failed records | time | goal |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range runs {
		goal := ""
		if r.Name != "hello-world" {
			goal = fmt.Sprintf("≤ %d MiB — %s", goalRSSBytes>>20, verdict(r.PeakKB*1024 <= goalRSSBytes))
		}
		w("| %s | %s | %d | **%.1f MiB** | %.1f MiB | %d | %s | %s |\n", r.Name, r.What, r.Invocations, float64(r.PeakKB)/1024, float64(r.RSSKB)/1024,
			r.Failed, r.Took.Round(100*time.Millisecond), goal)
	}
	return b.String()
}

// runMemoryOnly measures the memory figures alone (on a fresh Meta setup
// and a fresh outbound setup) and splices their section into out, keeping
// every other section.
func runMemoryOnly(ctx context.Context, out string) (err error) {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	tmp, err := os.MkdirTemp("", "leadluence-bench-*")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	hello, err := buildHello(ctx, root, tmp, runtime.GOARCH)
	if err != nil {
		return err
	}
	m, err := setupMeta(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	ing, err := measureIngestRSS(ctx, root, m)
	if err != nil {
		return err
	}
	snd, err := measureSenderRSS(ctx, root)
	if err != nil {
		return err
	}
	h, err := measureHelloRSS(ctx, hello, snd.Invocations)
	if err != nil {
		return err
	}
	if err := spliceFile(out, "Memory", memoryMarkdown([]rssRun{ing, snd, h})); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", out)
	return nil
}
