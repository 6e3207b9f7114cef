package logging_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/leadluence/backend/shared/logging"
)

// secrets are values that must never reach a log line, in every shape a
// careless caller might log them.
var secrets = []string{
	"+919876543210",
	"98765 43210",
	"(415) 555-0132",
	"priya.sharma@example.com",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
	"Bearer abc.def.ghi",
	"hunter2-correct-horse",
	"EAAGm0PX4ZCpsBAtokenvalue",
	"Hi, please call me back tomorrow",
	"203.0.113.7",
}

func TestRedactionKeepsPersonalDataOut(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelDebug)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})

	log.InfoContext(ctx, "lead created for priya.sharma@example.com with +919876543210",
		"phone", "+919876543210",
		"email", "priya.sharma@example.com",
		"password", "hunter2-correct-horse",
		"access_token", "EAAGm0PX4ZCpsBAtokenvalue",
		"authorization", "Bearer abc.def.ghi",
		"body", "Hi, please call me back tomorrow",
		"lead_phone", "98765 43210",
		"note", "customer said ring (415) 555-0132 after 5",
		"err", errors.New("decode eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl: bad"),
		slog.Group("lead", "email", "priya.sharma@example.com", "status", "new"),
		"payload", map[string]string{"text": "Hi, please call me back tomorrow"},
	)
	log.With("user.email", "priya.sharma@example.com").WarnContext(ctx, "login failed", "ip", "203.0.113.7")

	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log output contains %q:\n%s", s, out)
		}
	}
	for _, keep := range []string{`"requestId":"req-123"`, `"status":"new"`, "login failed", logging.Redacted} {
		if !strings.Contains(out, keep) {
			t.Errorf("log output lost %q:\n%s", keep, out)
		}
	}
}

func TestRedactStringLeavesIDsAlone(t *testing.T) {
	in := "lead 01JD5Z8Q2V3M4N5P6R7S8T9V0W moved to qualified at 2026-11-28T10:00:00Z, message 46de4fa1-2345-4b2c-b2ca-65fbd680b6bc"
	if got := logging.RedactString(in); got != in {
		t.Errorf("RedactString(%q) = %q; ids and timestamps must survive", in, got)
	}
}

// kind is a named string type as the domain packages declare them.
type kind string

func TestNamedStringTypesAreLoggedRedacted(t *testing.T) {
	var buf bytes.Buffer
	logging.New(&buf, slog.LevelDebug).Info("dropped", "kind", kind("whatsapp"), "to", kind("+919876543210"))
	out := buf.String()
	if !strings.Contains(out, `"kind":"whatsapp"`) || strings.Contains(out, "9876543210") {
		t.Errorf("named string types: %s", out)
	}
}
