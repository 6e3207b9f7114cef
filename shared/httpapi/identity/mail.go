package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/outbound"
)

// PlatformMail is how the identity routes mail users: always from the
// platform address, never from an org's sender, with a one-time link into
// the app.
type PlatformMail struct {
	Mailer Mailer
	// From is the platform sender address (LEADLUENCE_EMAIL_FROM).
	From string
	// AppBaseURL is the web app's base URL; links are AppBaseURL + a path
	// + "#token=" + the token (a fragment: browsers send it to no server,
	// so the token stays out of access logs and Referer headers).
	AppBaseURL string
	// Describe describes a send error for the logs without the address
	// (sesmail.Describe).
	Describe func(error) string
}

// Paths in the app that the links open.
const (
	pathAcceptInvitation = "/invitations/accept"
	pathResetPassword    = "/password-reset"
	pathVerifyEmail      = "/verify-email"
)

func (m PlatformMail) link(path, token string) string {
	return strings.TrimRight(m.AppBaseURL, "/") + path + "#token=" + token
}

// oneLine keeps a name typed by a user on one line of a subject.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// send mails text; kind names the mail in errors, which never carry the
// address, the subject (it names people) or the link.
func (m PlatformMail) send(ctx context.Context, kind, to, subject, text string) error {
	if m.Mailer == nil {
		return fmt.Errorf("send %s mail: no mailer", kind)
	}
	_, err := m.Mailer.SendEmail(ctx, outbound.Email{From: m.From, To: to, Subject: subject, Text: text})
	if err != nil {
		return fmt.Errorf("send %s mail: %s", kind, m.describe(err))
	}
	return nil
}

func (m PlatformMail) describe(err error) string {
	if m.Describe != nil {
		return m.Describe(err)
	}
	return "send failed"
}

func day(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 MST") }

// invitation mails inv's one-time link to the invitee.
func (m PlatformMail) invitation(ctx context.Context, inv account.Invitation, org account.Org, inviter account.User, token string) error {
	subject := oneLine(inviter.Name) + " invited you to " + oneLine(org.Name) + " on Leadluence"
	text := fmt.Sprintf("%s invited you to join %s on Leadluence as %s.\n\n"+
		"Accept the invitation and choose your password:\n%s\n\n"+
		"The link works once and expires on %s. If you did not expect this invitation, ignore this email.\n",
		oneLine(inviter.Name), oneLine(org.Name), inv.Role, m.link(pathAcceptInvitation, token), day(inv.ExpiresAt))
	return m.send(ctx, "invitation", inv.Email, subject, text)
}

// passwordReset mails a one-time password reset link.
func (m PlatformMail) passwordReset(ctx context.Context, u account.User, token string, expires time.Time) error {
	text := fmt.Sprintf("Someone asked to reset the password of your Leadluence account.\n\n"+
		"Choose a new password:\n%s\n\n"+
		"The link works once and expires on %s. Every session of your account is signed out when you use it. "+
		"If you did not ask for this, ignore this email: your password stays as it is.\n",
		m.link(pathResetPassword, token), day(expires))
	return m.send(ctx, "password reset", u.Email, "Reset your Leadluence password", text)
}

// verification mails a one-time email verification link.
func (m PlatformMail) verification(ctx context.Context, u account.User, token string, expires time.Time) error {
	text := fmt.Sprintf("Confirm that this is your email address for Leadluence:\n%s\n\n"+
		"The link works once and expires on %s. If you did not create a Leadluence account, ignore this email.\n",
		m.link(pathVerifyEmail, token), day(expires))
	return m.send(ctx, "verification", u.Email, "Confirm your email address for Leadluence", text)
}
