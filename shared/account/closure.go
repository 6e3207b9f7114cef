package account

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReopenWindow is how long after closure the owner may reopen the account;
// after it the org's data is deleted.
const ReopenWindow = 90 * 24 * time.Hour

// Closure errors.
var (
	// ErrOrgClosed means the org's account is closed: nobody of it may
	// sign in or call the API.
	ErrOrgClosed = errors.New("organisation closed")
	// ErrNotClosed means reopening an org that is open.
	ErrNotClosed = errors.New("organisation is not closed")
	// ErrReopenExpired means the reopen window has passed: the account is
	// being deleted.
	ErrReopenExpired = errors.New("reopen window passed")
	// ErrWrongPassword means the password given does not match.
	ErrWrongPassword = errors.New("wrong password")
	// ErrNotOwner means someone other than an owner tried to close or
	// reopen the org.
	ErrNotOwner = errors.New("not an owner")
)

// ClosureStore is what closing and reopening need of storage
// (dynamostore.Store).
type ClosureStore interface {
	GetOrg(ctx context.Context, orgID string) (Org, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context, orgID string) ([]User, error)
	// SetOrgClosed sets (or, with a zero at, clears) the org's closed_at
	// and its mirror on each of users.
	SetOrgClosed(ctx context.Context, orgID string, users []User, at time.Time) error
	RevokeAllSessions(ctx context.Context, userID string) error
}

// OrgActivity stops what an org has running when it closes: its
// integrations are disconnected (tokens deleted, collection stops) and its
// running campaigns paused. It returns how many of each it stopped.
type OrgActivity interface {
	StopOrgActivity(ctx context.Context, orgID string, at time.Time) (integrations, campaigns int, err error)
}

// PasswordCheck compares a password with a stored hash (auth.CheckPassword);
// a mismatch is any error.
type PasswordCheck func(hash, password string) error

// ClosureService closes and reopens an org's account. Set the fields,
// then use it from any number of goroutines.
type ClosureService struct {
	Store    ClosureStore
	Activity OrgActivity
	Password PasswordCheck
	// NoUser, when set, spends a password check's time on an unknown
	// email, so reopen does not tell which emails exist (auth.CheckNoUser).
	NoUser func(password string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Closed is what closing did.
type Closed struct {
	Org          Org
	Users        int
	Integrations int
	Campaigns    int
}

func (s *ClosureService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Close closes the org of owner, who re-enters password: every user of
// the org is refused at once (the closed mark rides on the user items),
// every session of its users revoked, its integrations disconnected and
// its running campaigns paused. Queued messages are refused by the sender
// (it re-reads the org). ErrNotOwner, ErrWrongPassword, ErrOrgClosed are
// refusals.
func (s *ClosureService) Close(ctx context.Context, owner User, password string) (Closed, error) {
	if owner.Role != RoleOwner {
		return Closed{}, ErrNotOwner
	}
	if err := s.Password(owner.PasswordHash, password); err != nil {
		return Closed{}, ErrWrongPassword
	}
	org, err := s.Store.GetOrg(ctx, owner.OrgID)
	if err != nil {
		return Closed{}, fmt.Errorf("read org %s: %w", owner.OrgID, err)
	}
	if org.Closed() {
		return Closed{}, ErrOrgClosed
	}
	users, err := s.Store.ListUsers(ctx, org.ID)
	if err != nil {
		return Closed{}, fmt.Errorf("close org %s: %w", org.ID, err)
	}
	at := s.now().UTC()
	if err := s.Store.SetOrgClosed(ctx, org.ID, users, at); err != nil {
		return Closed{}, fmt.Errorf("close org %s: %w", org.ID, err)
	}
	org.ClosedAt = at
	for _, u := range users {
		if err := s.Store.RevokeAllSessions(ctx, u.ID); err != nil {
			return Closed{}, fmt.Errorf("close org %s: revoke sessions of %s: %w", org.ID, u.ID, err)
		}
	}
	out := Closed{Org: org, Users: len(users)}
	if s.Activity != nil {
		if out.Integrations, out.Campaigns, err = s.Activity.StopOrgActivity(ctx, org.ID, at); err != nil {
			return out, fmt.Errorf("close org %s: %w", org.ID, err)
		}
	}
	return out, nil
}

// Reopen reopens the closed org of the owner who signs in with email and
// password, within ReopenWindow of its closure. Integrations stay
// disconnected and campaigns paused. The user found is returned with the
// error when there is one, for the audit trail. ErrWrongPassword (also for
// an unknown email or a user who is not an active owner), ErrNotClosed and
// ErrReopenExpired are refusals.
func (s *ClosureService) Reopen(ctx context.Context, email, password string) (Org, User, error) {
	u, err := s.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		if s.NoUser != nil {
			s.NoUser(password)
		}
		return Org{}, User{}, ErrWrongPassword
	}
	if err != nil {
		return Org{}, User{}, fmt.Errorf("find user: %w", err)
	}
	if err := s.Password(u.PasswordHash, password); err != nil || u.Role != RoleOwner || !u.Active {
		return Org{}, u, ErrWrongPassword
	}
	org, err := s.Store.GetOrg(ctx, u.OrgID)
	if err != nil {
		return Org{}, u, fmt.Errorf("read org %s: %w", u.OrgID, err)
	}
	if !org.Closed() {
		return org, u, ErrNotClosed
	}
	if !s.now().Before(org.ClosedAt.Add(ReopenWindow)) {
		return org, u, ErrReopenExpired
	}
	users, err := s.Store.ListUsers(ctx, org.ID)
	if err != nil {
		return org, u, fmt.Errorf("reopen org %s: %w", org.ID, err)
	}
	if err := s.Store.SetOrgClosed(ctx, org.ID, users, time.Time{}); err != nil {
		return org, u, fmt.Errorf("reopen org %s: %w", org.ID, err)
	}
	org.ClosedAt = time.Time{}
	u.OrgClosedAt = time.Time{}
	return org, u, nil
}

// Audit actions of closure.
const (
	ActionClose  = "org.close"
	ActionReopen = "org.reopen"
)
