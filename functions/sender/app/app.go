// Package app wires the sender function: an SQS consumer of the outbound
// queue that sends each queued message with package outbound. A message to
// retry (a provider's rate limit or outage, a pacing wait) is reported as a
// batch item failure after its visibility timeout is set to when it should
// come back; everything else is done when the handler returns.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/outbound"
)

var _ outbound.Store = (*dynamostore.Store)(nil)

// Handler is the SQS handler.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Visibility changes when a received queue message comes back.
type Visibility interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Concurrency is how many records of a batch are sent at once.
const Concurrency = 10

// graphBackstop bounds a Graph API call that has no deadline of its own;
// the sender gives every call outbound.Sender.SendTimeout.
const graphBackstop = 30 * time.Second

// maxVisibility is SQS's longest visibility timeout.
const maxVisibility = 12 * time.Hour

// New returns the sender handler.
func New(ctx context.Context, cfg config.Sender, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (Handler, error) {
	s, q, err := NewSender(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	return NewHandler(s, q, cfg.OutboundQueueURL, log), nil
}

// NewSender builds the outbound.Sender of cfg (clients, token cache,
// pacer) and the SQS client for visibility changes, so that tests can
// adjust the sender before NewHandler.
func NewSender(ctx context.Context, cfg config.Sender, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (*outbound.Sender, *sqs.Client, error) {
	opts = append([]func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(logging.SDK{Log: log})}, opts...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * Concurrency
	s := &outbound.Sender{
		Store:    dynamostore.New(db, cfg.TableName),
		WhatsApp: meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: graphBackstop, Transport: tr}),
		// No SDK retries: an email whose answer was lost must not go twice;
		// the sender retries what is safe through the queue.
		Mailer:     sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }),
		Tokens:     envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{}),
		Pacer:      outbound.NewPacer(db, cfg.TableName),
		Log:        log,
		NumberRate: cfg.NumberRatePerSecond,
		EmailFrom:  cfg.EmailFrom,
	}
	return s, sqs.NewFromConfig(awsCfg), nil
}

// NewHandler returns the SQS handler over a sender. Records of one batch
// run concurrently; records carrying the same job are sent once.
func NewHandler(s *outbound.Sender, q Visibility, queueURL string, log *slog.Logger) Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		// Group records by message, keeping batch order.
		var order []string
		groups := map[string][]events.SQSMessage{}
		for _, r := range ev.Records {
			k := r.MessageId
			if job, err := outbound.DecodeJob(r.Body); err == nil {
				k = job.OrgID + "/" + job.LeadID + "/" + job.MessageID
			}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
		}
		var (
			mu   sync.Mutex
			resp events.SQSEventResponse
			wg   sync.WaitGroup
			sem  = make(chan struct{}, Concurrency)
		)
		for _, k := range order {
			recs := groups[k]
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				// Only the first copy is worked on; the others are
				// redundant deliveries of the same job.
				if retry := handle(ctx, s, q, queueURL, log, recs[0]); retry {
					mu.Lock()
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: recs[0].MessageId})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return resp, nil
	}
}

// handle sends one record's message and reports whether the record must
// come back (its visibility then set to when).
func handle(ctx context.Context, s *outbound.Sender, q Visibility, queueURL string, log *slog.Logger, r events.SQSMessage) bool {
	count, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	job, err := outbound.DecodeJob(r.Body)
	d := outbound.Delivery{Job: job, ReceiveCount: count}
	if err != nil {
		// It can never be sent; after the queue's receive limit it lands in
		// the dead-letter queue for an operator to look at.
		log.ErrorContext(ctx, "outbound job unreadable", "sqs_message_id", r.MessageId, "err", err)
		retryAt(ctx, q, queueURL, log, r, s.RetryDelay(d))
		return true
	}
	res, err := s.Send(ctx, d)
	if err != nil {
		delay := s.RetryDelay(d)
		log.WarnContext(ctx, "send will be retried", "sqs_message_id", r.MessageId, "message_id", job.MessageID, "receive_count", d.ReceiveCount,
			"retry_in", delay.String(), "err", err)
		retryAt(ctx, q, queueURL, log, r, delay)
		return true
	}
	attrs := []any{"sqs_message_id", r.MessageId, "message_id", job.MessageID, "outcome", string(res.Outcome)}
	switch res.Outcome {
	case outbound.OutcomeRetry:
		log.InfoContext(ctx, "send deferred", append(attrs, "receive_count", d.ReceiveCount, "retry_in", res.RetryAfter.String(),
			"code", res.Refusal.Code, "title", res.Refusal.Title)...)
		retryAt(ctx, q, queueURL, log, r, res.RetryAfter)
		return true
	case outbound.OutcomeSent:
		log.InfoContext(ctx, "message sent", append(attrs, "provider_id", res.ProviderID)...)
	case outbound.OutcomeFailed, outbound.OutcomeUnknown:
		log.WarnContext(ctx, "message not sent", append(attrs, "code", res.Refusal.Code, "title", res.Refusal.Title, "reason", res.Refusal.Reason)...)
	default:
		log.InfoContext(ctx, "nothing to send", append(attrs, "reason", res.Refusal.Reason)...)
	}
	return false
}

// retryAt makes a record visible again after delay (rounded up to whole
// seconds, as SQS counts). If that fails, the record comes back after the
// queue's own visibility timeout.
func retryAt(ctx context.Context, q Visibility, queueURL string, log *slog.Logger, r events.SQSMessage, delay time.Duration) {
	secs := int32(math.Ceil(min(max(delay, 0), maxVisibility).Seconds()))
	_, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &queueURL, ReceiptHandle: &r.ReceiptHandle, VisibilityTimeout: secs,
	})
	if err != nil {
		log.WarnContext(ctx, "change visibility", "sqs_message_id", r.MessageId, "err", err)
	}
}
