// Command bench measures what matters for Leadluence's Lambda functions and
// writes the results, with the raw numbers, to a Markdown file:
//
//	go run ./tools/bench -out docs/benchmarks.md
//
// `make bench` runs it under tools/withstack after `make build`. In one run it
// measures:
//
//   - cold start: the time from starting a fresh aws-lambda-rie process
//     until the first invocation's response arrives, for the api bootstrap
//     (bin/local/api/bootstrap, event: an unauthenticated GET /v1/leads) and for a hello-world
//     aws-lambda-go bootstrap built from ./hello with the same flags,
//     interleaved, N times each; plus a breakdown of the api's cold start
//     with the bootstrap run directly against a minimal runtime API served
//     by the bench, and the package init costs GODEBUG=inittrace=1 reports;
//   - the size of every function's stripped linux/arm64 bin/<fn>/bootstrap,
//     and of the hello-world built the same way;
//   - the AWS calls (DynamoDB above all) each API request makes, counted by
//     an SDK middleware in the api handler built in-process by app.New;
//   - the Meta intake figures: the webhook handler's CPU on a 64 KB
//     WhatsApp batch against HMAC-SHA256 + json.Valid (the webhook
//     package's benchmarks, run from here), the DynamoDB capacity a new
//     Lead Ads lead and a duplicate delivery consume in the ingest handler,
//     the KMS calls of one ingest container per Graph API call, and the
//     end-to-end latency and throughput from a signed webhook to a lead
//     readable through the API, with the simulator, runner.Router and
//     runner.Poller wired in-process as make dev does;
//   - the outbound figures (the sender's pacing, sends per second, duplicate
//     sends under crashes), one number's burst through the whole sender at
//     1,000 messages a second (achieved rate, windows over the limit, pair
//     violations, duplicates, the sender's AWS calls per message) and the retention figures (the content sweep's
//     messages/s and WCU per 1,000 messages on a large org, the RCU of a
//     sweep with nothing due at growing sizes, the rate bound);
//   - the privacy figures: a data-subject export of one person with 5,000
//     messages (time, document size, stored size) and its download.
//
// -only crm measures the CRM operations (create lead, add note, complete
// task, move stage, list a board column of 50, count the board's stages:
// DynamoDB calls, WCU and RCU of each request; crm.go), also part of the
// full run, alone, splicing its section into -out.
//
// -only outbound, -only burst, -only retention, -only privacy, -only cost or -only memory measures one of those
// sections alone and splices it into -out, keeping the others. -only fleet
// measures every function's cold start (-n pairs each), the api's package
// inits and the sizes, and prints them without writing -out; -fleet-fns
// limits it to some functions and -fleet-vs DIR pairs each function with
// its bootstrap in DIR (an earlier bin/local) instead of the hello-world.
//
// It reuses the stack described by the environment (tools/withstack) or else
// starts an ephemeral one, and provisions a fresh resource prefix.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/invoke/rie"
	"github.com/leadluence/backend/tools/provision"
)

// benchFn is the function whose cold start and AWS calls are measured.
const benchFn = "api"

func main() {
	out := flag.String("out", "docs/benchmarks.md", "Markdown `file` to write")
	n := flag.Int("n", 15, "cold starts per bootstrap (after 2 discarded warm-ups each)")
	mo := metaOptions{}
	flag.IntVar(&mo.CPURounds, "cpu-rounds", 7, "rounds of the webhook CPU benchmarks")
	flag.IntVar(&mo.WCUReps, "wcu-leads", 3, "new Lead Ads leads (each delivered twice) for the capacity figure")
	flag.IntVar(&mo.KMSEvents, "kms-events", 1000, "leadgen events through one ingest handler for the KMS figure")
	flag.IntVar(&mo.E2E.Samples, "latency-n", 100, "end-to-end latency samples (after 5 discarded)")
	flag.IntVar(&mo.E2E.Load, "load", 2000, "messages delivered for the throughput figure")
	flag.IntVar(&mo.E2E.Senders, "senders", 8, "concurrent webhook senders for the throughput figure")
	flag.IntVar(&mo.E2E.Pollers, "pollers", 4, "intake queue pollers feeding the ingest handler")
	oo := outboundOptions{Rate: 80, CrashRate: 0.2, Timeout: 10 * time.Minute}
	only := flag.String("only", "", "run only this section (\"outbound\", \"retention\", \"privacy\", \"crm\", \"cost\" or \"memory\") and splice it into -out, keeping the others; \"fleet\" prints every function's cold start and size instead")
	fleetFns := flag.String("fleet-fns", "", "with -only fleet: the functions to measure, comma-separated (default all)")
	fleetVs := flag.String("fleet-vs", "", "with -only fleet: a `dir` holding <fn>/bootstrap host builds (a copy of an earlier bin/local) to pair each function against instead of the hello-world")
	flag.IntVar(&oo.Messages, "outbound-n", 10000, "messages in the sender's backlog for the pacing figure")
	flag.IntVar(&oo.Recipients, "outbound-recipients", 1000, "recipients of the backlog (round-robin)")
	flag.IntVar(&oo.Pollers, "outbound-pollers", 6, "outbound queue pollers driving the sender handler")
	flag.IntVar(&oo.CrashMessages, "crash-n", 500, "messages for the duplicate-send figure (20% crashes, every job twice)")
	flag.IntVar(&oo.ThroughputN, "throughput-n", 500, "sends of BenchmarkSendThroughput")
	ro := retentionOptions{DuePct: 10}
	sizes := flag.String("retention-sizes", "10000,50000,100000", "messages of the org at each sweep with nothing due; the due sweep runs at the last")
	flag.IntVar(&ro.Leads, "retention-leads", 1000, "leads the retention bench's messages are spread over")
	flag.IntVar(&ro.RateN, "retention-rate-n", 1000, "due messages of the sweep at the default rate")
	flag.IntVar(&ro.Workers, "retention-writers", 8, "parallel writers seeding the retention bench (after the timed baseline)")
	flag.IntVar(&ro.PurgeN, "retention-purge-n", 50000, "items of the closed org purged with the rate lifted")
	flag.IntVar(&ro.PurgeRatedN, "retention-purge-rated-n", 2000, "items of the closed org purged at the default rate, in invocations with a short deadline")
	flag.DurationVar(&ro.PurgeDeadline, "retention-purge-deadline", 10*time.Second, "deadline of each invocation of the purge at the default rate (the runner stops 1 s before it)")
	po := privacyOptions{}
	var bo burstOptions
	flag.IntVar(&bo.N, "burst-n", 2000, "messages of one number's burst through the whole sender (0 leaves the burst figure out)")
	flag.IntVar(&bo.Rate, "burst-rate", 1000, "the number's limit in the burst figure, messages a second")
	flag.IntVar(&bo.Pollers, "burst-pollers", 8, "outbound queue pollers driving the sender handler in the burst figure")
	flag.DurationVar(&bo.Timeout, "burst-timeout", time.Minute, "the burst figure stops after this long, sent or not")
	flag.BoolVar(&bo.SeparateReads, "burst-separate-reads", false, "in the burst figure, read a send's org, lead and number with three GetItems (for a comparison)")
	flag.IntVar(&po.Messages, "privacy-messages", 5000, "messages of the person whose data the privacy bench exports")
	flag.IntVar(&po.Runs, "privacy-runs", 3, "exports timed by the privacy bench")
	flag.Parse()
	var err error
	if ro.Sizes, err = parseSizes(*sizes); err != nil || ro.Leads < 1 || ro.RateN < 1 || ro.Workers < 1 ||
		ro.PurgeN < 100 || ro.PurgeRatedN < 100 || ro.PurgeDeadline < 3*time.Second {
		fmt.Fprintf(os.Stderr, "bench: bad retention options (%v)\n", err)
		os.Exit(2)
	}
	if po.Messages < 1 || po.Runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -privacy-messages and -privacy-runs must be positive")
		os.Exit(2)
	}
	switch *only {
	case "", "outbound":
	case "fleet":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if *n < 1 {
			fmt.Fprintln(os.Stderr, "bench: -n must be positive")
			os.Exit(2)
		}
		var fns []string
		if *fleetFns != "" {
			fns = strings.Split(*fleetFns, ",")
		}
		if err := runFleetOnly(ctx, *n, fns, *fleetVs); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	case "privacy":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runPrivacyOnly(ctx, *out, po); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	case "crm":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runCRMOnly(ctx, *out); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	case "cost", "memory":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		run := runCostOnly
		if *only == "memory" {
			run = runMemoryOnly
		}
		if err := run(ctx, *out); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	case "burst":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if bo.N < 2 || bo.Rate < 1 || bo.Pollers < 1 || bo.Timeout <= 0 {
			fmt.Fprintln(os.Stderr, "bench: -only burst wants -burst-n ≥ 2 and positive -burst-rate, -burst-pollers, -burst-timeout")
			os.Exit(2)
		}
		if err := runBurstOnly(ctx, *out, bo); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	case "retention":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runRetentionOnly(ctx, *out, ro); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintf(os.Stderr, "bench: -only %q: want outbound, burst, retention, privacy, crm, cost, memory or fleet\n", *only)
		os.Exit(2)
	}
	if *only == "outbound" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runOutboundOnly(ctx, *out, oo); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	mo.Outbound, mo.Retention = oo, ro
	mo.Privacy, mo.Burst = po, bo
	if *n < 1 || mo.CPURounds < 1 || mo.WCUReps < 1 || mo.KMSEvents < 1 || mo.E2E.Samples < 1 || mo.E2E.Load < 10 ||
		mo.E2E.Senders < 1 || mo.E2E.Pollers < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: bench [-out FILE] [-n RUNS] [-cpu-rounds N] [-wcu-leads N] [-kms-events N] [-latency-n N] [-load N] [-senders N] [-pollers N]")
		os.Exit(2)
	}
	mo.E2E.Warmups, mo.E2E.Idle, mo.E2E.PollGap = 5, 10*time.Millisecond, 2*time.Millisecond
	mo.E2E.SampleTimeout, mo.E2E.LoadTimeout = 30*time.Second, 5*time.Minute
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, *n, mo); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// env is what every measurement needs.
type env struct {
	root  string
	fn    topology.Function
	rie   string
	stack *devstack.Stack
	// fnEnv is the api function's whole environment (rie.FunctionEnv).
	fnEnv map[string]string
	// resEnv holds the resource locations (topology.ResourceEnv).
	resEnv map[string]string
	// helloHost and helloARM are the hello-world bootstraps.
	helloHost, helloARM string
	// fleetFns limits the fleet cold starts to these functions (all when
	// empty); with fleetVs, each is paired with its bootstrap in that
	// directory instead of the hello-world.
	fleetFns []string
	fleetVs  string
	// awsCfg reaches the local stand-ins; res are the prefix's resources.
	awsCfg aws.Config
	res    topology.Resolved
}

func run(ctx context.Context, out string, n int, mo metaOptions) (err error) {
	begin := time.Now()
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	st := topology.Default()
	fn, ok := st.Function(benchFn)
	if !ok {
		return fmt.Errorf("no function %q in infra/topology", benchFn)
	}
	e := &env{root: root, fn: fn}
	if e.rie, err = rie.Binary(ctx, root); err != nil {
		return err
	}

	stack, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	e.stack = stack
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	prefix := fmt.Sprintf("bench%d-", time.Now().UnixNano()%1e9)
	res, err := provision.Apply(ctx, awsCfg, st, prefix)
	if err != nil {
		return fmt.Errorf("provision %s*: %w", prefix, err)
	}
	e.awsCfg, e.res = awsCfg, res
	e.resEnv = topology.ResourceEnv(fn, res)
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

	r := &report{Date: time.Now().UTC(), N: n, Prefix: prefix}
	r.Machine = machine(ctx)

	say("cold starts under aws-lambda-rie: %d x api, %d x hello, interleaved ...", n, n)
	if r.Cold, err = coldStarts(ctx, e, n); err != nil {
		return err
	}
	say("cold-start breakdown (bootstrap run directly against a minimal runtime API) ...")
	if r.Direct, err = directStarts(ctx, e, breakdownRuns); err != nil {
		return err
	}
	if r.Inits, err = initTrace(ctx, e, traceRuns); err != nil {
		return err
	}
	if r.Fleet, err = measureFleet(ctx, e, st, res, breakdownRuns); err != nil {
		return err
	}
	if r.Sizes, err = sizes(root, st, e.helloARM); err != nil {
		return err
	}
	say("size by package (each bootstrap built again with its symbols) ...")
	if r.PkgSizes, err = sizeBreakdown(ctx, root, tmp, st); err != nil {
		return err
	}
	say("AWS calls per request (in-process handler) ...")
	if r.Calls, err = countCalls(ctx, e); err != nil {
		return err
	}
	if r.Meta, err = metaIntake(ctx, root, tmp, mo); err != nil {
		return fmt.Errorf("meta intake: %w", err)
	}
	memory := []rssRun{r.Meta.IngestRSS}
	snd, err := measureSenderRSS(ctx, root)
	if err != nil {
		return err
	}
	hello, err := measureHelloRSS(ctx, e.helloHost, snd.Invocations)
	if err != nil {
		return err
	}
	memory = append(memory, snd, hello)
	ob, err := measureOutbound(ctx, root, mo.Outbound)
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	var burst *burstResult
	if mo.Burst.N > 0 {
		br, err := measureBurst(ctx, mo.Burst)
		if err != nil {
			return fmt.Errorf("burst: %w", err)
		}
		burst = &br
	}
	ret, err := measureRetention(ctx, mo.Retention)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	prv, err := measurePrivacy(ctx, mo.Privacy)
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	crm, err := measureCRM(ctx)
	if err != nil {
		return fmt.Errorf("crm: %w", err)
	}
	r.Elapsed = time.Since(begin)

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	doc := spliceNamed(spliceNamed(spliceSection(r.markdown(), ob.markdown()), "Retention", ret.markdown()), "Privacy export", prv.markdown())
	doc = spliceNamed(spliceNamed(doc, "Cost model", r.Meta.Cost.markdown()), "Memory", memoryMarkdown(memory))
	doc = spliceNamed(doc, "CRM operations", crm.markdown())
	if burst != nil {
		doc = spliceNamed(doc, "Sender at 1,000 mps", burst.markdown())
	}
	if old, err := os.ReadFile(out); err == nil {
		doc = keepByHand(doc, string(old))
	}
	if doc, err = withFigures(doc, out, r, ob); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Print(r.summary())
	fmt.Print(r.Meta.summary())
	fmt.Print(r.Meta.Cost.summary())
	fmt.Print(ob.summary())
	if burst != nil {
		fmt.Print(burst.summary())
	}
	fmt.Print(ret.summary())
	fmt.Print(prv.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}

// buildHello builds ./tools/bench/hello for linux/goarch with the
// flags `make build` uses and returns the bootstrap's path.
func buildHello(ctx context.Context, root, tmp, goarch string) (string, error) {
	bin := filepath.Join(tmp, "hello-"+goarch, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", bin, "./tools/bench/hello")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hello for linux/%s: %w\n%s", goarch, err, strings.TrimSpace(string(b)))
	}
	return bin, nil
}

// metaOptions size the Meta intake figures (and, in Outbound and Retention,
// those sections' figures).
type metaOptions struct {
	CPURounds, WCUReps, KMSEvents int
	E2E                           e2eOptions
	Outbound                      outboundOptions
	Retention                     retentionOptions
	Privacy                       privacyOptions
	Burst                         burstOptions
}

// runOutboundOnly measures the outbound figures alone and splices their
// section into out, keeping every other section.
func runOutboundOnly(ctx context.Context, out string, o outboundOptions) (err error) {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	r, err := measureOutbound(ctx, root, o)
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	doc, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", out, err)
	}
	if err := os.WriteFile(out, []byte(spliceSection(string(doc), r.markdown())), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	note := machine(ctx).note(time.Now())
	if err := writeFigure(out, pacingSVG, func() ([]byte, error) { return pacingFigure(r.Pacing, note) }); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}

// metaIntake measures the Meta intake figures, in order: the
// webhook CPU (before anything else loads the machine), then, on a fresh
// prefix with the simulator and two orgs, the capacity per Lead Ads
// delivery, the KMS calls of one ingest container, and the end-to-end
// latency and throughput.
func metaIntake(ctx context.Context, root, tmp string, o metaOptions) (*metaResult, error) {
	begin := time.Now()
	r := &metaResult{}
	var err error
	say("Meta intake: webhook CPU, %d rounds of the 64 KB benchmarks ...", o.CPURounds)
	if r.CPU, err = webhookCPU(ctx, root, tmp, o.CPURounds); err != nil {
		return nil, err
	}
	say("Meta intake: provisioning, simulator, router, two orgs through the API ...")
	m, err := setupMeta(ctx)
	if err != nil {
		return nil, err
	}
	defer m.close()
	r.Prefix, r.Setup = m.prefix, m.Setup
	// The cost model runs first on the fresh setup, as it does alone
	// (-only cost): after the end-to-end load, that run's leftovers on the
	// intake queue (records retried after their visibility timeout) reach
	// the cost model's pollers, which then miss their own records.
	if r.Cost, err = measureCosts(ctx, m); err != nil {
		return nil, fmt.Errorf("cost model: %w", err)
	}
	say("Meta intake: capacity of %d new Lead Ads leads and their duplicates ...", o.WCUReps)
	if r.WCU, err = measureWCU(ctx, m, o.WCUReps); err != nil {
		return nil, err
	}
	batch := 10
	if fn, ok := m.st.Function("ingest"); ok && fn.Consumes != nil {
		batch = fn.Consumes.BatchSize
	}
	say("Meta intake: KMS calls over %d leadgen events through one ingest handler ...", o.KMSEvents)
	if r.KMS, err = measureKMS(ctx, m, o.KMSEvents, batch); err != nil {
		return nil, err
	}
	say("Meta intake: end to end, %d latency samples, then %d messages from %d senders through %d pollers ...",
		o.E2E.Samples, o.E2E.Load, o.E2E.Senders, o.E2E.Pollers)
	if r.E2E, err = measureE2E(ctx, m, o.E2E); err != nil {
		return nil, err
	}
	if r.IngestRSS, err = measureIngestRSS(ctx, root, m); err != nil {
		return nil, err
	}
	r.Elapsed = time.Since(begin)
	return r, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// say prints a progress line to stderr.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// byHand marks where the sections measured by hand begin; a full run keeps
// everything from it on.
const byHand = "<!-- measured by hand: make bench keeps what follows -->"

// keepByHand appends to doc the hand-measured part of old, if it has one.
func keepByHand(doc, old string) string {
	i := strings.Index(old, byHand)
	if i < 0 {
		return doc
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + old[i:]
}

// useStack points this process at the local stand-ins: the stack
// tools/withstack exported, or else an ephemeral one it starts. release
// stops what it started, joining a failure to stop into *err.
func useStack(ctx context.Context) (stack *devstack.Stack, release func(err *error), err error) {
	release = func(*error) {}
	stack, ok := devstack.FromEnv()
	if !ok {
		say("no stack in the environment (run under tools/withstack to reuse one): starting an ephemeral one")
		if stack, err = devstack.Start(ctx, devstack.Options{Progress: os.Stderr}); err != nil {
			return nil, nil, err
		}
		release = func(err *error) {
			if serr := stack.Stop(); serr != nil {
				*err = errors.Join(*err, fmt.Errorf("stop local stack: %w", serr))
			}
		}
	}
	if err := stack.Export(); err != nil {
		release(&err)
		return nil, nil, err
	}
	return stack, release, nil
}
