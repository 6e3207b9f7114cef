package identity

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
)

// OrgOut is an organisation as the API shows it.
type OrgOut struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	DefaultRegion string    `json:"default_region" doc:"ISO 3166 region used for phone numbers without a country code."`
	CreatedAt     time.Time `json:"created_at"`
	// MFARequiredForAdmins is the org's security setting.
	MFARequiredForAdmins bool `json:"mfa_required_for_admins" doc:"Whether owners and admins must sign in with a second factor (PUT /v1/org/security)."`
}

// UserOut is a user as the API shows it (never the password hash).
type UserOut struct {
	ID     string `json:"id"`
	OrgID  string `json:"org_id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Role   string `json:"role" enum:"owner,admin,manager,agent,viewer"`
	Active bool   `json:"active"`
	// EmailVerified is false until the user follows a verification link
	// (or joined through an invitation, or reset the password).
	EmailVerified bool      `json:"email_verified" doc:"Whether the user proved the email address. An unverified owner or admin cannot invite (403 email_unverified)."`
	MFAEnabled    bool      `json:"mfa_enabled" doc:"Whether the user signs in with a second factor (TOTP)."`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Available is false while the user marked itself away (PATCH /v1/me).
	Available bool `json:"available" doc:"False while the user marked itself away (PATCH /v1/me); an assignment rule with only_available skips it."`
}

func orgOut(o account.Org) OrgOut {
	return OrgOut{ID: o.ID, Name: o.Name, DefaultRegion: o.DefaultRegion, CreatedAt: o.CreatedAt, MFARequiredForAdmins: o.MFARequiredForAdmins}
}

func userOut(u account.User) UserOut {
	return UserOut{ID: u.ID, OrgID: u.OrgID, Name: u.Name, Email: u.Email, Role: string(u.Role), Active: u.Active,
		EmailVerified: u.EmailVerified(), MFAEnabled: u.MFAEnabled(), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Available: !u.Unavailable}
}

// TokensOut is the answer to sign-up, login and refresh.
type TokensOut struct {
	Org          OrgOut  `json:"org"`
	User         UserOut `json:"user"`
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	TokenType    string  `json:"token_type" enum:"Bearer"`
	ExpiresIn    int     `json:"expires_in" doc:"Seconds until the access token expires."`
	// MFAEnrolmentRequired: an owner or admin accepting an invitation to
	// an org that requires two-factor sign-in gets an access token that
	// only enrols, and no refresh token.
	MFAEnrolmentRequired bool `json:"mfa_enrolment_required,omitempty" doc:"True: the access token only enrols in two-factor sign-in (refresh_token is empty); log in again after confirming."`
}

type tokensOutput struct {
	Status int
	Body   TokensOut
}

// LoginOut is the answer to a right password: the tokens of TokensOut;
// or, for a user with two-factor sign-in, only mfa_required and the
// challenge that POST /v1/auth/mfa completes; or, for an owner or admin
// whose org requires two-factor sign-in before it is on,
// mfa_enrolment_required and an access token that only enrols.
type LoginOut struct {
	Org          *OrgOut  `json:"org,omitempty"`
	User         *UserOut `json:"user,omitempty"`
	AccessToken  string   `json:"access_token,omitempty"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty" enum:"Bearer"`
	ExpiresIn    int      `json:"expires_in,omitempty" doc:"Seconds until the access token (or the challenge) expires."`
	// MFARequired and Challenge: the login continues at POST /v1/auth/mfa.
	MFARequired bool   `json:"mfa_required,omitempty" doc:"True: no tokens yet; send the challenge with a code to POST /v1/auth/mfa."`
	Challenge   string `json:"challenge,omitempty" doc:"Single use, valid 5 minutes."`
	// MFAEnrolmentRequired: the access token only enrols.
	MFAEnrolmentRequired bool `json:"mfa_enrolment_required,omitempty" doc:"True: the org requires two-factor sign-in; the access token only calls GET /v1/me, POST /v1/me/mfa and POST /v1/me/mfa/confirm, then log in again."`
}

type loginOutput struct {
	Status int
	Body   LoginOut
}

// SignupIn creates an org and its owner.
type SignupIn struct {
	OrgName  string `json:"org_name" minLength:"1" maxLength:"200"`
	Name     string `json:"name" minLength:"1" maxLength:"200"`
	Email    string `json:"email" format:"email" maxLength:"254"`
	Password string `json:"password" minLength:"10" maxLength:"256" doc:"At least 10 characters."`
}

// LoginIn is a login attempt.
type LoginIn struct {
	Email    string `json:"email" maxLength:"254"`
	Password string `json:"password" maxLength:"256"`
}

// RefreshIn carries a refresh token.
type RefreshIn struct {
	RefreshToken string `json:"refresh_token" maxLength:"200"`
}

// MeOut is the caller and its org.
type MeOut struct {
	User UserOut `json:"user"`
	Org  OrgOut  `json:"org"`
	// PolicyNotice is set for an org owner until the org acknowledges the
	// newest privacy policy version.
	PolicyNotice *PolicyVersionOut `json:"policy_notice" doc:"For an owner: the newest privacy policy version until acknowledged (POST /v1/me/policy-acknowledgement); else null."`
}

// Login throttling: after this many attempts for one email inside the
// window without a right password, logins for it answer 429 until the
// window ends.
const (
	maxLoginFailures = 5
	loginWindow      = 15 * time.Minute
)

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func (s *server) registerAuth(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "signup", Method: http.MethodPost, Path: "/v1/auth/signup", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Create an organisation and its owner", DefaultStatus: http.StatusCreated, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.signup)
	huma.Register(api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/v1/auth/login", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Log in with email and password", MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "A user with two-factor sign-in gets no tokens but mfa_required and a challenge for POST /v1/auth/mfa; an owner or admin whose org requires two-factor sign-in before it is on gets an access token that only enrols (mfa_enrolment_required).",
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
	}, s.login)
	huma.Register(api, huma.Operation{
		OperationID: "refresh", Method: http.MethodPost, Path: "/v1/auth/refresh", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Exchange a refresh token for a new token pair", MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "Refresh tokens rotate: each works once. Presenting a used one revokes its whole family.",
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden},
	}, s.refresh)
	huma.Register(api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/v1/auth/logout", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Revoke a session", DefaultStatus: http.StatusNoContent, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusUnauthorized},
	}, s.logout)
	huma.Register(api, huma.Operation{
		OperationID: "me", Method: http.MethodGet, Path: "/v1/me", Tags: []string{"auth"},
		Summary: "The caller and its organisation", Security: httpapi.BearerSecurity, Errors: []int{http.StatusUnauthorized},
	}, s.me)
}

func (s *server) signup(ctx context.Context, in *struct{ Body SignupIn }) (*tokensOutput, error) {
	now := s.Now().UTC()
	org := account.Org{ID: ulid.Make().String(), Name: strings.TrimSpace(in.Body.OrgName), DefaultRegion: s.deps.DefaultRegion, CreatedAt: now}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, s.Internal(ctx, "hash password", err)
	}
	owner := account.User{ID: ulid.Make().String(), OrgID: org.ID, Name: strings.TrimSpace(in.Body.Name),
		Email: normalizeEmail(in.Body.Email), Role: account.RoleOwner, Active: true, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.deps.Store.CreateOrg(ctx, org, owner); err != nil {
		if errors.Is(err, account.ErrEmailTaken) {
			return nil, httpapi.NewProblem(http.StatusConflict, "email_taken", "an account with this email already exists")
		}
		return nil, s.Internal(ctx, "create org", err)
	}
	s.Record(ctx, audit.Record{OrgID: org.ID, ActorID: owner.ID, Action: audit.ActionSignup, TargetType: "org", TargetID: org.ID})
	// A failed mail is logged; the owner asks for another link later.
	_ = s.sendVerification(ctx, owner)
	out, err := s.startSession(ctx, owner, org)
	if err != nil {
		return nil, err
	}
	out.Status = http.StatusCreated
	return out, nil
}

func (s *server) startSession(ctx context.Context, u account.User, org account.Org) (*tokensOutput, error) {
	raw, rec, err := auth.NewRefreshToken(u, "", s.Now())
	if err != nil {
		return nil, s.Internal(ctx, "new refresh token", err)
	}
	if err := s.deps.Store.StartSession(ctx, rec, rec.ExpiresAt); err != nil {
		return nil, s.Internal(ctx, "start session", err)
	}
	return s.tokens(ctx, u, org, rec.FamilyID, raw)
}

func (s *server) tokens(ctx context.Context, u account.User, org account.Org, family, refresh string) (*tokensOutput, error) {
	access, err := s.deps.Tokens.Issue(u, org, family)
	if err != nil {
		return nil, s.Internal(ctx, "issue access token", err)
	}
	return &tokensOutput{Status: http.StatusOK, Body: TokensOut{
		Org: orgOut(org), User: userOut(u), AccessToken: access, RefreshToken: refresh,
		TokenType: "Bearer", ExpiresIn: int(auth.AccessTTL / time.Second),
	}}, nil
}

func (s *server) login(ctx context.Context, in *struct{ Body LoginIn }) (*loginOutput, error) {
	email := normalizeEmail(in.Body.Email)
	key := auth.HashEmail(email)
	// The attempt is counted before the password is checked, so parallel
	// guesses cannot all pass a count read before any of them failed.
	allowed, since, err := s.deps.Store.TakeLoginAttempt(ctx, key, maxLoginFailures, loginWindow)
	if err != nil {
		return nil, s.Internal(ctx, "count login attempt", err)
	}
	if !allowed {
		retry := time.Until(since.Add(loginWindow))
		if retry < time.Second {
			retry = time.Second
		}
		s.Record(ctx, audit.Record{OrgID: "platform", Action: audit.ActionLoginThrottled, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"email_hash": key}})
		return nil, huma.ErrorWithHeaders(
			httpapi.NewProblem(http.StatusTooManyRequests, "too_many_attempts", "too many failed logins for this account; try again later"),
			http.Header{"Retry-After": []string{strconv.Itoa(int(retry.Seconds() + 0.5))}})
	}

	u, err := s.deps.Store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, account.ErrNotFound):
		auth.CheckNoUser(in.Body.Password)
	case err != nil:
		return nil, s.Internal(ctx, "find user", err)
	default:
		err = auth.CheckPassword(u.PasswordHash, in.Body.Password)
	}
	if err == nil && !u.Active {
		err = account.ErrNotFound
	}
	if err != nil {
		rec := audit.Record{OrgID: "platform", Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
			Details: map[string]string{"email_hash": key}}
		if u.ID != "" {
			rec.OrgID, rec.TargetType, rec.TargetID = u.OrgID, "user", u.ID
		}
		s.Record(ctx, rec)
		return nil, httpapi.NewProblem(http.StatusUnauthorized, "invalid_credentials", "email or password is wrong")
	}
	if err := s.deps.Store.ClearLoginFailures(ctx, key); err != nil {
		s.Log().ErrorContext(ctx, "clear login failures", "err", err)
	}
	org, err := s.deps.Store.GetOrg(ctx, u.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	if org.Closed() || !u.OrgClosedAt.IsZero() {
		s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeDenied,
			TargetType: "user", TargetID: u.ID, Details: map[string]string{"reason": "org_closed"}})
		return nil, httpapi.OrgClosed()
	}
	switch {
	case u.MFAEnabled():
		return s.challenge(ctx, u)
	case u.MustEnrolMFA(org):
		return s.enrolOnly(ctx, u, org)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionLogin, TargetType: "user", TargetID: u.ID})
	out, err := s.startSession(ctx, u, org)
	if err != nil {
		return nil, err
	}
	b := out.Body
	return &loginOutput{Status: out.Status, Body: LoginOut{Org: &b.Org, User: &b.User, AccessToken: b.AccessToken, RefreshToken: b.RefreshToken,
		TokenType: b.TokenType, ExpiresIn: b.ExpiresIn}}, nil
}

// presented looks up a refresh token and checks its secret.
func (s *server) presented(ctx context.Context, token string) (account.RefreshToken, bool, error) {
	id, secret, err := auth.ParseRefreshToken(token)
	if err != nil {
		return account.RefreshToken{}, false, httpapi.Unauthorized()
	}
	rec, used, err := s.deps.Store.GetRefreshToken(ctx, id)
	if errors.Is(err, account.ErrTokenInvalid) {
		return account.RefreshToken{}, false, httpapi.Unauthorized()
	}
	if err != nil {
		return account.RefreshToken{}, false, s.Internal(ctx, "read refresh token", err)
	}
	if !auth.RefreshSecretMatches(rec, secret) {
		return account.RefreshToken{}, false, httpapi.Unauthorized()
	}
	return rec, used, nil
}

func (s *server) refresh(ctx context.Context, in *struct{ Body RefreshIn }) (*tokensOutput, error) {
	old, used, err := s.presented(ctx, in.Body.RefreshToken)
	if err != nil {
		return nil, err
	}
	if used {
		return nil, s.reuse(ctx, old)
	}
	if !s.Now().Before(old.ExpiresAt) {
		return nil, httpapi.Unauthorized()
	}
	u, err := s.deps.Store.GetUser(ctx, old.OrgID, old.UserID)
	if err != nil || !u.Active {
		return nil, httpapi.Unauthorized()
	}
	org, err := s.deps.Store.GetOrg(ctx, u.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	if org.Closed() || !u.OrgClosedAt.IsZero() {
		return nil, httpapi.OrgClosed()
	}
	if u.MustEnrolMFA(org) {
		return nil, httpapi.MFAEnrolmentRequired()
	}
	raw, next, err := auth.NewRefreshToken(u, old.FamilyID, s.Now())
	if err != nil {
		return nil, s.Internal(ctx, "new refresh token", err)
	}
	switch err := s.deps.Store.RotateRefreshToken(ctx, old, next); {
	case errors.Is(err, account.ErrTokenReused):
		return nil, s.reuse(ctx, old)
	case errors.Is(err, account.ErrTokenInvalid):
		return nil, httpapi.Unauthorized()
	case err != nil:
		return nil, s.Internal(ctx, "rotate refresh token", err)
	}
	return s.tokens(ctx, u, org, old.FamilyID, raw)
}

// reuse handles a refresh token presented twice: someone holds a copy, so
// the whole family is revoked, the newest token included.
func (s *server) reuse(ctx context.Context, t account.RefreshToken) error {
	if err := s.deps.Store.RevokeSession(ctx, t.UserID, t.FamilyID); err != nil {
		return s.Internal(ctx, "revoke session", err)
	}
	s.Record(ctx, audit.Record{OrgID: t.OrgID, ActorID: t.UserID, Action: audit.ActionRefreshReuse, TargetType: "session",
		TargetID: t.FamilyID, Outcome: audit.OutcomeDenied})
	return httpapi.Unauthorized()
}

func (s *server) logout(ctx context.Context, in *struct{ Body RefreshIn }) (*struct{}, error) {
	t, _, err := s.presented(ctx, in.Body.RefreshToken)
	if err != nil {
		return nil, err
	}
	if err := s.deps.Store.RevokeSession(ctx, t.UserID, t.FamilyID); err != nil {
		return nil, s.Internal(ctx, "revoke session", err)
	}
	s.Record(ctx, audit.Record{OrgID: t.OrgID, ActorID: t.UserID, Action: audit.ActionLogout, TargetType: "session", TargetID: t.FamilyID})
	return nil, nil
}

type meOutput struct{ Body MeOut }

func (s *server) me(ctx context.Context, _ *struct{}) (*meOutput, error) {
	p := httpapi.Caller(ctx)
	org, err := s.deps.Store.GetOrg(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	notice, err := s.deps.Policy.Notice(ctx, p.User)
	if err != nil {
		return nil, s.Internal(ctx, "read policy notice", err)
	}
	return &meOutput{Body: MeOut{User: userOut(p.User), Org: orgOut(org), PolicyNotice: policyVersionOut(notice)}}, nil
}
