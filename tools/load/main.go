// Command load (`make load`) drives the local system with an open-loop load
// and reports errors by kind and latency percentiles per operation:
//
//	go run ./tools/load -rate 50 -duration 60s
//
// It starts the system as `make dev` runs it: the tools/dev runner
// (-dev-bin, built by the make target) as a child process on loopback only,
// with a fresh data folder, the AWS stand-ins on free ports and this
// process's Meta simulator as the Graph API, so it neither needs nor
// disturbs a running `make dev`. It signs up -orgs orgs through the API,
// connects a page and a WhatsApp number to each and has a few leads write
// in, then schedules -rate requests a second for -duration over a fixed mix
// of API operations (sign-up, login, create lead, list, get, send a
// WhatsApp message, inbox) and signed Meta webhook deliveries (WhatsApp
// texts, Lead Ads leads). Each request starts at its time on its own
// goroutine unless -max-in-flight requests are in flight already (then it
// is counted as dropped). After the last answer it waits for the intake,
// counts the leads the deliveries made, stops the system, prints a table
// and writes the figures to -out (JSON), the latency figure to -svg and,
// with -doc, the Load section of docs/benchmarks.md. Everything is bounded:
// each request by -timeout, the run by -duration plus a fixed drain time,
// setup by -setup-timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/load/figures"
	"github.com/leadluence/backend/tools/plot"
)

// options of one run.
type options struct {
	Rate         float64
	Duration     time.Duration
	Orgs         int
	MaxInFlight  int
	Timeout      time.Duration
	SetupTimeout time.Duration
	DevBin       string
	Out, SVG     string
	Doc          string
	Keep         bool
	Seeded       int
}

// drainTime bounds the wait for requests in flight after the schedule ends.
const drainTime = 15 * time.Second

func main() {
	o := options{}
	flag.Float64Var(&o.Rate, "rate", 50, "requests a second, all operations together")
	flag.DurationVar(&o.Duration, "duration", 60*time.Second, "how long requests are scheduled")
	flag.IntVar(&o.Orgs, "orgs", 8, "orgs the load is spread over")
	flag.IntVar(&o.MaxInFlight, "max-in-flight", 200, "requests in flight at most; one due beyond it is dropped (an error)")
	flag.DurationVar(&o.Timeout, "timeout", 10*time.Second, "timeout of each request")
	flag.DurationVar(&o.SetupTimeout, "setup-timeout", 5*time.Minute, "bound on starting the system and seeding the orgs")
	flag.StringVar(&o.DevBin, "dev-bin", ".cache/bin/leadluence-dev", "the tools/dev runner binary (make load builds it)")
	flag.StringVar(&o.Out, "out", figures.JSONPath, "JSON `file` the figures are written to")
	flag.StringVar(&o.SVG, "svg", figures.SVGPath, "SVG `file` of the latency figure (empty: none)")
	flag.StringVar(&o.Doc, "doc", "", "Markdown `file` whose Load section is replaced (docs/benchmarks.md; empty: none)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the run's data folder (.cache/load-run)")
	flag.IntVar(&o.Seeded, "seeded-leads", 10, "leads per org that write in on WhatsApp before the load (the messages' recipients)")
	flag.Parse()
	if o.Rate <= 0 || o.Rate > 2000 || o.Duration <= 0 || o.Duration > time.Hour || o.Orgs < 1 || o.MaxInFlight < 1 ||
		o.Timeout <= 0 || o.Seeded < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: load [-rate N (0 < N <= 2000)] [-duration D (<= 1h)] [-orgs N] [-max-in-flight N] [-timeout D] [-out FILE] [-svg FILE] [-doc FILE]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, strings.Join(os.Args[1:], " ")); err != nil {
		fmt.Fprintf(os.Stderr, "make load: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, args string) (err error) {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	setupBegin := time.Now()
	setupCtx, cancelSetup := context.WithTimeout(ctx, o.SetupTimeout)
	defer cancelSetup()
	sys, err := startSystem(setupCtx, root, abs(o.DevBin), o.Keep)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the system ...")
		err = errors.Join(err, sys.stop())
	}()
	l := newLoad(sys, o)
	if err := l.setup(setupCtx); err != nil {
		return fmt.Errorf("setup: %w (the runner's output: %s)", err, sys.logPath)
	}
	cancelSetup()
	setup := time.Since(setupBegin)

	r := &figures.Result{Date: time.Now().UTC(), Machine: machine(), LoadAvgStart: loadAvg(), Rate: o.Rate, Duration: o.Duration,
		MaxInFlight: o.MaxInFlight, Orgs: o.Orgs, Setup: setup, Command: "make load"}
	if args != "" {
		r.Command = "go run ./tools/load " + args
	}
	say("load: %.0f requests/s for %s over %d orgs (at most %d in flight) ...", o.Rate, o.Duration, o.Orgs, o.MaxInFlight)
	l.run(ctx, r)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	say("waiting for the intake and the status webhooks ...")
	l.settle(ctx, r)
	r.LoadAvgEnd = loadAvg()

	fmt.Print(r.Table())
	if err := r.Save(abs(o.Out)); err != nil {
		return err
	}
	say("wrote %s", o.Out)
	if o.SVG != "" {
		svg, err := r.SVG()
		if err != nil {
			return err
		}
		if err := plot.Write(abs(o.SVG), svg); err != nil {
			return err
		}
		say("wrote %s", o.SVG)
	}
	if o.Doc != "" {
		old, err := os.ReadFile(abs(o.Doc))
		if err != nil {
			return fmt.Errorf("read %s: %w", o.Doc, err)
		}
		doc := figures.Splice(string(old), "Load", r.Markdown(), byHand)
		if err := os.WriteFile(abs(o.Doc), []byte(doc), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.Doc, err)
		}
		say("wrote the Load section of %s", o.Doc)
	}
	if n := r.Errors(); n > 0 {
		return fmt.Errorf("%d requests failed (see the table)", n)
	}
	return nil
}

// byHand is where docs/benchmarks.md's hand-measured part begins
// (tools/bench keeps it); the Load section goes before it.
const byHand = "<!-- measured by hand: make bench keeps what follows -->"

// say prints a progress line to stderr.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
}
