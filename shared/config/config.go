// Package config loads a function's settings from its environment into one
// typed struct. Every missing or malformed variable is reported at once, so
// an operator fixes a broken deployment in one pass.
package config

import (
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"
)

// API is the configuration of the api function (leads, messaging,
// campaigns, health and the OpenAPI document). The resource locations are
// set by the CDK stack and the local runner from infra/topology.
type API struct {
	// TableName is the single DynamoDB table.
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// KeyID is the KMS key (id, ARN or alias) used for envelope encryption.
	KeyID string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// IntakeQueueURL and OutboundQueueURL are checked by the health route;
	// the outbound queue also receives messages to send.
	IntakeQueueURL   string `env:"LEADLUENCE_QUEUE_URL_INTAKE,required,notEmpty"`
	OutboundQueueURL string `env:"LEADLUENCE_QUEUE_URL_OUTBOUND,required,notEmpty"`
	// PurgesQueueURL is where deletes, disconnects and closures put their
	// purge jobs (shared/retention Job); without it the hourly schedule
	// runs them.
	PurgesQueueURL string `env:"LEADLUENCE_QUEUE_URL_PURGES"`
	// ImportsQueueURL receives the chunks of submitted lead imports
	// (shared/leadimport); without it POST /v1/imports fails (500).
	ImportsQueueURL string `env:"LEADLUENCE_QUEUE_URL_IMPORTS"`
	// DefaultRegion is the ISO 3166 region used to read phone numbers
	// written without a country code, when an org sets none.
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
	// GraphBaseURL and GraphVersion locate the Graph API, which validates
	// integration tokens (a simulator locally).
	GraphBaseURL string `env:"LEADLUENCE_GRAPH_BASE_URL" envDefault:"https://graph.facebook.com"`
	GraphVersion string `env:"LEADLUENCE_GRAPH_VERSION" envDefault:"v21.0"`
	// EmailFrom is the platform sender address, for the platform's own mail
	// (policy notices, verification), never an org's mail to its leads; no
	// org may take an address of its domain. The sender uses the same
	// variable.
	EmailFrom string `env:"LEADLUENCE_EMAIL_FROM" envDefault:"no-reply@leadluence.local"`
	// SenderVerifiedURL is the web page SES takes a person to after they
	// followed (or failed to follow) the link of a sender address's
	// verification email.
	SenderVerifiedURL string `env:"LEADLUENCE_SENDER_VERIFIED_URL" envDefault:"https://leadluence.com/"`
	// EmailsPerMinute is how many emails to leads one org may queue in a
	// minute (counted in the table, across api instances); more are 429
	// email_rate_limited.
	EmailsPerMinute int `env:"LEADLUENCE_EMAILS_PER_MINUTE" envDefault:"60"`
	// APIKeyRequestsPerMinute is how many requests one API key may make in
	// a minute (counted in the table, across api instances); more are 429
	// rate_limited.
	APIKeyRequestsPerMinute int `env:"LEADLUENCE_API_KEY_REQUESTS_PER_MINUTE" envDefault:"120"`
}

// Account is the configuration of the account function, the part of the
// HTTP API that administers accounts and orgs (identity, org settings,
// integrations, data-subject requests, one-click unsubscribe). The
// resource locations are set by the CDK stack and the local runner from
// infra/topology.
type Account struct {
	// TableName is the single DynamoDB table.
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// KeyID is the KMS key (id, ARN or alias) used for envelope encryption.
	KeyID string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// IntakeQueueURL receives the events parked while an integration's
	// token was invalid, when it is reconnected.
	IntakeQueueURL string `env:"LEADLUENCE_QUEUE_URL_INTAKE,required,notEmpty"`
	// PurgesQueueURL is where disconnects, closures and erasures put their
	// purge jobs (shared/retention Job); without it the hourly schedule
	// runs them.
	PurgesQueueURL string `env:"LEADLUENCE_QUEUE_URL_PURGES"`
	// DefaultRegion is the ISO 3166 region used to read phone numbers
	// written without a country code, when an org sets none.
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
	// GraphBaseURL and GraphVersion locate the Graph API, which validates
	// integration tokens (a simulator locally).
	GraphBaseURL string `env:"LEADLUENCE_GRAPH_BASE_URL" envDefault:"https://graph.facebook.com"`
	GraphVersion string `env:"LEADLUENCE_GRAPH_VERSION" envDefault:"v21.0"`
	// MetaAppID is the id of the platform's Meta app: a Facebook page is
	// connected only with a Page access token that app issued (Graph GET
	// /app). A deploy-time parameter (infra/topology MetaAppIDParam).
	MetaAppID string `env:"LEADLUENCE_META_APP_ID,required,notEmpty"`
	// EmailFrom is the platform sender address, for the platform's own mail
	// (invitations, password resets, email verification, usage warnings).
	EmailFrom string `env:"LEADLUENCE_EMAIL_FROM" envDefault:"no-reply@leadluence.local"`
	// APIKeyRequestsPerMinute is how many requests one API key may make in
	// a minute (counted in the table, across instances); more are 429
	// rate_limited.
	APIKeyRequestsPerMinute int `env:"LEADLUENCE_API_KEY_REQUESTS_PER_MINUTE" envDefault:"120"`
	// AppBaseURL is the web app's base URL (topology AppBaseURLParam): the
	// platform's mail to users links into it (accepting an invitation,
	// resetting a password, verifying an email). The default is a local
	// app; a deployment always sets it.
	AppBaseURL string `env:"LEADLUENCE_APP_BASE_URL" envDefault:"http://127.0.0.1:3000"`
}

// Webhook is the configuration of the webhook function, which receives
// Meta's webhooks. The queue URL and key come from infra/topology; the two
// ciphertexts are deploy-time parameters (topology Function.Params) made
// with shared/secret, so neither secret is ever in the environment as plain
// text.
type Webhook struct {
	// TableName is the single DynamoDB table: the webhook reads owner
	// items only (GetItem), to leave out events no org owns.
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// IntakeQueueURL is where every verified payload is put.
	IntakeQueueURL string `env:"LEADLUENCE_QUEUE_URL_INTAKE,required,notEmpty"`
	// KeyID, when set, pins the KMS key the ciphertexts must have been made
	// with.
	KeyID string `env:"LEADLUENCE_KEY_ID"`
	// AppSecretCiphertext is the Meta app secret, which keys the
	// X-Hub-Signature-256 HMAC, as base64 KMS ciphertext for the purpose
	// "meta-app-secret".
	AppSecretCiphertext string `env:"LEADLUENCE_META_APP_SECRET_CIPHERTEXT,required,notEmpty"`
	// VerifyTokenCiphertext is the token Meta echoes in the subscription
	// handshake, as base64 KMS ciphertext for the purpose "meta-verify-token".
	VerifyTokenCiphertext string `env:"LEADLUENCE_META_VERIFY_TOKEN_CIPHERTEXT,required,notEmpty"`
	// MaxBodyBytes bounds a webhook body; larger ones are answered 413.
	// Meta documents payloads of up to 3 MB.
	MaxBodyBytes int `env:"LEADLUENCE_WEBHOOK_MAX_BODY_BYTES" envDefault:"3145728"`
}

// Load reads T from the environment. The returned error lists every missing
// or invalid variable.
func Load[T any]() (T, error) {
	cfg, err := env.ParseAs[T]()
	if err != nil {
		return cfg, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// LoadFrom reads T from environ (variable name to value) instead of the
// process environment; the returned error lists every missing or invalid
// variable.
func LoadFrom[T any](environ map[string]string) (T, error) {
	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: environ})
	if err != nil {
		return cfg, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// Ingest is the configuration of the ingest function, which applies the
// payloads on the intake queue.
type Ingest struct {
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	KeyID     string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// IntakeDLQURL receives payloads that can never be processed, with the
	// reason in the failure_reason message attribute.
	IntakeDLQURL string `env:"LEADLUENCE_QUEUE_URL_INTAKE_DLQ,required,notEmpty"`
	// GraphBaseURL is where the Graph API is (a simulator locally).
	GraphBaseURL  string `env:"LEADLUENCE_GRAPH_BASE_URL" envDefault:"https://graph.facebook.com"`
	GraphVersion  string `env:"LEADLUENCE_GRAPH_VERSION" envDefault:"v21.0"`
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
	// OutboundQueueURL receives the send jobs of automations (package
	// automation): the Lead Ads welcome and the after-hours reply.
	OutboundQueueURL string `env:"LEADLUENCE_QUEUE_URL_OUTBOUND,required,notEmpty"`
	// EmailFrom is the platform sender address of the owners' usage
	// warnings (plan.Alerts).
	EmailFrom string `env:"LEADLUENCE_EMAIL_FROM" envDefault:"no-reply@leadluence.local"`
}

// Backfill is the configuration of the backfill function, which asks the
// Graph API on a schedule for Lead Ads leads that webhooks missed.
type Backfill struct {
	TableName     string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	KeyID         string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	GraphBaseURL  string `env:"LEADLUENCE_GRAPH_BASE_URL" envDefault:"https://graph.facebook.com"`
	GraphVersion  string `env:"LEADLUENCE_GRAPH_VERSION" envDefault:"v21.0"`
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
}

// Retention is the configuration of the retention function, which applies
// the data lifecycle on a schedule (shared/retention).
type Retention struct {
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// Rate is the most messages a run handles a second.
	Rate float64 `env:"LEADLUENCE_RETENTION_RATE" envDefault:"50"`
	// Margin is how long before the Lambda's deadline a run stops and
	// saves its checkpoint.
	Margin time.Duration `env:"LEADLUENCE_RETENTION_MARGIN" envDefault:"15s"`
	// KeyID opens the suppression key, which deleting a lead needs (the
	// integration purge deletes leads that only Meta filled).
	KeyID string `env:"LEADLUENCE_KEY_ID"`
	// PurgesQueueURL is the queue of purge jobs, where a job that stopped
	// before its deadline puts its continuation.
	PurgesQueueURL string `env:"LEADLUENCE_QUEUE_URL_PURGES"`
	// PurgesDLQURL is where a job that cannot be parsed goes, with why.
	PurgesDLQURL string `env:"LEADLUENCE_QUEUE_URL_PURGES_DLQ"`
}

// Importer is the configuration of the importer function, which applies
// the chunks of lead imports on the imports queue.
type Importer struct {
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// KeyID opens the suppression key: a lead an import creates starts
	// with the opt-outs a deleted lead left for its phone or email.
	KeyID string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// DefaultRegion reads phone numbers without a country code when the
	// chunk names no region.
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
	// Parallel is how many rows of a chunk are written at once.
	Parallel int `env:"LEADLUENCE_IMPORT_PARALLEL" envDefault:"8"`
}

// Sender is the configuration of the sender function, which drains the
// outbound queue: it re-checks consent and the customer-service window,
// paces sends, and calls the WhatsApp Cloud API or SES v2.
type Sender struct {
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// KeyID is the KMS key the org tokens are sealed with.
	KeyID string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// OutboundQueueURL is the queue the sender consumes; a send to retry
	// later gets its visibility timeout changed there.
	OutboundQueueURL string `env:"LEADLUENCE_QUEUE_URL_OUTBOUND,required,notEmpty"`
	// GraphBaseURL and GraphVersion locate the WhatsApp Cloud API (a
	// simulator locally).
	GraphBaseURL string `env:"LEADLUENCE_GRAPH_BASE_URL" envDefault:"https://graph.facebook.com"`
	GraphVersion string `env:"LEADLUENCE_GRAPH_VERSION" envDefault:"v21.0"`
	// EmailFrom is the sender address of an email payload without a From
	// (the api always sets one: the org's verified address).
	EmailFrom string `env:"LEADLUENCE_EMAIL_FROM" envDefault:"no-reply@leadluence.local"`
	// NumberRatePerSecond is how many messages one WhatsApp business number
	// may send per second (Meta's default throughput is 80).
	NumberRatePerSecond int `env:"LEADLUENCE_WHATSAPP_MPS" envDefault:"80"`
	// ConfigurationSet is the SES configuration set emails are sent with,
	// so that SES publishes their delivery, bounce and complaint events
	// (topology.EmailEvents); empty sends without one (locally).
	ConfigurationSet string `env:"LEADLUENCE_SES_CONFIGURATION_SET"`
	// PublicBaseURL is the api's public base URL (topology
	// PublicBaseURLParam): every email carries the one-click unsubscribe
	// link PublicBaseURL/v1/unsubscribe/{token} (package unsubscribe).
	PublicBaseURL string `env:"LEADLUENCE_PUBLIC_BASE_URL,required,notEmpty"`
}
