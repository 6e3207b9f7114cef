// Package identity is the identity area of the HTTP API: sign-up, login,
// token refresh and logout, the caller (/v1/me), the org's users and
// invitations, password resets, email verification and the org's audit
// trail, two-factor sign-in and the org's API keys.
package identity

import (
	"context"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/page"
)

// Store is what the identity routes need from storage.
type Store interface {
	CreateOrg(ctx context.Context, o account.Org, owner account.User) error
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
	CreateUser(ctx context.Context, u account.User) error
	GetUser(ctx context.Context, orgID, userID string) (account.User, error)
	GetUserByEmail(ctx context.Context, email string) (account.User, error)
	ListUsers(ctx context.Context, orgID string) ([]account.User, error)
	UpdateUser(ctx context.Context, u account.User) error
	// SetUserAvailable sets whether the user takes leads of an assignment
	// rule with only_available, and returns the user.
	SetUserAvailable(ctx context.Context, orgID, userID string, available bool) (account.User, error)

	StartSession(ctx context.Context, t account.RefreshToken, familyExpires time.Time) error
	GetRefreshToken(ctx context.Context, id string) (account.RefreshToken, bool, error)
	RotateRefreshToken(ctx context.Context, old, next account.RefreshToken) error
	RevokeSession(ctx context.Context, userID, familyID string) error
	RevokeAllSessions(ctx context.Context, userID string) error

	TakeLoginAttempt(ctx context.Context, emailHash string, limit int, window time.Duration) (bool, time.Time, error)
	ClearLoginFailures(ctx context.Context, emailHash string) error

	ListAudit(ctx context.Context, orgID string, limit int, from page.Cursor) ([]audit.Record, page.Cursor, error)

	account.TokenStore
	account.MFAStore
	account.APIKeyStore
}

// Mailer sends one email (sesmail.Client).
type Mailer interface {
	SendEmail(ctx context.Context, e outbound.Email) (string, error)
}

// Deps are the collaborators of the identity routes.
type Deps struct {
	Store  Store
	Tokens *auth.Tokens
	// DefaultRegion is the default region of a new org (ISO 3166, "IN"
	// when empty).
	DefaultRegion string
	// Policy shows privacy policy versions and takes owners'
	// acknowledgements (policy.Service).
	Policy PolicyService
	// Mail sends the platform's own mail to users: invitations, password
	// resets, email verification.
	Mail PlatformMail
	// HandBack, when set, hands a deactivated user's open leads back to
	// the org's assignment rule (lead.Service.HandBackLeads).
	HandBack HandBack
	// Sealer seals the users' TOTP secrets (envelope.Sealer).
	Sealer Sealer
	// Plans, when set, limits the org's active users to its plan
	// (plan.Service): a create or an accepted invitation at the limit is
	// 403 plan_limit.
	Plans httpapi.PlanGauges
}

// HandBack hands a deactivated user's open leads back to the org's
// assignment rule, a bounded number a call; more reports leads left for
// another call.
type HandBack func(ctx context.Context, actor account.User, userID string) (reassigned, unassigned int, more bool, err error)

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the identity routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	if d.DefaultRegion == "" {
		d.DefaultRegion = "IN"
	}
	s := &server{Kit: k, deps: d}
	s.registerAuth(api)
	s.registerUsers(api)
	s.registerInvitations(api)
	s.registerRecovery(api)
	s.registerAudit(api)
	s.registerPolicy(api)
	s.registerMFA(api)
	s.registerAPIKeys(api)
}
