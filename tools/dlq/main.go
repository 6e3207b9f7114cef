// Command dlq lists the messages of a queue's dead-letter queue with their
// failure reasons, and moves chosen or all of them back to the queue:
//
//	go run ./tools/dlq list intake
//	go run ./tools/dlq replay intake --all
//	go run ./tools/dlq replay intake --id <message-id> --id <message-id>
//
// or `make dlq ARGS="list intake"`. Run it with -h for the details. The
// logic lives in tools/dlq/replay; its package comment explains how list
// peeks without consuming and why replay is safe to run twice.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/dlq/replay"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// localSQS is the SQS stand-in `make dev` runs (tools/dev).
var localSQS = devstack.DevURL(devstack.DevPorts.SQS)

const usageText = `usage:
  dlq list   [flags] <queue>
  dlq replay [flags] <queue> (--all | --id <message-id> [--id ...])

Lists the messages dead-lettered from <queue>, or moves them back to it.
<queue> is a topology queue name (%s);
its dead-letter queue is <queue>-dlq.

list   peeks at every message of the dead-letter queue without consuming it:
       it receives them with a short visibility timeout (-hold) and makes them
       visible again as soon as the pass is over. One line per message:
       message id, sent time, first-received time, receive count (as SQS
       reports it, this peek included), failure reason (the failure_reason
       attribute, else "exceeded maxReceiveCount (N)"), body size in bytes and
       the "object" attribute.

replay sends each chosen message to <queue> with the same body and message
       attributes (failure_reason dropped; replayed_at and replay_count set),
       then deletes it from the dead-letter queue, with a progress bar (plain
       lines when stdout is not a terminal) and a summary. Safe to run twice:
       a second run finds only what is left. A crash between a send and its
       delete leaves a copy in both queues that a later replay sends again;
       that is harmless because every consumer is idempotent.

flags:
%s
Queue names: -prefix P means P<queue> and P<queue>-dlq, as tools/provision
creates them (make dev: ""); -stack S means S-<queue> and
S-<queue>-dlq, as the CDK stack names them (-stack %s).

AWS: the standard configuration (AWS_REGION, AWS_PROFILE, credentials, ...);
AWS_ENDPOINT_URL_SQS points the client at a local stand-in, or use -local.

Exit status: 0 ok, 1 error (a message that failed to move included), 2 usage.
`

// options is the parsed command line.
type options struct {
	cmd    string
	queue  topology.Queue
	prefix string
	local  bool
	scan   replay.Scan
	all    bool
	ids    []string
}

// errHelp is returned by parse when help was asked for.
var errHelp = errors.New("help requested")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stdout))
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	o, err := parse(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dlq: %v\nrun `dlq -h` (make dlq ARGS=-h) for usage\n", err)
		return exitUsage
	}
	client, err := newClient(ctx, o.local)
	if err != nil {
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return exitError
	}
	qs, err := replay.Resolve(ctx, client, o.queue, o.prefix)
	if err != nil {
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return exitError
	}
	if o.cmd == "list" {
		err = list(ctx, client, qs, o, stdout)
	} else {
		err = move(ctx, client, qs, o, stdout, tty)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return exitError
	}
	return exitOK
}

func list(ctx context.Context, c replay.Client, qs replay.Queues, o options, stdout io.Writer) error {
	l, err := replay.List(ctx, c, qs, o.scan)
	if err != nil {
		return fmt.Errorf("list %s: %w", qs.DLQ.Name, err)
	}
	if len(l.Messages) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MESSAGE ID\tSENT\tFIRST RECEIVED\tRECEIVES\tSIZE\tOBJECT\tREASON")
		for _, m := range l.Messages {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", replay.OneLine(m.ID), stamp(m.SentAt), stamp(m.FirstReceivedAt),
				m.ReceiveCount, m.Size, orDash(replay.OneLine(m.Object)), replay.OneLine(m.Reason))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write listing: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%d message(s) in %s, left in place\n", len(l.Messages), qs.DLQ.Name)
	warnScan(stdout, l.Truncated, l.Incomplete, o.scan)
	return nil
}

func move(ctx context.Context, c replay.Client, qs replay.Queues, o options, stdout io.Writer, tty bool) error {
	what := "every message"
	if !o.all {
		what = fmt.Sprintf("%d chosen message(s)", len(o.ids))
	}
	fmt.Fprintf(stdout, "replaying %s from %s to %s\n", what, qs.DLQ.Name, qs.Source.Name)
	bar := replay.NewBar(stdout, tty)
	sum, err := replay.Replay(ctx, c, qs, replay.Options{Scan: o.scan, All: o.all, IDs: o.ids, Progress: bar.Update})
	bar.Finish()
	fmt.Fprintf(stdout, "moved %d, skipped %d, failed %d\n", sum.Moved, sum.Skipped, sum.Failed)
	warnScan(stdout, sum.Truncated, sum.Incomplete, o.scan)
	if err != nil {
		return fmt.Errorf("replay %s: %w", qs.DLQ.Name, err)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d message(s) could not be moved (listed above)", sum.Failed)
	}
	return nil
}

func warnScan(w io.Writer, truncated, incomplete bool, sc replay.Scan) {
	if truncated {
		fmt.Fprintf(w, "stopped after -max %d messages: the dead-letter queue may hold more; run again or raise -max\n", scanMax(sc))
	}
	if incomplete {
		fmt.Fprintf(w, "messages already seen became visible again before the pass ended, so it stopped early: raise -hold (now %s)\n", sc.Hold)
	}
}

func scanMax(sc replay.Scan) int {
	if sc.Max <= 0 {
		return replay.DefaultMax
	}
	return sc.Max
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newClient builds the SQS client from the standard AWS configuration, or
// for the stand-in `make dev` runs when local is set.
func newClient(ctx context.Context, local bool) (*sqs.Client, error) {
	cfg, err := devstack.OperatorConfig(ctx, local)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(so *sqs.Options) {
		if local {
			so.BaseEndpoint = aws.String(localSQS)
		}
	}), nil
}

// newFlags returns the flag set and the options it fills.
func newFlags() (*flag.FlagSet, *options, *string) {
	o := &options{}
	stack := new(string)
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of the queues, as given to tools/provision")
	fs.StringVar(stack, "stack", "", "CDK stack name: queues are <stack>-<queue> (excludes -prefix)")
	fs.BoolVar(&o.local, "local", false, "use the SQS stand-in of make dev ("+localSQS+", dummy credentials)")
	fs.IntVar(&o.scan.Max, "max", replay.DefaultMax, "receive at most this many dead-lettered messages per run")
	fs.DurationVar(&o.scan.Hold, "hold", replay.DefaultHold, "visibility timeout of received messages while a pass runs (1s to 12h)")
	fs.BoolVar(&o.all, "all", false, "replay: move every message")
	fs.Func("id", "replay: move the message with this message `id` (repeat, or separate with commas)", func(v string) error {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				o.ids = append(o.ids, id)
			}
		}
		return nil
	})
	return fs, o, stack
}

// usage is the full help text.
func usage() string {
	fs, _, _ := newFlags()
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	names := make([]string, 0, 2)
	for _, q := range topology.Default().Queues {
		names = append(names, q.Name)
	}
	return fmt.Sprintf(usageText, strings.Join(names, ", "), b.String(), topology.Default().Name)
}

// parse reads `<command> [flags] <queue> [flags]`: flags may come before or
// after the queue name.
func parse(args []string) (options, error) {
	if len(args) == 0 {
		return options{}, errors.New("missing command: list or replay")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return options{}, errHelp
	case "list", "replay":
	default:
		return options{}, fmt.Errorf("unknown command %q: want list or replay", args[0])
	}
	fs, o, stack := newFlags()
	o.cmd = args[0]
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return options{}, errHelp
			}
			return options{}, fmt.Errorf("%s: %w", o.cmd, err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		// After "--" everything is positional.
		if consumed := len(args[1:]) - len(rest); consumed > 0 && args[consumed] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}

	if len(pos) != 1 {
		return options{}, fmt.Errorf("%s: want exactly one queue name, got %d (%s)", o.cmd, len(pos), strings.Join(pos, " "))
	}
	q, ok := findQueue(pos[0])
	if !ok {
		return options{}, fmt.Errorf("unknown queue %q", pos[0])
	}
	o.queue = q
	if *stack != "" {
		if o.prefix != "" {
			return options{}, errors.New("-prefix and -stack exclude each other")
		}
		o.prefix = *stack + "-"
	}
	if o.scan.Max < 1 {
		return options{}, fmt.Errorf("-max %d: must be at least 1", o.scan.Max)
	}
	if o.scan.Hold < time.Second || o.scan.Hold > 12*time.Hour {
		return options{}, fmt.Errorf("-hold %s: must be between 1s and 12h", o.scan.Hold)
	}
	switch {
	case o.cmd == "list" && (o.all || len(o.ids) > 0):
		return options{}, errors.New("list takes no --all or --id")
	case o.cmd == "replay" && o.all == (len(o.ids) > 0):
		return options{}, errors.New("replay: give either --all or at least one --id")
	}
	return *o, nil
}

func findQueue(name string) (topology.Queue, bool) {
	for _, q := range topology.Default().Queues {
		if q.Name == name {
			return q, true
		}
	}
	return topology.Queue{}, false
}

// isTerminal reports whether f is a terminal that understands \r and
// erase-line (not a pipe, a file, or TERM=dumb).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
