// Package auth issues and checks credentials: argon2id password hashes,
// short-lived JWT access tokens, rotating refresh tokens, and the signing
// secret they rely on, which is stored only as KMS envelope ciphertext.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum recommendation (19 MiB, 2 passes, 1
// lane), which keeps a hash near 30 ms on a 512 MB Lambda.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

// ErrMismatch means a password does not match its hash.
var ErrMismatch = errors.New("password mismatch")

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword compares password with a hash from HashPassword in constant
// time. It returns ErrMismatch when they differ.
func CheckPassword(hash, password string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("check password: unknown hash format")
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("check password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return fmt.Errorf("check password: parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("check password: salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return fmt.Errorf("check password: key: %w", err)
	}
	if len(want) != argonKeyLen {
		return errors.New("check password: unexpected key length")
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, argonKeyLen)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is checked against when a login names an unknown email, so the
// answer takes as long as for a known one. It is made on first use, not at
// start-up: hashing costs ~90 ms that every cold start would otherwise pay.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("leadluence-timing-equaliser")
	return h
})

// CheckNoUser spends the time a password check would, for unknown emails.
func CheckNoUser(password string) { _ = CheckPassword(dummyHash(), password) }
