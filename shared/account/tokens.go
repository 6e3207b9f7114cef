package account

import (
	"context"
	"errors"
	"time"
)

// TokenPurpose says what a one-time account token lets its holder do.
type TokenPurpose string

// Token purposes.
const (
	// PurposeInvite joins an org through an invitation (POST
	// /v1/invitations/accept).
	PurposeInvite TokenPurpose = "invite"
	// PurposePasswordReset sets a new password (POST
	// /v1/auth/password-reset/confirm).
	PurposePasswordReset TokenPurpose = "password_reset"
	// PurposeVerifyEmail marks a user's email verified (POST
	// /v1/auth/verify-email).
	PurposeVerifyEmail TokenPurpose = "verify_email"
)

// How long each kind of one-time token lives.
const (
	InvitationTTL    = 7 * 24 * time.Hour
	PasswordResetTTL = time.Hour
	VerifyEmailTTL   = 7 * 24 * time.Hour
)

// TTL is how long a token of purpose p lives.
func (p TokenPurpose) TTL() time.Duration {
	switch p {
	case PurposePasswordReset:
		return PasswordResetTTL
	case PurposeVerifyEmail:
		return VerifyEmailTTL
	default:
		return InvitationTTL
	}
}

// OneTimeToken is the stored half of a one-time token mailed to someone: an
// invitation, a password reset or an email verification. Only a hash of
// the token is kept; the token is the only way to find the record, and
// using it removes the record (single use).
type OneTimeToken struct {
	// Hash is the token's SHA-256 (auth.HashOneTimeToken), the record's
	// key.
	Hash    string
	Purpose TokenPurpose
	OrgID   string
	// UserID is the user a reset or verification is for.
	UserID string
	// InvitationID is the invitation an invite token accepts.
	InvitationID string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// InvitationStatus is where an invitation stands.
type InvitationStatus string

// Invitation statuses: pending until accepted or revoked; a pending
// invitation past its expiry is shown as expired.
const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
	InvitationExpired  InvitationStatus = "expired"
)

// Invitation asks someone, by email, to join an org with a role.
type Invitation struct {
	ID    string
	OrgID string
	// Email is the invitee's address, lower-cased; the user created on
	// acceptance logs in with it.
	Email     string
	Role      Role
	InvitedBy string
	Status    InvitationStatus
	CreatedAt time.Time
	ExpiresAt time.Time
	// AcceptedBy is the user the acceptance created; RevokedBy who revoked.
	AcceptedBy string
	RevokedBy  string
	// TokenHash keys the invitation's token, so revoking removes it.
	TokenHash string
}

// StatusAt is the invitation's status at now: a pending one past its
// expiry is expired.
func (i Invitation) StatusAt(now time.Time) InvitationStatus {
	if i.Status == InvitationPending && !now.Before(i.ExpiresAt) {
		return InvitationExpired
	}
	return i.Status
}

// ErrInvitationClosed means the invitation is no longer pending (accepted,
// revoked or expired).
var ErrInvitationClosed = errors.New("invitation no longer pending")

// TokenStore keeps one-time account tokens and invitations
// (dynamostore.Store). Consuming a token removes it in the same
// transaction as what it does, on condition that it is still there and
// unexpired, so a token works once even when presented twice at once.
type TokenStore interface {
	// PutAccountToken stores a reset or verification token.
	PutAccountToken(ctx context.Context, t OneTimeToken) error
	// GetAccountToken returns a live token by hash (ErrTokenInvalid when
	// there is none, or it expired).
	GetAccountToken(ctx context.Context, hash string) (OneTimeToken, error)

	// CreateInvitation stores an invitation with its token.
	CreateInvitation(ctx context.Context, inv Invitation, t OneTimeToken) error
	// GetInvitation returns an invitation of an org (ErrNotFound).
	GetInvitation(ctx context.Context, orgID, id string) (Invitation, error)
	// ListInvitations returns the org's invitations, newest first.
	ListInvitations(ctx context.Context, orgID string) ([]Invitation, error)
	// RevokeInvitation marks a pending invitation revoked and removes its
	// token (ErrNotFound; ErrInvitationClosed when not pending).
	RevokeInvitation(ctx context.Context, inv Invitation, by string, at time.Time) error
	// AcceptInvitation consumes the token, marks the invitation accepted
	// and creates u with its email guard, all or nothing:
	// ErrTokenInvalid when the token is gone or expired,
	// ErrInvitationClosed when the invitation is no longer pending,
	// ErrEmailTaken when the email has an account.
	AcceptInvitation(ctx context.Context, t OneTimeToken, u User) error

	// ResetPassword consumes the token and sets the user's password hash,
	// refusing access tokens issued until revokeBefore and marking the
	// email verified (the reset mail reached it): ErrTokenInvalid when the
	// token is gone or expired, ErrNotFound when the user is.
	ResetPassword(ctx context.Context, t OneTimeToken, passwordHash string, at, revokeBefore time.Time) error
	// VerifyEmail consumes the token and marks the user's email verified
	// at at (ErrTokenInvalid, ErrNotFound as ResetPassword).
	VerifyEmail(ctx context.Context, t OneTimeToken, at time.Time) error

	// TakeAccountAttempt counts one request under key (a hash, never an
	// email or address) provided fewer than limit were counted in the live
	// window; false means the limit is reached.
	TakeAccountAttempt(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
}
