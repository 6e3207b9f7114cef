package account

import (
	"context"
	"errors"
	"time"
)

// Two-factor sign-in: a TOTP secret (RFC 6238) per user, stored only sealed
// by the envelope key, and ten single-use recovery codes stored only as
// hashes. A user enrols (the secret and codes are shown once), confirms
// with a code of the authenticator app, and from then on a password login
// answers a short-lived challenge that a code completes.

// PurposeMFAChallenge completes a password login of a user with two-factor
// sign-in (POST /v1/auth/mfa). It is a one-time token like the others: only
// its hash is stored, and completing the login removes it.
const PurposeMFAChallenge TokenPurpose = "mfa_challenge"

// MFAChallengeTTL is how long a login challenge lives.
const MFAChallengeTTL = 5 * time.Minute

// RecoveryCodeCount is how many recovery codes an enrolment gives.
const RecoveryCodeCount = 10

// MFA is a user's two-factor enrolment.
type MFA struct {
	OrgID  string
	UserID string
	// SealedSecret is the TOTP secret sealed by the envelope key for the
	// org; the secret itself is never stored.
	SealedSecret []byte
	// Enabled is false until the user confirms the enrolment with a code.
	Enabled   bool
	CreatedAt time.Time
	EnabledAt time.Time
	// LastStep is the TOTP time step of the last code accepted: a code of
	// that step or an earlier one is refused (no replay in its window).
	LastStep int64
	// RecoveryHashes are the hashes of the recovery codes not used yet.
	RecoveryHashes []string
}

// MFAProof is how a user proved the second factor: a TOTP code of time
// step Step, or the recovery code whose hash is RecoveryHash.
type MFAProof struct {
	Step         int64
	RecoveryHash string
}

// Errors of two-factor sign-in.
var (
	// ErrMFAEnabled means the user has two-factor sign-in on already.
	ErrMFAEnabled = errors.New("two-factor sign-in already on")
	// ErrCodeUsed means a code was accepted before (a TOTP code of its
	// step or an earlier one, or a used recovery code), or the enrolment
	// changed meanwhile.
	ErrCodeUsed = errors.New("code already used")
)

// MFAStore keeps two-factor enrolments (dynamostore.Store). Every use of a
// code is one conditional write, so a code works once even when presented
// twice at once.
type MFAStore interface {
	// PutMFAEnrolment stores a new unconfirmed enrolment, replacing an
	// unconfirmed one (ErrMFAEnabled when the user has it on).
	PutMFAEnrolment(ctx context.Context, m MFA) error
	// GetMFA returns the user's enrolment (ErrNotFound: none).
	GetMFA(ctx context.Context, orgID, userID string) (MFA, error)
	// ConfirmMFA turns an unconfirmed enrolment on with a code of step and
	// marks the user (ErrCodeUsed when it is no longer unconfirmed or
	// the step was used).
	ConfirmMFA(ctx context.Context, orgID, userID string, step int64, at time.Time) error
	// DisableMFA removes an enabled enrolment proved by p and unmarks the
	// user (ErrCodeUsed).
	DisableMFA(ctx context.Context, orgID, userID string, p MFAProof) error
	// CompleteMFAChallenge consumes the login challenge t and records p
	// (the step, or the recovery code removed): ErrTokenInvalid when the
	// challenge is gone or expired, ErrCodeUsed when the code was.
	CompleteMFAChallenge(ctx context.Context, t OneTimeToken, p MFAProof) error
	// SetOrgSecurity sets whether the org requires two-factor sign-in of
	// its owners and admins (ErrNotFound).
	SetOrgSecurity(ctx context.Context, orgID string, mfaRequiredForAdmins bool) error
}
