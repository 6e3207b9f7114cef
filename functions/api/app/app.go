// Package app wires the api function: it builds the AWS clients, the store,
// the envelope sealer and the token secret once per cold start and returns
// the Lambda handler. functions/api/main.go passes that handler to
// lambda.Start; the local runner calls the very same handler.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
)

// The table store serves every route of the API, the campaign routes
// included (httpapi serves them only when the messaging store is a
// CampaignStore), and the SES adapter verifies sender addresses.
var (
	_ httpapi.Store            = (*dynamostore.Store)(nil)
	_ httpapi.MessagingStore   = (*dynamostore.Store)(nil)
	_ httpapi.CampaignStore    = (*dynamostore.Store)(nil)
	_ httpapi.IntegrationStore = (*dynamostore.Store)(nil)
	_ httpapi.EmailSenderStore = (*dynamostore.Store)(nil)
	_ httpapi.EmailIdentities  = (*sesmail.Client)(nil)
)

// New returns the api function's handler. Extra SDK options (a call
// counter in benchmarks, say) apply to every client.
func New(ctx context.Context, cfg config.API, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (apigw.HandlerFunc, error) {
	srv, err := NewServer(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	return apigw.Handler(srv), nil
}

// NewServer returns the HTTP API behind the handler.
func NewServer(ctx context.Context, cfg config.API, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (*httpapi.Server, error) {
	opts = append([]func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(logging.SDK{Log: log})}, opts...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	keys := kms.NewFromConfig(awsCfg)
	queues := sqs.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.TableName)
	sealer := envelope.New(keys, cfg.KeyID, envelope.Options{})

	secret, err := auth.LoadSigningSecret(ctx, store, sealer)
	if err != nil {
		return nil, fmt.Errorf("load token secret: %w", err)
	}
	tokens, err := auth.NewTokens(secret)
	if err != nil {
		return nil, err
	}
	queueCheck := func(url string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
			})
			if err != nil {
				return fmt.Errorf("queue attributes: %w", err)
			}
			return nil
		}
	}
	graph := meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: 10 * time.Second})
	intakeQueue := sqsqueue.New(queues, cfg.IntakeQueueURL)
	requeue := func(ctx context.Context, payload []byte) error {
		if err := intakeQueue.Send(ctx, string(payload)); err != nil {
			return fmt.Errorf("requeue to intake: %w", err)
		}
		return nil
	}
	// enqueue puts a send job on the outbound queue, after the message is
	// stored as queued; the sender consumes it (contract: sendgate.Job).
	outboundQueue := sqsqueue.New(queues, cfg.OutboundQueueURL)
	enqueue := func(ctx context.Context, orgID, leadID, messageID string) error {
		if err := outboundQueue.Send(ctx, sendgate.Job{OrgID: orgID, LeadID: leadID, MessageID: messageID}.Encode()); err != nil {
			return fmt.Errorf("enqueue message %s: %w", messageID, err)
		}
		return nil
	}
	return httpapi.New(httpapi.Deps{
		Integrations: &httpapi.IntegrationDeps{Store: store, Graph: graph, Sealer: sealer, Requeue: requeue},
		Automations:  automation.NewStore(store),
		Messaging: &httpapi.MessagingDeps{Store: store, Enqueue: enqueue, Graph: graph, Opener: sealer,
			EmailFrom: cfg.EmailFrom},
		// The org's own sender address: SES verifies it (email identities);
		// the endpoint and region come from the SDK's standard settings.
		EmailSender:   &httpapi.EmailSenderDeps{Store: store, SES: sesmail.New(sesv2.NewFromConfig(awsCfg), ""), PlatformFrom: cfg.EmailFrom},
		Store:         store,
		Tokens:        tokens,
		Log:           log,
		DefaultRegion: cfg.DefaultRegion,
		Checks: []httpapi.Check{
			{Name: "table", Run: store.Ping},
			{Name: "queue_intake", Run: queueCheck(cfg.IntakeQueueURL)},
			{Name: "queue_outbound", Run: queueCheck(cfg.OutboundQueueURL)},
			{Name: "key", Run: func(ctx context.Context) error {
				if _, err := keys.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(cfg.KeyID)}); err != nil {
					return fmt.Errorf("describe key: %w", err)
				}
				return nil
			}},
		},
	}), nil
}
