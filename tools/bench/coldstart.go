package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/leadluence/backend/tools/child"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/invoke/rie"
)

const (
	// warmups is how many cold starts of each bootstrap are run, and thrown
	// away, before the measured ones: they fill the page cache and wake the
	// JVM behind DynamoDB Local.
	warmups = 2
	// breakdownRuns is how many direct runs of each bootstrap the breakdown
	// takes its medians from.
	breakdownRuns = 7
	// traceRuns is how many GODEBUG=inittrace=1 runs of each bootstrap the
	// init costs take their medians from.
	traceRuns = 3
	// runTimeout bounds one cold start.
	runTimeout = time.Minute
)

// helloPayload is the event sent to the hello-world bootstrap.
var helloPayload = []byte(`{"hello":"world"}`)

// coldResult holds the cold starts under the emulator, paired by index:
// API[i] and Hello[i] ran next to each other.
type coldResult struct {
	// API and Hello are process start to first response received.
	API, Hello []time.Duration
	// APIReported and HelloReported are the "Duration" of the emulator's
	// REPORT line: from the invocation reaching the emulator (which then
	// starts the bootstrap) until the response.
	APIReported, HelloReported []time.Duration
}

// coldStarts runs n measured cold starts of each bootstrap under the
// emulator, alternating which goes first, after the warm-ups.
func coldStarts(ctx context.Context, e *env, n int) (coldResult, error) {
	var r coldResult
	apiBoot := filepath.Join(e.root, "bin", "local", e.fn.Name, "bootstrap")
	if err := checkELF(apiBoot, runtime.GOARCH); err != nil {
		return r, fmt.Errorf("%w (run `make build` first)", err)
	}
	first, err := firstAPIEvent()
	if err != nil {
		return r, err
	}
	api := func() (time.Duration, time.Duration, error) {
		return rieOnce(ctx, e, apiBoot, e.fnEnv, first, checkStatus(http.StatusUnauthorized))
	}
	hello := func() (time.Duration, time.Duration, error) {
		return rieOnce(ctx, e, e.helloHost, helloEnv(e), helloPayload, checkEcho)
	}
	for i := -warmups; i < n; i++ {
		order := []string{"api", "hello"}
		if i%2 != 0 {
			order = []string{"hello", "api"}
		}
		for _, which := range order {
			var total, reported time.Duration
			var err error
			if which == "api" {
				total, reported, err = api()
			} else {
				total, reported, err = hello()
			}
			if err != nil {
				return r, fmt.Errorf("cold start %s (run %d): %w", which, i+warmups+1, err)
			}
			if i < 0 {
				continue
			}
			if which == "api" {
				r.API, r.APIReported = append(r.API, total), append(r.APIReported, reported)
			} else {
				r.Hello, r.HelloReported = append(r.Hello, total), append(r.HelloReported, reported)
			}
		}
	}
	return r, nil
}

// helloEnv is the hello-world's environment: the api's limits, no resources.
func helloEnv(e *env) map[string]string {
	return rie.FunctionEnv(topology.Function{Name: "hello", MemoryMB: e.fn.MemoryMB, Timeout: e.fn.Timeout}, e.stack.Env())
}

// reportDuration matches the "Duration" of the emulator's REPORT line.
var reportDuration = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)

// rieOnce starts a fresh emulator for bootstrap, invokes it once with
// payload, stops it, and returns the time from starting the emulator
// process to receiving the response, and the emulator's reported duration.
func rieOnce(ctx context.Context, e *env, bootstrap string, fnEnv map[string]string, payload []byte, check func([]byte) error) (total, reported time.Duration, err error) {
	out := &logBuffer{}
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	p, err := rie.StartReady(ctx, rie.Options{RIE: e.rie, Bootstrap: bootstrap, Env: fnEnv, Output: out, LogLevel: "error"}, time.Millisecond)
	if err != nil {
		return 0, 0, fmt.Errorf("%w%s", err, out.tail())
	}
	stopped := false
	defer func() {
		if !stopped {
			err = errors.Join(err, p.Stop())
		}
		if err != nil {
			err = fmt.Errorf("%w%s", err, out.tail())
		}
	}()
	resp, err := p.Invoke(ctx, payload)
	total = time.Since(p.Started)
	if err != nil {
		return 0, 0, err
	}
	if err := check(resp); err != nil {
		return 0, 0, err
	}
	// Stopping waits for the emulator's output to be copied.
	stopped = true
	if err := p.Stop(); err != nil {
		return 0, 0, err
	}
	m := reportDuration.FindStringSubmatch(out.String())
	if m == nil {
		return 0, 0, errors.New("no REPORT line with a Duration in the emulator's output")
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse REPORT duration %q: %w", m[1], err)
	}
	return total, time.Duration(ms * float64(time.Millisecond)), nil
}

// firstAPIEvent is the api's first event in the cold-start figures: an
// unauthenticated GET /v1/leads, answered 401 without an AWS call, as the
// fleet table judges the api (fleetEvent) and as the webhook is measured
// (an unsigned request): the function's own cold path, not the stand-ins'
// round trips. The fleet table measures GET /v1/health and a signed-in
// first request beside it.
func firstAPIEvent() ([]byte, error) {
	b, err := json.Marshal(mustEvent("GET", "/v1/leads", "GET /v1/leads", nil, "", nil))
	if err != nil {
		return nil, fmt.Errorf("first api event: %w", err)
	}
	return b, nil
}

// checkHealth accepts a 200 answer from GET /v1/health.
func checkHealth(payload []byte) error {
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("health response is not an HTTP API response: %w: %s", err, payload)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health answered %d: %s", resp.StatusCode, resp.Body)
	}
	return nil
}

// checkEcho accepts the hello-world's echo of helloPayload.
func checkEcho(payload []byte) error {
	if strings.TrimSpace(string(payload)) != string(helloPayload) {
		return fmt.Errorf("hello answered %s, want %s", payload, helloPayload)
	}
	return nil
}

// phases splits one cold start of a bootstrap run directly against the
// bench's runtime API.
type phases struct {
	// Init is process start to the first GET .../invocation/next: exec,
	// Go runtime start, package inits and main() up to lambda.Start.
	Init time.Duration
	// Invoke is from that request to the response being posted: the
	// handler's first request.
	Invoke time.Duration
}

// Total is process start to response.
func (p phases) Total() time.Duration { return p.Init + p.Invoke }

// directResult holds the direct runs of each bootstrap.
type directResult struct {
	API, Hello []phases
}

// directStarts runs each bootstrap n times directly, interleaved.
func directStarts(ctx context.Context, e *env, n int) (directResult, error) {
	var r directResult
	apiBoot := filepath.Join(e.root, "bin", "local", e.fn.Name, "bootstrap")
	first, err := firstAPIEvent()
	if err != nil {
		return r, err
	}
	for i := range n {
		// Alternate which goes first, as the emulator runs do.
		for j := range 2 {
			if (i+j)%2 == 0 {
				ph, _, err := directOnce(ctx, apiBoot, e.fnEnv, first, checkStatus(http.StatusUnauthorized))
				if err != nil {
					return r, fmt.Errorf("direct run of api (%d): %w", i+1, err)
				}
				r.API = append(r.API, ph)
			} else {
				ph, _, err := directOnce(ctx, e.helloHost, helloEnv(e), helloPayload, checkEcho)
				if err != nil {
					return r, fmt.Errorf("direct run of hello (%d): %w", i+1, err)
				}
				r.Hello = append(r.Hello, ph)
			}
		}
	}
	return r, nil
}

// runtimeAPI is the smallest Lambda runtime API that serves one event: it
// answers the first GET .../invocation/next with the event, holds any
// further one, and records when things happened.
type runtimeAPI struct {
	event  []byte
	closed chan struct{}

	mu       sync.Mutex
	served   bool
	nextAt   time.Time
	result   chan runtimeResult
	resulted bool
}

// runtimeResult is what the bootstrap posted: a response or an error.
type runtimeResult struct {
	at   time.Time
	body []byte
	err  error
}

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/2018-06-01/runtime/"
	path := strings.TrimPrefix(r.URL.Path, base)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		a.mu.Lock()
		first := !a.served
		if first {
			a.served, a.nextAt = true, time.Now()
		}
		a.mu.Unlock()
		if !first {
			select {
			case <-r.Context().Done():
			case <-a.closed:
			}
			return
		}
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", "bench-1")
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(runTimeout).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(a.event)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/") && strings.HasSuffix(path, "/response"):
		body, err := io.ReadAll(r.Body)
		a.post(runtimeResult{at: time.Now(), body: body, err: err})
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && (strings.HasSuffix(path, "/error") || path == "init/error"):
		body, _ := io.ReadAll(r.Body)
		a.post(runtimeResult{at: time.Now(), err: fmt.Errorf("bootstrap posted %s: %s", path, body)})
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func (a *runtimeAPI) post(res runtimeResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.resulted {
		a.resulted = true
		a.result <- res
	}
}

// directOnce runs bootstrap as a child with AWS_LAMBDA_RUNTIME_API pointing
// at a fresh runtimeAPI, hands it payload, kills it once it has answered and
// returns the phases and everything it wrote to stdout and stderr.
func directOnce(ctx context.Context, bootstrap string, fnEnv map[string]string, payload []byte, check func([]byte) error) (phases, string, error) {
	api := &runtimeAPI{event: payload, closed: make(chan struct{}), result: make(chan runtimeResult, 1)}
	c, out, stop, err := startOnRuntime(api, api.closed, bootstrap, fnEnv)
	if err != nil {
		return phases{}, "", err
	}
	defer stop()
	timer := time.NewTimer(runTimeout)
	defer timer.Stop()
	var res runtimeResult
	select {
	case res = <-api.result:
	case <-c.done:
		return phases{}, out.String(), fmt.Errorf("bootstrap exited before answering: %w%s", exitErr(c.proc.Err), out.tail())
	case <-ctx.Done():
		return phases{}, out.String(), ctx.Err()
	case <-timer.C:
		return phases{}, out.String(), fmt.Errorf("bootstrap did not answer within %s%s", runTimeout, out.tail())
	}
	c.kill()
	if res.err != nil {
		return phases{}, out.String(), fmt.Errorf("%w%s", res.err, out.tail())
	}
	if err := check(res.body); err != nil {
		return phases{}, out.String(), err
	}
	api.mu.Lock()
	nextAt := api.nextAt
	api.mu.Unlock()
	return phases{Init: nextAt.Sub(c.started), Invoke: res.at.Sub(nextAt)}, out.String(), nil
}

// bootChild is a bootstrap run directly.
type bootChild struct {
	cmd     *exec.Cmd
	proc    *child.Process
	started time.Time
	done    chan struct{}
	once    sync.Once
}

// startChild starts path with exactly env, in its own process group, on a
// goroutine locked to its thread (see rie.ProcAttr).
// startOnRuntime serves api as the Lambda runtime API on loopback and
// starts bootstrap with env and AWS_LAMBDA_RUNTIME_API pointing at it,
// its output in the returned buffer; stop kills the child, closes closed
// (which api's handlers wait on) and shuts the server.
func startOnRuntime(api http.Handler, closed chan struct{}, bootstrap string, env map[string]string) (c *bootChild, out *logBuffer, stop func(), err error) {
	srv := httptest.NewServer(api)
	shut := func() {
		close(closed)
		srv.CloseClientConnections()
		srv.Close()
	}
	envMap := make(map[string]string, len(env)+1)
	for k, v := range env {
		envMap[k] = v
	}
	envMap["AWS_LAMBDA_RUNTIME_API"] = strings.TrimPrefix(srv.URL, "http://")
	out = &logBuffer{}
	if c, err = startChild(bootstrap, envMap, out); err != nil {
		shut()
		return nil, nil, nil, err
	}
	return c, out, func() { c.kill(); shut() }, nil
}

func startChild(path string, env map[string]string, out io.Writer) (*bootChild, error) {
	cmd := exec.Command(path)
	cmd.Dir = filepath.Dir(path)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = rie.ProcAttr()
	pc, err := child.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c := &bootChild{cmd: cmd, proc: pc, started: pc.Started, done: pc.Done}
	return c, nil
}

// kill kills the child's process group and waits for it.
func (c *bootChild) kill() {
	c.once.Do(func() {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	})
}

// exitErr describes how a child ended: its wait error, or a clean exit.
func exitErr(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// pkgInit is one package's init cost, as GODEBUG=inittrace=1 reports it.
type pkgInit struct {
	Pkg    string
	Clock  time.Duration
	Bytes  int64
	Allocs int64
}

// initCosts holds the median package init costs of each bootstrap.
type initCosts struct {
	// API is sorted by Clock, largest first.
	API []pkgInit
	// APISum and HelloSum are the medians of the summed clock times.
	APISum, HelloSum time.Duration
}

var initLine = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs`)

// initTrace runs each bootstrap n times directly with GODEBUG=inittrace=1
// and returns the median init cost of every package.
func initTrace(ctx context.Context, e *env, n int) (initCosts, error) {
	var r initCosts
	apiBoot := filepath.Join(e.root, "bin", "local", e.fn.Name, "bootstrap")
	first, err := firstAPIEvent()
	if err != nil {
		return r, err
	}
	traced := func(m map[string]string) map[string]string {
		out := map[string]string{"GODEBUG": "inittrace=1"}
		for k, v := range m {
			if k != "GODEBUG" {
				out[k] = v
			}
		}
		return out
	}
	perPkg := map[string][]pkgInit{}
	var apiSums, helloSums []time.Duration
	for i := range n {
		_, out, err := directOnce(ctx, apiBoot, traced(e.fnEnv), first, checkStatus(http.StatusUnauthorized))
		if err != nil {
			return r, fmt.Errorf("inittrace run of api (%d): %w", i+1, err)
		}
		inits := parseInits(out)
		if len(inits) == 0 {
			return r, errors.New("inittrace run of api: no init lines in its output")
		}
		var sum time.Duration
		for _, p := range inits {
			perPkg[p.Pkg] = append(perPkg[p.Pkg], p)
			sum += p.Clock
		}
		apiSums = append(apiSums, sum)
		if _, out, err = directOnce(ctx, e.helloHost, traced(helloEnv(e)), helloPayload, checkEcho); err != nil {
			return r, fmt.Errorf("inittrace run of hello (%d): %w", i+1, err)
		}
		sum = 0
		for _, p := range parseInits(out) {
			sum += p.Clock
		}
		helloSums = append(helloSums, sum)
	}
	for pkg, runs := range perPkg {
		clocks := make([]time.Duration, len(runs))
		sizes := make([]int64, len(runs))
		allocs := make([]int64, len(runs))
		for i, p := range runs {
			clocks[i], sizes[i], allocs[i] = p.Clock, p.Bytes, p.Allocs
		}
		r.API = append(r.API, pkgInit{Pkg: pkg, Clock: median(clocks), Bytes: median(sizes), Allocs: median(allocs)})
	}
	sort.Slice(r.API, func(i, j int) bool { return r.API[i].Clock > r.API[j].Clock })
	r.APISum, r.HelloSum = median(apiSums), median(helloSums)
	return r, nil
}

// parseInits extracts the inittrace lines of a bootstrap's output.
func parseInits(out string) []pkgInit {
	var inits []pkgInit
	for _, m := range initLine.FindAllStringSubmatch(out, -1) {
		ms, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		inits = append(inits, pkgInit{Pkg: m[1], Clock: time.Duration(ms * float64(time.Millisecond)), Bytes: b, Allocs: a})
	}
	return inits
}

// logBuffer collects a child's output (up to a limit) for parsing and for
// error messages.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

const logLimit = 1 << 20

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := logLimit - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// tail formats the last lines of the output for an error message.
func (l *logBuffer) tail() string {
	s := strings.TrimRight(l.String(), "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}
