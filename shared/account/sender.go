package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/audit"
)

// The org's own sender address: Set asks the email service (SES) to verify
// it (the service mails a link to the address), Get shows where
// verification stands, Release goes back to the platform address. Emails
// go from the address only once the service says it is verified for
// sending after this org asked (From); until then they go from the
// platform address. An address is claimed by one org at a time
// (SenderStore: one claim item per address): a pending claim can be taken
// over by another org, which has the service mail a new link, so nobody can
// hold an address they cannot verify; a verified claim cannot. The org
// whose pending claim was taken over sees its address superseded; setting
// it again claims it back (while the other claim is still pending).

const (
	// senderCheckEvery is how often, at most, the email service is asked
	// about a pending sender address of one org (SES throttles
	// GetEmailIdentity per account).
	senderCheckEvery = time.Minute
	// senderRecheckEvery is how often a verified address is checked again,
	// so an identity removed in the service stops being used.
	senderRecheckEvery = time.Hour
	// senderSetEvery is how often, at most, an org may set its address:
	// each time the service mails a verification link to it.
	senderSetEvery = time.Minute
)

// Identities has the email service verify sender addresses
// (sesmail.Client).
type Identities interface {
	// RequestVerification has the service mail a verification link to
	// addr in an email saying that the Leadluence organisation orgName
	// asks to send from it (creating the identity); verified is true when
	// it may be sent from already. A refused address is an
	// *AddressRefusedError.
	RequestVerification(ctx context.Context, addr, orgName string) (verified bool, err error)
	// IdentityStatus reads where addr's verification stands (failed when
	// the service does not know it).
	IdentityStatus(ctx context.Context, addr string) (SenderStatus, error)
	// DeleteIdentity removes addr; one the service does not know is no
	// error.
	DeleteIdentity(ctx context.Context, addr string) error
}

// OrgReader reads an org (dynamostore.Store).
type OrgReader interface {
	GetOrg(ctx context.Context, orgID string) (Org, error)
}

// Auditor appends to the audit trail, completing the record (id, time,
// where the request came from) and logging a failure rather than
// returning it: the action already happened.
type Auditor interface {
	Record(ctx context.Context, r audit.Record)
}

// DeniedError means the actor's role may not do Action; Reason says why,
// for the actor.
type DeniedError struct {
	Action string
	Reason string
}

// Error implements error.
func (e *DeniedError) Error() string { return e.Action + " denied: " + e.Reason }

// FieldError is a validation failure on one input field.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// TooSoonError means the org set its sender address moments ago; it may
// set it again after Wait.
type TooSoonError struct {
	Wait time.Duration
}

// Error implements error.
func (e *TooSoonError) Error() string {
	return fmt.Sprintf("sender address set moments ago; wait %s", e.Wait)
}

// ErrEmailService means the email service could not be reached or failed;
// the failure is logged (without the address).
var ErrEmailService = errors.New("email service unavailable")

// Sender address actions in the audit trail.
const (
	ActionSenderSet    = "email_sender.set"
	ActionSenderDelete = "email_sender.delete"
)

// SenderService is what an org does with its own sender address and what
// sending asks of it (From). Set and Release are for owners and admins
// (else *DeniedError). Their errors are *DeniedError, *FieldError,
// *TooSoonError, ErrSenderTaken, ErrConflict, ErrNotFound, ErrEmailService
// or a failure of the store.
type SenderService struct {
	Store      SenderStore
	Identities Identities
	// Orgs reads the org, whose name the verification email gives.
	Orgs OrgReader
	// PlatformFrom is the platform sender address: emails of an org without
	// a verified address of its own go from it, and no org may take an
	// address of its domain.
	PlatformFrom string
	Audit        Auditor
	// Log receives the failures that do not fail the request (a status
	// check, removing a released identity) and those of the email service.
	Log *slog.Logger
	// Describe describes an email service error for the logs without the
	// address the service's messages and request URLs carry
	// (sesmail.Describe).
	Describe func(error) string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *SenderService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *SenderService) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *SenderService) describe(err error) string {
	if s.Describe != nil {
		return s.Describe(err)
	}
	return "email service request failed"
}

// serviceFailed logs a failure of the email service and returns
// ErrEmailService.
func (s *SenderService) serviceFailed(ctx context.Context, what string, err error) error {
	s.log().WarnContext(ctx, what, "err", s.describe(err))
	return fmt.Errorf("%s: %w", what, ErrEmailService)
}

// senderAddress checks an address given as sender and returns it
// lower-cased.
func (s *SenderService) senderAddress(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Name != "" || a.Address != raw {
		return "", &FieldError{Field: "email", Message: "must be a plain email address, such as sales@example.com"}
	}
	addr := strings.ToLower(a.Address)
	// SES lets a verified domain send from its subdomains too.
	if platform := domainOf(s.PlatformFrom); platform != "" {
		if d := domainOf(addr); d == platform || strings.HasSuffix(d, "."+platform) {
			return "", &FieldError{Field: "email", Message: "is in the platform's own domain; use an address of your business"}
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

// Set makes email the sender address of the actor's org and has the email
// service verify it: it returns the address as stored, pending until the
// link the service mailed is followed (verified at once when the org had
// verified it itself). Each org may set its address at most once a minute
// (*TooSoonError); another org's verified address is ErrSenderTaken.
//
// The org claims the address first (SenderStore.PutEmailSender), and only
// then, under its own claim, is the email service's identity of the address
// deleted and a new link mailed: an identity is never created or deleted for
// an address the org does not claim. When another org claims the address
// in the same moment, the later claim wins and this one is returned
// superseded, the service untouched.
func (s *SenderService) Set(ctx context.Context, actor User, email string) (EmailSender, error) {
	if !actor.Role.Privileged() {
		return EmailSender{}, &DeniedError{Action: ActionSenderSet, Reason: "only an owner or admin can set the sender address"}
	}
	addr, err := s.senderAddress(email)
	if err != nil {
		return EmailSender{}, err
	}
	org := actor.OrgID
	owner, ownerVerified, err := s.Store.EmailSenderOwner(ctx, addr)
	switch {
	case err != nil:
		return EmailSender{}, fmt.Errorf("read sender owner: %w", err)
	case owner != "" && owner != org && ownerVerified:
		return EmailSender{}, ErrSenderTaken
	}
	prev, err := s.Store.GetEmailSender(ctx, org)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return EmailSender{}, fmt.Errorf("read email sender of org %s: %w", org, err)
	}
	now := s.now().UTC()
	if wait := prev.SetAt.Add(senderSetEvery).Sub(now); err == nil && wait > 0 {
		return EmailSender{}, &TooSoonError{Wait: wait}
	}
	o, err := s.Orgs.GetOrg(ctx, org)
	if err != nil {
		return EmailSender{}, fmt.Errorf("read org %s: %w", org, err)
	}
	snd := EmailSender{OrgID: org, Email: addr, Status: SenderPending, CheckedAt: now, SetBy: actor.ID, SetAt: now}
	// Only a claim this org verified itself stays verified without a link,
	// while the service agrees.
	if owner == org && ownerVerified {
		st, err := s.Identities.IdentityStatus(ctx, addr)
		if err != nil {
			return EmailSender{}, s.serviceFailed(ctx, "read email identity", err)
		}
		if st == SenderVerified {
			snd.Status = SenderVerified
		}
	}
	if err := s.Store.PutEmailSender(ctx, snd, prev.Email); err != nil {
		return EmailSender{}, fmt.Errorf("put email sender of org %s: %w", org, err)
	}
	if snd.Status != SenderVerified {
		if snd.Status, err = s.verifyClaim(ctx, snd, o.Name); err != nil {
			s.undoClaim(ctx, snd, prev)
			return EmailSender{}, err
		}
	}
	if prev.Email != "" && prev.Email != addr {
		s.forgetUnclaimed(ctx, prev.Email)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: org, ActorID: actor.ID, Action: ActionSenderSet, TargetType: "email_sender",
		TargetID: org, Details: map[string]string{"status": string(snd.Status)}})
	return snd, nil
}

// verifyClaim has the email service verify the org's fresh claim snd
// afresh and returns where it stands: provided the org still holds the
// claim, the identity is deleted and the service mails a new link, in an
// email naming the org (orgName), so that only whoever reads that mailbox can verify it (an
// identity another org, or anyone, verified before does not carry over).
// A claim another org took over meanwhile is superseded, the service not
// asked.
func (s *SenderService) verifyClaim(ctx context.Context, snd EmailSender, orgName string) (SenderStatus, error) {
	owner, _, err := s.Store.EmailSenderOwner(ctx, snd.Email)
	if err != nil {
		return "", fmt.Errorf("read sender owner: %w", err)
	}
	if owner != snd.OrgID {
		s.setStatus(ctx, snd, SenderSuperseded)
		return SenderSuperseded, nil
	}
	if err := s.Identities.DeleteIdentity(ctx, snd.Email); err != nil {
		return "", s.serviceFailed(ctx, "delete email identity", err)
	}
	verified, err := s.Identities.RequestVerification(ctx, snd.Email, orgName)
	var refused *AddressRefusedError
	switch {
	case errors.As(err, &refused):
		return "", &FieldError{Field: "email", Message: "was refused by the email service: " + refused.Reason}
	case err != nil:
		return "", s.serviceFailed(ctx, "request email verification", err)
	case verified:
		s.setStatus(ctx, snd, SenderVerified)
		return SenderVerified, nil
	}
	return SenderPending, nil
}

// setStatus records st for the org's address, logging a failure.
func (s *SenderService) setStatus(ctx context.Context, snd EmailSender, st SenderStatus) {
	if err := s.Store.SetEmailSenderStatus(ctx, snd.OrgID, snd.Email, st); err != nil && !errors.Is(err, ErrSenderTaken) {
		s.log().WarnContext(ctx, "record sender status", "err", err)
	}
}

// undoClaim puts back the org's previous address (or none) after the email
// service failed or refused the new claim snd, best effort.
func (s *SenderService) undoClaim(ctx context.Context, snd, prev EmailSender) {
	var err error
	if prev.Email == "" {
		err = s.Store.DeleteEmailSender(ctx, snd.OrgID, snd.Email)
	} else if prev.Email != snd.Email {
		err = s.Store.PutEmailSender(ctx, prev, snd.Email)
	}
	if err != nil {
		s.log().WarnContext(ctx, "undo sender claim", "err", err)
	}
}

// forgetUnclaimed removes an address an org released from the email
// service provided no org claims it (one claim per address, and a
// verified sender always holds its claim, so no other org sends from it
// or waits for its link), best effort: a leftover identity is harmless,
// since no org's claim names it and a new claim always starts with a fresh
// one.
func (s *SenderService) forgetUnclaimed(ctx context.Context, addr string) {
	owner, _, err := s.Store.EmailSenderOwner(ctx, addr)
	if err != nil {
		s.log().WarnContext(ctx, "read owner of released sender address", "err", err)
		return
	}
	if owner != "" {
		return // another org's claim: its identity stays
	}
	if err := s.Identities.DeleteIdentity(ctx, addr); err != nil {
		s.log().WarnContext(ctx, "delete released email identity", "err", s.describe(err))
	}
}

// refresh asks the email service again about a pending address last
// checked over senderCheckEvery ago, or a verified one checked over
// senderRecheckEvery ago (one request per org wins the check). Failures
// are logged and leave the stored status.
func (s *SenderService) refresh(ctx context.Context, snd EmailSender) EmailSender {
	now := s.now().UTC()
	every := senderCheckEvery
	switch snd.Status {
	case SenderPending:
	case SenderVerified:
		every = senderRecheckEvery
	default:
		return snd
	}
	if now.Sub(snd.CheckedAt) < every {
		return snd
	}
	ok, err := s.Store.ClaimEmailSenderCheck(ctx, snd.OrgID, snd.Email, now.Add(-every), now)
	if err != nil || !ok {
		if err != nil {
			s.log().WarnContext(ctx, "claim sender check", "err", err)
		}
		return snd
	}
	snd.CheckedAt = now
	st, err := s.Identities.IdentityStatus(ctx, snd.Email)
	if err != nil {
		s.log().WarnContext(ctx, "check sender address with SES", "err", s.describe(err))
		return snd
	}
	if st != snd.Status {
		switch err := s.Store.SetEmailSenderStatus(ctx, snd.OrgID, snd.Email, st); {
		case errors.Is(err, ErrSenderTaken):
			st = SenderSuperseded // another org took the claim over
		case err != nil:
			s.log().WarnContext(ctx, "record sender status", "err", err)
		}
		snd.Status = st
	}
	return snd
}

// Get returns the org's sender address (ErrNotFound when it set none),
// its status checked with the email service again when due; an address
// another org has claimed since is superseded.
func (s *SenderService) Get(ctx context.Context, orgID string) (EmailSender, error) {
	snd, err := s.Store.GetEmailSender(ctx, orgID)
	if err != nil {
		return EmailSender{}, fmt.Errorf("read email sender of org %s: %w", orgID, err)
	}
	snd = s.refresh(ctx, snd)
	if snd.Status == SenderPending || snd.Status == SenderFailed {
		owner, _, err := s.Store.EmailSenderOwner(ctx, snd.Email)
		if err != nil {
			return EmailSender{}, fmt.Errorf("read sender owner: %w", err)
		}
		if owner != orgID {
			snd.Status = SenderSuperseded
		}
	}
	return snd, nil
}

// Release goes back to the platform address for the actor's org
// (ErrNotFound when it set none) and removes the address from the email
// service unless another org's claim took it.
func (s *SenderService) Release(ctx context.Context, actor User) error {
	if !actor.Role.Privileged() {
		return &DeniedError{Action: ActionSenderDelete, Reason: "only an owner or admin can change the sender address"}
	}
	org := actor.OrgID
	cur, err := s.Store.GetEmailSender(ctx, org)
	if err != nil {
		return fmt.Errorf("read email sender of org %s: %w", org, err)
	}
	if err := s.Store.DeleteEmailSender(ctx, org, cur.Email); err != nil {
		return fmt.Errorf("delete email sender of org %s: %w", org, err)
	}
	// Released: remove the identity unless another org's claim took it.
	s.forgetUnclaimed(ctx, cur.Email)
	s.Audit.Record(ctx, audit.Record{OrgID: org, ActorID: actor.ID, Action: ActionSenderDelete, TargetType: "email_sender", TargetID: org})
	return nil
}

// From returns the From of an org's email to a lead: the org's own address
// once verified, with the org's name as display name (never free text, so
// an org cannot pose as someone else). Without a verified address it is
// ErrNoVerifiedSender: the platform address is for the platform's own mail
// (policy notices, verification), never for an org's mail to people.
// Replies never go to an address the org has not verified, which could be
// anyone's.
func (s *SenderService) From(ctx context.Context, org Org) (mail.Address, error) {
	snd, err := s.Store.GetEmailSender(ctx, org.ID)
	if errors.Is(err, ErrNotFound) {
		return mail.Address{}, ErrNoVerifiedSender
	}
	if err != nil {
		return mail.Address{}, fmt.Errorf("read email sender of org %s: %w", org.ID, err)
	}
	if snd = s.refresh(ctx, snd); snd.Status != SenderVerified {
		return mail.Address{}, ErrNoVerifiedSender
	}
	return mail.Address{Name: org.Name, Address: snd.Email}, nil
}
