package outbound_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
)

// failStore is an outbound.Store holding one queued email; it keeps the
// failure the sender records.
type failStore struct {
	outbound.Store
	m             conversation.Message
	title, reason string
}

func (f *failStore) GetMessage(context.Context, string, string, string) (conversation.Message, error) {
	return f.m, nil
}

func (f *failStore) GetLead(context.Context, string, string) (lead.Lead, error) {
	return lead.Lead{ID: f.m.LeadID, OrgID: f.m.OrgID, Email: "lead@example.com"}, nil
}

func (f *failStore) ClaimSend(context.Context, string, string, string, time.Time) error { return nil }

func (f *failStore) FailSend(_ context.Context, _, _, _ string, _ conversation.Status, _ int, title, reason string, _ time.Time) error {
	f.title, f.reason = title, reason
	return nil
}

type failMailer struct{ err error }

func (m failMailer) SendEmail(context.Context, outbound.Email) (string, error) { return "", m.err }

func sesError(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: msg},
	}}
}

// The failure reason a tenant sees never carries the platform's AWS
// account id or ARNs, whatever the email service's error text holds.
func TestFailureReasonHidesAWSAccount(t *testing.T) {
	const account = "123456789012"
	for name, err := range map[string]error{
		"message rejected": sesError(400, "MessageRejected",
			"Email address is not verified. The following identities failed the check in region AP-SOUTH-1: arn:aws:ses:ap-south-1:"+account+":identity/no-reply@leadluence.com"),
		"access denied": sesError(403, "AccessDeniedException",
			"User: arn:aws:sts::"+account+":assumed-role/leadluence-prod-SenderRole-1A2B3C/leadluence-prod-sender is not authorized to perform: "+
				"ses:SendEmail on resource: arn:aws:ses:ap-south-1:"+account+":configuration-set/leadluence-prod because no identity-based policy allows the ses:SendEmail action"),
		"not found": sesError(404, "NotFoundException", "Configuration set <leadluence-prod> does not exist in account "+account+"."),
	} {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(sendgate.Email{To: "lead@example.com", Subject: "Hi", Text: "Hi", From: "no-reply@leadluence.com"})
			payload := string(raw)
			st := &failStore{m: conversation.Message{ID: "m1", OrgID: "o1", LeadID: "l1", Channel: conversation.ChannelEmail,
				Direction: conversation.Outbound, Type: "email", Status: conversation.StatusQueued, Payload: payload}}
			s := &outbound.Sender{Store: st, Mailer: failMailer{err}}
			res, serr := s.Send(context.Background(), outbound.Delivery{Job: sendgate.Job{OrgID: "o1", LeadID: "l1", MessageID: "m1"}, ReceiveCount: 1})
			if serr != nil || res.Outcome != outbound.OutcomeFailed {
				t.Fatalf("send = %+v, %v", res, serr)
			}
			for _, recorded := range []string{st.title, st.reason} {
				if strings.Contains(recorded, account) || strings.Contains(recorded, "arn:") {
					t.Fatalf("recorded failure carries AWS account details: %q", recorded)
				}
			}
			if st.reason == "" {
				t.Fatal("no reason recorded")
			}
		})
	}
}
