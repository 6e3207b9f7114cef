// Package app wires the ingest function: an SQS consumer of the intake
// queue that applies Meta webhook payloads with package intake. Payloads
// that can be retried are reported as batch item failures (SQS redelivers
// them, then dead-letters them after maxReceiveCount); payloads that never
// can be processed go straight to the dead-letter queue with their reason.
package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/suppression"
)

// Handler is the SQS handler.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// DeadLetters is where permanent failures go.
type DeadLetters interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// graphTimeout bounds one Graph API call; a timeout is retried by SQS.
const graphTimeout = 10 * time.Second

// New returns the ingest handler.
func New(ctx context.Context, cfg config.Ingest, log *slog.Logger, opts ...awsenv.Option) (Handler, *intake.Processor, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-ingest): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-ingest")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions)
	store := dynamostore.New(db, cfg.TableName)
	queues := sqs.NewFromConfig(awsCfg)
	sealer := envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{})
	// New leads start with the opt-outs a deleted lead left for their
	// contacts (suppression entries, read by keyed hash). The key may not
	// exist yet at this cold start: it is looked up again until it does.
	store.UseLazySuppression(&suppression.Lazy{Store: store, Sealer: sealer})
	// Plans: automatic messages count against the day's WhatsApp
	// messages, new leads against the month's leads, kept past the limit
	// with an in-app notice to the owners; the use that reaches 80 % mails
	// them the usage warning from the platform address (shared/plan),
	// without SDK retries (a retried SendEmail whose answer was lost would
	// mail twice).
	notices := sesmail.New(sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }), "")
	plans := &plan.Service{Counters: store, Orgs: store, Alerts: &plan.Alerts{Store: store, Log: log, Mail: notices.Notices(cfg.EmailFrom)}}
	p := &intake.Processor{
		Store:         store,
		Fields:        store,
		Graph:         meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: graphTimeout}),
		Tokens:        sealer,
		Log:           log,
		DefaultRegion: cfg.DefaultRegion,
		Automate: &automation.Runner{Settings: automation.NewStore(store), Store: store, Log: log,
			Enqueue: enqueueOutbound(queues, cfg.OutboundQueueURL), Quota: plans},
		// New leads go to the org's assignment rule.
		Assign: &lead.Assigner{Rules: store, Users: store},
		Plans:  plans,
	}
	return NewHandler(p, queues, cfg.IntakeDLQURL, log), p, nil
}

// enqueueOutbound puts automations' send jobs on the outbound queue, which
// the sender consumes (contract: sendgate.Job).
func enqueueOutbound(q DeadLetters, url string) automation.Enqueue {
	outboundQueue := sqsqueue.New(q, url)
	return func(ctx context.Context, job sendgate.Job) error {
		if err := outboundQueue.Send(ctx, job.Encode()); err != nil {
			return fmt.Errorf("enqueue message %s: %w", job.MessageID, err)
		}
		return nil
	}
}

// NewHandler returns the SQS handler over a processor.
func NewHandler(p *intake.Processor, dlq DeadLetters, dlqURL string, log *slog.Logger) Handler {
	dead := sqsqueue.New(dlq, dlqURL)
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			body, err := payloadOf(r)
			var counts intake.Counts
			if err == nil {
				counts, err = p.Process(ctx, body)
			}
			var perm *intake.PermanentError
			switch {
			case err == nil:
				log.InfoContext(ctx, "payload applied", "message_id", r.MessageId, "leads_created", counts.LeadsCreated,
					"leads_attached", counts.LeadsAttached, "messages", counts.Messages, "statuses", counts.Statuses,
					"duplicates", counts.Duplicates, "dropped", counts.Dropped, "parked", counts.Parked)
			case errors.As(err, &perm):
				if derr := deadLetter(ctx, dead, r, perm.Reason); derr != nil {
					log.ErrorContext(ctx, "dead-letter payload", "message_id", r.MessageId, "err", derr)
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					continue
				}
				log.WarnContext(ctx, "payload dead-lettered", "message_id", r.MessageId, "reason", perm.Reason)
			default:
				log.WarnContext(ctx, "payload will be retried", "message_id", r.MessageId, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

// deadLetter moves a record to the DLQ itself, with why, so an operator sees
// the reason (dlq list) instead of only "exceeded maxReceiveCount".
func deadLetter(ctx context.Context, dlq *sqsqueue.Queue, r events.SQSMessage, reason string) error {
	attrs := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range r.MessageAttributes {
		if v.StringValue != nil {
			attrs[k] = sqstypes.MessageAttributeValue{DataType: &v.DataType, StringValue: v.StringValue}
		}
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	str := "String"
	attrs["failure_reason"] = sqstypes.MessageAttributeValue{DataType: &str, StringValue: &reason}
	return dlq.SendWithAttributes(ctx, r.Body, attrs)
}

// payloadOf returns the webhook payload a message carries (see the intake
// message contract in package intakemsg): as is, or base64-decoded. A part of
// a body the webhook could not cut into whole payloads cannot be applied on
// its own; it is dead-lettered with its place in the set, so nothing is lost.
func payloadOf(r events.SQSMessage) ([]byte, error) {
	attr := func(name string) string {
		if v, ok := r.MessageAttributes[name]; ok && v.StringValue != nil {
			return *v.StringValue
		}
		return ""
	}
	if attr(intakemsg.AttrPayload) == intakemsg.PayloadPart {
		return nil, &intake.PermanentError{Reason: fmt.Sprintf("raw part %s of %s of signed body %s: concatenate the parts in order to inspect it",
			attr(intakemsg.AttrSplitIndex), attr(intakemsg.AttrSplitCount), attr(intakemsg.AttrSplitID))}
	}
	if attr(intakemsg.AttrEncoding) == intakemsg.EncodingBase64 {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			return nil, &intake.PermanentError{Reason: "body marked base64 does not decode: " + err.Error()}
		}
		return b, nil
	}
	return []byte(r.Body), nil
}
