// Package app wires the retention function. On an EventBridge schedule it
// runs the due retention jobs (retention.Runner) against the table, at the
// event's time, stopping before the Lambda's deadline with a checkpoint that
// the next run resumes. From the purges queue it runs the purge jobs that
// actions start at once (retention.Job): one Lambda, told apart by the
// event's shape.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/suppression"
)

// Handler is the retention function's handler: Invoke (lambda.Handler)
// takes either event, Schedule and Queue one each (the local runner calls
// them).
type Handler struct {
	runner    *retention.Runner
	reminders *lead.Reminders
	dlq       *sqsqueue.Queue
	log       *slog.Logger
}

// ReminderSchedule is the schedule (infra/topology ScheduleReminders)
// whose events run the reminder job instead of the data lifecycle.
const ReminderSchedule = "reminders"

// New returns the retention handler.
func New(ctx context.Context, cfg config.Retention, log *slog.Logger, opts ...awsenv.Option) (*Handler, error) {
	awsCfg, err := loadAWS(ctx, log, opts)
	if err != nil {
		return nil, err
	}
	store := newStore(awsCfg, cfg)
	r, err := newRunner(store, cfg, log)
	if err != nil {
		return nil, err
	}
	h := &Handler{runner: r, reminders: &lead.Reminders{Store: store}, log: log}
	if cfg.PurgesQueueURL != "" || cfg.PurgesDLQURL != "" {
		queues := sqs.NewFromConfig(awsCfg)
		if cfg.PurgesQueueURL != "" {
			r.Continue = Enqueue(sqsqueue.New(queues, cfg.PurgesQueueURL))
		}
		if cfg.PurgesDLQURL != "" {
			h.dlq = sqsqueue.New(queues, cfg.PurgesDLQURL)
		}
	}
	return h, nil
}

// Enqueue puts purge jobs on q (the purges queue).
func Enqueue(q *sqsqueue.Queue) retention.Enqueuer {
	return func(ctx context.Context, j retention.Job) error { return q.Send(ctx, j.Encode()) }
}

// Invoke implements lambda.Handler and tells the event apart by its shape:
// an SQS batch (a Records key, every record from aws:sqs; an empty one is
// a batch with nothing to do) runs its purge jobs and answers partial
// batch failures; an EventBridge event (its "source" and "detail-type"),
// or null (an operator's invoke), runs the schedule. Anything else is an
// error, never a sweep.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		if err := h.Schedule(ctx, events.EventBridgeEvent{}); err != nil {
			return nil, err
		}
		return []byte("null"), nil
	}
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
	}
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return nil, fmt.Errorf("retention: read event: %w", err)
	}
	switch {
	case probe.Records != nil:
		var ev events.SQSEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("retention: read SQS event: %w", err)
		}
		for _, r := range ev.Records {
			if r.EventSource != "aws:sqs" {
				return nil, fmt.Errorf("retention: a record from %q, not aws:sqs", r.EventSource)
			}
		}
		resp, err := h.Queue(ctx, ev)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(resp)
		if err != nil {
			return nil, fmt.Errorf("retention: encode response: %w", err)
		}
		return out, nil
	case probe.Source != "" && probe.DetailType != "":
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("retention: read scheduled event: %w", err)
		}
		if err := h.Schedule(ctx, ev); err != nil {
			return nil, err
		}
		return []byte("null"), nil
	default:
		return nil, errors.New("retention: unknown event: neither an SQS batch (Records) nor an EventBridge event (source, detail-type); send null to run the schedule")
	}
}

// Queue runs the purge jobs of an SQS batch, one after the other. A body
// that is not a job goes to the DLQ with its reason; a job that fails is
// reported for a retry (partial batch failure); a job that stops before
// the deadline leaves its pending item (and puts a continuation back).
func (h *Handler) Queue(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	fail := func(r events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
	}
	for _, r := range ev.Records {
		j, err := retention.ParseJob(r.Body)
		var je *retention.JobError
		if errors.As(err, &je) {
			if h.dlq == nil {
				h.log.ErrorContext(ctx, "purge job cannot be parsed and there is no DLQ", "message_id", r.MessageId, "reason", je.Reason)
				fail(r)
				continue
			}
			if derr := deadLetter(ctx, h.dlq, r, je.Reason); derr != nil {
				h.log.ErrorContext(ctx, "dead-letter purge job", "message_id", r.MessageId, "err", derr)
				fail(r)
				continue
			}
			h.log.WarnContext(ctx, "purge job dead-lettered", "message_id", r.MessageId, "reason", je.Reason)
			continue
		}
		res, err := h.runner.RunJob(ctx, j)
		if err != nil {
			h.log.WarnContext(ctx, "purge job will be retried", "message_id", r.MessageId, "kind", j.Kind, "org", j.OrgID, "err", err)
			fail(r)
			continue
		}
		h.log.InfoContext(ctx, "purge job done", "message_id", r.MessageId, "kind", j.Kind, "org", j.OrgID, "items", res.Items,
			"finished", res.Done, "continued", res.Continued)
	}
	return resp, nil
}

// deadLetter moves a record to the DLQ itself, with why, so an operator
// sees the reason (make dlq ARGS="list purges").
func deadLetter(ctx context.Context, dlq *sqsqueue.Queue, r events.SQSMessage, reason string) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	str := "String"
	return dlq.SendWithAttributes(ctx, r.Body, map[string]sqstypes.MessageAttributeValue{
		"failure_reason": {DataType: &str, StringValue: &reason},
	})
}

// Schedule runs what the event's schedule (its detail's "schedule") asks
// for: the reminder job every minute (Reminders), else the hourly data
// lifecycle: every due job at the event's time.
func (h *Handler) Schedule(ctx context.Context, ev events.EventBridgeEvent) error {
	r, log := h.runner, h.log
	asOf := ev.Time
	if asOf.IsZero() {
		asOf = time.Now()
	}
	var detail struct {
		Schedule string `json:"schedule"`
	}
	if len(ev.Detail) > 0 {
		_ = json.Unmarshal(ev.Detail, &detail) // another shape: the lifecycle
	}
	if detail.Schedule == ReminderSchedule {
		return h.Reminders(ctx, asOf)
	}
	res, err := r.Run(ctx, asOf)
	log.InfoContext(ctx, "retention done", "as_of", res.AsOf, "orgs", len(res.Orgs), "sanitized", res.Total(),
		"complete", res.Complete, "resumed", res.Resumed)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	// Then the integration purge job: disconnected integrations' Meta data.
	ir, err := r.PurgeIntegrations(ctx)
	log.InfoContext(ctx, "integration purge done", "integrations", ir.Integrations, "finished", ir.Finished, "items", ir.Items, "complete", ir.Complete)
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
}

// Reminders records every task reminder due at asOf, each once (see
// lead.Reminders); what a run leaves (its context ended) the next one does.
func (h *Handler) Reminders(ctx context.Context, asOf time.Time) error {
	res, err := h.reminders.Run(ctx, asOf)
	h.log.InfoContext(ctx, "reminders done", "as_of", asOf, "due", res.Due, "fired", res.Fired, "skipped", res.Skipped, "complete", res.Complete)
	if err != nil {
		return fmt.Errorf("reminders: %w", err)
	}
	return nil
}

// NewRunner returns the runner the handler uses, over the table cfg names.
func NewRunner(ctx context.Context, cfg config.Retention, log *slog.Logger, opts ...awsenv.Option) (*retention.Runner, error) {
	awsCfg, err := loadAWS(ctx, log, opts)
	if err != nil {
		return nil, err
	}
	return newRunner(newStore(awsCfg, cfg), cfg, log)
}

// loadAWS loads the function's AWS configuration. The app id names the
// function in the User-Agent of its AWS calls (app/leadluence-retention):
// CloudTrail and the local call log (tools/devstack) tell the functions
// apart by it.
func loadAWS(ctx context.Context, log *slog.Logger, opts []awsenv.Option) (aws.Config, error) {
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-retention")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return awsCfg, nil
}

// newStore is the table the function works on; with a key, deleting a
// lead keeps its opt-outs under keyed hashes.
func newStore(awsCfg aws.Config, cfg config.Retention) *dynamostore.Store {
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), cfg.TableName)
	if cfg.KeyID != "" {
		// Deleting a lead keeps its opt-outs under keyed hashes. The key
		// may not exist yet at this cold start: it is looked up again
		// until it does.
		store.UseLazySuppression(&suppression.Lazy{Store: store, Sealer: envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{})})
	}
	return store
}

func newRunner(store *dynamostore.Store, cfg config.Retention, log *slog.Logger) (*retention.Runner, error) {
	return &retention.Runner{Store: store, Audit: store, Log: log, Rate: cfg.Rate, Margin: cfg.Margin, Purges: store, Closed: store,
		Integrations: store}, nil
}
