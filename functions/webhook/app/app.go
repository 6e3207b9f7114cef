// Package app wires the webhook function, which receives Meta's webhooks at
// /webhooks/meta: the subscription handshake (GET) and the notifications
// (POST) of Lead Ads and the WhatsApp Cloud API.
//
// A POST is verified on its raw bytes (X-Hub-Signature-256, HMAC-SHA256 with
// the app secret, constant-time), put on the intake queue untouched (but for
// the entries of pages and numbers no org owns, left out: owners.go, failing
// open), and only then answered 200, so an acknowledged event is never lost:
// if the queue cannot take it the answer is 503 and Meta delivers it again.
// Before the answer, only the top-level "object" (for routing) and the page
// or number each change names are read. The message format on the queue is
// described in intake.go.
//
// New decrypts the app secret and the verify token (KMS ciphertext in the
// environment, see shared/secret) once per cold start and builds the SQS
// client and the owner lookup (ownertable.go: GetItem of owner items
// only); functions/webhook/main.go passes the handler to lambda.Start, and
// the local runner calls the very same handler.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/shared/sqsqueue"
)

// Purposes (KMS encryption context, see shared/secret) of the two
// ciphertexts in config.Webhook. infra/topology grants kms:Decrypt for these
// purposes only.
//
//nolint:gosec // G101: KMS encryption-context labels, not credentials
const (
	PurposeAppSecret   = "meta-app-secret"
	PurposeVerifyToken = "meta-verify-token"
)

// appID names the function in the User-Agent of its AWS calls.
const appID = "leadluence-webhook"

// Path is the route of both the handshake and the notifications.
const Path = "/webhooks/meta"

// Sender is the part of the SQS client the handler needs. Production passes
// *sqs.Client.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Deps are what the handler is built from, once per cold start.
type Deps struct {
	// Queue sends to QueueURL, the intake queue.
	Queue    Sender
	QueueURL string
	// AppSecret keys the X-Hub-Signature-256 HMAC.
	AppSecret []byte
	// VerifyToken is what Meta must present in the subscription handshake.
	VerifyToken []byte
	// MaxBodyBytes bounds a POST body (413 above it); 0 means 3 MiB.
	MaxBodyBytes int
	// Log receives one line per request, never a body, token or signature.
	Log *slog.Logger
	// Now is the clock used when an event carries no receive time and by
	// the owner cache (default time.Now).
	Now func() time.Time
	// Owners finds the org of a page or number, to leave out entries no
	// org owns before enqueueing (owners.go); nil enqueues everything.
	Owners Owners
}

// DefaultMaxBodyBytes is the body limit when Deps.MaxBodyBytes is 0: Meta
// documents webhook payloads of up to 3 MB.
const DefaultMaxBodyBytes = 3 << 20

// New returns the webhook function's handler: it opens the two secrets with
// KMS and builds the SQS client. Extra SDK options (a call counter in
// benchmarks, say) apply to every client.
func New(ctx context.Context, cfg config.Webhook, log *slog.Logger, opts ...awsenv.Option) (apigw.HandlerFunc, error) {
	// The app id names the function in the User-Agent of its AWS calls
	// (app/leadluence-webhook): CloudTrail and the local call log
	// (tools/devstack) tell the functions apart by it.
	opts = append([]awsenv.Option{awsenv.WithLogger(logging.SDK{Log: log}), awsenv.WithAppID(appID)}, opts...)
	awsCfg, err := awsenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	keys := kms.NewFromConfig(awsCfg)
	appSecret, err := secret.Decrypt(ctx, keys, cfg.AppSecretCiphertext, PurposeAppSecret, secret.WithKeyID(cfg.KeyID))
	if err != nil {
		return nil, fmt.Errorf("open the Meta app secret (LEADLUENCE_META_APP_SECRET_CIPHERTEXT): %w", err)
	}
	verifyToken, err := secret.Decrypt(ctx, keys, cfg.VerifyTokenCiphertext, PurposeVerifyToken, secret.WithKeyID(cfg.KeyID))
	if err != nil {
		return nil, fmt.Errorf("open the Meta verify token (LEADLUENCE_META_VERIFY_TOKEN_CIPHERTEXT): %w", err)
	}
	// Without a table (a config built in code, not loaded) every entry
	// is enqueued, as before flood protection.
	var owners Owners
	if cfg.TableName != "" {
		owners = newOwnerTable(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	}
	return NewHandler(Deps{
		Owners:       owners,
		Queue:        sqs.NewFromConfig(awsCfg),
		QueueURL:     cfg.IntakeQueueURL,
		AppSecret:    appSecret,
		VerifyToken:  verifyToken,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Log:          log,
	})
}

// NewHandler returns the handler over d.
func NewHandler(d Deps) (apigw.HandlerFunc, error) {
	var errs []error
	if d.Queue == nil || d.QueueURL == "" {
		errs = append(errs, errors.New("no intake queue"))
	}
	if len(d.AppSecret) == 0 {
		errs = append(errs, errors.New("empty Meta app secret"))
	}
	if len(d.VerifyToken) == 0 {
		errs = append(errs, errors.New("empty Meta verify token"))
	}
	if d.Log == nil {
		errs = append(errs, errors.New("no logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook handler: %w", err)
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &handler{Deps: d, intake: sqsqueue.New(d.Queue, d.QueueURL)}
	if d.Owners != nil {
		h.owners = &ownerCache{owners: d.Owners, now: d.Now}
	}
	return h.serve, nil
}
