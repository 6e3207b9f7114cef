// Command retention runs the data lifecycle on demand, the job the
// retention function runs every hour:
//
//	go run ./tools/retention plan -local
//	go run ./tools/retention run -local
//	go run ./tools/retention run --as-of 2027-06-01T00:00:00Z -local
//
// or `make retention ARGS="run -local"`. plan lists what is due at the
// as-of time (default now), per org and job, and writes nothing; run applies
// it with a progress bar. A run is idempotent and bounded (-rate items a
// second); interrupted (Ctrl-C), it saves a checkpoint that the next run,
// scheduled or not, resumes. Run it with -h for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/devstack"
)

// localDynamoDB is the DynamoDB Local `make dev` runs (tools/dev).
var localDynamoDB = devstack.DevURL(devstack.DevPorts.DynamoDB)

const usageText = `usage:
  retention plan     [flags]
  retention run      [flags]
  retention register [flags]

plan  lists, per org and job, how many items are due at the as-of time and
      writes nothing: operators and tests see the future without waiting.
run   applies every due job at the as-of time, with a progress bar (plain
      lines when stdout is not a terminal) and a summary, at most -rate items
      a second. Idempotent: a second run finds nothing left. Interrupted, it
      saves a checkpoint; the next run (this command or the hourly schedule)
      resumes that run, at its as-of time. Then it runs the purge jobs:
      disconnected integrations' Meta data, deleted leads' remaining
      history, and every org closed more than 90 days before the as-of
      time (a receipt stays).

register  files, once, what was written before the data lifecycle existed:
      orgs without retention settings (given the defaults), intact messages
      without due keys (so the runs see them), active owners missing from
      the owners index (so policy notices reach them), time-bound items
      written without a ttl (given the one they would get today), and leads
      written before pipelines (filed in the board index at the stage
      they read as, their status's in the default pipeline). It is the
      one command that scans the table; safe to run twice.

Jobs: content (message bodies older than the org's content period, default
%d days, are masked and cut to a preview; media references dropped).

flags:
%s
AWS: the standard configuration (AWS_REGION, AWS_PROFILE, credentials, ...);
AWS_ENDPOINT_URL_DYNAMODB points the client at a local stand-in, or use -local.

Exit status: 0 ok, 1 error, 2 usage.
`

type options struct {
	cmd   string
	asOf  time.Time
	table string
	rate  float64
	local bool
	// key opens the suppression key (run: deleting leads keeps their
	// opt-outs under keyed hashes).
	key string
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "retention:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logging.New(stderr, slog.LevelWarn)
	store, err := newStore(ctx, o, log)
	if err != nil {
		fmt.Fprintln(stderr, "retention:", err)
		return 1
	}
	r := &retention.Runner{Store: store, Audit: store, Rate: o.rate, Margin: time.Millisecond,
		Log: log, Closed: store, Purges: store, Integrations: store}
	switch o.cmd {
	case "plan":
		err = plan(ctx, r, o.asOf, stdout)
	case "register":
		err = register(ctx, store, stdout)
	default:
		err = apply(ctx, r, o.asOf, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "retention:", err)
		return 1
	}
	return 0
}

func plan(ctx context.Context, r *retention.Runner, asOf time.Time, w io.Writer) error {
	lines, err := r.Plan(ctx, asOf)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ORG\tJOB\tDAYS\tCUTOFF\tDUE\n")
	total := 0
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", l.OrgID, l.Job, l.Days, l.Cutoff.Format(time.RFC3339), l.Due)
		total += l.Due
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	fmt.Fprintf(w, "as of %s: %d due in %d orgs (nothing written)\n", asOf.UTC().Format(time.RFC3339), total, len(lines))
	return nil
}

func apply(ctx context.Context, r *retention.Runner, asOf time.Time, w io.Writer) error {
	lines, err := r.Plan(ctx, asOf)
	if err != nil {
		return err
	}
	total := 0
	for _, l := range lines {
		total += l.Due
	}
	bar := &bar{w: w, tty: isTerminal(w), total: total, perOrg: map[string]int{}}
	r.Progress = bar.update
	res, err := r.Run(ctx, asOf)
	bar.finish()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range res.Orgs {
		if o.Sanitized > 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d sanitized\n", o.OrgID, o.Job, o.Sanitized)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	state := "complete"
	if !res.Complete {
		state = "stopped; checkpoint saved, the next run resumes it"
	}
	resumed := ""
	if res.Resumed {
		resumed = " (resumed a checkpoint)"
	}
	fmt.Fprintf(w, "as of %s%s: %d sanitized in %d orgs, %s\n", res.AsOf.Format(time.RFC3339), resumed, res.Total(), len(res.Orgs), state)
	// Then the purge of disconnected integrations' Meta data.
	ir, err := r.PurgeIntegrations(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "integration purges finished: %d of %d (%d items), %s\n", ir.Finished, ir.Integrations, ir.Items, doneOr(ir.Complete))
	// Then what deleted leads left behind.
	lr, err := r.PurgeLeads(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "deleted leads purged: %d of %d (%d items), %s\n", lr.Finished, lr.Leads, lr.Items, doneOr(lr.Complete))
	// Then the purge of orgs closed longer than the reopen window.
	pr, err := r.PurgeClosedOrgs(ctx, asOf)
	if err != nil {
		return err
	}
	state = "complete"
	if !pr.Complete {
		state = "stopped; the next run goes on"
	}
	fmt.Fprintf(w, "closed orgs purged: %d of %d (%d items), %s\n", pr.Finished, pr.Orgs, pr.Items, state)
	return nil
}

// doneOr says whether a purge job finished what it found.
func doneOr(complete bool) string {
	if complete {
		return "complete"
	}
	return "stopped; the next run goes on"
}

// bar draws a run's progress: in place on a terminal, one line per org
// elsewhere.
type bar struct {
	w      io.Writer
	tty    bool
	total  int
	perOrg map[string]int
	org    string
	drawn  time.Time
}

func (b *bar) done() int {
	n := 0
	for _, v := range b.perOrg {
		n += v
	}
	return n
}

func (b *bar) update(p retention.Progress) {
	if !b.tty && b.org != "" && p.OrgID != b.org {
		fmt.Fprintf(b.w, "%s: %d sanitized\n", b.org, b.perOrg[b.org])
	}
	b.org = p.OrgID
	b.perOrg[p.OrgID] = p.Done
	if b.tty && time.Since(b.drawn) >= 50*time.Millisecond {
		b.draw()
	}
}

func (b *bar) draw() {
	b.drawn = time.Now()
	done, total := b.done(), max(b.total, b.done())
	const width = 30
	fill := width
	if total > 0 {
		fill = done * width / total
	}
	fmt.Fprintf(b.w, "\r\x1b[K[%s%s] %d/%d", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total)
}

func (b *bar) finish() {
	if b.org == "" {
		return
	}
	if b.tty {
		b.draw()
		fmt.Fprintln(b.w)
		return
	}
	fmt.Fprintf(b.w, "%s: %d sanitized\n", b.org, b.perOrg[b.org])
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func parse(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asOf := fs.String("as-of", "", "the time the run pretends it is (RFC 3339, default now)")
	prefix := fs.String("prefix", "", "name prefix of the table, as given to tools/provision (make dev: \"\")")
	fs.StringVar(&o.table, "table", "", "the table's name (a deployed stack's; default the topology's, with -prefix)")
	fs.Float64Var(&o.rate, "rate", retention.DefaultRate, "most items handled a second")
	fs.BoolVar(&o.local, "local", false, "use the DynamoDB Local and local-kms of make dev ("+localDynamoDB+", dummy credentials)")
	fs.StringVar(&o.key, "key", "alias/"+topology.Default().Key.Alias, "the KMS key that seals the suppression key (run: the integration purge deletes leads, keeping their opt-outs)")
	fs.Usage = func() {
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, usageText, retention.DefaultContentDays, flags.String())
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fs.Usage()
			return o, flag.ErrHelp
		}
		fs.Usage()
		return o, errors.New("name a command: plan, run or register")
	}
	o.cmd = args[0]
	if o.cmd != "plan" && o.cmd != "run" && o.cmd != "register" {
		fs.Usage()
		return o, fmt.Errorf("unknown command %q: plan, run or register", o.cmd)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, fmt.Errorf("%s: %w", o.cmd, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.asOf = time.Now().UTC()
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return o, fmt.Errorf("-as-of: %w", err)
		}
		o.asOf = t.UTC()
	}
	if o.rate <= 0 {
		return o, errors.New("-rate must be positive")
	}
	if o.table == "" {
		o.table = *prefix + topology.Default().Table.Name
	}
	return o, nil
}

// newStore builds the store from the standard AWS configuration, or for
// the stand-in `make dev` runs when local is set.
func newStore(ctx context.Context, o options, log *slog.Logger) (*dynamostore.Store, error) {
	cfg, err := devstack.OperatorConfig(ctx, o.local, awsconfig.WithLogger(logging.SDK{Log: log}))
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		if o.local {
			do.BaseEndpoint = aws.String(localDynamoDB)
		}
	}, dynamostore.ClientOptions)
	store := dynamostore.New(db, o.table)
	if o.cmd != "run" {
		return store, nil
	}
	keys := kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if o.local {
			ko.BaseEndpoint = aws.String(devstack.DevURL(devstack.DevPorts.KMS))
		}
	})
	contacts, err := suppression.Open(ctx, store, envelope.New(keys, o.key, envelope.Options{}))
	if err != nil {
		// The content and closed org jobs need no key; a lead delete
		// without it fails and stays pending for a later run.
		log.WarnContext(ctx, "suppression key not opened: lead deletes will wait", "err", err)
	} else if contacts != nil {
		store.UseSuppression(contacts)
	}
	return store, nil
}
