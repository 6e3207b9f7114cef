// Package app wires the api function, the part of the HTTP API that
// serves leads (pipelines, fields, imports, tasks, notifications, merges,
// assignment), messaging (conversations, messages, templates, automations,
// the org's sender address), campaigns, the health route and the whole
// API's OpenAPI document. The shared wiring (AWS clients, store, sealer,
// platform secrets, plans, the server) is functions/httpfn; this
// package registers its areas and returns the Lambda handler.
// functions/api/main.go passes that handler to lambda.Start; the local
// runner calls the very same handler.
package app

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/functions/httpfn"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/campaigns"
	"github.com/leadluence/backend/shared/httpapi/leads"
	"github.com/leadluence/backend/shared/httpapi/messaging"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/watemplate"
)

// The table store serves every port of the api's areas and of the
// sender-address service, and the SES adapter verifies sender addresses.
var (
	_ messaging.Store              = (*dynamostore.Store)(nil)
	_ messaging.EmailRate          = (*dynamostore.Store)(nil)
	_ account.SenderStore          = (*dynamostore.Store)(nil)
	_ account.Identities           = (*sesmail.Client)(nil)
	_ campaigns.Store              = (*dynamostore.Store)(nil)
	_ campaign.PageStore           = (*dynamostore.Store)(nil)
	_ conversation.PreferenceStore = (*dynamostore.Store)(nil)
)

// New returns the api function's handler. Extra SDK options (a call
// counter in benchmarks, say) apply to every client.
func New(ctx context.Context, cfg config.API, log *slog.Logger, opts ...awsenv.Option) (apigw.HandlerFunc, error) {
	srv, err := NewServer(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	return apigw.Handler(srv), nil
}

// NewServer returns the api's part of the HTTP API behind the handler.
func NewServer(ctx context.Context, cfg config.API, log *slog.Logger, opts ...awsenv.Option) (*httpapi.Server, error) {
	return httpfn.New(ctx, baseConfig(cfg), log, func(b *httpfn.Base) error { return register(b, cfg) }, opts...)
}

// Register adds the api's areas to a server built without AWS
// (httpfn.Offline), for the whole API's document.
func Register(b *httpfn.Base) error { return register(b, config.API{}) }

func baseConfig(cfg config.API) httpfn.Config {
	return httpfn.Config{
		Function: "api", TableName: cfg.TableName, KeyID: cfg.KeyID, PurgesQueueURL: cfg.PurgesQueueURL,
		DefaultRegion: cfg.DefaultRegion, GraphBaseURL: cfg.GraphBaseURL, GraphVersion: cfg.GraphVersion,
		EmailFrom: cfg.EmailFrom, APIKeyRequestsPerMinute: cfg.APIKeyRequestsPerMinute,
		Document: Document,
		// The account function creates the platform secrets (sign-up,
		// login and API keys are its routes): the api only opens them and
		// holds no KMS encrypt grant.
		OpenSecretsOnly: true,
		Checks: func(b *httpfn.Base) []httpapi.Check {
			queueCheck := func(url string) func(context.Context) error {
				return func(ctx context.Context) error {
					_, err := b.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
						QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
					})
					if err != nil {
						return fmt.Errorf("queue attributes: %w", err)
					}
					return nil
				}
			}
			return []httpapi.Check{
				{Name: "table", Run: b.Store.Ping},
				{Name: "queue_intake", Run: queueCheck(cfg.IntakeQueueURL)},
				{Name: "queue_outbound", Run: queueCheck(cfg.OutboundQueueURL)},
				{Name: "queue_purges", Run: queueCheck(cfg.PurgesQueueURL)},
				{Name: "key", Run: func(ctx context.Context) error {
					if _, err := b.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(cfg.KeyID)}); err != nil {
						return fmt.Errorf("describe key: %w", err)
					}
					return nil
				}},
			}
		},
	}
}

// register adds the leads, messaging and campaigns areas.
func register(b *httpfn.Base, cfg config.API) error {
	store, kit, api := b.Store, b.Kit, b.API
	// enqueue puts a send job on the outbound queue, after the message is
	// stored as queued; the sender consumes it (contract: sendgate.Job).
	outboundQueue := sqsqueue.New(b.SQS, cfg.OutboundQueueURL)
	enqueue := func(ctx context.Context, orgID, leadID, messageID string) error {
		if err := outboundQueue.Send(ctx, sendgate.Job{OrgID: orgID, LeadID: leadID, MessageID: messageID}.Encode()); err != nil {
			return fmt.Errorf("enqueue message %s: %w", messageID, err)
		}
		return nil
	}
	leadService := b.Leads
	// One template catalog for single sends, automations and campaigns, so
	// that they share its short-lived template lists.
	templates := &watemplate.Catalog{Source: b.Graph, Opener: b.Sealer, Cache: &watemplate.Cache{}}
	// The org's own sender address: SES verifies it (email identities);
	// the endpoint and region come from the SDK's standard settings.
	// The verification email, from the platform address, names the org.
	identities := sesmail.New(sesv2.NewFromConfig(b.AWS), "").WithVerification(sesmail.Verification{
		From: cfg.EmailFrom, SuccessURL: cfg.SenderVerifiedURL, FailureURL: cfg.SenderVerifiedURL})
	senders := &account.SenderService{Store: store, Identities: identities, Orgs: store,
		PlatformFrom: cfg.EmailFrom, Audit: kit, Log: b.Log, Describe: sesmail.Describe}
	preferences := &conversation.PreferenceService{Leads: leadService, Store: store, Audit: kit}
	// Import jobs: a submitted file's chunks go on the imports queue, which
	// the importer consumes (contract: leadimport.Chunk).
	importsQueue := sqsqueue.New(b.SQS, cfg.ImportsQueueURL)
	importJobs := &leadimport.Submitter{Store: store, Enqueue: func(ctx context.Context, body string) error {
		if cfg.ImportsQueueURL == "" {
			return errors.New("no imports queue configured")
		}
		return importsQueue.Send(ctx, body)
	}}
	leads.RegisterImports(api, kit, leads.ImportDeps{Jobs: importJobs, Imports: store})
	leads.Register(api, kit, leads.Deps{Leads: leadService, Preferences: preferences, Timeline: leadService, Pipelines: leadService, Tasks: leadService, Appointments: leadService,
		Fields: &lead.FieldService{Store: store, Audit: kit}, Assignment: leadService, Plans: b.Plans, Import: leadService, Consent: store, Merges: leadService})
	messaging.Register(api, kit, messaging.Deps{Store: store, Leads: leadService, Enqueue: enqueue, Templates: templates,
		Automations: automation.NewStore(store),
		Senders:     senders,
		EmailRate:   store, EmailsPerMinute: cfg.EmailsPerMinute, Plans: b.Plans,
	})
	campaigns.Register(api, kit, campaigns.Deps{Store: store, Plans: b.Plans,
		Pages: &campaign.Pages{Store: store, Templates: templates, Enqueue: campaign.Enqueue(enqueue), Log: b.Log, Quota: b.Plans}})
	return nil
}

// documentGz is the whole HTTP API's OpenAPI document (the routes of the
// api and account functions), gzipped: written by `make openapi`
// (functions/apidoc); a test there fails when it is stale. The
// api serves it at GET /openapi.json without linking the account
// function's areas.
//
//go:embed openapi.json.gz
var documentGz []byte

var document = sync.OnceValues(func() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(documentGz))
	if err != nil {
		return nil, fmt.Errorf("open the embedded document: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("read the embedded document: %w", err)
	}
	return b, nil
})

// Document returns the whole HTTP API's OpenAPI document (JSON) that the
// api serves at GET /openapi.json.
func Document() ([]byte, error) { return document() }
