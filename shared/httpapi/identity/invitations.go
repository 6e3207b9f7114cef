package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/plan"
)

// InvitationIn invites someone by email.
type InvitationIn struct {
	Email string `json:"email" format:"email" maxLength:"254"`
	Role  string `json:"role" enum:"owner,admin,manager,agent,viewer" doc:"Only an owner invites an owner or admin."`
}

// InvitationOut is an invitation as the API shows it (never its token).
type InvitationOut struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Role       string    `json:"role" enum:"owner,admin,manager,agent,viewer"`
	Status     string    `json:"status" enum:"pending,accepted,revoked,expired"`
	InvitedBy  string    `json:"invited_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	AcceptedBy *string   `json:"accepted_by" doc:"The user the acceptance created."`
}

// InvitationList is the org's invitations, newest first.
type InvitationList struct {
	Items []InvitationOut `json:"items"`
}

// AcceptIn accepts an invitation.
type AcceptIn struct {
	Token    string `json:"token" maxLength:"128" doc:"The token of the invitation link."`
	Name     string `json:"name" minLength:"1" maxLength:"200"`
	Password string `json:"password" minLength:"10" maxLength:"256" doc:"At least 10 characters."`
}

type invitationOutput struct{ Body InvitationOut }

// Invitations an org may send in an hour (platform mail to any address
// its owners and admins type).
const (
	invitationsPerHour = 50
	attemptWindow      = time.Hour
)

func invitationOut(i account.Invitation, now time.Time) InvitationOut {
	return InvitationOut{ID: i.ID, Email: i.Email, Role: string(i.Role), Status: string(i.StatusAt(now)), InvitedBy: i.InvitedBy,
		CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt, AcceptedBy: httpapi.Optional(i.AcceptedBy)}
}

func (s *server) registerInvitations(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-invitation", Method: http.MethodPost, Path: "/v1/invitations", Tags: []string{"users"},
		Summary: "Invite someone by email (owner, admin; email verified)", DefaultStatus: http.StatusCreated,
		Description: "Mails a one-time link, valid 7 days, from the platform address. Only an owner invites an owner or admin. An email that has an account is 409. The inviter's own email must be verified (403 email_unverified).",
		Security:    httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusBadGateway},
	}, s.createInvitation)
	huma.Register(api, huma.Operation{
		OperationID: "list-invitations", Method: http.MethodGet, Path: "/v1/invitations", Tags: []string{"users"},
		Summary: "List the organisation's invitations (owner, admin)", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden},
	}, s.listInvitations)
	huma.Register(api, huma.Operation{
		OperationID: "revoke-invitation", Method: http.MethodDelete, Path: "/v1/invitations/{id}", Tags: []string{"users"},
		Summary: "Revoke a pending invitation (owner, admin)", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.revokeInvitation)
	huma.Register(api, huma.Operation{
		OperationID: "accept-invitation", Method: http.MethodPost, Path: "/v1/invitations/accept", Tags: []string{"users"}, Security: httpapi.PublicSecurity,
		Summary: "Accept an invitation: create the user and log in", DefaultStatus: http.StatusCreated, MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "The token is the authority (no bearer token). It works once; an expired, used or revoked one is 400 invalid_token.",
		Errors:      []int{http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.acceptInvitation)
}

func (s *server) createInvitation(ctx context.Context, in *struct{ Body InvitationIn }) (*invitationOutput, error) {
	p := httpapi.Caller(ctx)
	role := account.Role(in.Body.Role)
	if !p.User.Role.CanAssignRole(role) {
		return nil, s.Deny(ctx, audit.ActionInvitationCreate, "invitation", "", "your role cannot invite a user with role "+string(role))
	}
	if !p.User.CanInvite() {
		s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: audit.ActionPermissionDenied, TargetType: "invitation",
			Outcome: audit.OutcomeDenied, Details: map[string]string{"attempted": audit.ActionInvitationCreate, "reason": "email_unverified"}})
		return nil, httpapi.NewProblem(http.StatusForbidden, "email_unverified", "verify your own email address before inviting anyone (POST /v1/auth/verify-email/resend mails the link again)")
	}
	email := normalizeEmail(in.Body.Email)
	switch u, err := s.deps.Store.GetUserByEmail(ctx, email); {
	case err == nil && u.OrgID == p.User.OrgID:
		return nil, httpapi.NewProblem(http.StatusConflict, "already_member", "this email belongs to a member of the organisation")
	case err == nil:
		return nil, httpapi.NewProblem(http.StatusConflict, "email_taken", "an account with this email already exists")
	case !errors.Is(err, account.ErrNotFound):
		return nil, s.Internal(ctx, "find user", err)
	}
	ok, err := s.deps.Store.TakeAccountAttempt(ctx, auth.HashAttemptKey("invite-org", p.User.OrgID), invitationsPerHour, attemptWindow)
	if err != nil {
		return nil, s.Internal(ctx, "count invitations", err)
	}
	if !ok {
		return nil, tooMany("too many invitations from this organisation in the last hour; try again later")
	}
	org, err := s.deps.Store.GetOrg(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	token, hash, err := auth.NewOneTimeToken()
	if err != nil {
		return nil, s.Internal(ctx, "new invitation token", err)
	}
	now := s.Now().UTC()
	inv := account.Invitation{ID: ulid.Make().String(), OrgID: p.User.OrgID, Email: email, Role: role, InvitedBy: p.User.ID,
		Status: account.InvitationPending, CreatedAt: now, ExpiresAt: now.Add(account.InvitationTTL), TokenHash: hash}
	if err := s.deps.Store.CreateInvitation(ctx, inv, account.OneTimeToken{Hash: hash, Purpose: account.PurposeInvite, OrgID: inv.OrgID,
		InvitationID: inv.ID, CreatedAt: now, ExpiresAt: inv.ExpiresAt}); err != nil {
		return nil, s.Internal(ctx, "create invitation", err)
	}
	if err := s.deps.Mail.invitation(ctx, inv, org, p.User, token); err != nil {
		// Nobody got the link: the invitation is withdrawn, so the list
		// shows no invitation that cannot be accepted.
		s.Log().ErrorContext(ctx, "mail invitation", "invitation", inv.ID, "err", err)
		if rerr := s.deps.Store.RevokeInvitation(context.WithoutCancel(ctx), inv, p.User.ID, s.Now().UTC()); rerr != nil {
			s.Log().ErrorContext(ctx, "withdraw unsent invitation", "invitation", inv.ID, "err", rerr)
		}
		return nil, httpapi.NewProblem(http.StatusBadGateway, "email_failed", "the invitation email could not be sent; try again")
	}
	s.Record(ctx, audit.Record{OrgID: inv.OrgID, ActorID: p.User.ID, Action: audit.ActionInvitationCreate, TargetType: "invitation",
		TargetID: inv.ID, Details: map[string]string{"role": string(role)}})
	return &invitationOutput{Body: invitationOut(inv, now)}, nil
}

func (s *server) listInvitations(ctx context.Context, _ *struct{}) (*struct{ Body InvitationList }, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.CanManageUsers() {
		return nil, s.Deny(ctx, "invitation.list", "invitation", "", "only an owner or admin can see invitations")
	}
	invs, err := s.deps.Store.ListInvitations(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "list invitations", err)
	}
	now := s.Now()
	out := &struct{ Body InvitationList }{Body: InvitationList{Items: make([]InvitationOut, 0, len(invs))}}
	for _, i := range invs {
		out.Body.Items = append(out.Body.Items, invitationOut(i, now))
	}
	return out, nil
}

func (s *server) revokeInvitation(ctx context.Context, in *struct {
	ID string `path:"id" maxLength:"64"`
}) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.CanManageUsers() {
		return nil, s.Deny(ctx, audit.ActionInvitationRevoke, "invitation", in.ID, "only an owner or admin can revoke invitations")
	}
	inv, err := s.deps.Store.GetInvitation(ctx, p.User.OrgID, in.ID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("invitation")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read invitation", err)
	}
	if !p.User.Role.CanAssignRole(inv.Role) {
		return nil, s.Deny(ctx, audit.ActionInvitationRevoke, "invitation", inv.ID, "only an owner can revoke an invitation as owner or admin")
	}
	if inv.StatusAt(s.Now()) != account.InvitationPending {
		return nil, invitationClosed()
	}
	switch err := s.deps.Store.RevokeInvitation(ctx, inv, p.User.ID, s.Now().UTC()); {
	case errors.Is(err, account.ErrInvitationClosed):
		return nil, invitationClosed()
	case err != nil:
		return nil, s.Internal(ctx, "revoke invitation", err)
	}
	s.Record(ctx, audit.Record{OrgID: inv.OrgID, ActorID: p.User.ID, Action: audit.ActionInvitationRevoke, TargetType: "invitation", TargetID: inv.ID})
	return nil, nil
}

func invitationClosed() error {
	return httpapi.NewProblem(http.StatusConflict, "invitation_closed", "the invitation is no longer pending (accepted, revoked or expired)")
}

// invalidToken answers a one-time token that is malformed, unknown,
// expired or used, alike.
func invalidToken() error {
	return httpapi.NewProblem(http.StatusBadRequest, "invalid_token", "the link is invalid, expired or was used already")
}

// liveToken returns the stored token of a presented one, of purpose.
func (s *server) liveToken(ctx context.Context, token string, purpose account.TokenPurpose) (account.OneTimeToken, error) {
	hash, err := auth.HashOneTimeToken(strings.TrimSpace(token))
	if err != nil {
		return account.OneTimeToken{}, invalidToken()
	}
	t, err := s.deps.Store.GetAccountToken(ctx, hash)
	if errors.Is(err, account.ErrTokenInvalid) || (err == nil && t.Purpose != purpose) {
		return account.OneTimeToken{}, invalidToken()
	}
	if err != nil {
		return account.OneTimeToken{}, s.Internal(ctx, "read token", err)
	}
	return t, nil
}

func (s *server) acceptInvitation(ctx context.Context, in *struct{ Body AcceptIn }) (*tokensOutput, error) {
	t, err := s.liveToken(ctx, in.Body.Token, account.PurposeInvite)
	if err != nil {
		return nil, err
	}
	inv, err := s.deps.Store.GetInvitation(ctx, t.OrgID, t.InvitationID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, invalidToken()
	}
	if err != nil {
		return nil, s.Internal(ctx, "read invitation", err)
	}
	if inv.StatusAt(s.Now()) != account.InvitationPending {
		return nil, invalidToken()
	}
	org, err := s.deps.Store.GetOrg(ctx, inv.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	if org.Closed() {
		return nil, httpapi.OrgClosed()
	}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, s.Internal(ctx, "hash password", err)
	}
	now := s.Now().UTC()
	// Following the mailed link proves the address: the user starts
	// verified.
	u := account.User{ID: ulid.Make().String(), OrgID: inv.OrgID, Name: strings.TrimSpace(in.Body.Name), Email: inv.Email, Role: inv.Role,
		Active: true, PasswordHash: hash, CreatedAt: now, UpdatedAt: now, EmailVerifiedAt: now}
	bound, err := s.BindPlan(ctx, s.deps.Plans, u.OrgID, plan.Users)
	if err != nil {
		return nil, err
	}
	switch err := s.deps.Store.AcceptInvitation(bound, t, u); {
	case errors.Is(err, account.ErrTokenInvalid), errors.Is(err, account.ErrInvitationClosed):
		return nil, invalidToken()
	case s.PlanRefused(err) != nil:
		return nil, s.PlanRefused(err)
	case errors.Is(err, account.ErrEmailTaken):
		return nil, httpapi.NewProblem(http.StatusConflict, "email_taken", "an account with this email already exists")
	case err != nil:
		return nil, s.Internal(ctx, "accept invitation", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionInvitationAccept, TargetType: "invitation", TargetID: inv.ID,
		Details: map[string]string{"role": string(u.Role), "user_id": u.ID, "invited_by": inv.InvitedBy}})
	s.PlanAdded(ctx, s.deps.Plans, u.OrgID, plan.Users)
	if u.MustEnrolMFA(org) {
		// An owner or admin joining an org that requires two-factor
		// sign-in gets, as at login, a token that only enrols.
		lim, err := s.enrolOnly(ctx, u, org)
		if err != nil {
			return nil, err
		}
		return &tokensOutput{Status: http.StatusCreated, Body: TokensOut{Org: *lim.Body.Org, User: *lim.Body.User, AccessToken: lim.Body.AccessToken,
			TokenType: lim.Body.TokenType, ExpiresIn: lim.Body.ExpiresIn, MFAEnrolmentRequired: true}}, nil
	}
	out, err := s.startSession(ctx, u, org)
	if err != nil {
		return nil, err
	}
	out.Status = http.StatusCreated
	return out, nil
}

// tooMany is a 429 for a limit whose window is an hour.
func tooMany(detail string) error {
	return huma.ErrorWithHeaders(httpapi.NewProblem(http.StatusTooManyRequests, "too_many_requests", detail),
		http.Header{"Retry-After": []string{"3600"}})
}
