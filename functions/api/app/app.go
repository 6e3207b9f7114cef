// Package app wires the api function: it builds the AWS clients, the store,
// the envelope sealer and the token secret once per cold start and returns
// the Lambda handler. functions/api/main.go passes that handler to
// lambda.Start; the local runner calls the very same handler.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/campaigns"
	"github.com/leadluence/backend/shared/httpapi/identity"
	"github.com/leadluence/backend/shared/httpapi/integrations"
	"github.com/leadluence/backend/shared/httpapi/leads"
	"github.com/leadluence/backend/shared/httpapi/messaging"
	"github.com/leadluence/backend/shared/httpapi/oneclick"
	"github.com/leadluence/backend/shared/httpapi/org"
	privacyapi "github.com/leadluence/backend/shared/httpapi/privacy"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/policy"
	"github.com/leadluence/backend/shared/privacy"
	"github.com/leadluence/backend/shared/ratelimit"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/shared/unsubscribe"
	"github.com/leadluence/backend/shared/watemplate"
)

// The table store serves every port of the API's areas and of the lead and
// sender-address services, and the SES adapter verifies sender addresses.
var (
	_ httpapi.Users       = (*dynamostore.Store)(nil)
	_ identity.Store      = (*dynamostore.Store)(nil)
	_ lead.Store          = (*dynamostore.Store)(nil)
	_ unsubscribe.Store   = (*dynamostore.Store)(nil)
	_ lead.Users          = (*dynamostore.Store)(nil)
	_ integrations.Store  = (*dynamostore.Store)(nil)
	_ messaging.Store     = (*dynamostore.Store)(nil)
	_ messaging.EmailRate = (*dynamostore.Store)(nil)
	_ account.SenderStore = (*dynamostore.Store)(nil)
	_ account.Identities  = (*sesmail.Client)(nil)
	_ campaigns.Store     = (*dynamostore.Store)(nil)
	_ campaign.PageStore  = (*dynamostore.Store)(nil)
	_ httpapi.APIKeys     = (*dynamostore.Store)(nil)
)

// The store keeps the consent ledger the lead preferences read and append.
var _ conversation.PreferenceStore = (*dynamostore.Store)(nil)

// The store serves data-subject requests: the requests and their export
// documents, the subject's leads and everything recorded about them.
var (
	_ privacy.Store   = (*dynamostore.Store)(nil)
	_ privacy.Leads   = (*dynamostore.Store)(nil)
	_ privacy.History = (*dynamostore.Store)(nil)
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

// NewServer returns the HTTP API behind the handler.
func NewServer(ctx context.Context, cfg config.API, log *slog.Logger, opts ...awsenv.Option) (*httpapi.Server, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-api): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-api")}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions)
	keys := kms.NewFromConfig(awsCfg)
	queues := sqs.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.TableName)
	sealer := envelope.New(keys, cfg.KeyID, envelope.Options{})

	// Three platform secrets, each read (or created on first use) with one
	// GetItem and one KMS call: independent, so they load at once and the
	// cold start waits for one round trip instead of three. The token
	// signing secret; the suppression key, which names a deleted lead's
	// contacts by keyed hash (lead deletes write suppression entries,
	// creates read them); the unsubscribe key, which signs the one-click
	// unsubscribe link of every email (created here, the sender only opens
	// it).
	var secret, suppressKey, unsubKey []byte
	err = allOf(
		func() (err error) {
			if secret, err = auth.LoadSigningSecret(ctx, store, sealer); err != nil {
				err = fmt.Errorf("load token secret: %w", err)
			}
			return err
		},
		func() (err error) {
			if suppressKey, err = suppression.LoadKey(ctx, store, sealer); err != nil {
				err = fmt.Errorf("load suppression key: %w", err)
			}
			return err
		},
		func() (err error) {
			if unsubKey, err = unsubscribe.LoadKey(ctx, store, sealer); err != nil {
				err = fmt.Errorf("load unsubscribe key: %w", err)
			}
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(secret)
	if err != nil {
		return nil, err
	}
	contacts, err := suppression.NewHasher(suppressKey)
	if err != nil {
		return nil, err
	}
	store.UseSuppression(contacts)
	unsubSigner, err := unsubscribe.NewSigner(unsubKey)
	if err != nil {
		return nil, err
	}
	return assemble(cfg, log, awsCfg, store, keys, queues, sealer, tokens, contacts, unsubSigner)
}

// OpenAPI returns the API's OpenAPI document as NewServer's server serves
// it, built without any AWS call or configuration: the same routes over
// adapters that are never called, with throwaway keys.
func OpenAPI() (*huma.OpenAPI, error) {
	awsCfg := aws.Config{Region: "us-east-1"}
	keys := func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	}
	tokens, err := auth.NewTokens(keys())
	if err != nil {
		return nil, err
	}
	contacts, err := suppression.NewHasher(keys())
	if err != nil {
		return nil, err
	}
	unsubSigner, err := unsubscribe.NewSigner(keys())
	if err != nil {
		return nil, err
	}
	kmsClient := kms.NewFromConfig(awsCfg)
	srv, err := assemble(config.API{}, slog.New(slog.DiscardHandler), awsCfg,
		dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), ""), kmsClient, sqs.NewFromConfig(awsCfg),
		envelope.New(kmsClient, "", envelope.Options{}), tokens, contacts, unsubSigner)
	if err != nil {
		return nil, err
	}
	return srv.OpenAPI(), nil
}

// assemble builds the server over the adapters and keys NewServer made and
// registers every area's routes on it. It makes no AWS call itself.
func assemble(cfg config.API, log *slog.Logger, awsCfg aws.Config, store *dynamostore.Store, keys *kms.Client, queues *sqs.Client,
	sealer *envelope.Sealer, tokens *auth.Tokens, contacts *suppression.Hasher, unsubSigner *unsubscribe.Signer) (*httpapi.Server, error) {
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
	// Purge jobs (retention.Job) start at once on the purges queue; the
	// retention function consumes it (without the queue, its hourly run
	// finds the pending purges).
	var startPurge retention.Enqueuer
	if cfg.PurgesQueueURL != "" {
		purgesQueue := sqsqueue.New(queues, cfg.PurgesQueueURL)
		startPurge = func(ctx context.Context, j retention.Job) error {
			if err := purgesQueue.Send(ctx, j.Encode()); err != nil {
				return fmt.Errorf("enqueue %s job: %w", j.Kind, err)
			}
			return nil
		}
	}
	// The platform's own mail (to users: invitations, password resets,
	// email verification; to owners: usage warnings), from the platform
	// address, through one SES client without SDK retries: a retried
	// SendEmail whose first answer was lost would mail twice.
	platformSES := sesmail.New(sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }), "")
	// Plans: every request is taken from the org's token bucket, every
	// lead created and message sent counted against the org's plan
	// (shared/plan); the owners get an email at 80 % of a daily or
	// monthly limit.
	plans := &plan.Service{Counters: store, Orgs: store, Alerts: &plan.Alerts{Store: store, Log: log, Mail: platformSES.Notices(cfg.EmailFrom)}}
	requests := &plan.Requests{Plans: plans, Buckets: &ratelimit.Limiter{Store: store}}
	srv := httpapi.New(httpapi.Config{
		Tokens: tokens,
		Users:  store,
		Audit:  store,
		Log:    log,
		// Requests with an API key (lead capture): found by hash, limited
		// by a token bucket per key.
		APIKeys: store, APIKeyRequestsPerMinute: cfg.APIKeyRequestsPerMinute,
		Plans: requests,
		// Public operations that check secrets or send mail: counted per
		// client address (httpapi.DefaultClientLimits).
		Clients: store,
		Checks: []httpapi.Check{
			{Name: "table", Run: store.Ping},
			{Name: "queue_intake", Run: queueCheck(cfg.IntakeQueueURL)},
			{Name: "queue_outbound", Run: queueCheck(cfg.OutboundQueueURL)},
			{Name: "queue_purges", Run: queueCheck(cfg.PurgesQueueURL)},
			{Name: "key", Run: func(ctx context.Context) error {
				if _, err := keys.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(cfg.KeyID)}); err != nil {
					return fmt.Errorf("describe key: %w", err)
				}
				return nil
			}},
		},
	})
	api, kit := srv.API(), srv.Kit()
	leadService := &lead.Service{Store: store, Activities: store, Notes: store, Tasks: store, Notifications: store, Appointments: store, Users: store, Audit: kit, Phones: phone.Normalize, PhoneVariants: phone.Variants, DefaultRegion: cfg.DefaultRegion,
		Pipelines: store, Counts: store, Fields: store, Merges: store, CanonicalEmails: store}
	// New leads nobody assigned go to the org's assignment rule.
	leadService.Assign = &lead.Assigner{Rules: store, Users: store}
	var integrationPurge integrations.StartPurge
	if startPurge != nil {
		leadService.StartPurge = func(ctx context.Context, orgID, leadID string) error {
			return startPurge(ctx, retention.Job{Kind: retention.JobKindLeadPurge, OrgID: orgID, LeadID: leadID})
		}
		integrationPurge = integrations.PurgeJob(startPurge)
	}
	// One template catalog for single sends, automations and campaigns, so
	// that they share its short-lived template lists.
	templates := &watemplate.Catalog{Source: graph, Opener: sealer, Cache: &watemplate.Cache{}}
	// The org's own sender address: SES verifies it (email identities);
	// the endpoint and region come from the SDK's standard settings.
	// The verification email, from the platform address, names the org.
	identities := sesmail.New(sesv2.NewFromConfig(awsCfg), "").WithVerification(sesmail.Verification{
		From: cfg.EmailFrom, SuccessURL: cfg.SenderVerifiedURL, FailureURL: cfg.SenderVerifiedURL})
	senders := &account.SenderService{Store: store, Identities: identities, Orgs: store,
		PlatformFrom: cfg.EmailFrom, Audit: kit, Log: log, Describe: sesmail.Describe}
	platformMail := identity.PlatformMail{
		Mailer: platformSES,
		From:   cfg.EmailFrom, AppBaseURL: cfg.AppBaseURL, Describe: sesmail.Describe,
	}
	identity.Register(api, kit, identity.Deps{Store: store, Tokens: tokens, DefaultRegion: cfg.DefaultRegion,
		Policy: &policy.Service{Store: store, Audit: kit}, Mail: platformMail, Sealer: sealer, Plans: plans,
		HandBack: func(ctx context.Context, actor account.User, userID string) (int, int, bool, error) {
			h, err := leadService.HandBackLeads(ctx, lead.Actor{User: actor}, userID)
			return h.Reassigned, h.Unassigned, h.More, err
		}})
	preferences := &conversation.PreferenceService{Leads: leadService, Store: store, Audit: kit}
	// Import jobs: a submitted file's chunks go on the imports queue, which
	// the importer consumes (contract: leadimport.Chunk).
	importsQueue := sqsqueue.New(queues, cfg.ImportsQueueURL)
	importJobs := &leadimport.Submitter{Store: store, Enqueue: func(ctx context.Context, body string) error {
		if cfg.ImportsQueueURL == "" {
			return errors.New("no imports queue configured")
		}
		return importsQueue.Send(ctx, body)
	}}
	leads.RegisterImports(api, kit, leads.ImportDeps{Jobs: importJobs, Imports: store})
	leads.Register(api, kit, leads.Deps{Leads: leadService, Preferences: preferences, Timeline: leadService, Pipelines: leadService, Tasks: leadService, Appointments: leadService,
		Fields: &lead.FieldService{Store: store, Audit: kit}, Assignment: leadService, Plans: plans, Import: leadService, Consent: store, Merges: leadService})
	org.Register(api, kit, org.Deps{Retention: store, ConsentMapping: store, Throttle: store, HashEmail: auth.HashEmail,
		Settings: store, KnownCountry: phone.KnownRegion, Usage: plans,
		Closure: &account.ClosureService{Store: store, Password: auth.CheckPassword, NoUser: auth.CheckNoUser,
			Activity: org.Activity{Integrations: store, Campaigns: store, StartPurge: integrationPurge, Log: log}}})
	integrations.Register(api, kit, integrations.Deps{Store: store, Graph: graph, Sealer: sealer, Requeue: requeue,
		Purges: store, StartPurge: integrationPurge, MetaAppID: cfg.MetaAppID, Plans: plans})
	messaging.Register(api, kit, messaging.Deps{Store: store, Leads: leadService, Enqueue: enqueue, Templates: templates,
		Automations: automation.NewStore(store),
		Senders:     senders,
		EmailRate:   store, EmailsPerMinute: cfg.EmailsPerMinute, Plans: plans,
	})
	campaigns.Register(api, kit, campaigns.Deps{Store: store, Plans: plans,
		Pages: &campaign.Pages{Store: store, Templates: templates, Enqueue: campaign.Enqueue(enqueue), Log: log, Quota: plans}})
	// Data-subject requests: matched through the lead guards, corrected
	// through the lead rules, erased through the lead delete path; the
	// person is named in records by the suppression key's keyed hash.
	privacyapi.Register(api, kit, privacyapi.Deps{Requests: &privacy.Service{Store: store, Leads: store, History: store,
		Corrector: leadService, Scrubber: store, Hasher: contacts, Audit: kit, Phones: phone.Normalize, DefaultRegion: cfg.DefaultRegion,
		StartPurge: leadService.StartPurge}})
	oneclick.Register(api, kit, oneclick.Deps{Unsubscribe: &unsubscribe.Service{Signer: unsubSigner, Store: store}})
	return srv, nil
}

// allOf runs fns at once and returns their errors joined.
func allOf(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
