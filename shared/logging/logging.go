// Package logging builds the structured logger every function uses: JSON
// lines through log/slog with the Lambda request id, behind a redaction layer
// that keeps personal data and secrets out of every line.
package logging

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Redacted replaces every value the redaction layer removes.
const Redacted = "[REDACTED]"

// sensitiveKeys are attribute names whose values are never logged, whatever
// they hold. Matching is case-insensitive on the whole key or a suffix after
// "_" or ".", so "lead_phone" and "user.email" are caught too.
var sensitiveKeys = []string{
	"phone", "email", "password", "token", "access_token", "refresh_token", "secret",
	"authorization", "cookie", "body", "text", "message_body", "content", "name",
	"signature", "api_key", "apikey", "credential", "credentials", "plaintext",
}

// Value patterns that look like personal data or credentials wherever they
// appear, even inside free text such as an error message.
var (
	emailRE  = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	jwtRE    = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*`)
	bearerRE = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/\-]+=*`)
	// A run of digits with the separators people type in phone numbers; a
	// match is redacted when it holds 7 or more digits and is not a date.
	phoneRE = regexp.MustCompile(`\+?\(?\d[\d\s().\-]{5,}\d`)
	dateRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	// IPv4 addresses identify people too; the audit trail keeps them, logs do not.
	ipv4RE = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
)

// New returns a JSON logger writing to w (stdout when nil). Each line carries
// the Lambda request id when the context has one, and passes the redaction
// layer.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(NewHandler(w, level))
}

// NewHandler returns the redacting JSON handler behind New.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	var inner slog.Handler
	if w == nil {
		// lambdacontext's handler adds requestId and honours the Lambda
		// log-format and log-level settings; the stack sets JSON.
		inner = lambdacontext.NewLogHandler()
	} else {
		inner = requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr})}
	}
	return redactor{inner}
}

// RedactString removes emails, phone numbers, JWTs and bearer tokens from s.
func RedactString(s string) string {
	s = jwtRE.ReplaceAllString(s, Redacted)
	s = bearerRE.ReplaceAllString(s, Redacted)
	s = emailRE.ReplaceAllString(s, Redacted)
	s = ipv4RE.ReplaceAllString(s, Redacted)
	return redactPhones(s)
}

// redactPhones replaces phone-like digit runs, but not dates, short numbers
// or digits that are part of a longer token such as a UUID or a hex id.
func redactPhones(s string) string {
	locs := phoneRE.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, loc := range locs {
		m := s[loc[0]:loc[1]]
		if dateRE.MatchString(m) || digits(m) < 7 || (loc[0] > 0 && isWordChar(s[loc[0]-1])) || (loc[1] < len(s) && isWordChar(s[loc[1]])) {
			continue
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(Redacted)
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func digits(s string) int {
	n := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}

func sensitiveKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitiveKeys {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasSuffix(k, "."+s) || strings.HasSuffix(k, "-"+s) {
			return true
		}
	}
	return false
}

// redactAttr returns a with its value redacted where needed; groups are
// walked recursively.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if sensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, ga := range attrs {
			out[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindString:
		return slog.String(a.Key, RedactString(v.String()))
	case slog.KindAny:
		// Errors and arbitrary values are logged by their text, redacted.
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, RedactString(err.Error()))
		}
		if s, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, RedactString(s.String()))
		}
		// A named string type (an integration kind, a status) is text too.
		if rv := reflect.ValueOf(v.Any()); rv.Kind() == reflect.String {
			return slog.String(a.Key, RedactString(rv.String()))
		}
		// Structs, maps and slices may hold anything: never log them raw.
		return slog.String(a.Key, Redacted)
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// redactor is the redaction layer: it rewrites the message and every
// attribute (including those added with WithAttrs) before the inner handler
// sees them.
type redactor struct{ inner slog.Handler }

func (h redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h redactor) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, RedactString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, nr) //nolint:wrapcheck // slog.Handler contract
}

func (h redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a)
	}
	return redactor{h.inner.WithAttrs(out)}
}

func (h redactor) WithGroup(name string) slog.Handler { return redactor{h.inner.WithGroup(name)} }

// requestIDHandler adds the Lambda request id to each record, like
// lambdacontext's own handler, for loggers that write somewhere other than
// stdout (tests, the local runner).
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r) //nolint:wrapcheck // slog.Handler contract
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
