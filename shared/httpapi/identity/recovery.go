package identity

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
)

// PasswordResetIn asks for a password reset link.
type PasswordResetIn struct {
	Email string `json:"email" maxLength:"254"`
}

// PasswordResetConfirmIn sets a new password with a reset link's token.
type PasswordResetConfirmIn struct {
	Token    string `json:"token" maxLength:"128" doc:"The token of the password reset link."`
	Password string `json:"password" minLength:"10" maxLength:"256" doc:"At least 10 characters."`
}

// VerifyEmailIn verifies an email with a verification link's token.
type VerifyEmailIn struct {
	Token string `json:"token" maxLength:"128" doc:"The token of the verification link."`
}

// Limits of the mail the recovery routes send: password reset links per
// email, verification links per user, each in an hour (attemptWindow).
// Requests per client address are counted before the routes run
// (httpapi.DefaultClientLimits).
const (
	resetsPerEmail   = 3
	verificationsPer = 5
)

type acceptedOutput struct {
	Status int
}

func (s *server) registerRecovery(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "request-password-reset", Method: http.MethodPost, Path: "/v1/auth/password-reset", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Mail a password reset link", DefaultStatus: http.StatusAccepted, MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "Always 202, whether or not the email has an account, so the answer reveals nothing. An account gets a one-time link, valid 1 hour " +
			"(at most 3 an hour per email; more are dropped silently). More than 20 requests an hour from one client address are 429.",
		Errors: []int{http.StatusTooManyRequests},
	}, s.requestPasswordReset)
	huma.Register(api, huma.Operation{
		OperationID: "confirm-password-reset", Method: http.MethodPost, Path: "/v1/auth/password-reset/confirm", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Set a new password with a reset link's token", DefaultStatus: http.StatusNoContent, MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "The token works once. Every session of the user is revoked (refresh tokens and the access tokens issued before); log in again.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.confirmPasswordReset)
	huma.Register(api, huma.Operation{
		OperationID: "verify-email", Method: http.MethodPost, Path: "/v1/auth/verify-email", Tags: []string{"auth"}, Security: httpapi.PublicSecurity,
		Summary: "Verify a user's email with a verification link's token", DefaultStatus: http.StatusNoContent, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusTooManyRequests},
	}, s.verifyEmail)
	huma.Register(api, huma.Operation{
		OperationID: "resend-verification", Method: http.MethodPost, Path: "/v1/auth/verify-email/resend", Tags: []string{"auth"},
		Summary: "Mail the caller a new email verification link", DefaultStatus: http.StatusAccepted, Security: httpapi.BearerSecurity,
		Description: "409 already_verified when the email is verified; at most 5 an hour (429).",
		Errors:      []int{http.StatusConflict, http.StatusTooManyRequests, http.StatusBadGateway},
	}, s.resendVerification)
}

func (s *server) requestPasswordReset(ctx context.Context, in *struct{ Body PasswordResetIn }) (*acceptedOutput, error) {
	accepted := &acceptedOutput{Status: http.StatusAccepted}
	email := normalizeEmail(in.Body.Email)
	emailHash := auth.HashEmail(email)
	ok, err := s.deps.Store.TakeAccountAttempt(ctx, auth.HashAttemptKey("reset-email", email), resetsPerEmail, attemptWindow)
	if err != nil {
		return nil, s.Internal(ctx, "count password resets", err)
	}
	if !ok {
		s.Record(ctx, audit.Record{OrgID: "platform", Action: audit.ActionPasswordResetThrottled, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"email_hash": emailHash}})
		return accepted, nil
	}
	u, err := s.deps.Store.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		return nil, s.Internal(ctx, "find user", err)
	}
	if err != nil || !u.Active || !u.OrgClosedAt.IsZero() {
		s.Record(ctx, audit.Record{OrgID: "platform", Action: audit.ActionPasswordResetRequest, Outcome: audit.OutcomeFailure,
			Details: map[string]string{"email_hash": emailHash, "reason": "no_active_account"}})
		return accepted, nil
	}
	token, hash, err := auth.NewOneTimeToken()
	if err != nil {
		return nil, s.Internal(ctx, "new reset token", err)
	}
	now := s.Now().UTC()
	t := account.OneTimeToken{Hash: hash, Purpose: account.PurposePasswordReset, OrgID: u.OrgID, UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(account.PasswordResetTTL)}
	if err := s.deps.Store.PutAccountToken(ctx, t); err != nil {
		return nil, s.Internal(ctx, "store reset token", err)
	}
	rec := audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionPasswordResetRequest, TargetType: "user", TargetID: u.ID}
	if err := s.deps.Mail.passwordReset(ctx, u, token, t.ExpiresAt); err != nil {
		// Still 202: a different answer would tell that the email has an
		// account.
		s.Log().ErrorContext(ctx, "mail password reset", "user", u.ID, "err", err)
		rec.Outcome, rec.Details = audit.OutcomeFailure, map[string]string{"reason": "email_failed"}
	}
	s.Record(ctx, rec)
	return accepted, nil
}

func (s *server) confirmPasswordReset(ctx context.Context, in *struct{ Body PasswordResetConfirmIn }) (*struct{}, error) {
	t, err := s.liveToken(ctx, in.Body.Token, account.PurposePasswordReset)
	if err != nil {
		return nil, err
	}
	u, err := s.deps.Store.GetUser(ctx, t.OrgID, t.UserID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && (!u.Active || !u.OrgClosedAt.IsZero())) {
		return nil, invalidToken()
	}
	if err != nil {
		return nil, s.Internal(ctx, "read user", err)
	}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, s.Internal(ctx, "hash password", err)
	}
	// Access tokens issued until now are refused (auth.Tokens.Issue dates
	// those issued after it later, also within this second).
	now := s.Now().UTC()
	switch err := s.deps.Store.ResetPassword(ctx, t, hash, now, now); {
	case errors.Is(err, account.ErrTokenInvalid), errors.Is(err, account.ErrNotFound):
		return nil, invalidToken()
	case err != nil:
		return nil, s.Internal(ctx, "reset password", err)
	}
	if err := s.deps.Store.RevokeAllSessions(ctx, u.ID); err != nil {
		return nil, s.Internal(ctx, "revoke sessions", err)
	}
	if err := s.deps.Store.ClearLoginFailures(ctx, auth.HashEmail(u.Email)); err != nil {
		s.Log().ErrorContext(ctx, "clear login failures", "err", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionPasswordReset, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"sessions": "revoked"}})
	return nil, nil
}

func (s *server) verifyEmail(ctx context.Context, in *struct{ Body VerifyEmailIn }) (*struct{}, error) {
	t, err := s.liveToken(ctx, in.Body.Token, account.PurposeVerifyEmail)
	if err != nil {
		return nil, err
	}
	switch err := s.deps.Store.VerifyEmail(ctx, t, s.Now().UTC()); {
	case errors.Is(err, account.ErrTokenInvalid), errors.Is(err, account.ErrNotFound):
		return nil, invalidToken()
	case err != nil:
		return nil, s.Internal(ctx, "verify email", err)
	}
	s.Record(ctx, audit.Record{OrgID: t.OrgID, ActorID: t.UserID, Action: audit.ActionEmailVerified, TargetType: "user", TargetID: t.UserID})
	return nil, nil
}

func (s *server) resendVerification(ctx context.Context, _ *struct{}) (*acceptedOutput, error) {
	p := httpapi.Caller(ctx)
	if p.User.EmailVerified() {
		return nil, httpapi.NewProblem(http.StatusConflict, "already_verified", "your email address is verified already")
	}
	ok, err := s.deps.Store.TakeAccountAttempt(ctx, auth.HashAttemptKey("verify-user", p.User.ID), verificationsPer, attemptWindow)
	if err != nil {
		return nil, s.Internal(ctx, "count verification mails", err)
	}
	if !ok {
		return nil, tooMany("too many verification emails in the last hour; try again later")
	}
	if err := s.sendVerification(ctx, p.User); err != nil {
		return nil, httpapi.NewProblem(http.StatusBadGateway, "email_failed", "the verification email could not be sent; try again")
	}
	return &acceptedOutput{Status: http.StatusAccepted}, nil
}

// sendVerification stores a verification token for u and mails its link;
// failures are logged (and returned) but never undo what made the user.
func (s *server) sendVerification(ctx context.Context, u account.User) error {
	token, hash, err := auth.NewOneTimeToken()
	if err != nil {
		s.Log().ErrorContext(ctx, "new verification token", "err", err)
		return err
	}
	now := s.Now().UTC()
	t := account.OneTimeToken{Hash: hash, Purpose: account.PurposeVerifyEmail, OrgID: u.OrgID, UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(account.VerifyEmailTTL)}
	if err := s.deps.Store.PutAccountToken(ctx, t); err != nil {
		s.Log().ErrorContext(ctx, "store verification token", "user", u.ID, "err", err)
		return err
	}
	rec := audit.Record{OrgID: u.OrgID, ActorID: httpapi.Caller(ctx).User.ID, Action: audit.ActionEmailVerificationSent, TargetType: "user", TargetID: u.ID}
	if rec.ActorID == "" {
		rec.ActorID = u.ID
	}
	err = s.deps.Mail.verification(ctx, u, token, t.ExpiresAt)
	if err != nil {
		s.Log().ErrorContext(ctx, "mail verification", "user", u.ID, "err", err)
		rec.Outcome, rec.Details = audit.OutcomeFailure, map[string]string{"reason": "email_failed"}
	}
	s.Record(ctx, rec)
	return err
}
