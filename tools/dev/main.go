// Command local runs the whole Leadluence system on 127.0.0.1 (`make dev`):
// it starts the AWS stand-ins, creates the table, queues and key from
// infra/topology, serves the HTTP API on :8080 through the functions' own
// handlers, drives queue consumers and schedules, seeds a demo org and
// prints what to try. Ctrl-C stops everything. Data lives in .dev/ and
// survives restarts; `make dev-reset` wipes it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/tools/dev/params"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/provision"
)

// envGraphBaseURL points functions at the Graph API.
const envGraphBaseURL = "LEADLUENCE_GRAPH_BASE_URL"

// How long after accepting a send the simulator reports each status in
// make dev: a little slower than its defaults, so each tick shows.
const (
	devSentDelay      = time.Second
	devDeliveredDelay = 2 * time.Second
	devReadDelay      = 3 * time.Second
)

func printGraph(graphURL string, simulated bool) {
	what := "your own stand-in (LEADLUENCE_GRAPH_BASE_URL)"
	if simulated {
		what = "the Meta simulator; set LEADLUENCE_GRAPH_BASE_URL to use your own"
	}
	fmt.Printf(`
Graph API       %s   (%s)
  make demo     submits a Lead Ads lead and an inbound WhatsApp message through the signed webhook,
                replies to it and follows the reply's ticks to read
`, graphURL, what)
	if simulated {
		fmt.Printf(`  statuses      every accepted WhatsApp send is reported sent, delivered, read to the webhook;
                a send to +%s is reported failed (131026, undeliverable)
`, metatest.UndeliverableWaID)
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make dev:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8080", "where the HTTP API listens (loopback only)")
	data := flag.String("data", ".dev", "data folder, relative to the repository root (or absolute)")
	simAddr := flag.String("meta-addr", "127.0.0.1:8092", "where the Meta (Graph API) simulator listens")
	ctlAddr := flag.String("demo-addr", demoControlAddr, "where `make demo` reaches the runner")
	freePorts := flag.Bool("free-ports", false, "run the AWS stand-ins on free loopback ports instead of the fixed ones (make load, tests; the operator commands' -local flag will not reach them)")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-addr %q: must be a loopback address", *addr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()

	root, err := devstack.Root()
	if err != nil {
		return err
	}
	dataDir := *data
	if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(root, dataDir)
	}
	// Claim the API port first, so a busy port fails fast.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another make dev running?): %w", *addr, err)
	}
	defer ln.Close()
	fmt.Println("starting the local AWS stand-ins (DynamoDB, SQS, KMS, SES) ...")
	ports := devstack.DevPorts
	if *freePorts {
		ports = devstack.Ports{}
	}
	stack, err := devstack.Start(ctx, devstack.Options{
		DataDir:  filepath.Join(dataDir, "aws"),
		Progress: os.Stdout,
		Ports:    ports,
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping the local AWS stand-ins ...")
		if err := stack.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := stack.Export(); err != nil {
		return err
	}

	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	st := topology.Default()
	res, err := provision.Apply(ctx, awsCfg, st, "")
	if err != nil {
		return fmt.Errorf("create resources: %w", err)
	}
	// Functions run in this process; each reads its settings from the
	// environment exactly as in Lambda.
	for _, fn := range st.Functions {
		for k, v := range topology.ResourceEnv(fn, res) {
			os.Setenv(k, v)
		}
	}
	// Deploy-time parameters (the Meta app secret and verify token), taken
	// from the environment or their dev defaults and encrypted with the
	// local key, as an operator does for `cdk deploy -c`.
	inForce, err := params.Fill(ctx, kms.NewFromConfig(awsCfg), st, res.KeyID)
	if err != nil {
		return err
	}

	// The Graph API: an outside stand-in when LEADLUENCE_GRAPH_BASE_URL is
	// set, else the Meta simulator with the demo page and number, which
	// reports the statuses of every message it accepts to the local webhook,
	// signed with the app secret in force, as WhatsApp does.
	webhookURL := "http://" + *addr + "/webhooks/meta"
	graphURL, sim := os.Getenv(envGraphBaseURL), (*metatest.Server)(nil)
	if graphURL == "" {
		sim = metatest.New(metatest.Options{
			AppSecret: []byte(inForce[topology.EnvMetaAppSecretCiphertext].Value), Addr: *simAddr,
			StatusWebhook: metatest.StatusWebhook{URL: webhookURL, Sent: devSentDelay, Delivered: devDeliveredDelay, Read: devReadDelay},
		})
		defer sim.Close()
		addDemoMeta(sim)
		graphURL = sim.URL
		os.Setenv(envGraphBaseURL, graphURL)
		os.Setenv("LEADLUENCE_GRAPH_VERSION", sim.Version())
	}

	logFile, err := os.OpenFile(filepath.Join(dataDir, "functions.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open function log: %w", err)
	}
	defer logFile.Close()
	log := logging.New(logFile, slog.LevelInfo)

	handlers, err := buildHandlers(ctx, log)
	if err != nil {
		return err
	}
	if err := handlers.Check(st); err != nil {
		return err
	}

	// The API's CORS, as API Gateway applies it in the cloud.
	corsParam, err := params.Lookup(topology.CORSOriginsParam)
	if err != nil {
		return err
	}
	origins, err := topology.ParseOrigins(corsParam.Value)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: runner.CORS(st.API.CORS, origins, runner.Router(st, handlers, log)), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	if err := startConsumers(ctx, awsCfg, st, res, handlers, log); err != nil {
		return err
	}

	// The runner's control (POST /plan, and /demo with the simulator),
	// before the seed: `make load` puts its orgs on a plan as soon as the
	// API answers.
	planStore := dynamostore.New(dynamodb.NewFromConfig(awsCfg), res.TableName)
	ctl, err := startDemoControl(ctx, *ctlAddr, sim, webhookURL, planStore.SetOrgPlan)
	if err != nil {
		return err
	}
	defer ctl.Close()
	// The demo org connects a page and a number: growth has room for them
	// (free allows one integration).
	// The seed calls the HTTP functions' handlers as API Gateway routes
	// requests to them (sign-up goes to account, leads to api).
	demo, err := seedDemo(ctx, runner.Dispatch(st, handlers.HTTP, "api"), sim != nil, func(ctx context.Context, orgID string) error {
		return planStore.SetOrgPlan(ctx, orgID, plan.Growth)
	})
	if err != nil {
		return fmt.Errorf("seed demo org: %w", err)
	}
	printTryThis(*addr, stack, res, demo, filepath.Join(dataDir, "functions.log"), time.Since(started))
	printWebhookTry(*addr, inForce)
	printGraph(graphURL, sim != nil)
	fmt.Printf("\nCORS            browser pages from %s may call the API (set %s to change it)\n", strings.Join(origins, ", "), corsParam.From)
	fmt.Println("\nData persists in .dev/ across restarts; make dev-reset wipes it. Ctrl-C stops everything.")

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	fmt.Println("\nshutting down ...")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// startConsumers polls every consumed queue and fires every schedule.
func startConsumers(ctx context.Context, awsCfg awsAPIConfig, st topology.Stack, res topology.Resolved, h runner.Handlers, log *slog.Logger) error {
	client := sqs.NewFromConfig(awsCfg)
	for _, fn := range st.Functions {
		if fn.Consumes != nil {
			url := res.QueueURLs[fn.Consumes.Queue]
			attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
			})
			if err != nil {
				return fmt.Errorf("queue %s: %w", fn.Consumes.Queue, err)
			}
			p := &runner.Poller{Client: client, QueueURL: url, QueueARN: attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
				BatchSize: fn.Consumes.BatchSize, Handler: h.Queue[fn.Name], Log: log, Wait: time.Second,
				Function: fn.Name, Timeout: fn.Timeout}
			go p.Run(ctx)
		}
		for _, s := range fn.Schedules {
			go runner.RunSchedule(ctx, fn, s.Name, s.Every, h.Schedule[fn.Name], log)
		}
	}
	return nil
}

func printTryThis(addr string, stack *devstack.Stack, res topology.Resolved, demo demoAccount, logPath string, took time.Duration) {
	base := "http://" + addr
	var queues []string
	for name, url := range res.QueueURLs {
		queues = append(queues, fmt.Sprintf("    %-9s %s", name, url))
	}
	sort.Strings(queues)
	fmt.Printf(`
Leadluence is running locally (ready in %.1fs).

  HTTP API      %s   (OpenAPI: %s/openapi.json)
  DynamoDB      %s   table %s
  SQS           %s
%s
  KMS           %s   key %s
  SES (mail)    %s   (sent mail is listed on this page)
  Function logs %s

Demo org %q, owner %s / %s

Try this:
  curl -s %s/v1/health
  TOKEN=$(curl -s %s/v1/auth/login -H 'Content-Type: application/json' \
      -d '{"email":"%s","password":"%s"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s %s/v1/leads -H "Authorization: Bearer $TOKEN"
  curl -s %s/v1/leads -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{"name":"Meera Iyer","phone":"98450 12345","email":"meera@example.com","tags":["website"]}'
  curl -s %s/v1/audit -H "Authorization: Bearer $TOKEN"

  # emails to leads go only from the org's own verified sender address (else 409 no_verified_sender):
  # SES would mail a link; locally, "follow" it with the second line
  curl -s -X PUT %s/v1/email/sender -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{"email":"sales@demo-realty.example"}'
  curl -s -X POST %s%ssales@demo-realty.example/verify
  curl -s %s/v1/email/sender -H "Authorization: Bearer $TOKEN"   # verified within a minute
`, took.Seconds(), base, base, stack.DynamoDB, res.TableName, stack.SQS, strings.Join(queues, "\n"), stack.KMS, res.KeyID,
		stack.SES, logPath, demo.Org, demo.Email, demo.Password, base, base, demo.Email, demo.Password, base, base, base,
		base, stack.SES, devstack.VerifyPathPrefix, base)
}

// printWebhookTry prints the Meta webhook settings in force (so an outside
// test can sign its own webhooks) and how to call the webhook by hand.
func printWebhookTry(addr string, inForce map[string]params.Value) {
	secret := inForce[topology.EnvMetaAppSecretCiphertext]
	token := inForce[topology.EnvMetaVerifyTokenCiphertext]
	hook := "http://" + addr + "/webhooks/meta"
	body := `{"object":"page","entry":[{"id":"` + demoPageID + `","time":1795860929,"changes":[{"field":"leadgen","value":{"leadgen_id":"1265891478201447","page_id":"` + demoPageID + `","form_id":"` + demoFormID + `","created_time":1795860928}}]}]}`
	fmt.Printf(`
Meta webhooks   %s
  app secret    %s   (set %s to change it)
  verify token  %s   (set %s to change it)

  # the subscription handshake: echoes hub.challenge
  curl -s '%s?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=1158201444'
  # a Lead Ads notification, signed like Meta's (X-Hub-Signature-256), put on the intake queue
  BODY=%s
  curl -s %s -H 'Content-Type: application/json' \
      -H "X-Hub-Signature-256: sha256=$(printf %%s "$BODY" | openssl dgst -sha256 -hmac %s | sed 's/^.* //')" -d "$BODY"
`, hook, shellQuote(secret.Value), secret.From, shellQuote(token.Value), token.From,
		hook, url.QueryEscape(token.Value), shellQuote(body), hook, shellQuote(secret.Value))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
