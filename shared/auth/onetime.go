package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/leadluence/backend/shared/account"
)

// oneTimeLen is the random length of a one-time token: 256 bits.
const oneTimeLen = 32

// NewOneTimeToken mints a one-time token (an invitation, a password reset,
// an email verification): 32 bytes from crypto/rand, base64url. It returns
// the token, which is only ever mailed, and its hash, which is all that is
// stored.
func NewOneTimeToken() (token, hash string, err error) {
	b := make([]byte, oneTimeLen)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("one-time token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashOneTime(b), nil
}

// HashOneTimeToken returns the hash under which a presented token is
// stored, or account.ErrTokenInvalid when it is not one. The token is
// found by its hash (a SHA-256 of 256 random bits), so no stored secret is
// compared with it.
func HashOneTimeToken(token string) (string, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(oneTimeLen) {
		return "", account.ErrTokenInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != oneTimeLen {
		return "", account.ErrTokenInvalid
	}
	return hashOneTime(b), nil
}

func hashOneTime(b []byte) string {
	sum := sha256.Sum256(append([]byte("leadluence/one-time/"), b...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// HashAttemptKey is the key under which requests about one email or one
// client address are counted (password resets, verification mails): a
// SHA-256 of scope and value, never the value itself.
func HashAttemptKey(scope, value string) string {
	sum := sha256.Sum256([]byte("leadluence/attempts/" + scope + "/" + value))
	return scope + "#" + base64.RawURLEncoding.EncodeToString(sum[:])
}
