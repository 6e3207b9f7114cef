package meta_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/meta"
)

// FuzzParseWebhook checks that ParseWebhook never panics, that whatever it
// accepts marshals back to JSON that it accepts again, and that the change
// accessors never panic. Seeds: every events/meta file plus edge cases.
// Run: go test -run x -fuzz FuzzParseWebhook -fuzztime 20s ./shared/meta/
func FuzzParseWebhook(f *testing.F) {
	for _, b := range eventFiles(f) {
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"object":"page","entry":[]}`,
		`{"object":"page","entry":[{"id":1,"time":"2","changes":[{"field":"leadgen","value":{"leadgen_id":12345678901234567890}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":1},"messages":[{"from":1,"timestamp":2,"contacts":[{"addresses":{}}]}]}}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := meta.ParseWebhook(body)
		if err != nil {
			return
		}
		for _, e := range w.Entry {
			for _, c := range e.Changes {
				if v, err := c.Leadgen(); err == nil {
					if _, err := json.Marshal(v); err != nil {
						t.Fatalf("marshal leadgen value: %v", err)
					}
				}
				if v, err := c.WhatsApp(); err == nil {
					out, err := json.Marshal(v)
					if err != nil {
						t.Fatalf("marshal whatsapp value: %v", err)
					}
					if _, err := (meta.Change{Field: meta.FieldMessages, Value: out}).WhatsApp(); err != nil {
						t.Fatalf("re-decode whatsapp value %s: %v", out, err)
					}
				}
			}
		}
		out, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("parsed webhook does not marshal: %v", err)
		}
		if len(out) <= meta.MaxWebhookBytes {
			if _, err := meta.ParseWebhook(out); err != nil {
				t.Fatalf("re-marshalled webhook %s does not parse: %v", out, err)
			}
		}
	})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzNormalizeWAID checks that NormalizeWAID never panics, returns E.164
// or an error, and is idempotent.
// Run: go test -run x -fuzz FuzzNormalizeWAID -fuzztime 20s ./shared/meta/
func FuzzNormalizeWAID(f *testing.F) {
	for _, s := range []string{"16505551234", "+919876500001", "", "+", "0123456789", "1650 555 1234", "١٢٣٤٥٦٧٨٩", "123456789012345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, waID string) {
		got, err := meta.NormalizeWAID(waID)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeWAID(%q) = %q with error %v", waID, got, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizeWAID(%q) = %q, not E.164", waID, got)
		}
		again, err := meta.NormalizeWAID(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeWAID(%q) = %q, %v; not idempotent", got, again, err)
		}
	})
}

// FuzzVerifySignature checks the X-Hub-Signature-256 check on arbitrary
// headers and bodies: it never panics, answers one of its three errors or
// nil, accepts what Sign makes, and accepts a header only when it is that
// value (up to surrounding space and the case of the prefix and hex).
// Run: go test -run '^$' -fuzz '^FuzzVerifySignature$' -fuzztime 20s ./shared/meta/
func FuzzVerifySignature(f *testing.F) {
	secret := []byte("dev-app-secret")
	for _, b := range eventFiles(f) {
		f.Add(b, meta.Sign(secret, b))
		f.Add(b, strings.ToUpper(meta.Sign(secret, b)))
		f.Add(b, " "+meta.Sign(secret, b)[:20]+"\t")
	}
	for _, h := range []string{"", " ", "sha256=", "sha1=00", "SHA256=" + strings.Repeat("0", 64), "sha256=" + strings.Repeat("g", 64),
		"sha256=" + strings.Repeat("0", 63) + "\u00e9", "sha256=" + strings.Repeat("0", 65)} {
		f.Add([]byte(`{}`), h)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		want := meta.Sign(secret, body)
		if err := meta.VerifySignature(secret, body, want); err != nil {
			t.Fatalf("Sign's own signature %q is refused: %v", want, err)
		}
		err := meta.VerifySignature(secret, body, header)
		switch {
		case err == nil:
			if !strings.EqualFold(strings.TrimSpace(header), want) {
				t.Fatalf("header %q accepted for a body signed %q", header, want)
			}
		case errors.Is(err, meta.ErrSignatureMissing), errors.Is(err, meta.ErrSignatureMalformed), errors.Is(err, meta.ErrSignatureMismatch):
		default:
			t.Fatalf("VerifySignature(%q) = %v, not one of its errors", header, err)
		}
	})
}
