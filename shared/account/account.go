// Package account holds organisations, their users and roles, and the rules
// for who may manage whom.
package account

import (
	"errors"
	"time"
)

// Role is a user's role inside an org.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleAgent   Role = "agent"
	RoleViewer  Role = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleManager, RoleAgent, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// Privileged reports whether r is owner or admin.
func (r Role) Privileged() bool { return r == RoleOwner || r == RoleAdmin }

// CanManageUsers reports whether r may create, change and deactivate users.
func (r Role) CanManageUsers() bool { return r.Privileged() }

// CanAssignRole reports whether an actor with role r may give role target
// to someone (or change someone who holds target): only an owner may create
// or change an admin or an owner.
func (r Role) CanAssignRole(target Role) bool {
	if !r.CanManageUsers() {
		return false
	}
	if target.Privileged() {
		return r == RoleOwner
	}
	return true
}

// SeesAllLeads reports whether r sees every lead of the org (an agent sees
// only the leads assigned to it).
func (r Role) SeesAllLeads() bool { return r != RoleAgent }

// CanWriteLeads reports whether r may create, change or delete leads.
func (r Role) CanWriteLeads() bool { return r != RoleViewer }

// CanReadAudit reports whether r may read the org's audit trail.
func (r Role) CanReadAudit() bool { return r.Privileged() }

// Org is a client business.
type Org struct {
	ID   string
	Name string
	// DefaultRegion reads phone numbers written without a country code
	// (the default_country of the org settings).
	DefaultRegion string
	// Timezone is the org's IANA timezone; empty until set.
	Timezone string
	// BusinessHours are the org's opening hours; nil until set.
	BusinessHours BusinessHours
	CreatedAt     time.Time
	// UpdatedAt is when the settings last changed; zero if never.
	UpdatedAt time.Time
	// ClosedAt is when the owner closed the account; zero while open.
	ClosedAt time.Time
	// MFARequiredForAdmins makes two-factor sign-in mandatory for the
	// org's owners and admins (PUT /v1/org/security).
	MFARequiredForAdmins bool
	// Plan is the org's plan (shared/plan); "" is free.
	Plan string
}

// Closed reports whether the org's account is closed.
func (o Org) Closed() bool { return !o.ClosedAt.IsZero() }

// User is a member of an org.
type User struct {
	ID           string
	OrgID        string
	Name         string
	Email        string
	Role         Role
	Active       bool
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// OrgClosedAt mirrors Org.ClosedAt on every user of the org, so that
	// the user read of each request and login also tells that the org is
	// closed; zero while the org is open.
	OrgClosedAt time.Time
	// AccessRevokedAt is when the user's access tokens were last revoked
	// all at once (closing the org): tokens issued until then are refused,
	// also after the org reopens.
	AccessRevokedAt time.Time
	// EmailVerifiedAt is when the user proved to receive mail at Email (a
	// verification link, an accepted invitation or a password reset);
	// zero while unverified.
	EmailVerifiedAt time.Time
	// Unavailable means the user marked itself away: an assignment rule
	// with only_available skips it (PATCH /v1/me {available}).
	Unavailable bool
	// MFAEnabledAt is when the user turned two-factor sign-in on (a
	// confirmed TOTP enrolment, see mfa.go); zero while it is off.
	MFAEnabledAt time.Time
}

// EmailVerified reports whether the user's email is verified.
func (u User) EmailVerified() bool { return !u.EmailVerifiedAt.IsZero() }

// MFAEnabled reports whether the user signs in with a second factor.
func (u User) MFAEnabled() bool { return !u.MFAEnabledAt.IsZero() }

// MustEnrolMFA reports whether u, a member of org, has to turn two-factor
// sign-in on before it may use the API: the org requires it of owners and
// admins, u is one and has not.
func (u User) MustEnrolMFA(org Org) bool {
	return org.MFARequiredForAdmins && u.Role.Privileged() && !u.MFAEnabled()
}

// CanManageAPIKeys reports whether u may create, list and revoke the org's
// API keys: an owner or admin whose own email is verified, as for
// invitations.
func (u User) CanManageAPIKeys() bool { return u.Role.Privileged() && u.EmailVerified() }

// CanInvite reports whether u may invite people to its org: an owner or
// admin whose own email is verified (invitations are platform mail sent
// to any address the inviter types).
func (u User) CanInvite() bool { return u.Role.CanManageUsers() && u.EmailVerified() }

// Sentinel errors returned by stores and services.
var (
	ErrNotFound = errors.New("not found")
	// ErrNoVerifiedSender means the org has no sender address of its own
	// that the email service verified: it cannot email its leads, which
	// never get mail from the platform address.
	ErrNoVerifiedSender = errors.New("no verified sender address")
	ErrEmailTaken       = errors.New("email already registered")
	ErrConflict         = errors.New("conflicting update")
	ErrTokenInvalid     = errors.New("token invalid")
	ErrTokenReused      = errors.New("refresh token reused")
	// ErrLastOwner means an update would leave the org without an active
	// owner.
	ErrLastOwner = errors.New("the organisation's last active owner")
)

// RefreshToken is the stored half of a refresh token: the secret itself is
// only kept as a hash.
type RefreshToken struct {
	ID         string
	FamilyID   string
	UserID     string
	OrgID      string
	SecretHash []byte
	ExpiresAt  time.Time
}

// SenderStatus is where an org's own sender address stands in SES.
type SenderStatus string

// Sender statuses: pending until the link SES mailed to the address is
// followed, verified once SES lets the platform send from it, failed when
// verification failed or expired (set the address again to restart it),
// superseded when another org claimed the address while this org's claim
// was pending (a link followed now verifies that org's claim, not this
// one's).
const (
	SenderPending    SenderStatus = "pending"
	SenderVerified   SenderStatus = "verified"
	SenderFailed     SenderStatus = "failed"
	SenderSuperseded SenderStatus = "superseded"
)

// EmailSender is the address an org wants its emails sent from. Emails go
// from it only while it is verified; until then they go from the platform
// address with it as Reply-To.
type EmailSender struct {
	OrgID string
	// Email is the address, lower-cased; one org at most holds an address.
	Email  string
	Status SenderStatus
	// CheckedAt is when SES was last asked about the address.
	CheckedAt time.Time
	SetBy     string
	SetAt     time.Time
}

// ErrSenderTaken means another org already uses the sender address.
var ErrSenderTaken = errors.New("sender address used by another organisation")
