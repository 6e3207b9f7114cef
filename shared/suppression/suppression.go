// Package suppression keeps an org's proof of a deleted lead's opt-outs
// without the lead's contact details: a phone or email is known only by a
// keyed HMAC-SHA256 (the platform suppression key, with the org id mixed
// in), so a lead created later for the same contact in the same org starts
// with the opt-outs the deleted one had, and nobody can read the contact
// back from the table.
package suppression

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/leadluence/backend/shared/platformsecret"
)

// keyName names the sealed key among the platform secrets.
const keyName = "suppression-key"

// SecretStore keeps the sealed key (dynamostore.Store).
type SecretStore = platformsecret.Store

// Sealer seals and opens it with the KMS envelope key (envelope.Sealer).
type Sealer = platformsecret.Sealer

// LoadKey returns the suppression key, creating it on first use (only
// ever stored sealed by KMS; see package platformsecret).
func LoadKey(ctx context.Context, store SecretStore, sealer Sealer) ([]byte, error) {
	return platformsecret.Load(ctx, store, sealer, keyName)
}

// Hasher names contacts by keyed hash (dynamostore's suppression entries).
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher with key (from LoadKey; at least 32 bytes).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, errors.New("suppression key: shorter than 32 bytes")
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// Phone is the hash of an E.164 phone in an org.
func (h *Hasher) Phone(orgID, e164 string) string { return h.sum("phone", orgID, e164) }

// Email is the hash of an email in an org, lower-cased first.
func (h *Hasher) Email(orgID, email string) string {
	return h.sum("email", orgID, strings.ToLower(strings.TrimSpace(email)))
}

func (h *Hasher) sum(kind, orgID, v string) string {
	m := hmac.New(sha256.New, h.key)
	// Length-free framing is safe: none of the parts contains a NUL.
	m.Write([]byte("leadluence/suppression/" + kind + "\x00" + orgID + "\x00" + v))
	return hex.EncodeToString(m.Sum(nil))
}

// OpenKey returns the existing suppression key; found is false when none
// exists yet (for a function that may not create it).
func OpenKey(ctx context.Context, store SecretStore, sealer Sealer) (key []byte, found bool, err error) {
	return platformsecret.Open(ctx, store, sealer, keyName)
}

// Open returns the hasher over the existing suppression key, or nil when
// no key exists yet: for functions that may not create it (no KMS encrypt
// grant). The HTTP functions (api, account) create the key (LoadKey)
// before they delete any lead, so a nil hasher means no suppression entry
// can exist yet.
func Open(ctx context.Context, store SecretStore, sealer Sealer) (*Hasher, error) {
	key, found, err := platformsecret.Open(ctx, store, sealer, keyName)
	if err != nil || !found {
		return nil, err
	}
	return NewHasher(key)
}

// Lazy opens the existing suppression key on first need, for a function
// that may not create it: while no key exists, each call looks again (one
// read of the sealed secret, no KMS call), so a key the api function
// creates after this function started is used from the next call on. Once
// found, the hasher is kept.
type Lazy struct {
	Store  SecretStore
	Sealer Sealer

	mu sync.Mutex
	h  *Hasher
}

// Hasher returns the hasher, or nil while no key exists.
func (l *Lazy) Hasher(ctx context.Context) (*Hasher, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	h, err := Open(ctx, l.Store, l.Sealer)
	if err != nil {
		return nil, err
	}
	l.h = h
	return h, nil
}
