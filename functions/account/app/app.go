// Package app wires the account function, the part of the HTTP API that
// administers accounts and orgs: identity (sign-up, login, users,
// invitations, API keys, MFA, the privacy policy, the audit trail), org
// settings (closure, retention, consent mapping, usage), integrations,
// data-subject requests and the one-click unsubscribe. The shared wiring
// (AWS clients, store, sealer, platform secrets, plans, the server) is
// functions/httpfn; this package registers its areas and returns
// the Lambda handler. functions/account/main.go passes that handler to
// lambda.Start; the local runner calls the very same handler.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/leadluence/backend/functions/httpfn"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/identity"
	"github.com/leadluence/backend/shared/httpapi/integrations"
	"github.com/leadluence/backend/shared/httpapi/oneclick"
	"github.com/leadluence/backend/shared/httpapi/org"
	privacyapi "github.com/leadluence/backend/shared/httpapi/privacy"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/policy"
	"github.com/leadluence/backend/shared/privacy"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/sqsqueue"
	"github.com/leadluence/backend/shared/unsubscribe"
)

// The table store serves every port of the account function's areas.
var (
	_ identity.Store     = (*dynamostore.Store)(nil)
	_ unsubscribe.Store  = (*dynamostore.Store)(nil)
	_ integrations.Store = (*dynamostore.Store)(nil)
)

// The store serves data-subject requests: the requests and their export
// documents, the subject's leads and everything recorded about them.
var (
	_ privacy.Store   = (*dynamostore.Store)(nil)
	_ privacy.Leads   = (*dynamostore.Store)(nil)
	_ privacy.History = (*dynamostore.Store)(nil)
)

// New returns the account function's handler. Extra SDK options (a call
// counter in benchmarks, say) apply to every client.
func New(ctx context.Context, cfg config.Account, log *slog.Logger, opts ...awsenv.Option) (apigw.HandlerFunc, error) {
	srv, err := NewServer(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	return apigw.Handler(srv), nil
}

// NewServer returns the account function's part of the HTTP API.
func NewServer(ctx context.Context, cfg config.Account, log *slog.Logger, opts ...awsenv.Option) (*httpapi.Server, error) {
	base := httpfn.Config{
		Function: "account", TableName: cfg.TableName, KeyID: cfg.KeyID, PurgesQueueURL: cfg.PurgesQueueURL,
		DefaultRegion: cfg.DefaultRegion, GraphBaseURL: cfg.GraphBaseURL, GraphVersion: cfg.GraphVersion,
		EmailFrom: cfg.EmailFrom, APIKeyRequestsPerMinute: cfg.APIKeyRequestsPerMinute,
		// The api serves the health route and the whole API's document.
		Part: true,
	}
	return httpfn.New(ctx, base, log, func(b *httpfn.Base) error { return register(b, cfg) }, opts...)
}

// Register adds the account function's areas to a server built without
// AWS (httpfn.Offline), for the whole API's document.
func Register(b *httpfn.Base) error { return register(b, config.Account{}) }

// register adds the identity, org, integrations, privacy and one-click
// unsubscribe areas.
func register(b *httpfn.Base, cfg config.Account) error {
	store, kit, api, leadService := b.Store, b.Kit, b.API, b.Leads
	intakeQueue := sqsqueue.New(b.SQS, cfg.IntakeQueueURL)
	requeue := func(ctx context.Context, payload []byte) error {
		if err := intakeQueue.Send(ctx, string(payload)); err != nil {
			return fmt.Errorf("requeue to intake: %w", err)
		}
		return nil
	}
	var integrationPurge integrations.StartPurge
	if b.StartPurge != nil {
		integrationPurge = integrations.PurgeJob(b.StartPurge)
	}
	// The platform's own mail to users (invitations, password resets,
	// email verification), from the platform address.
	platformMail := identity.PlatformMail{
		Mailer: b.PlatformSES,
		From:   cfg.EmailFrom, AppBaseURL: cfg.AppBaseURL, Describe: sesmail.Describe,
	}
	identity.Register(api, kit, identity.Deps{Store: store, Tokens: b.Tokens, DefaultRegion: cfg.DefaultRegion,
		Policy: &policy.Service{Store: store, Audit: kit}, Mail: platformMail, Sealer: b.Sealer, Plans: b.Plans,
		HandBack: func(ctx context.Context, actor account.User, userID string) (int, int, bool, error) {
			h, err := leadService.HandBackLeads(ctx, lead.Actor{User: actor}, userID)
			return h.Reassigned, h.Unassigned, h.More, err
		}})
	org.Register(api, kit, org.Deps{Retention: store, ConsentMapping: store, Throttle: store, HashEmail: auth.HashEmail,
		Settings: store, KnownCountry: phone.KnownRegion, Usage: b.Plans,
		Closure: &account.ClosureService{Store: store, Password: auth.CheckPassword, NoUser: auth.CheckNoUser,
			Activity: org.Activity{Integrations: store, Campaigns: store, StartPurge: integrationPurge, Log: b.Log}}})
	integrations.Register(api, kit, integrations.Deps{Store: store, Graph: b.Graph, Sealer: b.Sealer, Requeue: requeue,
		Purges: store, StartPurge: integrationPurge, MetaAppID: cfg.MetaAppID, Plans: b.Plans})
	// Data-subject requests: matched through the lead guards, corrected
	// through the lead rules, erased through the lead delete path; the
	// person is named in records by the suppression key's keyed hash.
	privacyapi.Register(api, kit, privacyapi.Deps{Requests: &privacy.Service{Store: store, Leads: store, History: store,
		Corrector: leadService, Scrubber: store, Hasher: b.Secrets, Audit: kit, Phones: phone.Normalize, DefaultRegion: cfg.DefaultRegion,
		StartPurge: leadService.StartPurge}})
	oneclick.Register(api, kit, oneclick.Deps{Unsubscribe: unsubscriber{secrets: b.Secrets, store: store}})
	return nil
}

// unsubscriber honours one-click unsubscribes with the unsubscribe key,
// loaded on first use (httpfn.Secrets).
type unsubscriber struct {
	secrets *httpfn.Secrets
	store   unsubscribe.Store
}

// Unsubscribe records the opt-out a token names (unsubscribe.Service).
func (u unsubscriber) Unsubscribe(ctx context.Context, token string) error {
	signer, err := u.secrets.Unsubscribe(ctx)
	if err != nil {
		return fmt.Errorf("unsubscribe key: %w", err)
	}
	return (&unsubscribe.Service{Signer: signer, Store: u.store}).Unsubscribe(ctx, token)
}
