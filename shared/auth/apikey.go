package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/leadluence/backend/shared/account"
)

// APIKeyPrefix starts every live API key, so a key is told from an access
// token (a JWT) by its first characters, and secret scanners find it.
const APIKeyPrefix = "ll_live_"

// apiKeyLen is the random length of an API key: 256 bits.
const apiKeyLen = 32

// apiKeyShown is how many characters of a key are shown in lists.
const apiKeyShown = len(APIKeyPrefix) + 6

// NewAPIKey mints an API key: "ll_live_" and 32 bytes from crypto/rand,
// base64url. It returns the key, shown once, its hash, all that is
// stored, and its prefix, shown in lists.
func NewAPIKey() (key, hash, prefix string, err error) {
	b := make([]byte, apiKeyLen)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", fmt.Errorf("api key: %w", err)
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, hashAPIKey(key), key[:apiKeyShown], nil
}

// IsAPIKey reports whether a bearer credential is an API key.
func IsAPIKey(s string) bool { return strings.HasPrefix(s, APIKeyPrefix) }

// HashAPIKey returns the hash under which a presented key is stored, or
// account.ErrTokenInvalid when it is not one. The key is found by its hash
// (a SHA-256 of 256 random bits), so no stored secret is compared with it.
func HashAPIKey(key string) (string, error) {
	enc, ok := strings.CutPrefix(key, APIKeyPrefix)
	if !ok || len(enc) != base64.RawURLEncoding.EncodedLen(apiKeyLen) {
		return "", account.ErrTokenInvalid
	}
	if b, err := base64.RawURLEncoding.DecodeString(enc); err != nil || len(b) != apiKeyLen {
		return "", account.ErrTokenInvalid
	}
	return hashAPIKey(key), nil
}

func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
