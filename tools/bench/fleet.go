package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/invoke/rie"
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

// anyAnswer accepts any response the bootstrap posted (an error it posted
// fails the run before this check).
func anyAnswer([]byte) error { return nil }

// fleetEnv is a function's environment under the emulator: its resources,
// and for the webhook its two secrets sealed with the prefix's key.
func fleetEnv(ctx context.Context, e *env, fn topology.Function, res topology.Resolved) (map[string]string, error) {
	extra := map[string]string{topology.EnvPublicBaseURL: "http://127.0.0.1"}
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
		helloEnv := rie.FunctionEnv(topology.Function{Name: "hello", MemoryMB: fn.MemoryMB, Timeout: fn.Timeout}, e.stack.Env())
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
					total, _, err := rieOnce(ctx, e, e.helloHost, helloEnv, helloPayload, checkEcho)
					if err != nil {
						return nil, fmt.Errorf("cold start of hello: %w", err)
					}
					ph, _, err := directOnce(ctx, e.helloHost, helloEnv, helloPayload, checkEcho)
					if err != nil {
						return nil, fmt.Errorf("direct run of hello: %w", err)
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
