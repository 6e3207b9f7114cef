// Package app wires the importer function: an SQS consumer of the imports
// queue that applies the chunks of lead CSV imports with package
// leadimport. A chunk that fails (the table) is reported as a batch item
// failure: SQS delivers it again, and its rows that have their outcome are
// not written again; after maxReceiveCount it is dead-lettered, and
// `make dlq ARGS="replay imports --all"` puts it back.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/suppression"
)

// Handler is the SQS handler.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// New returns the importer handler.
func New(ctx context.Context, cfg config.Importer, log *slog.Logger, opts ...awsenv.Option) (Handler, error) {
	// The app id names the function in the User-Agent of its AWS calls.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-importer")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), cfg.TableName)
	// A lead an import creates starts with the opt-outs a deleted lead
	// left for its contacts. The key may not exist yet at this cold start:
	// it is looked up again until it does.
	store.UseLazySuppression(&suppression.Lazy{Store: store, Sealer: envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{})})
	return NewHandler(NewWorker(store, cfg, log), log), nil
}

// NewWorker is the worker over the table: leads written by lead.Service
// (the rules of the api's creates and updates: fields, custom field
// definitions, the assignment rule, the timeline, the audit trail), each
// created lead counted against the org's plan.
func NewWorker(store *dynamostore.Store, cfg config.Importer, log *slog.Logger) *leadimport.Worker {
	leads := &lead.Service{Store: store, Users: store, Audit: auditor{store: store, log: log}, Phones: phone.Normalize,
		DefaultRegion: cfg.DefaultRegion, Pipelines: store, Fields: store, Activities: store}
	leads.Assign = &lead.Assigner{Rules: store, Users: store}
	return &leadimport.Worker{Store: store, Leads: leads, Contacts: store, Plans: &plan.Service{Counters: store, Orgs: store},
		Consent: store, Log: log, Parallel: cfg.Parallel}
}

// NewHandler returns the SQS handler over a worker.
func NewHandler(w *leadimport.Worker, log *slog.Logger) Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			c, err := leadimport.DecodeChunk(r.Body)
			if err == nil {
				_, err = w.Apply(ctx, c)
			}
			if err != nil {
				log.WarnContext(ctx, "import chunk will be retried", "message_id", r.MessageId, "import_id", c.ImportID, "chunk", c.Index, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

// auditor appends lead.Service's records to the audit trail; a failure
// is logged (the lead is written).
type auditor struct {
	store *dynamostore.Store
	log   *slog.Logger
}

// Record implements lead.Auditor.
func (a auditor) Record(ctx context.Context, r audit.Record) {
	r.ID = ulid.Make().String()
	r.At = time.Now().UTC()
	if r.Outcome == "" {
		r.Outcome = audit.OutcomeSuccess
	}
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	r.Details["via"] = "import"
	if err := a.store.AppendAudit(ctx, r); err != nil {
		a.log.ErrorContext(ctx, "append audit", "action", r.Action, "err", err)
	}
}
