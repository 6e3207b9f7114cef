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

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/tools/devstack"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

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
