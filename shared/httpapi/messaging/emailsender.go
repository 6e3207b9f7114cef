package messaging

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/smithy-go"
	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
)

// The org's own sender address: PUT asks SES to verify it (SES mails a link
// to the address), GET shows where verification stands, DELETE goes back to
// the platform address. Emails go from the address only once SES says it is
// verified for sending after this org asked (emailFrom); until then they go
// from the platform address. An address is claimed by one org at a time
// (account.SenderStore): a pending claim can be taken over
// by another org, which has SES mail a new link, so nobody can hold an
// address they cannot verify; a verified claim cannot.

const (
	// senderCheckEvery is how often, at most, SES is asked about a pending
	// sender address of one org (GetEmailIdentity is throttled per account).
	senderCheckEvery = time.Minute
	// senderRecheckEvery is how often a verified address is checked again,
	// so an identity removed in SES stops being used.
	senderRecheckEvery = time.Hour
	// senderSetEvery is how often, at most, an org may set its address:
	// each time SES mails a verification link to it.
	senderSetEvery = time.Minute
)

// EmailSenderStore is what the sender-address routes need from storage:
// account.SenderStore (dynamostore.Store).
type EmailSenderStore interface {
	account.SenderStore
}

// EmailIdentities has the email service verify sender addresses
// (sesmail.Client).
type EmailIdentities interface {
	// CreateIdentity has the service mail a verification link to addr;
	// verified is true when it may be sent from already. A refused address
	// is an *account.AddressRefusedError.
	CreateIdentity(ctx context.Context, addr string) (verified bool, err error)
	// IdentityStatus reads where addr's verification stands (failed when
	// the service does not know it).
	IdentityStatus(ctx context.Context, addr string) (account.SenderStatus, error)
	// DeleteIdentity removes addr; one the service does not know is no
	// error.
	DeleteIdentity(ctx context.Context, addr string) error
}

// EmailSenderDeps are the collaborators of the sender-address routes.
type EmailSenderDeps struct {
	Store EmailSenderStore
	SES   EmailIdentities
	// PlatformFrom is the platform sender address (Deps.EmailFrom):
	// no org may take an address of its domain.
	PlatformFrom string
}

// SenderIn sets the org's sender address.
type SenderIn struct {
	Email string `json:"email" minLength:"3" maxLength:"254" doc:"The address to send from; SES mails a verification link to it."`
	Name  string `json:"name,omitempty" maxLength:"100" doc:"Display name; default the organisation's name."`
}

// SenderOut is the org's sender address and where its verification stands.
type SenderOut struct {
	Email     string     `json:"email"`
	Name      string     `json:"name" doc:"Display name; empty means the organisation's name."`
	Status    string     `json:"status" enum:"pending,verified,failed" doc:"pending: waiting for the link SES mailed to be followed; verified: emails go from this address; failed: verification failed or expired, set the address again."`
	CheckedAt *time.Time `json:"checked_at" doc:"When SES was last asked."`
}

type senderOutput struct{ Body SenderOut }

func senderOut(snd account.EmailSender) SenderOut {
	out := SenderOut{Email: snd.Email, Name: snd.Name, Status: string(snd.Status)}
	if !snd.CheckedAt.IsZero() {
		t := snd.CheckedAt.UTC().Truncate(time.Second) // stored to the second
		out.CheckedAt = &t
	}
	return out
}

func (s *server) registerEmailSender(api huma.API) {
	if s.deps.EmailSender == nil {
		return
	}
	huma.Register(api, huma.Operation{
		OperationID: "set-email-sender", Method: http.MethodPut, Path: "/v1/email/sender", Tags: []string{"email"},
		Summary: "Send the organisation's emails from its own address (owner, admin)",
		Description: "Asks SES to verify the address: SES mails a link to it, and emails go from it once the link is followed " +
			"(status verified). Until then emails go from the platform address. Setting an address again (at most once a " +
			"minute) mails a new link. Another organisation's verified address is 409 sender_taken; one it has not verified " +
			"yet can be taken over, and the link then goes out for this organisation.",
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
		Description:   "Emails go from the platform address with the organisation's name again; the address is released and removed from SES.",
		DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deleteEmailSender)
}

// senderAddress checks an address given as sender and returns it
// lower-cased.
func (s *server) senderAddress(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Name != "" || a.Address != raw {
		return "", httpapi.FieldProblem("email", "must be a plain email address, such as sales@example.com")
	}
	addr := strings.ToLower(a.Address)
	// SES lets a verified domain send from its subdomains too.
	if platform := domainOf(s.deps.EmailSender.PlatformFrom); platform != "" {
		if d := domainOf(addr); d == platform || strings.HasSuffix(d, "."+platform) {
			return "", httpapi.FieldProblem("email", "is in the platform's own domain; use an address of your business")
		}
	}
	return addr, nil
}

func domainOf(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	_, domain, _ := strings.Cut(addr, "@")
	return strings.ToLower(domain)
}

func (s *server) setEmailSender(ctx context.Context, in *struct{ Body SenderIn }) (*senderOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "email_sender.set", "email_sender", p.User.OrgID, "only an owner or admin can set the sender address")
	}
	d := s.deps.EmailSender
	addr, err := s.senderAddress(in.Body.Email)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Body.Name)
	if strings.ContainsFunc(name, unicode.IsControl) {
		return nil, httpapi.FieldProblem("name", "must not contain control characters or line breaks")
	}
	taken := func() error {
		return httpapi.NewProblem(http.StatusConflict, "sender_taken", "another organisation sends from this address")
	}
	owner, ownerVerified, err := d.Store.EmailSenderOwner(ctx, addr)
	switch {
	case err != nil:
		return nil, s.Internal(ctx, "read sender owner", err)
	case owner != "" && owner != p.User.OrgID && ownerVerified:
		return nil, taken()
	}
	prev, err := d.Store.GetEmailSender(ctx, p.User.OrgID)
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		return nil, s.Internal(ctx, "read email sender", err)
	}
	now := s.Now().UTC()
	if wait := prev.SetAt.Add(senderSetEvery).Sub(now); err == nil && wait > 0 {
		return nil, huma.ErrorWithHeaders(
			httpapi.NewProblem(http.StatusTooManyRequests, "too_many_requests", "the sender address was set moments ago; each time SES mails a new link, so wait a minute"),
			http.Header{"Retry-After": []string{strconv.Itoa(int(wait.Seconds()) + 1)}})
	}
	// Only a claim this org verified itself stays verified without a link.
	st, err := s.verifyIdentity(ctx, addr, owner == p.User.OrgID && ownerVerified)
	if err != nil {
		return nil, err
	}
	snd := account.EmailSender{OrgID: p.User.OrgID, Email: addr, Name: name, Status: st, CheckedAt: now, SetBy: p.User.ID, SetAt: now}
	switch err := d.Store.PutEmailSender(ctx, snd, prev.Email); {
	case errors.Is(err, account.ErrSenderTaken):
		return nil, taken()
	case errors.Is(err, account.ErrConflict):
		return nil, httpapi.NewProblem(http.StatusConflict, "changed_concurrently", "the sender address was changed at the same moment; read it and try again")
	case err != nil:
		return nil, s.Internal(ctx, "put email sender", err)
	}
	if prev.Email != "" && prev.Email != addr {
		s.forgetIdentity(ctx, prev.Email)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "email_sender.set", TargetType: "email_sender",
		TargetID: p.User.OrgID, Details: map[string]string{"status": string(st)}})
	return &senderOutput{Body: senderOut(snd)}, nil
}

// forgetIdentity removes an address the org released from SES, best
// effort: a leftover identity is harmless, since no org's claim names it
// and a new claim always starts with a fresh one.
func (s *server) forgetIdentity(ctx context.Context, addr string) {
	if err := s.deps.EmailSender.SES.DeleteIdentity(ctx, addr); err != nil {
		s.Log().WarnContext(ctx, "delete released email identity", "err", sesFailure(err))
	}
}

// verifyIdentity has SES verify addr for this org and returns where it
// stands. A claim the org verified itself (ownVerified) stays verified while
// SES agrees. Any other claim starts afresh: the identity is deleted and
// created again, so that SES mails a new link to the address and only
// whoever reads that mailbox can verify it (an identity another org, or
// anyone, verified before does not carry over).
func (s *server) verifyIdentity(ctx context.Context, addr string, ownVerified bool) (account.SenderStatus, error) {
	ses := s.deps.EmailSender.SES
	if ownVerified {
		st, err := ses.IdentityStatus(ctx, addr)
		if err != nil {
			return "", s.sesUnavailable(ctx, "read email identity", err)
		}
		if st == account.SenderVerified {
			return st, nil
		}
	}
	if err := ses.DeleteIdentity(ctx, addr); err != nil {
		return "", s.sesUnavailable(ctx, "delete email identity", err)
	}
	verified, err := ses.CreateIdentity(ctx, addr)
	var refused *account.AddressRefusedError
	switch {
	case errors.As(err, &refused):
		return "", httpapi.FieldProblem("email", "was refused by the email service: "+refused.Reason)
	case err != nil:
		return "", s.sesUnavailable(ctx, "create email identity", err)
	case verified:
		return account.SenderVerified, nil
	}
	return account.SenderPending, nil
}

func (s *server) sesUnavailable(ctx context.Context, what string, err error) error {
	s.Log().WarnContext(ctx, what, "err", sesFailure(err))
	return httpapi.NewProblem(http.StatusBadGateway, "email_service_unavailable", "could not reach the email service; try again")
}

// sesFailure describes an SES error for the logs without the address that
// SES messages and request URLs (percent-encoded) carry: the error code, or
// that the request did not get an answer.
func sesFailure(err error) string {
	var api smithy.APIError
	switch {
	case errors.As(err, &api):
		return "ses error " + api.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "ses request timed out"
	case errors.Is(err, context.Canceled):
		return "ses request cancelled"
	}
	return "ses request failed without an answer"
}

// refreshSender asks SES again about a pending address last checked over
// senderCheckEvery ago, or a verified one checked over senderRecheckEvery
// ago (one request per org wins the check). Failures are logged and leave
// the stored status.
func (s *server) refreshSender(ctx context.Context, snd account.EmailSender) account.EmailSender {
	now := s.Now().UTC()
	every := senderCheckEvery
	switch snd.Status {
	case account.SenderPending:
	case account.SenderVerified:
		every = senderRecheckEvery
	default:
		return snd
	}
	if now.Sub(snd.CheckedAt) < every {
		return snd
	}
	d := s.deps.EmailSender
	ok, err := d.Store.ClaimEmailSenderCheck(ctx, snd.OrgID, snd.Email, now.Add(-every), now)
	if err != nil || !ok {
		if err != nil {
			s.Log().WarnContext(ctx, "claim sender check", "err", err)
		}
		return snd
	}
	snd.CheckedAt = now
	st, err := d.SES.IdentityStatus(ctx, snd.Email)
	if err != nil {
		s.Log().WarnContext(ctx, "check sender address with SES", "err", sesFailure(err))
		return snd
	}
	if st != snd.Status {
		switch err := d.Store.SetEmailSenderStatus(ctx, snd.OrgID, snd.Email, st); {
		case errors.Is(err, account.ErrSenderTaken):
			st = account.SenderFailed // another org took the claim over
		case err != nil:
			s.Log().WarnContext(ctx, "record sender status", "err", err)
		}
		snd.Status = st
	}
	return snd
}

func (s *server) getEmailSender(ctx context.Context, _ *struct{}) (*senderOutput, error) {
	snd, err := s.deps.EmailSender.Store.GetEmailSender(ctx, httpapi.Caller(ctx).User.OrgID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NewProblem(http.StatusNotFound, "not_found", "the organisation has no sender address of its own; emails go from the platform address")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read email sender", err)
	}
	return &senderOutput{Body: senderOut(s.refreshSender(ctx, snd))}, nil
}

func (s *server) deleteEmailSender(ctx context.Context, _ *struct{}) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "email_sender.delete", "email_sender", p.User.OrgID, "only an owner or admin can change the sender address")
	}
	d := s.deps.EmailSender
	cur, err := d.Store.GetEmailSender(ctx, p.User.OrgID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("sender address")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read email sender", err)
	}
	switch err := d.Store.DeleteEmailSender(ctx, p.User.OrgID, cur.Email); {
	case errors.Is(err, account.ErrConflict):
		return nil, httpapi.NewProblem(http.StatusConflict, "changed_concurrently", "the sender address was changed at the same moment; read it and try again")
	case err != nil:
		return nil, s.Internal(ctx, "delete email sender", err)
	}
	// Released: remove the identity unless another org's claim took it.
	if owner, _, err := d.Store.EmailSenderOwner(ctx, cur.Email); err == nil && owner == "" {
		s.forgetIdentity(ctx, cur.Email)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "email_sender.delete", TargetType: "email_sender", TargetID: p.User.OrgID})
	return nil, nil
}

// emailFrom returns the From of an org's email: the org's own address once
// verified, else the platform address with the org's name as display name.
// Replies never go to an address the org has not verified, which could be
// anyone's.
func (s *server) emailFrom(ctx context.Context, org account.Org) (mail.Address, error) {
	platform := mail.Address{Name: org.Name, Address: s.deps.EmailFrom}
	if s.deps.EmailSender == nil {
		return platform, nil
	}
	snd, err := s.deps.EmailSender.Store.GetEmailSender(ctx, org.ID)
	if errors.Is(err, account.ErrNotFound) {
		return platform, nil
	}
	if err != nil {
		return mail.Address{}, s.Internal(ctx, "read email sender", err)
	}
	if snd = s.refreshSender(ctx, snd); snd.Status != account.SenderVerified {
		return platform, nil
	}
	name := snd.Name
	if name == "" {
		name = org.Name
	}
	return mail.Address{Name: name, Address: snd.Email}, nil
}
