package identity

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
)

// Two-factor sign-in (TOTP, RFC 6238): enrolment, confirmation and turning
// it off under /v1/me/mfa, the second step of a login (POST /v1/auth/mfa)
// and the org's requirement of it for owners and admins (PUT
// /v1/org/security). Wrong codes are counted per user like failed logins
// (the same limit and window).

// Sealer seals and opens the TOTP secrets with the envelope key, bound to
// the org (envelope.Sealer).
type Sealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, orgID string, blob []byte) ([]byte, error)
}

// MFAEnrolOut is a new enrolment: shown once.
type MFAEnrolOut struct {
	OTPAuthURI    string   `json:"otpauth_uri" doc:"otpauth://totp/Leadluence:<email>?secret=...&issuer=Leadluence: show it as a QR code for an authenticator app."`
	Secret        string   `json:"secret" doc:"The same secret in base32, for typing into an app. Shown only now."`
	RecoveryCodes []string `json:"recovery_codes" doc:"Ten single-use codes that stand in for a TOTP code. Shown only now."`
}

// MFACodeIn carries a TOTP code (six digits) or, where accepted, a
// recovery code.
type MFACodeIn struct {
	Code string `json:"code" minLength:"1" maxLength:"32" doc:"A TOTP code of the authenticator app (six digits), or a recovery code where the route takes one."`
}

// MFAStatusOut says whether two-factor sign-in is on.
type MFAStatusOut struct {
	MFAEnabled bool `json:"mfa_enabled"`
}

// MFALoginIn completes a login that answered mfa_required.
type MFALoginIn struct {
	Challenge string `json:"challenge" maxLength:"64" doc:"The challenge of the login's answer (valid 5 minutes, single use)."`
	Code      string `json:"code" minLength:"1" maxLength:"32" doc:"A TOTP code (six digits) or an unused recovery code."`
}

// OrgSecurityIn sets the org's security settings.
type OrgSecurityIn struct {
	MFARequiredForAdmins bool `json:"mfa_required_for_admins" doc:"Require two-factor sign-in of owners and admins. Turning it on needs the caller's own two-factor sign-in on."`
}

// OrgSecurityOut is the org's security settings.
type OrgSecurityOut struct {
	MFARequiredForAdmins bool `json:"mfa_required_for_admins"`
}

func (s *server) registerMFA(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "enrol-mfa", Method: http.MethodPost, Path: "/v1/me/mfa", Tags: []string{"auth"},
		Summary: "Start two-factor sign-in: a TOTP secret and recovery codes, shown once", DefaultStatus: http.StatusCreated,
		Description: "Replaces an unconfirmed enrolment; 409 mfa_already_enabled when it is on. Nothing changes for logins until POST /v1/me/mfa/confirm.",
		Security:    httpapi.BearerSecurity, Errors: []int{http.StatusUnauthorized, http.StatusConflict},
	}, s.enrolMFA)
	huma.Register(api, huma.Operation{
		OperationID: "confirm-mfa", Method: http.MethodPost, Path: "/v1/me/mfa/confirm", Tags: []string{"auth"},
		Summary: "Turn two-factor sign-in on with a code of the authenticator app", MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "From then on a password login answers a challenge that POST /v1/auth/mfa completes. A wrong code is 422 invalid_code; too many are 429.",
		Security:    httpapi.BearerSecurity, Errors: []int{http.StatusUnauthorized, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.confirmMFA)
	huma.Register(api, huma.Operation{
		OperationID: "disable-mfa", Method: http.MethodDelete, Path: "/v1/me/mfa", Tags: []string{"auth"},
		Summary: "Turn two-factor sign-in off (a current TOTP code or a recovery code)", DefaultStatus: http.StatusNoContent,
		Description: "409 mfa_required_by_org for an owner or admin of an org that requires it.", MaxBodyBytes: httpapi.MaxBodyBytes,
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusUnauthorized, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.disableMFA)
	huma.Register(api, huma.Operation{
		OperationID: "complete-mfa-login", Method: http.MethodPost, Path: "/v1/auth/mfa", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Complete a login with a TOTP code or a recovery code", MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "A code works once: a TOTP code is refused again in its window, a recovery code is used up. A wrong code is 401 invalid_code and leaves the challenge usable until it expires; too many are 429.",
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
	}, s.completeMFALogin)
	huma.Register(api, huma.Operation{
		OperationID: "set-org-security", Method: http.MethodPut, Path: "/v1/org/security", Tags: []string{"org"},
		Summary: "Set the organisation's security settings (owner, admin)", MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "With mfa_required_for_admins on, an owner or admin without two-factor sign-in who logs in gets an access token that only enrols (mfa_enrolment_required: true, no refresh token), and other routes answer 403 mfa_enrolment_required; refreshing their sessions is refused the same way. GET /v1/me shows the setting on the org.",
		Security:    httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusConflict},
	}, s.setOrgSecurity)
}

func (s *server) enrolMFA(ctx context.Context, _ *struct{}) (*struct {
	Status int
	Body   MFAEnrolOut
}, error) {
	u := httpapi.Caller(ctx).User
	if u.MFAEnabled() {
		return nil, mfaAlreadyEnabled()
	}
	secret, uri, err := auth.NewTOTP(u.Email)
	if err != nil {
		return nil, s.Internal(ctx, "new totp secret", err)
	}
	codes, hashes, err := auth.NewRecoveryCodes(u.ID, account.RecoveryCodeCount)
	if err != nil {
		return nil, s.Internal(ctx, "new recovery codes", err)
	}
	sealed, err := s.deps.Sealer.Seal(ctx, u.OrgID, []byte(secret))
	if err != nil {
		return nil, s.Internal(ctx, "seal totp secret", err)
	}
	err = s.deps.Store.PutMFAEnrolment(ctx, account.MFA{OrgID: u.OrgID, UserID: u.ID, SealedSecret: sealed, CreatedAt: s.Now().UTC(), RecoveryHashes: hashes})
	if errors.Is(err, account.ErrMFAEnabled) {
		return nil, mfaAlreadyEnabled()
	}
	if err != nil {
		return nil, s.Internal(ctx, "put mfa enrolment", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFAEnrol, TargetType: "user", TargetID: u.ID})
	return &struct {
		Status int
		Body   MFAEnrolOut
	}{Status: http.StatusCreated, Body: MFAEnrolOut{OTPAuthURI: uri, Secret: secret, RecoveryCodes: codes}}, nil
}

func mfaAlreadyEnabled() error {
	return httpapi.NewProblem(http.StatusConflict, "mfa_already_enabled", "two-factor sign-in is on already; turn it off first to enrol again")
}

func (s *server) confirmMFA(ctx context.Context, in *struct{ Body MFACodeIn }) (*struct{ Body MFAStatusOut }, error) {
	u := httpapi.Caller(ctx).User
	m, err := s.deps.Store.GetMFA(ctx, u.OrgID, u.ID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && m.Enabled) {
		return nil, httpapi.NewProblem(http.StatusConflict, "no_mfa_enrolment", "there is no enrolment waiting for confirmation (POST /v1/me/mfa starts one)")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read mfa", err)
	}
	if err := s.takeMFAAttempt(ctx, u); err != nil {
		return nil, err
	}
	proof, ok, err := s.checkCode(ctx, u, m, in.Body.Code, false)
	if err != nil {
		return nil, err
	}
	if ok {
		err = s.deps.Store.ConfirmMFA(ctx, u.OrgID, u.ID, proof.Step, s.Now())
		ok = !errors.Is(err, account.ErrCodeUsed)
	}
	if !ok {
		return nil, s.codeRefused(ctx, u, http.StatusUnprocessableEntity)
	}
	if err != nil {
		return nil, s.Internal(ctx, "confirm mfa", err)
	}
	s.clearMFAAttempts(ctx, u)
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFAConfirm, TargetType: "user", TargetID: u.ID})
	return &struct{ Body MFAStatusOut }{Body: MFAStatusOut{MFAEnabled: true}}, nil
}

func (s *server) disableMFA(ctx context.Context, in *struct{ Body MFACodeIn }) (*struct{}, error) {
	u := httpapi.Caller(ctx).User
	m, err := s.deps.Store.GetMFA(ctx, u.OrgID, u.ID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !m.Enabled) {
		return nil, httpapi.NewProblem(http.StatusConflict, "mfa_not_enabled", "two-factor sign-in is not on")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read mfa", err)
	}
	if u.Role.Privileged() {
		org, err := s.deps.Store.GetOrg(ctx, u.OrgID)
		if err != nil {
			return nil, s.Internal(ctx, "read org", err)
		}
		if org.MFARequiredForAdmins {
			return nil, httpapi.NewProblem(http.StatusConflict, "mfa_required_by_org", "the organisation requires two-factor sign-in of owners and admins")
		}
	}
	if err := s.takeMFAAttempt(ctx, u); err != nil {
		return nil, err
	}
	proof, ok, err := s.checkCode(ctx, u, m, in.Body.Code, true)
	if err != nil {
		return nil, err
	}
	if ok {
		err = s.deps.Store.DisableMFA(ctx, u.OrgID, u.ID, proof)
		ok = !errors.Is(err, account.ErrCodeUsed)
	}
	if !ok {
		return nil, s.codeRefused(ctx, u, http.StatusUnprocessableEntity)
	}
	if err != nil {
		return nil, s.Internal(ctx, "disable mfa", err)
	}
	s.clearMFAAttempts(ctx, u)
	s.recordRecovery(ctx, u, proof)
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFADisable, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"with": proofKind(proof)}})
	return nil, nil
}

func (s *server) completeMFALogin(ctx context.Context, in *struct{ Body MFALoginIn }) (*tokensOutput, error) {
	invalid := httpapi.NewProblem(http.StatusUnauthorized, "invalid_challenge", "the login challenge is unknown, used or expired; log in again")
	hash, err := auth.HashOneTimeToken(strings.TrimSpace(in.Body.Challenge))
	if err != nil {
		return nil, invalid
	}
	t, err := s.deps.Store.GetAccountToken(ctx, hash)
	if errors.Is(err, account.ErrTokenInvalid) || (err == nil && t.Purpose != account.PurposeMFAChallenge) {
		return nil, invalid
	}
	if err != nil {
		return nil, s.Internal(ctx, "read mfa challenge", err)
	}
	u, err := s.deps.Store.GetUser(ctx, t.OrgID, t.UserID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !u.Active) {
		return nil, invalid
	}
	if err != nil {
		return nil, s.Internal(ctx, "read user", err)
	}
	m, err := s.deps.Store.GetMFA(ctx, u.OrgID, u.ID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !m.Enabled) {
		return nil, invalid
	}
	if err != nil {
		return nil, s.Internal(ctx, "read mfa", err)
	}
	if err := s.takeMFAAttempt(ctx, u); err != nil {
		return nil, err
	}
	proof, ok, err := s.checkCode(ctx, u, m, in.Body.Code, true)
	if err != nil {
		return nil, err
	}
	if ok {
		err = s.deps.Store.CompleteMFAChallenge(ctx, t, proof)
		if errors.Is(err, account.ErrTokenInvalid) {
			return nil, invalid
		}
		ok = !errors.Is(err, account.ErrCodeUsed)
	}
	if !ok {
		return nil, s.codeRefused(ctx, u, http.StatusUnauthorized)
	}
	if err != nil {
		return nil, s.Internal(ctx, "complete mfa challenge", err)
	}
	s.clearMFAAttempts(ctx, u)
	s.recordRecovery(ctx, u, proof)
	org, err := s.deps.Store.GetOrg(ctx, u.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	if org.Closed() || !u.OrgClosedAt.IsZero() {
		return nil, httpapi.OrgClosed()
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionLogin, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"mfa": proofKind(proof)}})
	return s.startSession(ctx, u, org)
}

// challenge answers the password step of a login of a user with
// two-factor sign-in: a one-time challenge, stored hashed, that POST
// /v1/auth/mfa completes within MFAChallengeTTL.
func (s *server) challenge(ctx context.Context, u account.User) (*loginOutput, error) {
	token, hash, err := auth.NewOneTimeToken()
	if err != nil {
		return nil, s.Internal(ctx, "new mfa challenge", err)
	}
	now := s.Now().UTC()
	if err := s.deps.Store.PutAccountToken(ctx, account.OneTimeToken{Hash: hash, Purpose: account.PurposeMFAChallenge, OrgID: u.OrgID,
		UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(account.MFAChallengeTTL)}); err != nil {
		return nil, s.Internal(ctx, "put mfa challenge", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFAChallenge, TargetType: "user", TargetID: u.ID})
	return &loginOutput{Status: http.StatusOK, Body: LoginOut{MFARequired: true, Challenge: token,
		ExpiresIn: int(account.MFAChallengeTTL / time.Second)}}, nil
}

// enrolOnly answers the login of an owner or admin whose org requires
// two-factor sign-in before it is on: an access token that only enrols,
// and no session.
func (s *server) enrolOnly(ctx context.Context, u account.User, org account.Org) (*loginOutput, error) {
	access, err := s.deps.Tokens.IssueEnrolOnly(u, org)
	if err != nil {
		return nil, s.Internal(ctx, "issue enrol-only token", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionLogin, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"limit": auth.LimitMFAEnrol}})
	o, usr := orgOut(org), userOut(u)
	return &loginOutput{Status: http.StatusOK, Body: LoginOut{Org: &o, User: &usr, AccessToken: access, TokenType: "Bearer",
		ExpiresIn: int(auth.AccessTTL / time.Second), MFAEnrolmentRequired: true}}, nil
}

// checkCode checks code against the enrolment: a TOTP code of a step after
// the last one accepted, or (allowRecovery) an unused recovery code. ok
// false is a wrong code; the store's write settles a race between two
// right ones.
func (s *server) checkCode(ctx context.Context, u account.User, m account.MFA, code string, allowRecovery bool) (account.MFAProof, bool, error) {
	code = strings.TrimSpace(code)
	if auth.IsTOTPCode(code) {
		secret, err := s.deps.Sealer.Open(ctx, u.OrgID, m.SealedSecret)
		if err != nil {
			return account.MFAProof{}, false, s.Internal(ctx, "open totp secret", err)
		}
		step, ok := auth.CheckTOTP(string(secret), code, s.Now())
		if !ok || step <= m.LastStep {
			return account.MFAProof{}, false, nil
		}
		return account.MFAProof{Step: step}, true, nil
	}
	if !allowRecovery {
		return account.MFAProof{}, false, nil
	}
	h := auth.HashRecoveryCode(u.ID, code)
	if !slices.Contains(m.RecoveryHashes, h) {
		return account.MFAProof{}, false, nil
	}
	return account.MFAProof{RecoveryHash: h}, true, nil
}

func proofKind(p account.MFAProof) string {
	if p.RecoveryHash != "" {
		return "recovery_code"
	}
	return "totp"
}

// recordRecovery audits the use of a recovery code.
func (s *server) recordRecovery(ctx context.Context, u account.User, p account.MFAProof) {
	if p.RecoveryHash != "" {
		s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFARecoveryUsed, TargetType: "user", TargetID: u.ID})
	}
}

// codeRefused audits a wrong or replayed code and answers status
// invalid_code.
func (s *server) codeRefused(ctx context.Context, u account.User, status int) error {
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFAFailed, TargetType: "user", TargetID: u.ID,
		Outcome: audit.OutcomeFailure})
	return httpapi.NewProblem(status, "invalid_code", "the code is wrong, expired or already used")
}

// takeMFAAttempt counts a code attempt of u before the code is checked,
// as logins count password attempts: 429 once the limit is reached.
func (s *server) takeMFAAttempt(ctx context.Context, u account.User) error {
	allowed, since, err := s.deps.Store.TakeLoginAttempt(ctx, auth.HashMFAAttempts(u.ID), maxLoginFailures, loginWindow)
	if err != nil {
		return s.Internal(ctx, "count mfa attempt", err)
	}
	if allowed {
		return nil
	}
	retry := time.Until(since.Add(loginWindow))
	if retry < time.Second {
		retry = time.Second
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionMFAThrottled, TargetType: "user", TargetID: u.ID,
		Outcome: audit.OutcomeDenied})
	return huma.ErrorWithHeaders(
		httpapi.NewProblem(http.StatusTooManyRequests, "too_many_attempts", "too many wrong codes for this account; try again later"),
		http.Header{"Retry-After": []string{strconv.Itoa(int(retry.Seconds() + 0.5))}})
}

func (s *server) clearMFAAttempts(ctx context.Context, u account.User) {
	if err := s.deps.Store.ClearLoginFailures(ctx, auth.HashMFAAttempts(u.ID)); err != nil {
		s.Log().ErrorContext(ctx, "clear mfa attempts", "err", err)
	}
}

func (s *server) setOrgSecurity(ctx context.Context, in *struct{ Body OrgSecurityIn }) (*struct{ Body OrgSecurityOut }, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, audit.ActionOrgSecuritySet, "org", p.User.OrgID, "only an owner or admin can change the organisation's security settings")
	}
	on := in.Body.MFARequiredForAdmins
	if on && !p.User.MFAEnabled() {
		return nil, httpapi.NewProblem(http.StatusConflict, "mfa_not_enabled", "turn two-factor sign-in on for yourself before requiring it")
	}
	if err := s.deps.Store.SetOrgSecurity(ctx, p.User.OrgID, on); err != nil {
		return nil, s.Internal(ctx, "set org security", err)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: audit.ActionOrgSecuritySet, TargetType: "org", TargetID: p.User.OrgID,
		Details: map[string]string{"mfa_required_for_admins": strconv.FormatBool(on)}})
	return &struct{ Body OrgSecurityOut }{Body: OrgSecurityOut{MFARequiredForAdmins: on}}, nil
}
