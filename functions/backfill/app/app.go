// Package app wires the backfill function: on an EventBridge schedule it
// asks the Graph API, for every active page, for Lead Ads leads created since
// the newest one seen, and ingests those webhooks missed (see
// intake.Processor.Backfill).
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/suppression"
)

// Handler is the scheduled handler.
type Handler func(ctx context.Context, ev events.EventBridgeEvent) error

// New returns the backfill handler.
func New(ctx context.Context, cfg config.Backfill, log *slog.Logger, opts ...awsenv.Option) (Handler, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-backfill): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-backfill")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), cfg.TableName)
	graph := meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: 20 * time.Second})
	sealer := envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{})
	// New leads start with the opt-outs a deleted lead left for their
	// contacts (suppression entries, read by keyed hash). The key may not
	// exist yet at this cold start: it is looked up again until it does.
	store.UseLazySuppression(&suppression.Lazy{Store: store, Sealer: sealer})
	p := &intake.Processor{
		Store: store, Graph: graph, Log: log, DefaultRegion: cfg.DefaultRegion, Fields: store,
		Tokens: sealer,
		// A backfilled lead goes to the org's assignment rule, as the
		// webhook's would (same event key, so the same turn).
		Assign: &lead.Assigner{Rules: store, Users: store},
		// Backfilled leads count against the plan as the webhook's do.
		Plans: &plan.Service{Counters: store, Orgs: store, Alerts: &plan.Alerts{Store: store, Log: log}},
	}
	return func(ctx context.Context, _ events.EventBridgeEvent) error {
		c, err := p.Backfill(ctx, store, graph)
		log.InfoContext(ctx, "backfill done", "leads_created", c.LeadsCreated, "leads_attached", c.LeadsAttached, "already_ingested", c.Duplicates)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		return nil
	}, nil
}
