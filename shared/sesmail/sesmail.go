// Package sesmail is the SES v2 adapter: it sends emails (outbound.Mailer)
// and has SES verify the addresses orgs send from (email identities, with a
// custom verification email naming the org). Every
// SES call of the platform is here; the callers see plain addresses,
// statuses and errors.
package sesmail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/plan"
)

var _ outbound.Mailer = (*Client)(nil)

// API is the part of the SES v2 client (sesv2.Client) the adapter calls.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	CreateCustomVerificationEmailTemplate(ctx context.Context, in *sesv2.CreateCustomVerificationEmailTemplateInput, opts ...func(*sesv2.Options)) (*sesv2.CreateCustomVerificationEmailTemplateOutput, error)
	DeleteCustomVerificationEmailTemplate(ctx context.Context, in *sesv2.DeleteCustomVerificationEmailTemplateInput, opts ...func(*sesv2.Options)) (*sesv2.DeleteCustomVerificationEmailTemplateOutput, error)
	SendCustomVerificationEmail(ctx context.Context, in *sesv2.SendCustomVerificationEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendCustomVerificationEmailOutput, error)
	GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, opts ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error)
	DeleteEmailIdentity(ctx context.Context, in *sesv2.DeleteEmailIdentityInput, opts ...func(*sesv2.Options)) (*sesv2.DeleteEmailIdentityOutput, error)
}

// Client sends email and manages email identities through SES v2. Its
// errors are, or wrap, the SDK's (smithy API errors): outbound.ClassifyEmail
// reads those of SendEmail, and callers log only their code, since SES
// messages and request URLs may name the address.
type Client struct {
	ses API
	// configurationSet, when set, is the SES configuration set emails are
	// sent with, so that SES publishes their events.
	configurationSet string
	// verify makes verification emails (WithVerification).
	verify Verification
}

// New returns a Client over ses. Emails are sent with configurationSet
// when it is not empty. For sending, build ses without SDK retries: a
// retried SendEmail whose first answer was lost would send twice.
func New(ses API, configurationSet string) *Client {
	return &Client{ses: ses, configurationSet: configurationSet}
}

// SendEmail sends one email and returns SES's message id ("" when SES
// answered without one).
func (c *Client) SendEmail(ctx context.Context, e outbound.Email) (string, error) {
	out, err := c.ses.SendEmail(ctx, c.sendInput(e))
	if err != nil {
		return "", err //nolint:wrapcheck // as SES returned it: outbound.ClassifyEmail reads it and quotes its text in the message's reason
	}
	if out == nil {
		return "", nil
	}
	return aws.ToString(out.MessageId), nil
}

// Notices returns the sender of the platform's own notices to org owners
// (plan.Alerts' usage warnings): plain text from the platform address
// from, without the configuration set, whose events are read for the
// emails of leads only.
func (c *Client) Notices(from string) plan.SendMail {
	plain := &Client{ses: c.ses}
	return func(ctx context.Context, to, subject, text string) error {
		if _, err := plain.SendEmail(ctx, outbound.Email{From: from, To: to, Subject: subject, Text: text}); err != nil {
			return fmt.Errorf("send notice: %w", err)
		}
		return nil
	}
}

// sendInput is the SES v2 request of an email: simple content in UTF-8,
// its header fields in order, Reply-To when it names one.
func (c *Client) sendInput(e outbound.Email) *sesv2.SendEmailInput {
	body := &sestypes.Body{}
	if e.Text != "" {
		body.Text = &sestypes.Content{Data: aws.String(e.Text), Charset: aws.String("UTF-8")}
	}
	if e.HTML != "" {
		body.Html = &sestypes.Content{Data: aws.String(e.HTML), Charset: aws.String("UTF-8")}
	}
	headers := make([]sestypes.MessageHeader, 0, len(e.Headers))
	for _, h := range e.Headers {
		headers = append(headers, sestypes.MessageHeader{Name: aws.String(h.Name), Value: aws.String(h.Value)})
	}
	var replyTo []string
	if e.ReplyTo != "" {
		replyTo = []string{e.ReplyTo}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(e.From),
		ReplyToAddresses: replyTo,
		Destination:      &sestypes.Destination{ToAddresses: []string{e.To}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(e.Subject), Charset: aws.String("UTF-8")},
			Body:    body, Headers: headers,
		}},
	}
	if c.configurationSet != "" {
		in.ConfigurationSetName = aws.String(c.configurationSet)
	}
	return in
}

// Verification is what the verification email of an org's sender address
// is made of besides the org's name.
type Verification struct {
	// From is the platform sender address the email goes from (a verified
	// identity of the account).
	From string
	// SuccessURL and FailureURL are where SES takes the person who followed
	// the link.
	SuccessURL, FailureURL string
}

// VerificationTemplatePrefix begins the name of every custom verification
// email template the adapter makes: the IAM grant is limited to it
// (infra/topology VerificationTemplatePrefix; a test checks they agree).
const VerificationTemplatePrefix = "leadluence-sender-"

// WithVerification returns the client, set up to mail verification links
// (RequestVerification) with v.
func (c *Client) WithVerification(v Verification) *Client {
	c.verify = v
	return c
}

// RequestVerification has SES verify addr for the Leadluence organisation
// orgName: SES creates the identity and mails the address a verification
// email (SendCustomVerificationEmail) whose text names the organisation.
// SES custom verification templates take no per-recipient data, so each
// request makes a template of its own (named after the org and address),
// sends it and deletes it. verified is always false: SES answers with a
// message id only, and IdentityStatus reads the outcome. An address SES
// refuses is an *account.AddressRefusedError.
func (c *Client) RequestVerification(ctx context.Context, addr, orgName string) (verified bool, err error) {
	sum := sha256.Sum256([]byte(orgName + "\x00" + addr))
	name := VerificationTemplatePrefix + hex.EncodeToString(sum[:12])
	tmpl := verificationTemplate(name, addr, orgName, c.verify)
	_, err = c.ses.CreateCustomVerificationEmailTemplate(ctx, tmpl)
	var exists *sestypes.AlreadyExistsException
	if errors.As(err, &exists) {
		// Left over from a request that stopped midway: make it afresh.
		if _, err = c.ses.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: &name}); err == nil {
			_, err = c.ses.CreateCustomVerificationEmailTemplate(ctx, tmpl)
		}
	}
	if err != nil {
		return false, fmt.Errorf("create verification email template: %w", err)
	}
	defer func() {
		// Best effort: a leftover template is replaced by the next request
		// for the same org and address.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = c.ses.DeleteCustomVerificationEmailTemplate(dctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: &name})
	}()
	_, err = c.ses.SendCustomVerificationEmail(ctx, &sesv2.SendCustomVerificationEmailInput{EmailAddress: &addr, TemplateName: &name})
	var bad *sestypes.BadRequestException
	switch {
	case errors.As(err, &bad):
		return false, &account.AddressRefusedError{Reason: bad.ErrorMessage()}
	case err != nil:
		return false, fmt.Errorf("send verification email: %w", err)
	}
	return false, nil
}

// verificationTemplate is the custom verification email of addr for the
// organisation orgName: it says which Leadluence organisation asks to send
// from the address, and what to do when nobody there asked. SES adds its
// verification link to the message.
func verificationTemplate(name, addr, orgName string, v Verification) *sesv2.CreateCustomVerificationEmailTemplateInput {
	org := strings.Join(strings.Fields(orgName), " ") // one line: it goes in the subject too
	esc := html.EscapeString
	content := "<p>The Leadluence organisation <strong>" + esc(org) + "</strong> asks to send its emails from this address, " +
		esc(addr) + ", through Leadluence.</p>" +
		"<p>If you work with " + esc(org) + " and want its emails to its customers to go from this address, follow the link below. " +
		"If you did not expect this, do not follow it: no email goes from this address until someone does, and the request lapses.</p>"
	return &sesv2.CreateCustomVerificationEmailTemplateInput{
		TemplateName:          &name,
		FromEmailAddress:      aws.String(v.From),
		TemplateSubject:       aws.String("Confirm that " + org + " may send email from this address through Leadluence"),
		TemplateContent:       &content,
		SuccessRedirectionURL: aws.String(v.SuccessURL),
		FailureRedirectionURL: aws.String(v.FailureURL),
	}
}

// IdentityStatus reads where an address's verification stands: an
// identity SES does not have (deleted meanwhile) counts as failed.
func (c *Client) IdentityStatus(ctx context.Context, addr string) (account.SenderStatus, error) {
	out, err := c.ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: &addr})
	switch {
	case isNotFound(err):
		return account.SenderFailed, nil
	case err != nil:
		return "", fmt.Errorf("get email identity: %w", err)
	case out.VerifiedForSendingStatus:
		return account.SenderVerified, nil
	case out.VerificationStatus == sestypes.VerificationStatusFailed:
		return account.SenderFailed, nil
	}
	return account.SenderPending, nil
}

// DeleteIdentity removes an address from SES; one SES does not have is no
// error.
func (c *Client) DeleteIdentity(ctx context.Context, addr string) error {
	_, err := c.ses.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: &addr})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete email identity: %w", err)
	}
	return nil
}

// Describe describes an error of the Client for the logs without the
// address that SES messages and request URLs (percent-encoded) carry: the
// SES error code, or that the request did not get an answer.
func Describe(err error) string {
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

func isNotFound(err error) bool {
	var nf *sestypes.NotFoundException
	return errors.As(err, &nf)
}
