package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The webhook benchmarks of functions/webhook/app (bench_test.go): the
// handler on a signed 64 KB WhatsApp batch, and its floor, HMAC-SHA256 plus
// json.Valid over the same bytes.
const (
	benchWebhook = "BenchmarkWebhook64KB"
	benchFloor   = "BenchmarkHMACAndValid64KB"
	webhookPkg   = "./functions/webhook/app"
)

// Iteration counts of the two runs of each benchmark in a round: the CPU
// per request is the difference of their CPU times over the difference of
// their counts, which cancels process start, TestMain and the benchmark's
// setup.
const (
	cpuItersSmall = 100
	cpuItersLarge = 2100
)

// benchLine is one result line of go test -bench.
type benchLine struct {
	NsPerOp     float64
	BytesPerOp  int64
	AllocsPerOp int64
	Iterations  int64
}

// benchRun is one benchmark's figures in one round.
type benchRun struct {
	// CPUPerOp is CPU time (user + system, every thread of the test
	// process, so the garbage collector's work included) per request, ns.
	CPUPerOp float64
	// Line is what go test printed for the large run (NsPerOp is wall
	// time at the default GOMAXPROCS).
	Line benchLine
}

// cpuRound is both benchmarks, run next to each other.
type cpuRound struct {
	Webhook, Floor benchRun
}

// cpuResult is the webhook CPU figure.
type cpuResult struct {
	// Command is what each run executed, for the report.
	Command string
	Rounds  []cpuRound
}

// cpuRatios returns webhook/floor CPU per request, per round.
func (r cpuResult) cpuRatios() []float64 {
	var out []float64
	for _, rd := range r.Rounds {
		if rd.Floor.CPUPerOp > 0 {
			out = append(out, rd.Webhook.CPUPerOp/rd.Floor.CPUPerOp)
		}
	}
	return out
}

// wallRatios returns webhook/floor ns/op, per round.
func (r cpuResult) wallRatios() []float64 {
	var out []float64
	for _, rd := range r.Rounds {
		if rd.Floor.Line.NsPerOp > 0 {
			out = append(out, rd.Webhook.Line.NsPerOp/rd.Floor.Line.NsPerOp)
		}
	}
	return out
}

// medians returns the median CPU per request and ns/op of the webhook and
// of the floor.
func (r cpuResult) medians() (webhookCPU, floorCPU, webhookNs, floorNs float64) {
	var wc, fc, wn, fn []float64
	for _, rd := range r.Rounds {
		wc, fc = append(wc, rd.Webhook.CPUPerOp), append(fc, rd.Floor.CPUPerOp)
		wn, fn = append(wn, rd.Webhook.Line.NsPerOp), append(fn, rd.Floor.Line.NsPerOp)
	}
	return medianF(wc), medianF(fc), medianF(wn), medianF(fn)
}

// webhookCPU builds the webhook package's test binary once and, in each of
// `rounds` rounds, runs each of its two 64 KB benchmarks twice with fixed
// iteration counts (the order of the two alternating between rounds),
// measuring the test process's CPU time: `go test -run x -bench
// 'Webhook64KB|HMACAndValid64KB' -benchmem ./functions/webhook/app/`, one
// benchmark and one -benchtime Nx at a time.
func webhookCPU(ctx context.Context, root, tmp string, rounds int) (cpuResult, error) {
	bin := filepath.Join(tmp, "webhook.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, webhookPkg)
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return cpuResult{}, fmt.Errorf("build %s test binary: %w\n%s", webhookPkg, err, strings.TrimSpace(string(b)))
	}
	res := cpuResult{Command: fmt.Sprintf("go test -c %s, then webhook.test -test.run '^$' -test.bench '^<name>$' -test.benchmem "+
		"-test.benchtime <n>x for n = %d and %d", webhookPkg, cpuItersSmall, cpuItersLarge)}
	dir := filepath.Join(root, webhookPkg)
	for i := range rounds {
		order := []string{benchWebhook, benchFloor}
		if i%2 == 1 {
			order = []string{benchFloor, benchWebhook}
		}
		var rd cpuRound
		for _, name := range order {
			run, err := cpuPerOp(ctx, bin, dir, name)
			if err != nil {
				return res, fmt.Errorf("round %d: %w", i+1, err)
			}
			if name == benchWebhook {
				rd.Webhook = run
			} else {
				rd.Floor = run
			}
		}
		res.Rounds = append(res.Rounds, rd)
	}
	return res, nil
}

// cpuPerOp runs one benchmark with the small and the large iteration count
// and returns its CPU time per iteration.
func cpuPerOp(ctx context.Context, bin, dir, name string) (benchRun, error) {
	small, _, err := runBench(ctx, bin, dir, name, cpuItersSmall)
	if err != nil {
		return benchRun{}, err
	}
	large, line, err := runBench(ctx, bin, dir, name, cpuItersLarge)
	if err != nil {
		return benchRun{}, err
	}
	return benchRun{CPUPerOp: float64(large-small) / float64(cpuItersLarge-cpuItersSmall), Line: line}, nil
}

// runBench runs the test binary for one benchmark with -benchtime Nx and
// returns the process's CPU time and the result line.
func runBench(ctx context.Context, bin, dir, name string, n int) (time.Duration, benchLine, error) {
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^"+name+"$", "-test.benchmem",
		"-test.benchtime", fmt.Sprintf("%dx", n), "-test.count", "1")
	// The package's TestMain wants the stack: reuse this one.
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LEADLUENCE_DEVSTACK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, benchLine{}, fmt.Errorf("run %s -benchtime %dx: %w\n%s", name, n, err, strings.TrimSpace(string(out)))
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	lines, err := parseBench(out)
	if err != nil {
		return 0, benchLine{}, err
	}
	for printed, l := range lines {
		if printed == name || strings.HasPrefix(printed, name+"-") {
			return cpu, l, nil
		}
	}
	return 0, benchLine{}, fmt.Errorf("no result for %s in:\n%s", name, out)
}

// benchRE matches a result line: name, iterations, ns/op, then the rest.
var benchRE = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+([0-9.]+) ns/op(.*)$`)

// parseBench reads go test -bench output into results by printed name.
func parseBench(out []byte) (map[string]benchLine, error) {
	res := map[string]benchLine{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		var l benchLine
		var err error
		if l.Iterations, err = strconv.ParseInt(m[2], 10, 64); err != nil {
			return nil, fmt.Errorf("parse %q: %w", sc.Text(), err)
		}
		if l.NsPerOp, err = strconv.ParseFloat(m[3], 64); err != nil {
			return nil, fmt.Errorf("parse %q: %w", sc.Text(), err)
		}
		fields := strings.Fields(m[4])
		for i := 1; i < len(fields); i++ {
			switch fields[i] {
			case "B/op":
				l.BytesPerOp, _ = strconv.ParseInt(fields[i-1], 10, 64)
			case "allocs/op":
				l.AllocsPerOp, _ = strconv.ParseInt(fields[i-1], 10, 64)
			}
		}
		res[m[1]] = l
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return res, nil
}
