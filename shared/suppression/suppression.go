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
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/leadluence/backend/shared/account"
)

// keyName names the sealed key among the platform secrets.
const keyName = "suppression-key"

// platformScope is the envelope scope of platform secrets (as for the token
// signing secret).
const platformScope = "platform"

// SecretStore keeps platform secrets sealed (dynamostore.Store): a missing
// one is account.ErrNotFound, a put that loses a race fails.
type SecretStore interface {
	GetSecret(ctx context.Context, name string) ([]byte, error)
	PutSecret(ctx context.Context, name string, sealed []byte) error
}

// Sealer seals and opens secrets with the KMS envelope key (envelope.Sealer).
type Sealer interface {
	Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, scope string, sealed []byte) ([]byte, error)
}

// LoadKey returns the suppression key, creating it on first use: 32
// random bytes stored only sealed by KMS; the winner of a concurrent first
// start is kept and the others read it back. Functions call it once per
// cold start.
func LoadKey(ctx context.Context, store SecretStore, sealer Sealer) ([]byte, error) {
	for range 2 {
		sealed, err := store.GetSecret(ctx, keyName)
		if err == nil {
			key, err := sealer.Open(ctx, platformScope, sealed)
			if err != nil {
				return nil, fmt.Errorf("open suppression key: %w", err)
			}
			return key, nil
		}
		if !errors.Is(err, account.ErrNotFound) {
			return nil, fmt.Errorf("read suppression key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("new suppression key: %w", err)
		}
		sealed, err = sealer.Seal(ctx, platformScope, key)
		if err != nil {
			return nil, fmt.Errorf("seal suppression key: %w", err)
		}
		if err := store.PutSecret(ctx, keyName, sealed); err == nil {
			return key, nil
		}
		// Lost the race (or the put failed): read again.
	}
	return nil, errors.New("suppression key: could not create or read")
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

// Open returns the hasher over the existing suppression key, or nil when
// no key exists yet: for functions that may not create it (no KMS encrypt
// grant). The api function creates the key at its cold start (LoadKey),
// before it deletes any lead, so a nil hasher means no suppression entry
// can exist yet.
func Open(ctx context.Context, store SecretStore, sealer Sealer) (*Hasher, error) {
	sealed, err := store.GetSecret(ctx, keyName)
	if errors.Is(err, account.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read suppression key: %w", err)
	}
	key, err := sealer.Open(ctx, platformScope, sealed)
	if err != nil {
		return nil, fmt.Errorf("open suppression key: %w", err)
	}
	return NewHasher(key)
}
