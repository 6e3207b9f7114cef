// Package app wires the sender function: an SQS consumer of the outbound
// queue that sends each queued message with package outbound, and
// processes campaign page jobs (sendgate.KindCampaignPage) one page each
// with campaign.Pages, which queues the next page's job. A message to
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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/unsubscribe"
	"github.com/leadluence/backend/shared/watemplate"
)

var (
	_ outbound.Store         = (*dynamostore.Store)(nil)
	_ outbound.SubjectReader = (*dynamostore.Store)(nil)
	_ campaign.PageStore     = (*dynamostore.Store)(nil)
)

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

// New returns the sender handler, campaign page jobs included.
func New(ctx context.Context, cfg config.Sender, log *slog.Logger, opts ...awsenv.Option) (Handler, error) {
	s, q, err := NewSender(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	pages, err := NewCampaignPages(cfg, s, q, log)
	if err != nil {
		return nil, err
	}
	if s.Reengage, err = NewReengager(cfg, s, q, log); err != nil {
		return nil, err
	}
	return NewHandler(s, q, cfg.OutboundQueueURL, log, WithCampaignPages(pages)), nil
}

// CampaignPages processes one page of a campaign per campaign page job and
// queues the next (campaign.Pages). An error means the job is retried.
type CampaignPages interface {
	Step(ctx context.Context, orgID, campaignID string) error
}

// Queue sends messages to a queue.
type Queue interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// NewCampaignPages builds the campaign page processor over the sender's
// store and token opener: it reads templates from the Graph API of cfg and
// puts message and page jobs on the outbound queue through q.
func NewCampaignPages(cfg config.Sender, s *outbound.Sender, q Queue, log *slog.Logger) (*campaign.Pages, error) {
	store, ok := s.Store.(*dynamostore.Store)
	if !ok {
		return nil, fmt.Errorf("campaign pages: sender store is %T, not the table store", s.Store)
	}
	outboundQueue := sqsqueue.New(q, cfg.OutboundQueueURL)
	enqueue := func(ctx context.Context, orgID, leadID, messageID string) error {
		if err := outboundQueue.Send(ctx, sendgate.Job{OrgID: orgID, LeadID: leadID, MessageID: messageID}.Encode()); err != nil {
			return fmt.Errorf("enqueue %s: %w", messageID, err)
		}
		return nil
	}
	graph := meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: graphBackstop})
	// Each campaign message counts once against the plan's WhatsApp
	// messages of the day (shared/plan).
	return &campaign.Pages{Store: store, Enqueue: enqueue, Log: log, Quota: senderPlans(cfg, s, store, log),
		Templates: &watemplate.Catalog{Source: graph, Opener: s.Tokens, Cache: &watemplate.Cache{}}}, nil
}

// NewReengager returns the re-engagement automation the sender runs on a
// message failed with error 131047: it queues the org's re-engagement
// template on the outbound queue (automation.Runner).
func NewReengager(cfg config.Sender, s *outbound.Sender, q Queue, log *slog.Logger) (*automation.Runner, error) {
	store, ok := s.Store.(*dynamostore.Store)
	if !ok {
		return nil, fmt.Errorf("re-engagement: sender store is %T, not the table store", s.Store)
	}
	outboundQueue := sqsqueue.New(q, cfg.OutboundQueueURL)
	enqueue := func(ctx context.Context, job sendgate.Job) error {
		if err := outboundQueue.Send(ctx, job.Encode()); err != nil {
			return fmt.Errorf("enqueue message %s: %w", job.MessageID, err)
		}
		return nil
	}
	return &automation.Runner{Settings: automation.NewStore(store), Store: store, Log: log, Enqueue: enqueue,
		Quota: senderPlans(cfg, s, store, log)}, nil
}

// senderPlans is the plan service of campaign and automation messages:
// each counts once against the plan's WhatsApp messages of the day, and
// the use that reaches 80 % of it mails the org's owners the usage
// warning from the platform address (plan.Alerts), through the sender's
// SES client.
func senderPlans(cfg config.Sender, s *outbound.Sender, store *dynamostore.Store, log *slog.Logger) *plan.Service {
	svc := &plan.Service{Counters: store, Orgs: store}
	if m, ok := s.Mailer.(*sesmail.Client); ok {
		svc.Alerts = &plan.Alerts{Store: store, Log: log, Mail: m.Notices(cfg.EmailFrom)}
	}
	return svc
}

// Option adjusts the handler.
type Option func(*handlerConfig)

type handlerConfig struct {
	pages CampaignPages
}

// WithCampaignPages makes the handler process campaign page jobs with p.
// Without it such a job is retried (and ends in the dead-letter queue).
func WithCampaignPages(p CampaignPages) Option {
	return func(c *handlerConfig) { c.pages = p }
}

// NewSender builds the outbound.Sender of cfg (clients, token cache,
// pacer) and the SQS client for visibility changes, so that tests can
// adjust the sender before NewHandler.
func NewSender(ctx context.Context, cfg config.Sender, log *slog.Logger, opts ...awsenv.Option) (*outbound.Sender, *sqs.Client, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-sender): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-sender")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load aws config: %w", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), cfg.TableName)
	sealer := envelope.New(kms.NewFromConfig(awsCfg), cfg.KeyID, envelope.Options{})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * Concurrency
	s := &outbound.Sender{
		Store: store,
		Orgs:  store,
		// Each email's From is checked against the org's verified sender
		// address as stored (the api keeps it current with SES).
		Senders:  store,
		WhatsApp: meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: graphBackstop, Transport: tr}),
		// No SDK retries: an email whose answer was lost must not go twice;
		// the sender retries what is safe through the queue. Sent emails
		// name the configuration set whose events SES publishes.
		Mailer: sesmail.New(sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }), cfg.ConfigurationSet),
		Tokens: sealer,
		// Every email carries its lead's one-click unsubscribe link, signed
		// with the key the api function creates (opened, never created here).
		Unsubscribe: &unsubscribe.Links{BaseURL: cfg.PublicBaseURL, Keys: &unsubscribe.Lazy{Store: store, Sealer: sealer}},
		Pacer:       outbound.NewPacer(store),
		Log:         log,
		NumberRate:  cfg.NumberRatePerSecond,
		EmailFrom:   cfg.EmailFrom,
	}
	return s, sqs.NewFromConfig(awsCfg), nil
}

// NewHandler returns the SQS handler over a sender. Records of one batch
// run concurrently; records carrying the same job are worked on once.
func NewHandler(s *outbound.Sender, q Visibility, queueURL string, log *slog.Logger, opts ...Option) Handler {
	var hc handlerConfig
	for _, o := range opts {
		o(&hc)
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		// Group records by message, keeping batch order.
		var order []string
		groups := map[string][]events.SQSMessage{}
		for _, r := range ev.Records {
			k := r.MessageId
			if job, err := sendgate.DecodeJob(r.Body); err == nil {
				k = job.OrgID + "/" + job.LeadID + "/" + job.MessageID
				if job.Kind == sendgate.KindCampaignPage {
					k = "campaign/" + job.OrgID + "/" + job.CampaignID
				}
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
				if retry := handle(ctx, s, q, queueURL, log, hc, recs[0]); retry {
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

// handle sends one record's message, or processes its campaign page, and
// reports whether the record must come back (its visibility then set to
// when).
func handle(ctx context.Context, s *outbound.Sender, q Visibility, queueURL string, log *slog.Logger, hc handlerConfig, r events.SQSMessage) bool {
	count, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	job, err := sendgate.DecodeJob(r.Body)
	d := outbound.Delivery{Job: job, ReceiveCount: count}
	if err != nil {
		// It can never be sent; after the queue's receive limit it lands in
		// the dead-letter queue for an operator to look at.
		log.ErrorContext(ctx, "outbound job unreadable", "sqs_message_id", r.MessageId, "err", err)
		retryAt(ctx, q, queueURL, log, r, s.RetryDelay(d))
		return true
	}
	if job.Kind == sendgate.KindCampaignPage {
		return campaignPage(ctx, s, q, queueURL, log, hc.pages, d, r)
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

// campaignPage processes the page of a campaign page job and reports
// whether the record must come back.
func campaignPage(ctx context.Context, s *outbound.Sender, q Visibility, queueURL string, log *slog.Logger, pages CampaignPages,
	d outbound.Delivery, r events.SQSMessage) bool {
	attrs := []any{"sqs_message_id", r.MessageId, "org_id", d.OrgID, "campaign", d.CampaignID, "receive_count", d.ReceiveCount}
	if pages == nil {
		log.ErrorContext(ctx, "campaign page job but no campaign processor", attrs...)
		retryAt(ctx, q, queueURL, log, r, s.RetryDelay(d))
		return true
	}
	if err := pages.Step(ctx, d.OrgID, d.CampaignID); err != nil {
		delay := s.RetryDelay(d)
		log.WarnContext(ctx, "campaign page will be retried", append(attrs, "retry_in", delay.String(), "err", err)...)
		retryAt(ctx, q, queueURL, log, r, delay)
		return true
	}
	log.InfoContext(ctx, "campaign page processed", attrs...)
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
