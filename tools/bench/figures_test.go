package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/tools/load/figures"
)

func TestFigures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "benchmarks.md")
	ms := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	r := &report{Date: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC), N: 3, Machine: machineInfo{CPUs: 2, GOOS: "linux", GOARCH: "amd64", GoVersion: "go1.26"},
		Cold: coldResult{API: ms(140, 150, 160), Hello: ms(60, 61, 62)}}
	ob := &outboundResult{Pacing: pacingResult{Messages: 100, Recipients: 10, Pollers: 2, Rate: 80, PerSecond: []int{70, 80, 79}}}
	doc := "# Benchmarks\n\n## Summary\nx\n\n" + byHand + "\n\n## By hand\nkept\n"

	// Without a load run's JSON there is no Load section.
	got, err := withFigures(doc, out, r, ob)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "## Figures") || strings.Contains(got, "## Load") || !strings.HasSuffix(got, byHand+"\n\n## By hand\nkept\n") {
		t.Errorf("document:\n%s", got)
	}
	for _, f := range []string{coldSVG, pacingSVG} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "2026-12-04 19:00 UTC") || !strings.HasPrefix(string(b), "<svg") {
			t.Errorf("%s: not an svg noting the date", f)
		}
		if !strings.Contains(got, "]("+f+")") {
			t.Errorf("the document does not show %s", f)
		}
	}

	// With one, the Load section and its figure are rendered from it.
	lr := &figures.Result{Date: r.Date, Machine: "2 CPUs", Rate: 50, Duration: time.Minute, Command: "make load",
		Ops: []figures.Op{{Name: "list_leads", Route: "GET /v1/leads", Weight: 1, Count: 1, Latency: figures.QuantilesOf(ms(5))}}}
	if err := lr.Save(filepath.Join(dir, "load.json")); err != nil {
		t.Fatal(err)
	}
	got, err = withFigures(got, out, r, ob)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(got, "## Figures") != 1 || strings.Count(got, "\n## Load\n") != 1 || !strings.Contains(got, figures.SVGLink) {
		t.Errorf("document:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, figures.SVGLink)); err != nil {
		t.Error(err)
	}
}
