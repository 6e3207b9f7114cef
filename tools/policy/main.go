// Command policy publishes privacy policy versions and lists them:
//
//	go run ./tools/policy publish --version 2027-01 --effective 2027-01-20 --summary 'What changes' -local
//	go run ./tools/policy list -local
//
// or `make policy ARGS="..."`. Publishing refuses an effective date less
// than 14 days ahead (policy.MinNotice) and says why; it stores the
// version and emails the owner of every org through SES from the platform
// address, paging through the owners index (no table Scan). The API then
// shows the version at GET /v1/policy and to each org owner in GET /v1/me
// until acknowledged. Run it with -h for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/policy"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/tools/devstack"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
)

// The stand-ins `make dev` runs (tools/dev).
var (
	localDynamoDB = devstack.DevURL(devstack.DevPorts.DynamoDB)
	localSES      = devstack.DevURL(devstack.DevPorts.SES)
)

// defaultFrom is the platform address when neither -from nor
// LEADLUENCE_EMAIL_FROM names one (as shared/config).
const defaultFrom = "no-reply@leadluence.local"

const usageText = `usage:
  policy publish --version <id> --effective <YYYY-MM-DD> --summary <text> [flags]
  policy list [flags]

publish stores a privacy policy version that applies from --effective (a day,
        UTC), which must be at least 14 days after now; an earlier date is
        refused with the reason (exit 3). It then emails the owner of every
        org (SES, from the platform address) and prints how many were
        emailed and which failed. A version id is published once.
list    prints every version with its effective date, and which is current
        and which upcoming.

flags:
%s
Table: -table names it; else $LEADLUENCE_TABLE; else the topology's table
under -prefix (make dev: "%s").

AWS: the standard configuration (AWS_REGION, AWS_PROFILE, credentials,
AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SESV2); -local uses the stand-ins
of make dev (%s, %s) with dummy credentials.

Exit status: 0 ok, 1 error (an email that failed included), 2 usage, 3 refused.
`

type options struct {
	cmd       string
	version   string
	effective string
	summary   string
	table     string
	prefix    string
	from      string
	local     bool
}

var errHelp = errors.New("help requested")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, time.Now)
	stop()
	os.Exit(code)
}

func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("policy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.version, "version", "", "publish: the version id, e.g. 2027-01")
	fs.StringVar(&o.effective, "effective", "", "publish: the day it applies from, YYYY-MM-DD (UTC), at least 14 days ahead")
	fs.StringVar(&o.summary, "summary", "", "publish: what changes, in plain language (goes into the email)")
	fs.StringVar(&o.table, "table", "", "the DynamoDB table")
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of the table, as given to tools/provision")
	fs.StringVar(&o.from, "from", "", "the platform address emails go from (default $LEADLUENCE_EMAIL_FROM, else "+defaultFrom+")")
	fs.BoolVar(&o.local, "local", false, "use the stand-ins of make dev (dummy credentials)")
	return fs
}

func usage() string {
	var b strings.Builder
	fs := newFlags(&options{})
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return fmt.Sprintf(usageText, b.String(), topology.Default().Table.Name, localDynamoDB, localSES)
}

func parse(args []string) (options, error) {
	o := options{}
	if len(args) == 0 {
		return o, errors.New("no command: publish or list")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return o, errHelp
	}
	o.cmd = args[0]
	fs := newFlags(&o)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, err //nolint:wrapcheck // the flag package's message names the flag
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch o.cmd {
	case "publish":
		if o.version == "" || o.effective == "" || o.summary == "" {
			return o, errors.New("publish needs --version, --effective and --summary")
		}
	case "list":
	default:
		return o, fmt.Errorf("unknown command %q: publish or list", o.cmd)
	}
	if o.table == "" {
		o.table = os.Getenv(topology.EnvTable)
	}
	if o.table == "" {
		o.table = o.prefix + topology.Default().Table.Name
	}
	if o.from == "" {
		o.from = os.Getenv("LEADLUENCE_EMAIL_FROM")
	}
	if o.from == "" {
		o.from = defaultFrom
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
		fmt.Fprintf(stderr, "policy: %v\nrun `policy -h` (make policy ARGS=-h) for usage\n", err)
		return exitUsage
	}
	cfg, err := awsConfig(ctx, o.local)
	if err != nil {
		fmt.Fprintf(stderr, "policy: %v\n", err)
		return exitError
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		if o.local {
			do.BaseEndpoint = aws.String(localDynamoDB)
		}
	}, dynamostore.ClientOptions), o.table)
	if o.cmd == "list" {
		return list(ctx, store, stdout, stderr, now())
	}
	eff, err := policy.ParseDate(o.effective)
	if err != nil {
		fmt.Fprintf(stderr, "policy: %v\n", err)
		return exitUsage
	}
	// No SDK retries for sending: a retried SendEmail whose first answer
	// was lost would mail twice.
	mailer := sesmail.New(sesv2.NewFromConfig(cfg, func(so *sesv2.Options) {
		so.Retryer = aws.NopRetryer{}
		if o.local {
			so.BaseEndpoint = aws.String(localSES)
		}
	}), "")
	p := &policy.Publisher{Store: store, Owners: store, Mailer: mailer, From: o.from, Now: now}
	res, err := p.Publish(ctx, policy.Version{ID: o.version, Effective: eff, Summary: o.summary})
	var refused *policy.RefusedError
	switch {
	case errors.As(err, &refused):
		fmt.Fprintf(stderr, "policy: version %s refused: %s\n", o.version, refused.Reason)
		return exitRefused
	case errors.Is(err, policy.ErrExists):
		fmt.Fprintf(stderr, "policy: version %s was published before; publish a new version id\n", o.version)
		return exitRefused
	case err != nil && res.Version.ID == "":
		fmt.Fprintf(stderr, "policy: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "published %s, effective %s; emailed %d org owner(s) from %s\n", res.Version.ID,
		res.Version.Effective.Format(policy.DateLayout), res.Emailed, o.from)
	failed := make([]string, 0, len(res.Failed))
	for addr := range res.Failed {
		failed = append(failed, addr)
	}
	sort.Strings(failed)
	for _, addr := range failed {
		fmt.Fprintf(stderr, "policy: email to %s failed: %s\n", addr, sesmail.Describe(res.Failed[addr]))
	}
	if err != nil {
		fmt.Fprintf(stderr, "policy: published, but the owners could not all be listed: %v\n", err)
		return exitError
	}
	if len(failed) > 0 {
		return exitError
	}
	return exitOK
}

func list(ctx context.Context, store *dynamostore.Store, stdout, stderr io.Writer, now time.Time) int {
	vs, err := store.PolicyVersions(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "policy: %v\n", err)
		return exitError
	}
	cur, next := policy.Current(vs, now)
	for _, v := range vs {
		mark := ""
		switch {
		case cur != nil && v.ID == cur.ID:
			mark = "  (current)"
		case next != nil && v.ID == next.ID:
			mark = "  (upcoming)"
		}
		fmt.Fprintf(stdout, "%s\teffective %s\tpublished %s%s\n", v.ID, v.Effective.Format(policy.DateLayout),
			v.PublishedAt.Format(time.RFC3339), mark)
	}
	return exitOK
}

// awsConfig is the standard AWS configuration, or for the stand-ins of
// make dev when local is set.
func awsConfig(ctx context.Context, local bool) (aws.Config, error) {
	return devstack.OperatorConfig(ctx, local)
}
