package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	// RIE and HelloRIE are process start to first response under the
	// emulator.
	RIE, HelloRIE []time.Duration
	// Init and HelloInit are process start to the first
	// /invocation/next, run directly.
	Init, HelloInit []time.Duration
}

// fleetEvent is the first event each function gets: a cheap one of the
// kind it serves.
func fleetEvent(fn topology.Function) (payload []byte, what string, err error) {
	switch {
	case fn.Name == "api":
		payload, err = json.Marshal(mustEvent("GET", "/v1/health", "GET /v1/health", nil, "", nil))
		what = "`GET /v1/health`"
	case len(fn.Routes) > 0:
		r := fn.Routes[0]
		payload, err = json.Marshal(mustEvent(r.Method, r.Path, r.Method+" "+r.Path, nil, "", []byte("{}")))
		what = fmt.Sprintf("`%s %s`, unsigned (answered 4xx)", r.Method, r.Path)
	case fn.Consumes != nil:
		payload, err = json.Marshal(events.SQSEvent{Records: []events.SQSMessage{}})
		what = "an SQS event with no records"
	default:
		payload, err = json.Marshal(events.EventBridgeEvent{Version: "0", ID: "bench", DetailType: "Scheduled Event", Source: "aws.events",
			AccountID: "000000000000", Time: time.Now().UTC(), Region: "us-east-1", Detail: json.RawMessage(`{}`)})
		what = "a scheduled event (fresh table: nothing to do)"
	}
	if err != nil {
		return nil, "", fmt.Errorf("event for %s: %w", fn.Name, err)
	}
	return payload, what, nil
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
	for _, fn := range st.Functions {
		boot := filepath.Join(e.root, "bin", "local", fn.Name, "bootstrap")
		if err := checkELF(boot, runtime.GOARCH); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first)", err)
		}
		payload, what, err := fleetEvent(fn)
		if err != nil {
			return nil, err
		}
		fnEnv, err := fleetEnv(ctx, e, fn, res)
		if err != nil {
			return nil, err
		}
		if len(e.fleetFns) > 0 && !slices.Contains(e.fleetFns, fn.Name) {
			continue
		}
		base, basePayload, baseCheck := e.helloHost, helloPayload, checkEcho
		baseEnv := rie.FunctionEnv(topology.Function{Name: "hello", MemoryMB: fn.MemoryMB, Timeout: fn.Timeout}, e.stack.Env())
		if e.fleetVs != "" {
			// The same function built from another tree: the pair is
			// after/before instead of function/hello-world.
			base, baseEnv, basePayload, baseCheck = filepath.Join(e.fleetVs, fn.Name, "bootstrap"), fnEnv, payload, anyAnswer
		}
		row := fleetRow{Name: fn.Name, Event: what}
		say("cold start of %s: %d under the emulator and %d direct, each paired with hello ...", fn.Name, n, n)
		for i := -1; i < n; i++ { // one warm-up pair
			for j := range 2 {
				if (i+j)%2 == 0 {
					total, _, err := rieOnce(ctx, e, boot, fnEnv, payload, anyAnswer)
					if err != nil {
						return nil, fmt.Errorf("cold start of %s: %w", fn.Name, err)
					}
					ph, _, err := directOnce(ctx, boot, fnEnv, payload, anyAnswer)
					if err != nil {
						return nil, fmt.Errorf("direct run of %s: %w", fn.Name, err)
					}
					if i >= 0 {
						row.RIE, row.Init = append(row.RIE, total), append(row.Init, ph.Init)
					}
				} else {
					total, _, err := rieOnce(ctx, e, base, baseEnv, basePayload, baseCheck)
					if err != nil {
						return nil, fmt.Errorf("cold start of %s: %w", base, err)
					}
					ph, _, err := directOnce(ctx, base, baseEnv, basePayload, baseCheck)
					if err != nil {
						return nil, fmt.Errorf("direct run of %s: %w", base, err)
					}
					if i >= 0 {
						row.HelloRIE, row.HelloInit = append(row.HelloRIE, total), append(row.HelloInit, ph.Init)
					}
				}
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("no functions in the topology")
	}
	return rows, nil
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
	w("deployed (arm64, stripped) bootstrap ≤ %d MB.\n\n", goalSizeBytes/1_000_000)
	w("| function | first event | first response, median | ÷ hello (paired) | goal ≤ %.1f× | init, median | − hello (paired) | goal ≤ +%d ms | size | goal ≤ %d MB |\n",
		goalColdRatio, goalInitOverHello.Milliseconds(), goalSizeBytes/1_000_000)
	w("|---|---|---:|---:|---|---:|---:|---|---:|---|\n")
	for _, r := range rows {
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
		w("| %s | %s | %.1f ms | %.2f× | %s | %.1f ms | %+.1f ms | %s | %.2f MB | %s |\n", r.Name, r.Event, ms(median(r.RIE)), ratio,
			verdict(ratio <= goalColdRatio), ms(median(r.Init)), ms(diff), verdict(diff <= goalInitOverHello), mb(size), verdict(size > 0 && size <= goalSizeBytes))
	}
	var hr, hi []time.Duration
	for _, r := range rows {
		hr, hi = append(hr, r.HelloRIE...), append(hi, r.HelloInit...)
	}
	w("| hello-world | its event | %.1f ms | 1.00× | | %.1f ms | | | | |\n", ms(median(hr)), ms(median(hi)))
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
		fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.2f× | %.1f ms | %.1f ms | %+.1f ms |\n", r.Name, ms(median(r.RIE)), ms(median(r.HelloRIE)),
			float64(median(ratios(r.RIE, r.HelloRIE)))/1000, ms(median(r.Init)), ms(median(r.HelloInit)), ms(median(diffs)))
	}
	return b.String()
}
