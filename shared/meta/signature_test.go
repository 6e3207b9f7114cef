package meta_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/meta"
)

var (
	testSecret = []byte("app-secret")
	testBody   = []byte(`{"object":"page","entry":[]}`)
	// Computed independently with Python's hmac module.
	testSig = "sha256=e6e9d7a842a48e17f43a34d6125d0d933e2aab92ee37f0993a4d493b50e3d438"
)

func TestSign(t *testing.T) {
	if got := meta.Sign(testSecret, testBody); got != testSig {
		t.Errorf("Sign = %q, want %q", got, testSig)
	}
}

func TestVerifySignature(t *testing.T) {
	hexPart := strings.TrimPrefix(testSig, "sha256=")
	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"good", testSecret, testBody, testSig, nil},
		{"upper-case hex", testSecret, testBody, "sha256=" + strings.ToUpper(hexPart), nil},
		{"upper-case prefix", testSecret, testBody, "SHA256=" + hexPart, nil},
		{"surrounding space", testSecret, testBody, " " + testSig + " ", nil},
		{"missing", testSecret, testBody, "", meta.ErrSignatureMissing},
		{"blank", testSecret, testBody, "   ", meta.ErrSignatureMissing},
		{"no prefix", testSecret, testBody, hexPart, meta.ErrSignatureMalformed},
		{"sha1 prefix", testSecret, testBody, "sha1=" + hexPart[:40], meta.ErrSignatureMalformed},
		{"short", testSecret, testBody, testSig[:len(testSig)-2], meta.ErrSignatureMalformed},
		{"long", testSecret, testBody, testSig + "00", meta.ErrSignatureMalformed},
		{"not hex", testSecret, testBody, "sha256=" + strings.Repeat("zz", 32), meta.ErrSignatureMalformed},
		{"wrong secret", []byte("other-secret"), testBody, testSig, meta.ErrSignatureMismatch},
		{"body changed", testSecret, []byte(`{"object":"page","entry":[] }`), testSig, meta.ErrSignatureMismatch},
		{"empty body", testSecret, nil, testSig, meta.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := meta.VerifySignature(tt.secret, tt.body, tt.header)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignRoundTrip(t *testing.T) {
	for _, body := range [][]byte{nil, {}, testBody, []byte(strings.Repeat("x", 1<<16))} {
		if err := meta.VerifySignature(testSecret, body, meta.Sign(testSecret, body)); err != nil {
			t.Errorf("VerifySignature(Sign(%d bytes)) = %v", len(body), err)
		}
	}
}
