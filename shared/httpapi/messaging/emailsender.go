package messaging

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/httpapi"
)

// The org's own sender address: PUT asks SES to verify it, GET shows where
// verification stands, DELETE goes back to the platform address; emails go
// from it once verified. The rules are account.SenderService's; the
// handlers decode, call it and encode.

// Senders is what the sender-address routes and email sends need of
// account.SenderService.
type Senders interface {
	Set(ctx context.Context, actor account.User, email string) (account.EmailSender, error)
	Get(ctx context.Context, orgID string) (account.EmailSender, error)
	Release(ctx context.Context, actor account.User) error
	From(ctx context.Context, org account.Org) (mail.Address, error)
}

// SenderIn sets the org's sender address.
type SenderIn struct {
	Email string `json:"email" minLength:"3" maxLength:"254" doc:"The address to send from; SES mails a verification link to it. Emails go from it with the organisation's name as display name."`
}

// SenderOut is the org's sender address and where its verification stands.
type SenderOut struct {
	Email     string     `json:"email"`
	Status    string     `json:"status" enum:"pending,verified,failed,superseded" doc:"pending: waiting for the link SES mailed to be followed; verified: emails go from this address; failed: verification failed or expired, set the address again; superseded: another organisation claimed the address while this one's claim was pending, so the link now verifies that organisation's claim (set the address again to claim it back while the other claim is pending, or set another one)."`
	CheckedAt *time.Time `json:"checked_at" doc:"When SES was last asked."`
}

type senderOutput struct{ Body SenderOut }

func senderOut(snd account.EmailSender) SenderOut {
	out := SenderOut{Email: snd.Email, Status: string(snd.Status)}
	if !snd.CheckedAt.IsZero() {
		t := snd.CheckedAt.UTC().Truncate(time.Second) // stored to the second
		out.CheckedAt = &t
	}
	return out
}

func (s *server) registerEmailSender(api huma.API) {
	if s.deps.Senders == nil {
		return
	}
	huma.Register(api, huma.Operation{
		OperationID: "set-email-sender", Method: http.MethodPut, Path: "/v1/email/sender", Tags: []string{"email"},
		Summary: "Send the organisation's emails from its own address (owner, admin)",
		Description: "Asks SES to verify the address: SES mails a link to it, and emails go from it once the link is followed " +
			"(status verified), with the organisation's name as display name. Until then emails to leads are refused (409 " +
			"no_verified_sender). Setting an address again (at most once a " +
			"minute) mails a new link. Another organisation's verified address is 409 sender_taken; one it has not verified " +
			"yet can be taken over (that organisation then sees its address superseded), and the link then goes out for this organisation. " +
			"Two claims at the same moment: one may answer 409 changed_concurrently; of two that succeed the later wins and the earlier reads superseded.",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusBadGateway},
	}, s.setEmailSender)
	huma.Register(api, huma.Operation{
		OperationID: "get-email-sender", Method: http.MethodGet, Path: "/v1/email/sender", Tags: []string{"email"},
		Summary: "The organisation's sender address and its verification status",
		Description: "A pending address is checked with SES again at most once a minute, a verified one hourly. " +
			"404 when the organisation set none.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusNotFound},
	}, s.getEmailSender)
	huma.Register(api, huma.Operation{
		OperationID: "delete-email-sender", Method: http.MethodDelete, Path: "/v1/email/sender", Tags: []string{"email"},
		Summary:       "Go back to the platform sender address (owner, admin)",
		Description:   "Emails to leads are refused (409 no_verified_sender) until another address is verified; the address is released and removed from SES.",
		DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deleteEmailSender)
}

// senderProblem maps an error of account.SenderService to a problem: a
// denial is recorded (Kit.Deny) and answered 403; any error it does not
// know is logged as what and answered 500.
func (s *server) senderProblem(ctx context.Context, what string, err error) error {
	var de *account.DeniedError
	var fe *account.FieldError
	var soon *account.TooSoonError
	switch {
	case errors.As(err, &de):
		return s.Deny(ctx, de.Action, "email_sender", httpapi.Caller(ctx).User.OrgID, de.Reason)
	case errors.As(err, &fe):
		return httpapi.FieldProblem(fe.Field, fe.Message)
	case errors.As(err, &soon):
		return huma.ErrorWithHeaders(
			httpapi.NewProblem(http.StatusTooManyRequests, "too_many_requests", "the sender address was set moments ago; each time SES mails a new link, so wait a minute"),
			http.Header{"Retry-After": []string{strconv.Itoa(int(soon.Wait.Seconds()) + 1)}})
	case errors.Is(err, account.ErrSenderTaken):
		return httpapi.NewProblem(http.StatusConflict, "sender_taken", "another organisation sends from this address")
	case errors.Is(err, account.ErrConflict):
		return httpapi.NewProblem(http.StatusConflict, "changed_concurrently", "the sender address was changed at the same moment; read it and try again")
	case errors.Is(err, account.ErrEmailService):
		return httpapi.NewProblem(http.StatusBadGateway, "email_service_unavailable", "could not reach the email service; try again")
	}
	return s.Internal(ctx, what, err)
}

func (s *server) setEmailSender(ctx context.Context, in *struct{ Body SenderIn }) (*senderOutput, error) {
	snd, err := s.deps.Senders.Set(ctx, httpapi.Caller(ctx).User, in.Body.Email)
	if err != nil {
		return nil, s.senderProblem(ctx, "set email sender", err)
	}
	return &senderOutput{Body: senderOut(snd)}, nil
}

func (s *server) getEmailSender(ctx context.Context, _ *struct{}) (*senderOutput, error) {
	snd, err := s.deps.Senders.Get(ctx, httpapi.Caller(ctx).User.OrgID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NewProblem(http.StatusNotFound, "not_found", "the organisation has no sender address of its own; set one with PUT /v1/email/sender before emailing leads")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read email sender", err)
	}
	return &senderOutput{Body: senderOut(snd)}, nil
}

func (s *server) deleteEmailSender(ctx context.Context, _ *struct{}) (*struct{}, error) {
	err := s.deps.Senders.Release(ctx, httpapi.Caller(ctx).User)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("sender address")
	}
	if err != nil {
		return nil, s.senderProblem(ctx, "delete email sender", err)
	}
	return nil, nil
}

// errNoVerifiedSender refuses an email to a lead of an org without a
// verified sender address of its own.
var errNoVerifiedSender = httpapi.NewProblem(http.StatusConflict, "no_verified_sender",
	"the organisation has no verified sender address, and emails to leads never go from the platform address: "+
		"an owner or admin sets one with PUT /v1/email/sender, and emails can be sent once the link SES mails to it is "+
		"followed (GET /v1/email/sender shows status verified)")

// emailFrom returns the From of an org's email to a lead
// (account.SenderService.From): the org's own verified address with the
// org's name, else the no_verified_sender problem.
func (s *server) emailFrom(ctx context.Context, org account.Org) (mail.Address, error) {
	if s.deps.Senders == nil {
		return mail.Address{}, errNoVerifiedSender
	}
	from, err := s.deps.Senders.From(ctx, org)
	if errors.Is(err, account.ErrNoVerifiedSender) {
		return mail.Address{}, errNoVerifiedSender
	}
	if err != nil {
		return mail.Address{}, s.Internal(ctx, "read email sender", err)
	}
	return from, nil
}
