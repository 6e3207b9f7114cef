// Package sesmail is the SES v2 adapter: it sends emails (outbound.Mailer)
// and has SES verify the addresses orgs send from (email identities). Every
// SES call of the platform is here; the callers see plain addresses,
// statuses and errors.
package sesmail

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/outbound"
)

var _ outbound.Mailer = (*Client)(nil)

// API is the part of the SES v2 client (sesv2.Client) the adapter calls.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	CreateEmailIdentity(ctx context.Context, in *sesv2.CreateEmailIdentityInput, opts ...func(*sesv2.Options)) (*sesv2.CreateEmailIdentityOutput, error)
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

// CreateIdentity has SES verify addr: SES mails a link to the address.
// verified is true when SES lets the platform send from it already. An
// identity that exists already (created by a concurrent request) is read
// instead. An address SES refuses is an *account.AddressRefusedError.
func (c *Client) CreateIdentity(ctx context.Context, addr string) (verified bool, err error) {
	out, err := c.ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: &addr})
	var bad *sestypes.BadRequestException
	var exists *sestypes.AlreadyExistsException
	switch {
	case errors.As(err, &exists):
		// Created a moment ago by a request racing this one, which had
		// SES mail the link.
		st, err := c.IdentityStatus(ctx, addr)
		return st == account.SenderVerified, err
	case errors.As(err, &bad):
		return false, &account.AddressRefusedError{Reason: bad.ErrorMessage()}
	case err != nil:
		return false, fmt.Errorf("create email identity: %w", err)
	}
	return out.VerifiedForSendingStatus, nil
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
