// Package meta speaks Meta's wire formats: the X-Hub-Signature-256 check on
// webhook bodies, the webhook payloads of Lead Ads (object "page", field
// "leadgen") and of the WhatsApp Cloud API (object "whatsapp_business_account",
// field "messages"), and a small Graph API client for the calls Leadluence
// makes (lead retrieval, page and phone-number checks, form and template
// listing, message sending).
//
// The package knows nothing about leads, consent or storage; it only turns
// bytes from and to Meta into Go values. The sibling package metatest is a
// local simulator of the same surface for tests and `make dev`.
package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// SignatureHeader is the HTTP header in which Meta sends the HMAC-SHA256 of a
// webhook body, keyed with the app secret, as "sha256=<hex>".
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Signature errors returned by VerifySignature.
var (
	// ErrSignatureMissing means the header was absent or empty.
	ErrSignatureMissing = errors.New("meta: webhook signature missing")
	// ErrSignatureMalformed means the header is not "sha256=" followed by 64 hex digits.
	ErrSignatureMalformed = errors.New("meta: webhook signature malformed")
	// ErrSignatureMismatch means the signature does not match the body.
	ErrSignatureMismatch = errors.New("meta: webhook signature mismatch")
)

// Sign returns the X-Hub-Signature-256 value Meta would send for body:
// "sha256=" followed by the lower-case hex HMAC-SHA256 of body keyed with appSecret.
func Sign(appSecret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(appSecret, body))
}

// VerifySignature checks header (the X-Hub-Signature-256 value) against the
// raw body bytes exactly as received. Hex digits may be upper or lower case;
// the comparison is constant-time. It returns nil, ErrSignatureMissing,
// ErrSignatureMalformed or ErrSignatureMismatch.
func VerifySignature(appSecret, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	if len(header) != len(signaturePrefix)+2*sha256.Size || !strings.EqualFold(header[:len(signaturePrefix)], signaturePrefix) {
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(header[len(signaturePrefix):])
	if err != nil {
		return ErrSignatureMalformed
	}
	if !hmac.Equal(got, mac(appSecret, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

func mac(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)
}
