// Command plan sets and shows an org's plan (shared/plan):
//
//	go run ./tools/plan set <org_id> growth -local
//	go run ./tools/plan show <org_id> -local
//	go run ./tools/plan recount <org_id> -local
//
// or `make plan ARGS="..."`. set writes the org item's plan attribute
// (free, growth or business); the api applies it within a minute (each
// instance remembers an org's plan that long). show prints the org's plan
// and its usage against each limit in the current periods, as
// GET /v1/usage does. recount sets the org's gauges (users, active
// campaigns, integrations) to what exists now, for an org from before the
// gauges existed.
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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/tools/devstack"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// localDynamoDB is the stand-in `make dev` runs (tools/dev).
var localDynamoDB = devstack.DevURL(devstack.DevPorts.DynamoDB)

const usageText = `usage:
  plan set <org_id> <free|growth|business> [flags]
  plan show <org_id> [flags]
  plan recount <org_id> [flags]

set      puts the org on the plan; the api applies it within a minute.
show     prints the org's plan and its usage against each limit now.
recount  sets the org's gauges (active users, running campaigns, connected
         integrations) to what exists now; for an org from before the
         gauges existed; run it while the org changes none of these.

flags:
%s
Table: -table names it; else $LEADLUENCE_TABLE; else the topology's table
under -prefix (make dev: "%s").

AWS: the standard configuration (AWS_REGION, AWS_PROFILE, credentials,
AWS_ENDPOINT_URL_DYNAMODB); -local uses the stand-in of make dev (%s) with
dummy credentials.

Exit status: 0 ok, 1 error (no such org included), 2 usage.
`

type options struct {
	cmd    string
	org    string
	plan   plan.Name
	table  string
	prefix string
	local  bool
}

var errHelp = errors.New("help requested")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, time.Now)
	stop()
	os.Exit(code)
}

func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.table, "table", "", "the DynamoDB table")
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of the table, as given to tools/provision")
	fs.BoolVar(&o.local, "local", false, "use the stand-in of make dev (dummy credentials)")
	return fs
}

func usage() string {
	var b strings.Builder
	fs := newFlags(&options{})
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return fmt.Sprintf(usageText, b.String(), topology.Default().Table.Name, localDynamoDB)
}

// parse reads the command, its arguments and the flags, which may come
// before, between or after the arguments.
func parse(args []string) (options, error) {
	o := options{}
	fs := newFlags(&o)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, errHelp
			}
			return o, err //nolint:wrapcheck // the flag package's message names the flag
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) == 0 {
		return o, errors.New("no command: set or show")
	}
	if pos[0] == "help" {
		return o, errHelp
	}
	o.cmd = pos[0]
	switch {
	case o.cmd == "set" && len(pos) == 3:
		o.org, o.plan = pos[1], plan.Name(pos[2])
		if !o.plan.Valid() {
			return o, fmt.Errorf("unknown plan %q: free, growth or business", pos[2])
		}
	case (o.cmd == "show" || o.cmd == "recount") && len(pos) == 2:
		o.org = pos[1]
	case o.cmd == "set" || o.cmd == "show" || o.cmd == "recount":
		return o, fmt.Errorf("%s: wrong number of arguments", o.cmd)
	default:
		return o, fmt.Errorf("unknown command %q: set, show or recount", o.cmd)
	}
	if o.table == "" {
		o.table = os.Getenv(topology.EnvTable)
	}
	if o.table == "" {
		o.table = o.prefix + topology.Default().Table.Name
	}
	return o, nil
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	o, err := parse(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\nrun `plan -h` (make plan ARGS=-h) for usage\n", err)
		return exitUsage
	}
	cfg, err := devstack.OperatorConfig(ctx, o.local)
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return exitError
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		if o.local {
			do.BaseEndpoint = aws.String(localDynamoDB)
		}
	}, dynamostore.ClientOptions), o.table)
	if o.cmd == "set" {
		err := store.SetOrgPlan(ctx, o.org, o.plan)
		if errors.Is(err, account.ErrNotFound) {
			fmt.Fprintf(stderr, "plan: no org %s in table %s\n", o.org, o.table)
			return exitError
		}
		if err != nil {
			fmt.Fprintf(stderr, "plan: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "org %s is on the %s plan (the api applies it within a minute)\n", o.org, o.plan)
		return exitOK
	}
	if o.cmd == "recount" {
		if _, err := store.GetOrg(ctx, o.org); errors.Is(err, account.ErrNotFound) {
			fmt.Fprintf(stderr, "plan: no org %s in table %s\n", o.org, o.table)
			return exitError
		}
		n, err := store.RecountGauges(ctx, o.org)
		if err != nil {
			fmt.Fprintf(stderr, "plan: %v\n", err)
			return exitError
		}
		for _, m := range plan.Gauges {
			fmt.Fprintf(stdout, "%s\t%d\n", m, n[m])
		}
		return exitOK
	}
	svc := &plan.Service{Counters: store, Orgs: store, Now: now, CacheFor: -1}
	rep, err := svc.Usage(ctx, o.org)
	if errors.Is(err, account.ErrNotFound) {
		fmt.Fprintf(stderr, "plan: no org %s in table %s\n", o.org, o.table)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "org %s: plan %s\n", o.org, rep.Plan)
	for _, u := range rep.Usage {
		if u.ResetsAt.IsZero() {
			// A gauge: how many there are now.
			fmt.Fprintf(stdout, "%s\t%d of %d\tnow\n", u.Metric, u.Used, u.Limit)
			continue
		}
		fmt.Fprintf(stdout, "%s\t%d of %d\tover %d\tresets %s\n", u.Metric, u.Used, u.Limit, u.Over, u.ResetsAt.Format(time.RFC3339))
	}
	return exitOK
}
