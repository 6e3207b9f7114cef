package outbound_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/leadluence/backend/infra/devstack"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/outbound"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

func TestJobRoundTrip(t *testing.T) {
	j := outbound.Job{OrgID: "o1", LeadID: "l1", MessageID: "m1"}
	if got := j.Encode(); got != `{"org_id":"o1","lead_id":"l1","message_id":"m1"}` {
		t.Fatalf("encoded %s", got)
	}
	back, err := outbound.DecodeJob(j.Encode())
	if err != nil || back != j {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	for _, bad := range []string{``, `nope`, `{"org_id":"o1","lead_id":"l1"}`, `{"org_id":"","lead_id":"l","message_id":"m"}`} {
		if _, err := outbound.DecodeJob(bad); !errors.Is(err, outbound.ErrBadJob) {
			t.Errorf("DecodeJob(%q) = %v, want ErrBadJob", bad, err)
		}
	}
}

func TestOptedOut(t *testing.T) {
	const (
		early = "2024-05-01T10:00:00Z"
		late  = "2024-05-02T10:00:00Z"
	)
	tests := []struct {
		name      string
		consent   map[string]string
		ch        conversation.Channel
		marketing bool
		want      bool
	}{
		{"no consent recorded", nil, conversation.ChannelWhatsApp, false, false},
		{"channel opt-out", map[string]string{"whatsapp:all": "opt_out@" + early}, conversation.ChannelWhatsApp, false, true},
		{"opt-in after opt-out", map[string]string{"whatsapp:all": "opt_in@" + late}, conversation.ChannelWhatsApp, false, false},
		{"other channel's opt-out", map[string]string{"email:all": "opt_out@" + early}, conversation.ChannelWhatsApp, false, false},
		{"marketing opt-out, service message", map[string]string{"whatsapp:marketing": "opt_out@" + early}, conversation.ChannelWhatsApp, false, false},
		{"marketing opt-out, marketing message", map[string]string{"whatsapp:marketing": "opt_out@" + early}, conversation.ChannelWhatsApp, true, true},
		{"START after marketing opt-out", map[string]string{"whatsapp:marketing": "opt_out@" + early, "whatsapp:all": "opt_in@" + late}, conversation.ChannelWhatsApp, true, false},
		{"marketing opt-out after START", map[string]string{"whatsapp:marketing": "opt_out@" + late, "whatsapp:all": "opt_in@" + early}, conversation.ChannelWhatsApp, true, true},
		{"same second blocks", map[string]string{"whatsapp:marketing": "opt_out@" + early, "whatsapp:all": "opt_in@" + early}, conversation.ChannelWhatsApp, true, true},
		{"unreadable opt-out blocks", map[string]string{"email:all": "opt_out@yesterday"}, conversation.ChannelEmail, false, true},
		{"email opt-out", map[string]string{"email:all": "opt_out@" + late}, conversation.ChannelEmail, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outbound.OptedOut(tt.consent, tt.ch, tt.marketing); got != tt.want {
				t.Fatalf("OptedOut = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
	active := &integration.Integration{Status: integration.StatusActive}
	text := conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{"messaging_product":"whatsapp","to":"919812345678","type":"text","text":{"body":"hi"}}`}
	tmpl := func(category string) conversation.Message {
		m := conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{"messaging_product":"whatsapp","to":"919812345678","type":"template","template":{"name":"x","language":{"code":"en"}}}`}
		if category != "" {
			m.Details = map[string]string{outbound.DetailCategory: category}
		}
		return m
	}
	email := conversation.Message{Channel: conversation.ChannelEmail, Payload: `{"to":"a@example.com","subject":"s","text":"t"}`}
	inWindow := lead.Lead{LastInboundAt: now.Add(-23 * time.Hour)}
	outOfWindow := lead.Lead{LastInboundAt: now.Add(-25 * time.Hour)}
	marketingOut := lead.Lead{Consent: map[string]string{"whatsapp:marketing": "opt_out@2024-05-01T00:00:00Z"}}
	tests := []struct {
		name string
		m    conversation.Message
		l    lead.Lead
		in   *integration.Integration
		want string
	}{
		{"text inside the window", text, inWindow, active, ""},
		{"text outside the window", text, outOfWindow, active, outbound.TitleOutsideWindow},
		{"text never written", text, lead.Lead{}, active, outbound.TitleOutsideWindow},
		{"template outside the window", tmpl(outbound.CategoryUtility), outOfWindow, active, ""},
		{"utility template, marketing opt-out", tmpl(outbound.CategoryUtility), marketingOut, active, ""},
		{"marketing template, marketing opt-out", tmpl(outbound.CategoryMarketing), marketingOut, active, outbound.TitleOptedOut},
		{"template without category counts as marketing", tmpl(""), marketingOut, active, outbound.TitleOptedOut},
		{"no integration", text, inWindow, nil, outbound.TitleIntegrationInactive},
		{"token invalid", text, inWindow, &integration.Integration{Status: integration.StatusTokenInvalid}, outbound.TitleIntegrationInactive},
		{"unreadable payload", conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{`}, inWindow, active, outbound.TitleInvalidPayload},
		{"email", email, lead.Lead{}, nil, ""},
		{"email opted out", email, lead.Lead{Consent: map[string]string{"email:all": "opt_out@2024-05-01T00:00:00Z"}}, nil, outbound.TitleOptedOut},
		{"email without body", conversation.Message{Channel: conversation.ChannelEmail, Payload: `{"to":"a@example.com","subject":"s"}`}, lead.Lead{}, nil, outbound.TitleInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := outbound.Check(tt.m, tt.l, tt.in, now)
			got := ""
			if r != nil {
				got = r.Title
				if r.Reason == "" {
					t.Error("refusal without a reason")
				}
			}
			if got != tt.want {
				t.Fatalf("Check = %q (%v), want %q", got, r, tt.want)
			}
		})
	}
}

// TestClassifyWhatsApp is the table of WhatsApp error codes: what the sender
// does with each, and that every failure explains itself.
func TestClassifyWhatsApp(t *testing.T) {
	graph := func(status, code int) error {
		return fmt.Errorf("send message from 1: %w", &meta.GraphError{HTTPStatus: status, Code: code, Message: fmt.Sprintf("(#%d) something", code)})
	}
	tests := []struct {
		name     string
		err      error
		written  bool
		action   outbound.Action
		code     int
		optOut   bool
		minDelay time.Duration
	}{
		{"throughput", graph(400, 130429), true, outbound.ActionRetry, 130429, false, time.Second},
		{"pair rate", graph(400, 131056), true, outbound.ActionRetry, 131056, false, 6 * time.Second},
		{"http 503", graph(503, 2), true, outbound.ActionRetry, 2, false, 0},
		{"http 500 unknown code", graph(500, 999999), true, outbound.ActionRetry, 999999, false, 0},
		{"undeliverable", graph(400, 131026), true, outbound.ActionFail, 131026, false, 0},
		{"re-engagement", graph(400, 131047), true, outbound.ActionFail, 131047, false, 0},
		{"stopped marketing", graph(400, 131050), true, outbound.ActionFail, 131050, true, 0},
		{"healthy ecosystem", graph(400, 131049), true, outbound.ActionFail, 131049, false, 0},
		{"spam rate", graph(400, 131048), true, outbound.ActionFail, 131048, false, 0},
		{"policy block", graph(400, 368), true, outbound.ActionFail, 368, false, 0},
		{"template missing", graph(404, 132001), true, outbound.ActionFail, 132001, false, 0},
		{"template unlisted code", graph(400, 132010), true, outbound.ActionFail, 132010, false, 0},
		{"invalid parameter", graph(400, 100), true, outbound.ActionFail, 100, false, 0},
		{"unknown permanent code", graph(400, 123456), true, outbound.ActionFail, 123456, false, 0},
		{"token revoked", fmt.Errorf("x: %w", &meta.GraphError{HTTPStatus: 401, Code: 190, Subcode: 460}), true, outbound.ActionTokenInvalid, 190, false, 0},
		{"unreachable", fmt.Errorf("x: %w", meta.ErrTransport), false, outbound.ActionRetry, 0, false, 0},
		{"no answer after the request went out", fmt.Errorf("x: %w", meta.ErrTransport), true, outbound.ActionUnknown, 0, false, 0},
		{"2xx without id", fmt.Errorf("x: %w", meta.ErrBadResponse), true, outbound.ActionUnknown, 0, false, 0},
		{"bad payload", fmt.Errorf("x: %w", meta.ErrInvalidArgument), false, outbound.ActionFail, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := outbound.ClassifyWhatsApp(tt.err, tt.written)
			if v.Action != tt.action || v.Code != tt.code || v.OptOutMarketing != tt.optOut || v.MinDelay != tt.minDelay {
				t.Fatalf("verdict %+v, want action %d code %d opt-out %v min delay %s", v, tt.action, tt.code, tt.optOut, tt.minDelay)
			}
			if v.Title == "" || v.Reason == "" {
				t.Fatalf("verdict %+v lacks a title or reason", v)
			}
		})
	}
}

func TestClassifyEmail(t *testing.T) {
	api := func(code string, status int) error {
		return &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "m"},
		}}
	}
	tests := []struct {
		name    string
		err     error
		written bool
		want    outbound.Action
	}{
		{"throttled", api("TooManyRequestsException", 429), true, outbound.ActionRetry},
		{"sending quota", api("LimitExceededException", 400), true, outbound.ActionRetry},
		{"rejected", api("MessageRejected", 400), true, outbound.ActionFail},
		{"domain not verified", api("MailFromDomainNotVerifiedException", 400), true, outbound.ActionFail},
		{"server error", api("InternalFailure", 500), true, outbound.ActionRetry},
		{"unknown client error", api("Whatever", 400), true, outbound.ActionFail},
		{"unreachable", errors.New("dial tcp: connection refused"), false, outbound.ActionRetry},
		{"no answer", errors.New("context deadline exceeded"), true, outbound.ActionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := outbound.ClassifyEmail(tt.err, tt.written); v.Action != tt.want || v.Reason == "" {
				t.Fatalf("verdict %+v, want action %d", v, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, ceiling := 2*time.Second, time.Minute
	for attempt := 0; attempt <= 40; attempt++ {
		full := min(base<<min(max(attempt, 1)-1, 20), ceiling)
		for range 50 {
			d := outbound.Backoff(attempt, base, ceiling)
			if d < full/2 || d > full {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", attempt, d, full/2, full)
			}
		}
	}
}
