// Package httpfn is the wiring both HTTP functions share (api and account,
// each serving a part of the one HTTP API behind API Gateway): the AWS
// clients, the table store, the envelope sealer, the platform secrets
// (token signing secret, suppression key, unsubscribe key), plans and rate
// limits, the lead rules and the httpapi.Server with its authentication.
// Each function's app builds a Base here and registers its own areas on
// it, so that each function's binary links only its areas.
//
// Building a Base makes no AWS call: the platform secrets are loaded on
// the first request that may need them (Secrets, httpapi.Config.Prepare),
// not at the cold start, so the health route, the OpenAPI document and a
// request without credentials answered 401 never wait for them.
package httpfn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/ratelimit"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/shared/unsubscribe"
)

// The table store serves the platform's ports and the lead rules.
var (
	_ httpapi.Users   = (*dynamostore.Store)(nil)
	_ httpapi.APIKeys = (*dynamostore.Store)(nil)
	_ lead.Store      = (*dynamostore.Store)(nil)
	_ lead.Users      = (*dynamostore.Store)(nil)
)

// Config is what the shared wiring needs of a function's configuration
// (shared/config API or Account).
type Config struct {
	// Function names the function ("api", "account"): the app id of its
	// AWS calls' User-Agent (app/leadluence-<fn>), by which CloudTrail and
	// the local call log (tools/devstack) tell the functions apart.
	Function  string
	TableName string
	KeyID     string
	// PurgesQueueURL receives the purge jobs deletes, disconnects and
	// closures start; without it the hourly schedule runs them.
	PurgesQueueURL string
	DefaultRegion  string
	GraphBaseURL   string
	GraphVersion   string
	// EmailFrom is the platform sender address of the platform's own
	// mail.
	EmailFrom               string
	APIKeyRequestsPerMinute int
	// Part makes the server one part of the API: no /openapi.json, no
	// health route (httpapi.Config.Part).
	Part bool
	// Document is what /openapi.json serves (httpapi.Config.Document).
	Document func() ([]byte, error)
	// OpenSecretsOnly makes the function only open the platform secrets,
	// never create them (it holds no KMS encrypt grant): the account
	// function creates them on its first request that needs them, before
	// it issues any token or API key another function would check.
	OpenSecretsOnly bool
	// Checks returns the health route's probes over the base's clients.
	Checks func(b *Base) []httpapi.Check
}

// Base holds what both HTTP functions build once per cold start; an app's
// Register adds its areas' routes to API with Kit.
type Base struct {
	Config Config
	Log    *slog.Logger
	AWS    aws.Config
	Store  *dynamostore.Store
	KMS    *kms.Client
	SQS    *sqs.Client
	Sealer *envelope.Sealer
	// Tokens signs and verifies access tokens; its secret is set by
	// Secrets.Ready (pending until then).
	Tokens *auth.Tokens
	// Secrets loads the platform secrets on first use; it names a deleted
	// lead's contacts by keyed hash (the suppression key) and holds the
	// signer of one-click unsubscribe links (the unsubscribe key).
	Secrets *Secrets
	// Graph is the Graph API client.
	Graph *meta.Client
	// PlatformSES sends the platform's own mail (to users, usage warnings
	// to owners) through one SES client without SDK retries: a retried
	// SendEmail whose first answer was lost would mail twice.
	PlatformSES *sesmail.Client
	// Plans counts usage against each org's plan.
	Plans *plan.Service
	// StartPurge puts a purge job on the purges queue; nil without one.
	StartPurge retention.Enqueuer
	// Leads is the lead rules.
	Leads *lead.Service

	Server *httpapi.Server
	API    huma.API
	Kit    *httpapi.Kit
}

// Register adds a function's areas to the base's server.
type Register func(b *Base) error

// New builds the base of a function over AWS and registers its areas; it
// returns the server. It makes no AWS call: the platform secrets load on
// first use (Secrets).
func New(ctx context.Context, cfg Config, log *slog.Logger, register Register, opts ...awsenv.Option) (*httpapi.Server, error) {
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID("leadluence-" + cfg.Function)}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions)
	keys := kms.NewFromConfig(awsCfg)
	store := dynamostore.New(db, cfg.TableName)
	sealer := envelope.New(keys, cfg.KeyID, envelope.Options{})
	b := newBase(cfg, log, awsCfg, store, keys, sealer, &Secrets{load: func(ctx context.Context) (secret, suppressKey, unsubKey []byte, err error) {
		// Three platform secrets, each read (or created on first use)
		// with one GetItem and one KMS call: independent, so they load at
		// once and the first request waits for one round trip instead of
		// three. The token signing secret; the suppression key, which
		// names a deleted lead's contacts by keyed hash (lead deletes
		// write suppression entries, creates read them); the unsubscribe
		// key, which signs the one-click unsubscribe link of every email
		// (the sender only opens it).
		type loader struct {
			name   string
			out    *[]byte
			create func(context.Context, *dynamostore.Store, *envelope.Sealer) ([]byte, error)
			open   func(context.Context, *dynamostore.Store, *envelope.Sealer) ([]byte, bool, error)
		}
		loaders := []loader{
			{"token secret", &secret,
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, error) {
					return auth.LoadSigningSecret(ctx, st, se)
				},
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, bool, error) {
					return auth.OpenSigningSecret(ctx, st, se)
				}},
			{"suppression key", &suppressKey,
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, error) {
					return suppression.LoadKey(ctx, st, se)
				},
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, bool, error) {
					return suppression.OpenKey(ctx, st, se)
				}},
			{"unsubscribe key", &unsubKey,
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, error) {
					return unsubscribe.LoadKey(ctx, st, se)
				},
				func(ctx context.Context, st *dynamostore.Store, se *envelope.Sealer) ([]byte, bool, error) {
					return unsubscribe.OpenKey(ctx, st, se)
				}},
		}
		fns := make([]func() error, len(loaders))
		for i, l := range loaders {
			fns[i] = func() (err error) {
				if !cfg.OpenSecretsOnly {
					*l.out, err = l.create(ctx, store, sealer)
				} else {
					var found bool
					if *l.out, found, err = l.open(ctx, store, sealer); err == nil && !found {
						err = errors.New("does not exist yet (the account function creates it)")
					}
				}
				if err != nil {
					err = fmt.Errorf("load %s: %w", l.name, err)
				}
				return err
			}
		}
		return secret, suppressKey, unsubKey, allOf(fns...)
	}})
	if err := register(b); err != nil {
		return nil, err
	}
	return b.Server, nil
}

// Handler adapts a server to API Gateway events.
func Handler(srv *httpapi.Server) apigw.HandlerFunc { return apigw.Handler(srv) }

// Offline builds a server with the given areas without any AWS call or
// configuration: adapters that are never called, throwaway keys. Its
// OpenAPI document is the one a server with those areas serves.
func Offline(register ...Register) (*httpapi.Server, error) {
	awsCfg := aws.Config{Region: "us-east-1"}
	keys := func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	}
	kmsClient := kms.NewFromConfig(awsCfg)
	b := newBase(Config{Function: "offline"}, slog.New(slog.DiscardHandler), awsCfg,
		dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), ""), kmsClient,
		envelope.New(kmsClient, "", envelope.Options{}), &Secrets{load: func(context.Context) ([]byte, []byte, []byte, error) {
			return keys(), keys(), keys(), nil
		}})
	for _, r := range register {
		if err := r(b); err != nil {
			return nil, err
		}
	}
	return b.Server, nil
}

// newBase builds the base over the adapters New made, with the platform
// secrets pending. It makes no AWS call itself.
func newBase(cfg Config, log *slog.Logger, awsCfg aws.Config, store *dynamostore.Store, keys *kms.Client,
	sealer *envelope.Sealer, secrets *Secrets) *Base {
	secrets.tokens = auth.NewPendingTokens()
	// Lead deletes write suppression entries and creates read them: the
	// store asks for the hasher at each use, loading the secrets first.
	store.UseSuppressionSource(func(ctx context.Context) (dynamostore.ContactHasher, error) {
		if err := secrets.Ready(ctx); err != nil {
			return nil, err
		}
		return secrets.contacts.Load(), nil
	})
	b := &Base{Config: cfg, Log: log, AWS: awsCfg, Store: store, KMS: keys, SQS: sqs.NewFromConfig(awsCfg), Sealer: sealer,
		Tokens: secrets.tokens, Secrets: secrets}
	b.Graph = meta.NewClient(cfg.GraphBaseURL, cfg.GraphVersion, &http.Client{Timeout: 10 * time.Second})
	// Purge jobs (retention.Job) start at once on the purges queue; the
	// retention function consumes it (without the queue, its hourly run
	// finds the pending purges).
	if cfg.PurgesQueueURL != "" {
		purgesQueue := sqsqueue.New(b.SQS, cfg.PurgesQueueURL)
		b.StartPurge = func(ctx context.Context, j retention.Job) error {
			if err := purgesQueue.Send(ctx, j.Encode()); err != nil {
				return fmt.Errorf("enqueue %s job: %w", j.Kind, err)
			}
			return nil
		}
	}
	b.PlatformSES = sesmail.New(sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} }), "")
	// Plans: every request is taken from the org's token bucket, every
	// lead created and message sent counted against the org's plan
	// (shared/plan); the owners get an email at 80 % of a daily or
	// monthly limit.
	b.Plans = &plan.Service{Counters: store, Orgs: store, Alerts: &plan.Alerts{Store: store, Log: log, Mail: b.PlatformSES.Notices(cfg.EmailFrom)}}
	requests := &plan.Requests{Plans: b.Plans, Buckets: &ratelimit.Limiter{Store: store}}
	var checks []httpapi.Check
	if cfg.Checks != nil {
		checks = cfg.Checks(b)
	}
	b.Server = httpapi.New(httpapi.Config{
		Tokens: secrets.tokens,
		Users:  store,
		Audit:  store,
		Log:    log,
		// Requests with an API key (lead capture): found by hash, limited
		// by a token bucket per key.
		APIKeys: store, APIKeyRequestsPerMinute: cfg.APIKeyRequestsPerMinute,
		Plans: requests,
		// Public operations that check secrets or send mail: counted per
		// client address (httpapi.DefaultClientLimits).
		Clients:  store,
		Checks:   checks,
		Part:     cfg.Part,
		Document: cfg.Document,
		Prepare:  secrets.Ready,
	})
	b.API, b.Kit = b.Server.API(), b.Server.Kit()
	b.Leads = &lead.Service{Store: store, Activities: store, Notes: store, Tasks: store, Notifications: store, Appointments: store, Users: store, Audit: b.Kit, Phones: phone.Normalize, PhoneVariants: phone.Variants, DefaultRegion: cfg.DefaultRegion,
		Pipelines: store, Counts: store, Fields: store, Merges: store, CanonicalEmails: store}
	// New leads nobody assigned go to the org's assignment rule.
	b.Leads.Assign = &lead.Assigner{Rules: store, Users: store}
	if b.StartPurge != nil {
		b.Leads.StartPurge = func(ctx context.Context, orgID, leadID string) error {
			return b.StartPurge(ctx, retention.Job{Kind: retention.JobKindLeadPurge, OrgID: orgID, LeadID: leadID})
		}
	}
	return b
}

// Secrets are the platform secrets, loaded together on first use (Ready):
// concurrent first requests wait for one load; a failed load is not kept,
// so the next request tries again.
type Secrets struct {
	load func(ctx context.Context) (secret, suppressKey, unsubKey []byte, err error)

	mu       sync.Mutex
	ready    atomic.Bool
	tokens   *auth.Tokens
	contacts atomic.Pointer[suppression.Hasher]
	unsub    atomic.Pointer[unsubscribe.Signer]
}

// secretsTimeout bounds one load, which outlives the request that started
// it (others may wait for it).
const secretsTimeout = 10 * time.Second

// Ready loads the secrets unless they are loaded.
func (s *Secrets) Ready(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	secret, suppressKey, unsubKey, err := s.load(ctx)
	if err != nil {
		return err
	}
	contacts, err := suppression.NewHasher(suppressKey)
	if err != nil {
		return err
	}
	signer, err := unsubscribe.NewSigner(unsubKey)
	if err != nil {
		return err
	}
	if err := s.tokens.SetSecret(secret); err != nil {
		return fmt.Errorf("token secret: %w", err)
	}
	s.contacts.Store(contacts)
	s.unsub.Store(signer)
	s.ready.Store(true)
	return nil
}

// Phone is the suppression key's hash of an E.164 phone in an org
// (privacy.Hasher); it panics before Ready (never a hash under no key).
func (s *Secrets) Phone(orgID, e164 string) string { return s.hasher().Phone(orgID, e164) }

// Email is the suppression key's hash of an email in an org
// (privacy.Hasher); it panics before Ready.
func (s *Secrets) Email(orgID, email string) string { return s.hasher().Email(orgID, email) }

func (s *Secrets) hasher() *suppression.Hasher {
	h := s.contacts.Load()
	if h == nil {
		panic("suppression key not loaded yet")
	}
	return h
}

// Unsubscribe returns the one-click unsubscribe signer, loading the
// secrets first.
func (s *Secrets) Unsubscribe(ctx context.Context) (*unsubscribe.Signer, error) {
	if err := s.Ready(ctx); err != nil {
		return nil, err
	}
	return s.unsub.Load(), nil
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
