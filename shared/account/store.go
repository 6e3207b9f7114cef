package account

import (
	"context"
	"time"
)

// Store keeps orgs and their users (dynamostore.Store). An org or user
// that is not there is ErrNotFound; a login email another user has is
// ErrEmailTaken.
type Store interface {
	// CreateOrg writes an org with its owner and claims the owner's email,
	// all or nothing.
	CreateOrg(ctx context.Context, o Org, owner User) error
	GetOrg(ctx context.Context, orgID string) (Org, error)
	// CreateUser adds a user to its org and claims its email.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, orgID, userID string) (User, error)
	// GetUserByEmail finds the user who logs in with email (lower-cased).
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user of an org, oldest first.
	ListUsers(ctx context.Context, orgID string) ([]User, error)
	// UpdateUser replaces a user's name, role, active flag and update time;
	// ErrLastOwner when that would leave the org with no active owner,
	// also against updates of other owners at the same moment.
	UpdateUser(ctx context.Context, u User) error
}

// SessionStore keeps sessions (refresh-token families) and their refresh
// tokens (dynamostore.Store).
type SessionStore interface {
	// StartSession stores the first refresh token of a new family.
	StartSession(ctx context.Context, t RefreshToken, familyExpires time.Time) error
	// GetRefreshToken returns a token and whether it was used
	// (ErrTokenInvalid when there is none).
	GetRefreshToken(ctx context.Context, id string) (RefreshToken, bool, error)
	// RotateRefreshToken marks old used and stores next in its family: a
	// used token is ErrTokenReused, a revoked family ErrTokenInvalid.
	RotateRefreshToken(ctx context.Context, old, next RefreshToken) error
	// SessionActive reports whether a family is still valid.
	SessionActive(ctx context.Context, userID, familyID string) (bool, error)
	RevokeSession(ctx context.Context, userID, familyID string) error
	RevokeAllSessions(ctx context.Context, userID string) error
}

// LoginThrottle counts password attempts per email hash in a window that
// starts at the first attempt (dynamostore.Store). An attempt is counted
// before its password is checked, atomically, so parallel guesses cannot
// pass the limit; a right password clears the count.
type LoginThrottle interface {
	// TakeLoginAttempt counts one attempt provided fewer than limit were
	// counted in the live window; ok false means the limit is reached and
	// since is when that window started.
	TakeLoginAttempt(ctx context.Context, emailHash string, limit int, window time.Duration) (ok bool, since time.Time, err error)
	// LoginFailures returns the attempts of the live window and its start.
	LoginFailures(ctx context.Context, emailHash string) (int, time.Time, error)
	ClearLoginFailures(ctx context.Context, emailHash string) error
}

// SenderStore keeps each org's own sender address and which org claims an
// address (dynamostore.Store). A pending claim can be taken over by
// another org; a verified one cannot (ErrSenderTaken).
type SenderStore interface {
	// GetEmailSender returns the org's address (ErrNotFound: none set).
	GetEmailSender(ctx context.Context, orgID string) (EmailSender, error)
	// EmailSenderOwner returns the org claiming an address ("" for none)
	// and whether that claim is verified.
	EmailSenderOwner(ctx context.Context, email string) (orgID string, verified bool, err error)
	// PutEmailSender sets the org's address provided it still is previous
	// ("" for none; else ErrConflict) and releases previous.
	PutEmailSender(ctx context.Context, snd EmailSender, previous string) error
	// DeleteEmailSender forgets the org's address email and releases its
	// claim (ErrConflict when the address is no longer email).
	DeleteEmailSender(ctx context.Context, orgID, email string) error
	// ClaimEmailSenderCheck reports whether this caller may ask the email
	// service about the address now: it was last asked before notAfter.
	ClaimEmailSenderCheck(ctx context.Context, orgID, email string, notAfter, now time.Time) (bool, error)
	// SetEmailSenderStatus records what the email service said about the
	// address (ErrSenderTaken when another org took the claim over).
	SetEmailSenderStatus(ctx context.Context, orgID, email string, st SenderStatus) error
}

// AddressRefusedError means the email service refused an address as a
// sender; Reason is its message.
type AddressRefusedError struct {
	Reason string
}

// Error implements error.
func (e *AddressRefusedError) Error() string { return "address refused: " + e.Reason }
