// Package topology describes the whole Leadluence deployment as one plain Go
// value: the table, the key, the queues and every function with its triggers.
//
// The CDK stack (infra/stack) and the local runner (tools/dev) are both
// built from Default(), so a laptop and the cloud cannot drift apart. This
// package must not import CDK: jsii is slow to start and the local runner and
// the functions' tests read this value too.
package topology

import (
	"sort"
	"time"
)

// Environment variable names through which functions learn where the shared
// resources live. Both the CDK stack and the local runner set them.
const (
	EnvTable       = "LEADLUENCE_TABLE"
	EnvKeyID       = "LEADLUENCE_KEY_ID"
	EnvQueuePrefix = "LEADLUENCE_QUEUE_URL_"
	// EnvConfigurationSet carries the SES configuration set that sent
	// emails name, so that SES publishes their events (EmailEvents).
	EnvConfigurationSet = "LEADLUENCE_SES_CONFIGURATION_SET"
	// EnvEmailFrom carries the platform sender address (a verified SES
	// identity of the account) to the functions that send email or manage
	// sender identities. It belongs to one deployment: the stack takes it
	// from EmailFromParam; locally it is unset and functions use their
	// default.
	EnvEmailFrom = "LEADLUENCE_EMAIL_FROM"
	// EnvPublicBaseURL carries the api's public base URL to the sender,
	// which puts the one-click unsubscribe link of every email under it.
	EnvPublicBaseURL = "LEADLUENCE_PUBLIC_BASE_URL"
	// EnvAppBaseURL carries the web app's base URL to the account function,
	// which puts the links of its mail to users (invitations, password
	// resets, email verification) under it.
	EnvAppBaseURL = "LEADLUENCE_APP_BASE_URL"
)

// AppBaseURLParam is the deploy-time setting of the web app's base URL,
// given to the account function.
var AppBaseURLParam = Param{
	Env:         EnvAppBaseURL,
	Description: "the web app's https base URL, without a trailing slash, for example https://app.example.com: invitation, password reset and email verification emails link to <url>/invitations/accept, /password-reset and /verify-email with the one-time token in the fragment",
}

// PublicBaseURLParam is the deploy-time setting of the api's public base
// URL (the API Gateway URL or its custom domain), given to the sender.
var PublicBaseURLParam = Param{
	Env:         EnvPublicBaseURL,
	Description: "the api's public https base URL, without a trailing slash, for example https://api.example.com: emails carry their one-click unsubscribe link (POST /v1/unsubscribe/{token}) under it",
}

// EnvMetaAppID carries the id of the platform's Meta app to the account
// function, which connects a Facebook page only with a token that app
// issued.
const EnvMetaAppID = "LEADLUENCE_META_APP_ID"

// MetaAppIDParam is the deploy-time setting of the platform's Meta app id.
var MetaAppIDParam = Param{
	Env:         EnvMetaAppID,
	Description: "the id of the platform's Meta app (App Dashboard, App ID): a Facebook page is connected only with a Page access token this app issued",
}

// VerificationTemplatePrefix begins the names of the SES custom
// verification email templates of orgs' sender addresses (shared/sesmail
// makes one per claim); Access.ManageEmailIdentities grants the template
// actions on these names only.
const VerificationTemplatePrefix = "leadluence-sender-"

// EmailFromParam is the deploy-time setting of the platform sender address,
// one for the whole stack, given to every function with
// Access.SendsOrVerifiesEmail.
var EmailFromParam = Param{
	Env:         EnvEmailFrom,
	Description: "the platform sender address emails go from (orgs without a verified address of their own): a verified SES identity of the account, for example no-reply@mail.example.com",
}

// Stack is the whole deployment.
type Stack struct {
	// Name is the CloudFormation stack name and the prefix of local resources.
	Name      string
	Table     Table
	Key       Key
	Queues    []Queue
	Functions []Function
	// EmailEvents, when set, has SES publish what happens to sent emails
	// to a queue.
	EmailEvents *EmailEvents
	// API is the HTTP API's CORS and throttling (the routes are the
	// functions').
	API HTTPAPI
}

// EmailEvents routes SES events of sent emails to a queue: SES publishes
// the Events of emails sent with ConfigurationSet to an SNS topic that Queue
// is subscribed to, so each SQS body is an SNS notification whose Message is
// the SES event (what shared/intake reads).
type EmailEvents struct {
	// ConfigurationSet is the SES configuration set name.
	ConfigurationSet string
	// Queue is the topology queue the events are delivered to.
	Queue string
	// Events are SES event types: DELIVERY, BOUNCE, COMPLAINT, REJECT, ...
	Events []string
}

// Table is the single DynamoDB table.
type Table struct {
	// Name is the logical name; CDK lets CloudFormation name the table, the
	// local runner uses it verbatim.
	Name         string
	PartitionKey string
	SortKey      string
	// TTLAttribute holds an epoch-seconds expiry. DynamoDB Local never
	// deletes expired items, so readers must filter on it too.
	TTLAttribute string
	Indexes      []Index
}

// Index is a global secondary index with string keys and all attributes projected.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// PlatformSecretScope is the org_id encryption context under which the
// platform's own secrets are sealed (shared/platformsecret's scope; a test
// there checks the two agree).
const PlatformSecretScope = "platform"

// Key is the customer-managed KMS key that wraps every stored secret.
type Key struct {
	// Alias without the "alias/" prefix.
	Alias       string
	Description string
}

// Queue is an SQS queue with its dead-letter queue.
type Queue struct {
	// Name is the logical name, also used to build the env var that carries
	// the queue URL (see QueueURLEnv).
	Name              string
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many receives a message gets before it is moved
	// to the dead-letter queue.
	MaxReceiveCount int
	// Retention is how long SQS keeps an unconsumed message.
	Retention time.Duration
}

// DLQName is the name of the queue's dead-letter queue.
func (q Queue) DLQName() string { return q.Name + "-dlq" }

// Function is one Lambda function.
type Function struct {
	// Name is short and unique: "api", "webhook", ...
	Name string
	// Dir is the handler folder relative to the repository root; `make build`
	// leaves its bootstrap in bin/<Name>/bootstrap.
	Dir      string
	MemoryMB int
	Timeout  time.Duration
	// Env holds static settings; resource locations are added by ResourceEnv.
	Env map[string]string
	// Params are settings whose values belong to one deployment rather than
	// to the topology (secrets, as KMS ciphertext). The CDK stack fills each
	// from CDK context (`cdk deploy -c NAME=VALUE`) or else from a
	// CloudFormation parameter; the local runner fills them itself.
	Params []Param
	// Access lists what the function may touch, for least-privilege grants.
	Access Access
	// Routes are the HTTP API routes served by this function.
	Routes []Route
	// Consumes, when set, makes the function an SQS consumer.
	Consumes *QueueTrigger
	// Schedules are EventBridge schedules that invoke the function.
	Schedules []Schedule
}

// Access is the set of grants a function needs.
type Access struct {
	TableRead  bool
	TableWrite bool
	// TableActions, when set, narrows TableRead and TableWrite to these
	// DynamoDB actions ("GetItem", "Query", ...): the operations the
	// function's code calls. infra/stack's tests check the grants against
	// the calls each function makes in the product's tests.
	TableActions []string
	// KeyEncrypt allows GenerateDataKey; KeyDecrypt allows Decrypt;
	// KeyDescribe allows DescribeKey (health checks). Without
	// KeyDecryptPurposes, both are limited to the data keys of orgs: an
	// encryption context with the org key of shared/envelope (org_id).
	KeyEncrypt  bool
	KeyDecrypt  bool
	KeyDescribe bool
	// KeyDecryptPurposes, when set, narrows KeyDecrypt to ciphertexts made
	// with one of these "purpose" encryption contexts (shared/secret): the
	// function cannot decrypt anything else with the key, such as the
	// envelope-encrypted tokens of an org.
	KeyDecryptPurposes []string
	// KeyDecryptScopes, when set, narrows KeyDecrypt to data keys sealed
	// under one of these org_id encryption contexts: PlatformSecretScope
	// for the platform's own secrets (shared/platformsecret), so the
	// function cannot open any org's tokens.
	KeyDecryptScopes []string
	// SendEmail allows SES v2 SendEmail from the account's verified identities.
	SendEmail bool
	// ManageEmailIdentities allows SES v2 SendCustomVerificationEmail (with
	// the sender verification templates: create, delete),
	// GetEmailIdentity and DeleteEmailIdentity on the account's identities:
	// orgs' own sender addresses are verified at run time.
	ManageEmailIdentities bool
	// SendTo lists queues the function may send to.
	SendTo []string
	// Inspect lists queues whose attributes the function may read (health checks).
	Inspect []string
}

// Param is a deploy-time setting of a function, read from the environment
// variable Env.
type Param struct {
	// Env is the environment variable the function reads, and the CDK
	// context key the stack takes the value from.
	Env string
	// Purpose, when set, says the value is base64 KMS ciphertext made under
	// the project key for this purpose (shared/secret.Encrypt): the local
	// runner encrypts a plaintext for it, and the function must list the
	// purpose in Access.KeyDecryptPurposes.
	Purpose string
	// Description says what the value is and how to make one.
	Description string
}

// Route is one HTTP API route.
type Route struct {
	Method string
	// Path uses API Gateway / net/http placeholders: /v1/leads/{id}.
	Path string
	// Public routes need no bearer token (sign-up, login, health, ...).
	Public bool
}

// Key returns the API Gateway route key, "GET /v1/leads/{id}".
func (r Route) Key() string { return r.Method + " " + r.Path }

// QueueTrigger binds a function to a queue as its consumer.
type QueueTrigger struct {
	Queue             string
	BatchSize         int
	MaxBatchingWindow time.Duration
}

// Schedule is an EventBridge schedule. Its event is EventBridge's
// "Scheduled Event" with detail {"schedule": Name}, so a function with
// several schedules tells them apart.
type Schedule struct {
	Name string
	// Every is the fixed rate of the schedule.
	Every time.Duration
}

// Schedules of the retention function.
const (
	// ScheduleContentLifecycle runs the data lifecycle jobs, hourly.
	ScheduleContentLifecycle = "content-lifecycle"
	// ScheduleReminders records the task reminders that fell due, every
	// minute (shared/lead Reminders).
	ScheduleReminders = "reminders"
)

// Deploy-time parameters of the webhook function and the purposes their
// ciphertexts are made for.
//
//nolint:gosec // G101: variable names and KMS context labels, not credentials
const (
	EnvMetaAppSecretCiphertext   = "LEADLUENCE_META_APP_SECRET_CIPHERTEXT"
	EnvMetaVerifyTokenCiphertext = "LEADLUENCE_META_VERIFY_TOKEN_CIPHERTEXT"
	PurposeMetaAppSecret         = "meta-app-secret"
	PurposeMetaVerifyToken       = "meta-verify-token"
)

// Queue names.
const (
	QueueIntake   = "intake"
	QueueOutbound = "outbound"
	// QueuePurges carries purge jobs (shared/retention Job) that actions
	// start at once: a lead deleted with a long history, an integration
	// disconnected, an account closed.
	QueuePurges = "purges"
	// QueueImports carries the chunks of lead CSV imports
	// (shared/leadimport Chunk) to the importer.
	QueueImports = "imports"
)

// QueueURLEnv is the env var that carries the URL of the named queue.
func QueueURLEnv(queue string) string {
	b := []byte(EnvQueuePrefix + queue)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// Resolved holds the concrete locations of the shared resources once created.
type Resolved struct {
	TableName string
	KeyID     string
	QueueURLs map[string]string
	// ConfigurationSet is the SES configuration set emails are sent with;
	// empty when there is none (locally).
	ConfigurationSet string
	// EmailFrom is the platform sender address (EmailFromParam); empty
	// locally, where functions use their default.
	EmailFrom string
}

// ResourceEnv returns the env vars function fn needs to reach the resources
// it has access to, merged over its static Env.
func ResourceEnv(fn Function, r Resolved) map[string]string {
	env := make(map[string]string, len(fn.Env)+4)
	for k, v := range fn.Env {
		env[k] = v
	}
	if fn.Access.TableRead || fn.Access.TableWrite {
		env[EnvTable] = r.TableName
	}
	if fn.Access.KeyEncrypt || fn.Access.KeyDecrypt || fn.Access.KeyDescribe {
		env[EnvKeyID] = r.KeyID
	}
	for _, q := range fn.QueuesUsed() {
		env[QueueURLEnv(q)] = r.QueueURLs[q]
	}
	if fn.Access.SendEmail && r.ConfigurationSet != "" {
		env[EnvConfigurationSet] = r.ConfigurationSet
	}
	if fn.Access.SendsOrVerifiesEmail() && r.EmailFrom != "" {
		env[EnvEmailFrom] = r.EmailFrom
	}
	return env
}

// SendsOrVerifiesEmail reports whether a function sends email or manages
// sender identities: both need the platform sender address (EnvEmailFrom).
func (a Access) SendsOrVerifiesEmail() bool { return a.SendEmail || a.ManageEmailIdentities }

// SendsOrVerifiesEmail reports whether any function of the stack does.
func (s Stack) SendsOrVerifiesEmail() bool {
	for _, fn := range s.Functions {
		if fn.Access.SendsOrVerifiesEmail() {
			return true
		}
	}
	return false
}

// QueuesUsed returns, sorted and without repeats, every queue the function
// sends to, inspects or consumes.
func (f Function) QueuesUsed() []string {
	seen := map[string]bool{}
	for _, q := range f.Access.SendTo {
		seen[q] = true
	}
	for _, q := range f.Access.Inspect {
		seen[q] = true
	}
	if f.Consumes != nil {
		seen[f.Consumes.Queue] = true
	}
	out := make([]string, 0, len(seen))
	for q := range seen {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// Function returns the function with the given name.
func (s Stack) Function(name string) (Function, bool) {
	for _, f := range s.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Routes returns every HTTP route of every function.
func (s Stack) Routes() []Route {
	var out []Route
	for _, f := range s.Functions {
		out = append(out, f.Routes...)
	}
	return out
}

// Default is the Leadluence deployment.
func Default() Stack {
	return Stack{
		Name: "Leadluence",
		Table: Table{
			Name:         "leadluence",
			PartitionKey: "PK",
			SortKey:      "SK",
			TTLAttribute: "ttl",
			Indexes: []Index{
				{Name: "GSI1", PartitionKey: "GSI1PK", SortKey: "GSI1SK"},
				{Name: "GSI2", PartitionKey: "GSI2PK", SortKey: "GSI2SK"},
				// Sparse: intact messages by org and time, for the
				// content lifecycle; leads by pipeline stage, a board's
				// column (docs/data-model.md).
				{Name: "GSI3", PartitionKey: "GSI3PK", SortKey: "GSI3SK"},
			},
		},
		Key: Key{Alias: "leadluence", Description: "Leadluence envelope key for stored secrets and tokens"},
		Queues: []Queue{
			{Name: QueueIntake, VisibilityTimeout: 6 * time.Minute, MaxReceiveCount: 5, Retention: 14 * 24 * time.Hour},
			// Sends are retried with backoff (throughput and pair limits), so
			// the outbound queue allows more receives before dead-lettering.
			{Name: QueueOutbound, VisibilityTimeout: 6 * time.Minute, MaxReceiveCount: 10, Retention: 4 * 24 * time.Hour},
			// Consumed by retention (5-minute timeout): six times that.
			{Name: QueuePurges, VisibilityTimeout: 31 * time.Minute, MaxReceiveCount: 5, Retention: 4 * 24 * time.Hour},
			// Consumed by importer (2-minute timeout): six times that. A
			// chunk is the only copy of its rows, so it is kept as long as
			// SQS keeps anything.
			{Name: QueueImports, VisibilityTimeout: 12 * time.Minute, MaxReceiveCount: 5, Retention: 14 * 24 * time.Hour},
		},
		Functions: []Function{apiFunction(), webhookFunction(), accountFunction(), ingestFunction(), backfillFunction(), senderFunction(), retentionFunction(), importerFunction()},
		// Delivery, bounce, complaint and reject events of sent emails reach
		// ingest with Meta's webhooks (shared/intake/ses.go).
		EmailEvents: &EmailEvents{
			ConfigurationSet: "leadluence",
			Queue:            QueueIntake,
			Events:           []string{"DELIVERY", "BOUNCE", "COMPLAINT", "REJECT"},
		},
		API: defaultHTTPAPI(),
	}
}

// apiFunction serves the HTTP API's lead, messaging and campaign routes,
// the health route and the whole API's OpenAPI document; accountFunction
// serves the account and org administration routes. Two functions behind
// one API Gateway, so that each binary links only its areas (a smaller
// bootstrap, a faster cold start) and each holds only its own grants.
func apiFunction() Function {
	pub := func(m, p string) Route { return Route{Method: m, Path: p, Public: true} }
	auth := func(m, p string) Route { return Route{Method: m, Path: p} }
	return Function{
		Name:     "api",
		Dir:      "functions/api",
		MemoryMB: 512,
		Timeout:  15 * time.Second,
		Env:      map[string]string{"LEADLUENCE_DEFAULT_REGION": "IN"},
		Access: Access{
			TableRead: true, TableWrite: true,
			// BatchGetItem: the inbox and campaign outcomes; BatchWriteItem:
			// lead deletion; DescribeTable: the health route.
			TableActions: []string{"BatchGetItem", "BatchWriteItem", "ConditionCheckItem", "DeleteItem", "DescribeTable", "GetItem", "PutItem", "Query", "UpdateItem"},
			// Decrypt opens the platform secrets (which the account
			// function creates) and the org's sealed tokens (templates,
			// sends); the api seals nothing, so no encrypt grant.
			KeyDecrypt: true, KeyDescribe: true,
			// Purges: lead deletes start their purge job.
			// Imports: a submitted file's chunks.
			SendTo:  []string{QueueOutbound, QueuePurges, QueueImports},
			Inspect: []string{QueueIntake, QueueOutbound, QueuePurges},
			// PUT /v1/email/sender has SES verify an org's own address.
			ManageEmailIdentities: true,
			// The platform's own mail: owners' usage warnings.
			SendEmail: true,
		},
		Routes: []Route{
			pub("GET", "/openapi.json"),
			pub("GET", "/v1/health"),
			auth("POST", "/v1/leads"),
			auth("GET", "/v1/leads"),
			auth("POST", "/v1/leads/import"),
			auth("GET", "/v1/leads/export"),
			auth("POST", "/v1/imports"),
			auth("GET", "/v1/imports"),
			auth("GET", "/v1/imports/{id}"),
			auth("GET", "/v1/leads/{id}"),
			auth("PATCH", "/v1/leads/{id}"),
			auth("DELETE", "/v1/leads/{id}"),
			auth("GET", "/v1/assignment-rule"),
			auth("PUT", "/v1/assignment-rule"),
			auth("GET", "/v1/automations"),
			auth("PUT", "/v1/automations"),
			auth("POST", "/v1/leads/{id}/messages"),
			auth("GET", "/v1/leads/{id}/messages"),
			auth("POST", "/v1/leads/{id}/messages/read"),
			auth("GET", "/v1/leads/{id}/preferences"),
			auth("PUT", "/v1/leads/{id}/preferences"),
			auth("GET", "/v1/leads/{id}/activities"),
			auth("GET", "/v1/leads/{id}/duplicates"),
			auth("POST", "/v1/leads/{id}/merge"),
			auth("POST", "/v1/merges/{merge_id}/undo"),
			auth("POST", "/v1/leads/{id}/notes"),
			auth("GET", "/v1/leads/{id}/notes"),
			auth("PATCH", "/v1/leads/{id}/notes/{note_id}"),
			auth("DELETE", "/v1/leads/{id}/notes/{note_id}"),
			auth("POST", "/v1/leads/{id}/tasks"),
			auth("GET", "/v1/leads/{id}/tasks"),
			auth("PATCH", "/v1/leads/{id}/tasks/{task_id}"),
			auth("DELETE", "/v1/leads/{id}/tasks/{task_id}"),
			auth("GET", "/v1/tasks"),
			auth("POST", "/v1/leads/{id}/appointments"),
			auth("GET", "/v1/leads/{id}/appointments"),
			auth("PATCH", "/v1/leads/{id}/appointments/{appointment_id}"),
			auth("GET", "/v1/notifications"),
			auth("POST", "/v1/notifications/{id}/read"),
			auth("GET", "/v1/conversations"),
			auth("GET", "/v1/whatsapp/templates"),
			auth("GET", "/v1/pipelines"),
			auth("POST", "/v1/pipelines"),
			auth("GET", "/v1/pipelines/{id}"),
			auth("PATCH", "/v1/pipelines/{id}"),
			auth("DELETE", "/v1/pipelines/{id}"),
			auth("DELETE", "/v1/pipelines/{id}/stages/{stage_id}"),
			auth("POST", "/v1/campaigns"),
			auth("GET", "/v1/campaigns"),
			auth("GET", "/v1/campaigns/{id}"),
			auth("POST", "/v1/campaigns/{id}/pause"),
			auth("POST", "/v1/campaigns/{id}/resume"),
			auth("PUT", "/v1/email/sender"),
			auth("GET", "/v1/email/sender"),
			auth("DELETE", "/v1/email/sender"),
			auth("GET", "/v1/custom-fields"),
			auth("POST", "/v1/custom-fields"),
			auth("PATCH", "/v1/custom-fields/{key}"),
			auth("DELETE", "/v1/custom-fields/{key}"),
		},
	}
}

// accountFunction serves the account and org administration routes of the
// HTTP API: sign-up, login, users, invitations, API keys, MFA, the privacy
// policy, the audit trail, org settings and closure, usage, integrations,
// data-subject requests and the one-click unsubscribe.
func accountFunction() Function {
	pub := func(m, p string) Route { return Route{Method: m, Path: p, Public: true} }
	auth := func(m, p string) Route { return Route{Method: m, Path: p} }
	return Function{
		Name:     "account",
		Dir:      "functions/account",
		MemoryMB: 512,
		Timeout:  15 * time.Second,
		Env:      map[string]string{"LEADLUENCE_DEFAULT_REGION": "IN"},
		Params:   []Param{MetaAppIDParam, AppBaseURLParam},
		Access: Access{
			TableRead: true, TableWrite: true,
			// BatchWriteItem: erasure of a data subject's leads;
			// ConditionCheckItem: the last-owner check of a role change.
			TableActions: []string{"BatchWriteItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"},
			// Encrypt seals integration tokens and MFA secrets.
			KeyEncrypt: true, KeyDecrypt: true,
			// Intake: events parked while a token was invalid are put back
			// when the integration is reconnected.
			// Purges: disconnects, closures and erasures start their purge job.
			SendTo: []string{QueueIntake, QueuePurges},
			// The platform's own mail to users, from the platform address:
			// invitations, password resets, email verification.
			SendEmail: true,
		},
		Routes: []Route{
			pub("POST", "/v1/auth/signup"),
			pub("POST", "/v1/auth/login"),
			pub("POST", "/v1/auth/refresh"),
			pub("POST", "/v1/auth/logout"),
			pub("POST", "/v1/auth/password-reset"),
			pub("POST", "/v1/auth/password-reset/confirm"),
			pub("POST", "/v1/auth/verify-email"),
			auth("POST", "/v1/auth/verify-email/resend"),
			auth("GET", "/v1/me"),
			auth("PATCH", "/v1/me"),
			pub("GET", "/v1/policy"),
			auth("POST", "/v1/me/policy-acknowledgement"),
			auth("POST", "/v1/me/mfa"),
			auth("POST", "/v1/me/mfa/confirm"),
			auth("DELETE", "/v1/me/mfa"),
			pub("POST", "/v1/auth/mfa"),
			auth("POST", "/v1/users"),
			auth("GET", "/v1/users"),
			auth("PATCH", "/v1/users/{id}"),
			auth("DELETE", "/v1/users/{id}"),
			auth("POST", "/v1/invitations"),
			auth("GET", "/v1/invitations"),
			auth("DELETE", "/v1/invitations/{id}"),
			pub("POST", "/v1/invitations/accept"),
			auth("POST", "/v1/api-keys"),
			auth("GET", "/v1/api-keys"),
			auth("DELETE", "/v1/api-keys/{id}"),
			auth("GET", "/v1/audit"),
			auth("POST", "/v1/integrations/facebook-pages"),
			auth("POST", "/v1/integrations/whatsapp-numbers"),
			auth("GET", "/v1/integrations"),
			auth("DELETE", "/v1/integrations/{kind}/{id}"),
			auth("PATCH", "/v1/integrations/{kind}/{id}"),
			auth("GET", "/v1/org"),
			auth("PATCH", "/v1/org"),
			auth("GET", "/v1/usage"),
			auth("GET", "/v1/org/retention"),
			auth("PUT", "/v1/org/retention"),
			auth("GET", "/v1/org/consent-mapping"),
			auth("PUT", "/v1/org/consent-mapping"),
			auth("PUT", "/v1/org/security"),
			auth("POST", "/v1/org/close"),
			pub("POST", "/v1/org/reopen"),
			auth("POST", "/v1/privacy-requests"),
			auth("GET", "/v1/privacy-requests"),
			auth("GET", "/v1/privacy-requests/{id}"),
			auth("GET", "/v1/privacy-requests/{id}/export"),
			pub("POST", "/v1/unsubscribe/{token}"),
		},
	}
}

// webhookFunction receives Meta's webhooks: it verifies each body's
// signature and puts it on the intake queue, leaving out the entries of
// pages and numbers no org owns. It touches nothing else: of the table
// only GetItem (owner items), and the key only to open its own two
// secrets.
func webhookFunction() Function {
	return Function{
		Name:     "webhook",
		Dir:      "functions/webhook",
		MemoryMB: 256,
		Timeout:  10 * time.Second,
		Params: []Param{
			{
				Env: EnvMetaAppSecretCiphertext, Purpose: PurposeMetaAppSecret,
				Description: "Meta app secret (keys X-Hub-Signature-256) as base64 KMS ciphertext: go run ./tools/encrypt -key alias/leadluence -purpose " + PurposeMetaAppSecret,
			},
			{
				Env: EnvMetaVerifyTokenCiphertext, Purpose: PurposeMetaVerifyToken,
				Description: "Meta webhook verify token as base64 KMS ciphertext: go run ./tools/encrypt -key alias/leadluence -purpose " + PurposeMetaVerifyToken,
			},
		},
		Access: Access{
			// GetItem: the owner of a page or number (flood protection).
			TableRead: true, TableActions: []string{"GetItem"},
			KeyDecrypt:         true,
			KeyDecryptPurposes: []string{PurposeMetaAppSecret, PurposeMetaVerifyToken},
			SendTo:             []string{QueueIntake},
		},
		Routes: []Route{
			{Method: "GET", Path: "/webhooks/meta", Public: true},
			{Method: "POST", Path: "/webhooks/meta", Public: true},
		},
	}
}

// ingestFunction drains the intake queue. Its timeout bounds one batch of
// Graph API calls; the intake queue's visibility timeout is six times it.
func ingestFunction() Function {
	return Function{
		Name:     "ingest",
		Dir:      "functions/ingest",
		MemoryMB: 512,
		Timeout:  55 * time.Second,
		Env:      map[string]string{"LEADLUENCE_DEFAULT_REGION": "IN"},
		Access: Access{
			TableRead: true, TableWrite: true,
			// ConditionCheckItem: a redelivered message checks that the lead
			// its guard names is still there.
			TableActions: []string{"ConditionCheckItem", "GetItem", "PutItem", "Query", "UpdateItem"},
			// Decrypt opens the org's sealed tokens; nothing is sealed here.
			KeyDecrypt: true,
			// The owners' usage warning when a lead reaches 80 % of the
			// plan's leads of the month (shared/plan Alerts).
			SendEmail: true,
			// Payloads that can never be processed go to the DLQ with a reason.
			SendTo: []string{Queue{Name: QueueIntake}.DLQName(), QueueOutbound},
		},
		Consumes: &QueueTrigger{Queue: QueueIntake, BatchSize: 10, MaxBatchingWindow: 2 * time.Second},
	}
}

// backfillFunction collects Lead Ads leads that webhooks missed.
func backfillFunction() Function {
	return Function{
		Name:      "backfill",
		Dir:       "functions/backfill",
		MemoryMB:  256,
		Timeout:   5 * time.Minute,
		Env:       map[string]string{"LEADLUENCE_DEFAULT_REGION": "IN"},
		Access:    Access{TableRead: true, TableWrite: true, TableActions: []string{"GetItem", "PutItem", "Query", "UpdateItem"}, KeyDecrypt: true},
		Schedules: []Schedule{{Name: "lead-ads-backfill", Every: time.Hour}},
	}
}

// senderFunction sends queued messages through the WhatsApp Cloud API and
// SES, once each, paced per number and per recipient.
func senderFunction() Function {
	return Function{
		Name:     "sender",
		Dir:      "functions/sender",
		MemoryMB: 512,
		Timeout:  time.Minute,
		Params:   []Param{PublicBaseURLParam},
		// SendTo: a campaign's page job queues the next page on the same
		// queue. BatchGetItem: a send's org, lead and number in one read.
		Access:   Access{TableRead: true, TableWrite: true, TableActions: []string{"BatchGetItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"}, KeyDecrypt: true, SendEmail: true, SendTo: []string{QueueOutbound}},
		Consumes: &QueueTrigger{Queue: QueueOutbound, BatchSize: 10},
	}
}

// Settings of the retention function.
const (
	// EnvRetentionRate is the most items a retention run handles a second.
	EnvRetentionRate = "LEADLUENCE_RETENTION_RATE"
)

// retentionFunction applies the data lifecycle (shared/retention): every
// minute it records the task reminders that fell due (a second schedule
// rather than a function of its own: the same table access, no key or
// queue, and one more deployment unit saved); every hour it sanitizes the message content that came due and runs the purge
// jobs, and it consumes the purges queue, whose jobs (a deleted lead's
// history, a disconnected integration's Meta data) start at once. A run
// stops before its timeout with a checkpoint in the table, which the next
// one resumes; with nothing due it reads no message. It touches the table,
// the key (only to open the suppression key) and the purges queue.
func retentionFunction() Function {
	return Function{
		Name:     "retention",
		Dir:      "functions/retention",
		MemoryMB: 256,
		Timeout:  5 * time.Minute,
		Env:      map[string]string{EnvRetentionRate: "50"},
		Access: Access{TableRead: true, TableWrite: true,
			TableActions: []string{"BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"},
			// Decrypt opens the suppression key (a platform secret):
			// purging a disconnected integration deletes leads, which
			// keeps their opt-outs. No org's tokens.
			KeyDecrypt: true, KeyDecryptScopes: []string{PlatformSecretScope},
			// A job that stops before its deadline puts its continuation
			// back; one that cannot be parsed goes to the DLQ with a reason.
			SendTo: []string{QueuePurges, Queue{Name: QueuePurges}.DLQName()}},
		// Purge jobs start at once from the queue; the hourly schedule is
		// the safety net for what time makes due and what is unfinished.
		Consumes:  &QueueTrigger{Queue: QueuePurges, BatchSize: 5},
		Schedules: []Schedule{{Name: ScheduleContentLifecycle, Every: time.Hour}, {Name: ScheduleReminders, Every: time.Minute}},
	}
}

// importerFunction applies lead CSV imports (shared/leadimport): it
// consumes the imports queue, one chunk of rows a message, writing each
// row's lead once (created, merged into the lead with its phone or email,
// or rejected with a reason) and counting the chunk in its import. It
// touches the table and the key only to open the suppression key (a
// platform secret: a lead created again keeps the opt-outs of the deleted
// one), no org's tokens.
func importerFunction() Function {
	return Function{
		Name:     "importer",
		Dir:      "functions/importer",
		MemoryMB: 512,
		Timeout:  2 * time.Minute,
		Env:      map[string]string{"LEADLUENCE_DEFAULT_REGION": "IN"},
		Access: Access{TableRead: true, TableWrite: true,
			TableActions: []string{"GetItem", "PutItem", "Query", "UpdateItem"},
			KeyDecrypt:   true, KeyDecryptScopes: []string{PlatformSecretScope}},
		Consumes: &QueueTrigger{Queue: QueueImports, BatchSize: 1},
	}
}
