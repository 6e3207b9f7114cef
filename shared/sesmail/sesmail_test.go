package sesmail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sesmail"
)

// fakeSES records the requests and answers with the configured results.
type fakeSES struct {
	sent      *sesv2.SendEmailInput
	createErr error
	template  *sesv2.CreateCustomVerificationEmailTemplateInput
	templates map[string]bool
	verify    *sesv2.SendCustomVerificationEmailInput
	get       *sesv2.GetEmailIdentityOutput
	getErr    error
	deleteErr error
}

func (f *fakeSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.sent = in
	return &sesv2.SendEmailOutput{MessageId: aws.String("ses-1")}, nil
}

func (f *fakeSES) CreateCustomVerificationEmailTemplate(_ context.Context, in *sesv2.CreateCustomVerificationEmailTemplateInput, _ ...func(*sesv2.Options)) (*sesv2.CreateCustomVerificationEmailTemplateOutput, error) {
	if f.templates[*in.TemplateName] {
		return nil, &sestypes.AlreadyExistsException{Message: aws.String("exists")}
	}
	f.template, f.templates[*in.TemplateName] = in, true
	return &sesv2.CreateCustomVerificationEmailTemplateOutput{}, nil
}

func (f *fakeSES) DeleteCustomVerificationEmailTemplate(_ context.Context, in *sesv2.DeleteCustomVerificationEmailTemplateInput, _ ...func(*sesv2.Options)) (*sesv2.DeleteCustomVerificationEmailTemplateOutput, error) {
	delete(f.templates, *in.TemplateName)
	return &sesv2.DeleteCustomVerificationEmailTemplateOutput{}, nil
}

func (f *fakeSES) SendCustomVerificationEmail(_ context.Context, in *sesv2.SendCustomVerificationEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendCustomVerificationEmailOutput, error) {
	if f.createErr != nil {
		return nil, f.createErr
	}
	f.verify = in
	return &sesv2.SendCustomVerificationEmailOutput{MessageId: aws.String("v-1")}, nil
}

func (f *fakeSES) GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	return f.get, f.getErr
}

func (f *fakeSES) DeleteEmailIdentity(context.Context, *sesv2.DeleteEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.DeleteEmailIdentityOutput, error) {
	return &sesv2.DeleteEmailIdentityOutput{}, f.deleteErr
}

func TestSendEmailRequest(t *testing.T) {
	f := &fakeSES{}
	c := sesmail.New(f, "leadluence")
	id, err := c.SendEmail(context.Background(), outbound.Email{From: `"Sharma Realty" <sales@acme.test>`, To: "asha@example.com",
		ReplyTo: "desk@acme.test", Subject: "Visit", Text: "Hello", Headers: []outbound.Header{
			{Name: "List-Unsubscribe", Value: "<mailto:sales@acme.test?subject=unsubscribe>"},
			{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}}})
	if err != nil || id != "ses-1" {
		t.Fatalf("id %q, err %v", id, err)
	}
	in := f.sent
	if aws.ToString(in.FromEmailAddress) != `"Sharma Realty" <sales@acme.test>` || in.Destination.ToAddresses[0] != "asha@example.com" ||
		len(in.ReplyToAddresses) != 1 || in.ReplyToAddresses[0] != "desk@acme.test" || aws.ToString(in.ConfigurationSetName) != "leadluence" {
		t.Fatalf("request %+v", in)
	}
	msg := in.Content.Simple
	if aws.ToString(msg.Subject.Data) != "Visit" || aws.ToString(msg.Subject.Charset) != "UTF-8" ||
		aws.ToString(msg.Body.Text.Data) != "Hello" || msg.Body.Html != nil {
		t.Fatalf("content %+v", msg)
	}
	if len(msg.Headers) != 2 || aws.ToString(msg.Headers[0].Name) != "List-Unsubscribe" || aws.ToString(msg.Headers[1].Name) != "List-Unsubscribe-Post" {
		t.Fatalf("headers %+v", msg.Headers)
	}

	// Without a configuration set and a Reply-To, the request names none.
	if _, err := sesmail.New(f, "").SendEmail(context.Background(), outbound.Email{From: "a@acme.test", To: "b@example.com", Subject: "s", HTML: "<p>h</p>"}); err != nil {
		t.Fatal(err)
	}
	if f.sent.ConfigurationSetName != nil || f.sent.ReplyToAddresses != nil || f.sent.Content.Simple.Body.Text != nil {
		t.Fatalf("request %+v", f.sent)
	}
}

func TestIdentities(t *testing.T) {
	ctx := context.Background()
	f := &fakeSES{createErr: &sestypes.BadRequestException{Message: aws.String("not an address")}, templates: map[string]bool{}}
	c := sesmail.New(f, "").WithVerification(sesmail.Verification{From: "no-reply@leadluence.test", SuccessURL: "https://ok.test/", FailureURL: "https://no.test/"})
	var refused *account.AddressRefusedError
	if _, err := c.RequestVerification(ctx, "x@acme.test", "Sharma & Sons\r\nBcc: x"); !errors.As(err, &refused) || refused.Reason != "not an address" {
		t.Fatalf("refused address: %v", err)
	}
	if len(f.templates) != 0 {
		t.Fatalf("templates left: %v", f.templates)
	}
	f.createErr = nil
	// A template left over by a request that stopped midway is replaced.
	f.templates[*f.template.TemplateName] = true
	if ok, err := c.RequestVerification(ctx, "x@acme.test", "Sharma & Sons\r\nBcc: x"); err != nil || ok {
		t.Fatalf("request: %v %v, want pending", ok, err)
	}
	tm := f.template
	if !strings.HasPrefix(*tm.TemplateName, sesmail.VerificationTemplatePrefix) || *tm.FromEmailAddress != "no-reply@leadluence.test" ||
		*tm.SuccessRedirectionURL != "https://ok.test/" || *tm.FailureRedirectionURL != "https://no.test/" ||
		!strings.Contains(*tm.TemplateContent, "Leadluence organisation <strong>Sharma &amp; Sons Bcc: x</strong>") ||
		strings.ContainsAny(*tm.TemplateSubject, "\r\n") || !strings.Contains(*tm.TemplateSubject, "Sharma & Sons") {
		t.Fatalf("template %+v", tm)
	}
	if *f.verify.EmailAddress != "x@acme.test" || *f.verify.TemplateName != *tm.TemplateName || len(f.templates) != 0 {
		t.Fatalf("send %+v, templates left %v", f.verify, f.templates)
	}
	for _, tt := range []struct {
		out  *sesv2.GetEmailIdentityOutput
		err  error
		want account.SenderStatus
	}{
		{&sesv2.GetEmailIdentityOutput{VerifiedForSendingStatus: true}, nil, account.SenderVerified},
		{&sesv2.GetEmailIdentityOutput{VerificationStatus: sestypes.VerificationStatusFailed}, nil, account.SenderFailed},
		{&sesv2.GetEmailIdentityOutput{VerificationStatus: sestypes.VerificationStatusPending}, nil, account.SenderPending},
		{nil, &sestypes.NotFoundException{}, account.SenderFailed},
	} {
		f.get, f.getErr = tt.out, tt.err
		if st, err := c.IdentityStatus(ctx, "x@acme.test"); err != nil || st != tt.want {
			t.Errorf("status %q (%v), want %q", st, err, tt.want)
		}
	}
	f.deleteErr = &sestypes.NotFoundException{}
	if err := c.DeleteIdentity(ctx, "x@acme.test"); err != nil {
		t.Fatalf("deleting an unknown identity: %v", err)
	}
	f.deleteErr = errors.New("boom")
	if err := c.DeleteIdentity(ctx, "x@acme.test"); err == nil {
		t.Fatal("a failed delete was no error")
	}
}

func TestDescribeLeavesTheAddressOut(t *testing.T) {
	ctx := context.Background()
	addr := "owner@acme.test"
	f := &fakeSES{getErr: &sestypes.TooManyRequestsException{Message: aws.String("slow down for " + addr)}}
	_, err := sesmail.New(f, "").IdentityStatus(ctx, addr)
	for _, tt := range []struct {
		err  error
		want string
	}{
		{err, "ses error TooManyRequestsException"},
		{fmt.Errorf("get email identity %s: %w", addr, context.DeadlineExceeded), "ses request timed out"},
		{context.Canceled, "ses request cancelled"},
		{errors.New("dial tcp: lookup for " + addr), "ses request failed without an answer"},
	} {
		if got := sesmail.Describe(tt.err); got != tt.want || strings.Contains(got, addr) {
			t.Errorf("Describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestTemplatePrefixMatchesTheGrant: the templates the adapter makes are
// those the api's IAM grant names.
func TestTemplatePrefixMatchesTheGrant(t *testing.T) {
	if sesmail.VerificationTemplatePrefix != topology.VerificationTemplatePrefix {
		t.Fatalf("sesmail makes %q*, IAM grants %q*", sesmail.VerificationTemplatePrefix, topology.VerificationTemplatePrefix)
	}
}

// A platform notice goes from the platform address, as plain text, without
// the configuration set of the leads' emails (a client that has one).
func TestNotices(t *testing.T) {
	f := &fakeSES{}
	send := sesmail.New(f, "leadluence").Notices("no-reply@leadluence.test")
	if err := send(context.Background(), "owner@acme.test", "80% of your plan", "You have used 80%."); err != nil {
		t.Fatal(err)
	}
	in := f.sent
	if aws.ToString(in.FromEmailAddress) != "no-reply@leadluence.test" || in.Destination.ToAddresses[0] != "owner@acme.test" ||
		in.ConfigurationSetName != nil || aws.ToString(in.Content.Simple.Subject.Data) != "80% of your plan" ||
		aws.ToString(in.Content.Simple.Body.Text.Data) != "You have used 80%." || in.Content.Simple.Body.Html != nil {
		t.Fatalf("request %+v", in)
	}
}
