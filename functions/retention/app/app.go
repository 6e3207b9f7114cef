// Package app wires the retention function: on an EventBridge schedule it
// runs the due retention jobs (retention.Runner) against the table, at the
// event's time, stopping before the Lambda's deadline with a checkpoint that
// the next run resumes.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/retention"
)

// Handler is the scheduled handler.
type Handler func(ctx context.Context, ev events.EventBridgeEvent) error

// New returns the retention handler.
func New(ctx context.Context, cfg config.Retention, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (Handler, error) {
	r, err := NewRunner(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		asOf := ev.Time
		if asOf.IsZero() {
			asOf = time.Now()
		}
		res, err := r.Run(ctx, asOf)
		log.InfoContext(ctx, "retention done", "as_of", res.AsOf, "orgs", len(res.Orgs), "sanitized", res.Total(),
			"complete", res.Complete, "resumed", res.Resumed)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		// Then the lead purge job: deleted leads' remaining history.
		pr, err := r.PurgeLeads(ctx)
		log.InfoContext(ctx, "lead purge done", "leads", pr.Leads, "finished", pr.Finished, "items", pr.Items, "complete", pr.Complete)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		// Then the purge of orgs closed longer than the reopen window.
		cr, err := r.PurgeClosedOrgs(ctx, asOf)
		log.InfoContext(ctx, "closed org purge done", "orgs", cr.Orgs, "finished", cr.Finished, "items", cr.Items, "complete", cr.Complete)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		return nil
	}, nil
}

// NewRunner returns the runner the handler uses, over the table cfg names.
func NewRunner(ctx context.Context, cfg config.Retention, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (*retention.Runner, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-retention): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(logging.SDK{Log: log}), awsconfig.WithAppID("leadluence-retention")}, opts...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), cfg.TableName)
	return &retention.Runner{Store: store, Audit: store, Log: log, Rate: cfg.Rate, Margin: cfg.Margin, Purges: store, Closed: store}, nil
}
