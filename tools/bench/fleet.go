package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/invoke/rie"
	"github.com/leadluence/backend/tools/provision"
)

// The cold start of every function, not only the api's: each bootstrap's
// first response under the emulator and its init (process start to the
// first /invocation/next, run directly), each paired with a hello-world run.

// Goals of every function's cold start.
const (
	goalInitOverHello = 25 * time.Millisecond
)

// fleetRow is one function's cold starts, paired by index with the
// hello-world's.
type fleetRow struct {
	Name  string
	Event string
	// Variant tells apart the rows of one function measured with more
	// than one first event ("" for the row its goals are judged on).
	Variant string
	// RIE and HelloRIE are process start to first response under the
	// emulator.
	RIE, HelloRIE []time.Duration
	// Init and HelloInit are process start to the first
	// /invocation/next, run directly.
	Init, HelloInit []time.Duration
	// Invoke is, in the same direct runs, the first event's handling:
	// that request to the response being posted.
	Invoke []time.Duration
}

// Label names the row: the function, and the variant if any.
func (r fleetRow) Label() string {
	if r.Variant == "" {
		return r.Name
	}
	return r.Name + " (" + r.Variant + ")"
}

// fleetCase is one first event a function is measured with.
type fleetCase struct {
	// Variant is "" for the event the function's goals are judged on.
	Variant string
	Payload []byte
	What    string
	// Check accepts the function's answer (nil: any answer).
	Check func([]byte) error
}

// fleetEvent lists the first events each function gets, the one its goals
// are judged on first: a cheap one of the kind it serves. The api's is an
// unauthenticated GET /v1/leads (401, no AWS call of its own), like the webhook's
// unsigned request; GET /v1/health (the table, the key and three queues
// checked) and a first signed-in GET /v1/leads (token is called for it: a
// user signed up on the fresh prefix) are measured beside it, so the cost
// of a cold start's first AWS calls stays in the table.
func fleetEvent(fn topology.Function, token func() (string, error)) ([]fleetCase, error) {
	var cases []fleetCase
	add := func(variant, what string, ev any, check func([]byte) error) error {
		payload, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("event for %s: %w", fn.Name, err)
		}
		cases = append(cases, fleetCase{Variant: variant, Payload: payload, What: what, Check: check})
		return nil
	}
	var err error
	switch {
	case fn.Name == "api":
		if err = add("", "`GET /v1/leads`, no token (answered 401)", mustEvent("GET", "/v1/leads", "GET /v1/leads", nil, "", nil),
			checkStatus(http.StatusUnauthorized)); err != nil {
			return nil, err
		}
		if err = add("health", "`GET /v1/health` (5 AWS calls)", mustEvent("GET", "/v1/health", "GET /v1/health", nil, "", nil), checkHealth); err != nil {
			return nil, err
		}
		tok, terr := token()
		if terr != nil {
			return nil, fmt.Errorf("token for the api's signed-in event: %w", terr)
		}
		err = add("signed in", "`GET /v1/leads`, a signed-in owner's first request (answered 200)",
			mustEvent("GET", "/v1/leads", "GET /v1/leads", nil, tok, nil), checkStatus(http.StatusOK))
	case fn.Name == "account":
		// Like the api: judged on a request its cold path answers alone
		// (401, no AWS call); its first public request, which loads the
		// platform secrets (a GetItem and a KMS call each) before the body
		// is refused, is measured beside it.
		if err = add("", "`GET /v1/me`, no token (answered 401)", mustEvent("GET", "/v1/me", "GET /v1/me", nil, "", nil),
			checkStatus(http.StatusUnauthorized)); err != nil {
			return nil, err
		}
		err = add("public", "`POST /v1/auth/signup` with `{}` (loads the platform secrets; answered 422)",
			mustEvent("POST", "/v1/auth/signup", "POST /v1/auth/signup", nil, "", []byte("{}")), checkStatus(http.StatusUnprocessableEntity))
	case len(fn.Routes) > 0:
		r := fn.Routes[0]
		err = add("", fmt.Sprintf("`%s %s`, unsigned (answered 4xx)", r.Method, r.Path),
			mustEvent(r.Method, r.Path, r.Method+" "+r.Path, nil, "", []byte("{}")), nil)
	case fn.Consumes != nil:
		err = add("", "an SQS event with no records", events.SQSEvent{Records: []events.SQSMessage{}}, nil)
	default:
		// The event EventBridge sends for the function's schedule
		// (infra/stack: detail names the schedule).
		detail, name := json.RawMessage(`{}`), "schedule"
		if len(fn.Schedules) > 0 {
			name = fn.Schedules[0].Name
			detail, err = json.Marshal(map[string]string{"schedule": name})
			if err != nil {
				return nil, fmt.Errorf("event for %s: %w", fn.Name, err)
			}
		}
		err = add("", "a scheduled event (fresh table: nothing to do)", events.EventBridgeEvent{Version: "0", ID: "bench",
			DetailType: "Scheduled Event", Source: "aws.events", AccountID: "000000000000", Time: time.Now().UTC(), Region: "us-east-1",
			Resources: []string{"arn:aws:events:us-east-1:000000000000:rule/" + name}, Detail: detail}, nil)
	}
	if err != nil {
		return nil, err
	}
	return cases, nil
}

// checkStatus accepts an HTTP API answer with status want.
func checkStatus(want int) func([]byte) error {
	return func(payload []byte) error {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			return fmt.Errorf("not an HTTP API response: %w: %s", err, payload)
		}
		if resp.StatusCode != want {
			return fmt.Errorf("answered %d, want %d: %s", resp.StatusCode, want, resp.Body)
		}
		return nil
	}
}

// fleetToken signs up an owner on the fresh prefix and logs in, each
// request sent to the bootstrap of the function that serves its route
// (infra/topology), under the emulator; it returns the access token.
func fleetToken(ctx context.Context, e *env, st topology.Stack, res topology.Resolved) (string, error) {
	email := fmt.Sprintf("bench.fleet.%d@example.com", time.Now().UnixNano())
	const password = "bench-password-0123"
	var token string
	for _, req := range []struct {
		path string
		body map[string]string
		want int
	}{
		{"/v1/auth/signup", map[string]string{"org_name": "Bench Fleet", "name": "Bench Owner", "email": email, "password": password}, http.StatusCreated},
		{"/v1/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK},
	} {
		var fn topology.Function
		for _, f := range st.Functions {
			for _, r := range f.Routes {
				if r.Method == http.MethodPost && r.Path == req.path {
					fn = f
				}
			}
		}
		if fn.Name == "" {
			return "", fmt.Errorf("no function serves POST %s in infra/topology", req.path)
		}
		body, err := json.Marshal(req.body)
		if err != nil {
			return "", fmt.Errorf("POST %s: encode body: %w", req.path, err)
		}
		payload, err := json.Marshal(mustEvent(http.MethodPost, req.path, "POST "+req.path, nil, "", body))
		if err != nil {
			return "", fmt.Errorf("POST %s: encode event: %w", req.path, err)
		}
		fnEnv, err := fleetEnv(ctx, e, fn, res)
		if err != nil {
			return "", err
		}
		boot := filepath.Join(e.root, "bin", "local", fn.Name, "bootstrap")
		var answer events.APIGatewayV2HTTPResponse
		if _, _, err := rieOnce(ctx, e, boot, fnEnv, payload, func(b []byte) error {
			if err := checkStatus(req.want)(b); err != nil {
				return err
			}
			return json.Unmarshal(b, &answer)
		}); err != nil {
			return "", fmt.Errorf("POST %s (%s): %w", req.path, fn.Name, err)
		}
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(answer.Body), &out); err == nil && out.AccessToken != "" {
			token = out.AccessToken
		}
	}
	if token == "" {
		return "", errors.New("login answered no access_token")
	}
	return token, nil
}

// apiParams are the api's deploy-time parameters (infra/topology Params),
// set as make dev sets them.
var apiParams = map[string]string{topology.EnvMetaAppID: metatest.DefaultAppID}

// anyAnswer accepts any response the bootstrap posted (an error it posted
// fails the run before this check).
func anyAnswer([]byte) error { return nil }

// fleetEnv is a function's environment under the emulator: its resources,
// and for the webhook its two secrets sealed with the prefix's key.
func fleetEnv(ctx context.Context, e *env, fn topology.Function, res topology.Resolved) (map[string]string, error) {
	extra := map[string]string{topology.EnvPublicBaseURL: "http://127.0.0.1"}
	if fn.Name == benchFn || fn.Name == "account" {
		maps.Copy(extra, apiParams)
	}
	if fn.Name == "webhook" {
		keys := kms.NewFromConfig(e.awsCfg)
		for env, p := range map[string]struct{ purpose, value string }{
			topology.EnvMetaAppSecretCiphertext:   {topology.PurposeMetaAppSecret, benchAppSecret},
			topology.EnvMetaVerifyTokenCiphertext: {topology.PurposeMetaVerifyToken, benchVerifyToken},
		} {
			ct, err := secret.Encrypt(ctx, keys, res.KeyID, p.purpose, []byte(p.value))
			if err != nil {
				return nil, fmt.Errorf("encrypt %s: %w", env, err)
			}
			extra[env] = ct
		}
	}
	return rie.FunctionEnv(fn, e.stack.Env(), extra, topology.ResourceEnv(fn, res)), nil
}

// measureFleet runs n cold starts of every function under the emulator and
// n direct ones, each after a hello-world run (the order alternating).
func measureFleet(ctx context.Context, e *env, st topology.Stack, res topology.Resolved, n int) ([]fleetRow, error) {
	var rows []fleetRow
	var token string
	signIn := func() (string, error) {
		var err error
		if token == "" {
			token, err = fleetToken(ctx, e, st, res)
		}
		return token, err
	}
	for _, fn := range st.Functions {
		boot := filepath.Join(e.root, "bin", "local", fn.Name, "bootstrap")
		if err := checkELF(boot, runtime.GOARCH); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first)", err)
		}
		if len(e.fleetFns) > 0 && !slices.Contains(e.fleetFns, fn.Name) {
			continue
		}
		cases, err := fleetEvent(fn, signIn)
		if err != nil {
			return nil, err
		}
		fnEnv, err := fleetEnv(ctx, e, fn, res)
		if err != nil {
			return nil, err
		}
		for _, c := range cases {
			row, err := measureFleetCase(ctx, e, fn, boot, fnEnv, c, n)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil, errors.New("no functions in the topology")
	}
	return rows, nil
}

// measureFleetCase runs n cold starts of fn's bootstrap with one first
// event under the emulator and n direct ones, each paired with a
// hello-world run (or, with -vs, the other tree's bootstrap).
func measureFleetCase(ctx context.Context, e *env, fn topology.Function, boot string, fnEnv map[string]string, c fleetCase, n int) (fleetRow, error) {
	payload, check := c.Payload, c.Check
	if check == nil {
		check = anyAnswer
	}
	base, basePayload, baseCheck := e.helloHost, helloPayload, checkEcho
	baseEnv := rie.FunctionEnv(topology.Function{Name: "hello", MemoryMB: fn.MemoryMB, Timeout: fn.Timeout}, e.stack.Env())
	if e.fleetVs != "" {
		// The same function built from another tree: the pair is
		// after/before instead of function/hello-world.
		base, baseEnv, basePayload, baseCheck = filepath.Join(e.fleetVs, fn.Name, "bootstrap"), fnEnv, payload, anyAnswer
	}
	row := fleetRow{Name: fn.Name, Event: c.What, Variant: c.Variant}
	say("cold start of %s: %d under the emulator and %d direct, each paired with hello ...", row.Label(), n, n)
	for i := -1; i < n; i++ { // one warm-up pair
		for j := range 2 {
			if (i+j)%2 == 0 {
				total, _, err := rieOnce(ctx, e, boot, fnEnv, payload, check)
				if err != nil {
					return row, fmt.Errorf("cold start of %s: %w", row.Label(), err)
				}
				ph, _, err := directOnce(ctx, boot, fnEnv, payload, check)
				if err != nil {
					return row, fmt.Errorf("direct run of %s: %w", row.Label(), err)
				}
				if i >= 0 {
					row.RIE, row.Init, row.Invoke = append(row.RIE, total), append(row.Init, ph.Init), append(row.Invoke, ph.Invoke)
				}
			} else {
				total, _, err := rieOnce(ctx, e, base, baseEnv, basePayload, baseCheck)
				if err != nil {
					return row, fmt.Errorf("cold start of %s: %w", base, err)
				}
				ph, _, err := directOnce(ctx, base, baseEnv, basePayload, baseCheck)
				if err != nil {
					return row, fmt.Errorf("direct run of %s: %w", base, err)
				}
				if i >= 0 {
					row.HelloRIE, row.HelloInit = append(row.HelloRIE, total), append(row.HelloInit, ph.Init)
				}
			}
		}
	}
	return row, nil
}

// fleetMarkdown renders every function's cold start against the goals.
func fleetMarkdown(rows []fleetRow, sizes []sizeRow) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Every function's cold start\n\n")
	w("Each function's stripped host bootstrap (`bin/local/<fn>/bootstrap`) with its environment on a fresh prefix (resources, and for the\n")
	w("webhook its two secrets sealed with the prefix's key), %d times under the emulator (process start → first response, as above) and\n", len(rows[0].RIE))
	w("%d times directly against the bench's runtime API (*init*: process start → first `/invocation/next`), each run next to a\n", len(rows[0].Init))
	w("hello-world run (order alternating, one warm-up pair). Ratios and differences are the medians of the per-pair figures, so they\n")
	w("compare runs taken side by side on this shared machine. Goals: first response ≤ %.1f× hello-world, init ≤ hello-world + %d ms,\n", goalColdRatio, goalInitOverHello.Milliseconds())
	w("deployed (arm64, stripped) bootstrap ≤ %d MB. *First event* is, in the direct runs, the handling of the first event (the\n", goalSizeBytes/1_000_000)
	w("`/invocation/next` answer to the response posted): its AWS calls, against the local stand-ins, are in it.\n\n")
	w("The api's and the account function's goals are judged on their first rows: a route that needs a signed-in caller, asked\n")
	w("without a token and answered 401 without an AWS call (neither function's start makes one: the platform secrets load on the\n")
	w("first request that needs them), the same kind of first event as the webhook's unsigned request, so the row measures what\n")
	w("the function costs to start and to answer, not the stand-ins' latency.\n")
	w("Their other rows are shown so nothing is hidden, their verdicts in parentheses: `GET /v1/health` checks the table, the key\n")
	w("and three queues (5 AWS calls); the signed-in `GET /v1/leads` (a token for an owner signed up on the fresh prefix) is a\n")
	w("user's first request: the platform secrets loaded (a GetItem and a KMS call each, at once), the token and the user\n")
	w("checked, the plan's usage counted, the leads read and the read audited; the account function's `POST /v1/auth/signup`\n")
	w("loads the platform secrets before its empty body is refused.\n\n")
	w("| function | first event | first response, median | ÷ hello (paired) | goal ≤ %.1f× | init, median | − hello (paired) | goal ≤ +%d ms | first event, direct | size | goal ≤ %d MB |\n",
		goalColdRatio, goalInitOverHello.Milliseconds(), goalSizeBytes/1_000_000)
	w("|---|---|---:|---:|---|---:|---:|---|---:|---:|---|\n")
	for _, r := range rows {
		judge := verdict
		if r.Variant != "" {
			judge = func(ok bool) string { return "(" + strings.Trim(verdict(ok), "*") + ")" }
		}
		ratio := float64(median(ratios(r.RIE, r.HelloRIE))) / 1000
		diffs := make([]time.Duration, len(r.Init))
		for i := range r.Init {
			diffs[i] = r.Init[i] - r.HelloInit[i]
		}
		diff := median(diffs)
		var size int64
		for _, s := range sizes {
			if s.Name == r.Name {
				size = s.Bytes
			}
		}
		w("| %s | %s | %.1f ms | %.2f× | %s | %.1f ms | %+.1f ms | %s | %.1f ms | %.2f MB | %s |\n", r.Label(), r.Event, ms(median(r.RIE)), ratio,
			judge(ratio <= goalColdRatio), ms(median(r.Init)), ms(diff), judge(diff <= goalInitOverHello), ms(median(r.Invoke)), mb(size),
			judge(size > 0 && size <= goalSizeBytes))
	}
	var hr, hi []time.Duration
	for _, r := range rows {
		hr, hi = append(hr, r.HelloRIE...), append(hi, r.HelloInit...)
	}
	w("| hello-world | its event | %.1f ms | 1.00× | | %.1f ms | | | | | |\n", ms(median(hr)), ms(median(hi)))
	return b.String()
}

// runFleetOnly measures every function's cold start (n pairs each, under
// the emulator and directly), the api's package inits, the bootstrap sizes
// and the size by package, and prints those sections to stdout without
// touching any file: a focused before/after run of the speed goals (`make
// build` first). The full report places the same sections in
// docs/benchmarks.md.
func runFleetOnly(ctx context.Context, n int, fns []string, vs string) (err error) {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	st := topology.Default()
	fn, ok := st.Function(benchFn)
	if !ok {
		return fmt.Errorf("no function %q in infra/topology", benchFn)
	}
	e := &env{root: root, fn: fn, fleetFns: fns, fleetVs: vs}
	if e.rie, err = rie.Binary(ctx, root); err != nil {
		return err
	}
	stack, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	e.stack = stack
	if e.awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	prefix := fmt.Sprintf("bench%d-", time.Now().UnixNano()%1e9)
	if e.res, err = provision.Apply(ctx, e.awsCfg, st, prefix); err != nil {
		return fmt.Errorf("provision %s*: %w", prefix, err)
	}
	e.resEnv = topology.ResourceEnv(fn, e.res)
	e.fnEnv = rie.FunctionEnv(fn, stack.Env(), e.resEnv, apiParams)
	tmp, err := os.MkdirTemp("", "leadluence-bench-*")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	if e.helloHost, err = buildHello(ctx, root, tmp, runtime.GOARCH); err != nil {
		return err
	}
	if e.helloARM, err = buildHello(ctx, root, tmp, "arm64"); err != nil {
		return err
	}
	rows, err := measureFleet(ctx, e, st, e.res, n)
	if err != nil {
		return err
	}
	if vs != "" {
		fmt.Print(versusMarkdown(rows, vs))
		return nil
	}
	say("api package inits (GODEBUG=inittrace=1), %d runs ...", traceRuns)
	inits, err := initTrace(ctx, e, traceRuns)
	if err != nil {
		return err
	}
	files, err := sizes(root, st, e.helloARM)
	if err != nil {
		return err
	}
	say("size by package (each bootstrap built again with its symbols) ...")
	pkgs, err := sizeBreakdown(ctx, root, tmp, st)
	if err != nil {
		return err
	}
	fmt.Printf("Run: %s, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(ctx).GoVersion)
	fmt.Print(fleetMarkdown(rows, files))
	fmt.Printf("\nThe api's package init, sum of inittrace (median of %d runs): %.1f ms; hello-world %.1f ms. Slowest:\n\n", traceRuns, ms(inits.APISum), ms(inits.HelloSum))
	fmt.Print("| package | clock | allocated | allocs |\n|---|---:|---:|---:|\n")
	for i, p := range inits.API {
		if i == 8 || p.Clock < 100*time.Microsecond {
			break
		}
		fmt.Printf("| `%s` | %.1f ms | %.1f MB | %d |\n", p.Pkg, ms(p.Clock), mb(p.Bytes), p.Allocs)
	}
	fmt.Print(sizeMarkdown(pkgs, files, 20))
	return nil
}

// versusMarkdown renders a -vs run: each function against its bootstrap in
// dir, pair by pair.
func versusMarkdown(rows []fleetRow, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nEach function's `bin/local/<fn>/bootstrap` (after) against `%s/<fn>/bootstrap` (before), %d pairs, order alternating;\n", dir, len(rows[0].RIE))
	b.WriteString("ratios and differences are medians of the per-pair figures.\n\n")
	b.WriteString("| function | first response after | before | after ÷ before (paired) | init after | before | after − before (paired) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		diffs := make([]time.Duration, len(r.Init))
		for i := range r.Init {
			diffs[i] = r.Init[i] - r.HelloInit[i]
		}
		fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.2f× | %.1f ms | %.1f ms | %+.1f ms |\n", r.Label(), ms(median(r.RIE)), ms(median(r.HelloRIE)),
			float64(median(ratios(r.RIE, r.HelloRIE)))/1000, ms(median(r.Init)), ms(median(r.HelloInit)), ms(median(diffs)))
	}
	return b.String()
}
