// Package platformsecret creates and opens the platform's own secrets (the
// token signing secret, the suppression key): 32 random bytes, stored in
// the table only sealed by the KMS envelope key, created by the first cold
// start that needs one. Functions call it once per cold start.
package platformsecret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/leadluence/backend/shared/account"
)

// scope is the envelope scope of platform-wide secrets.
const scope = "platform"

// Store keeps platform secrets sealed (dynamostore.Store): a missing one is
// account.ErrNotFound, and a put that loses a race to create it fails.
type Store interface {
	GetSecret(ctx context.Context, name string) ([]byte, error)
	PutSecret(ctx context.Context, name string, sealed []byte) error
}

// Sealer seals and opens secrets with the KMS envelope key (envelope.Sealer).
type Sealer interface {
	Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, scope string, sealed []byte) ([]byte, error)
}

// Load returns the secret called name, creating it on first use; the
// winner of a concurrent first start is kept and the others read it back.
func Load(ctx context.Context, store Store, sealer Sealer, name string) ([]byte, error) {
	for range 2 {
		secret, found, err := Open(ctx, store, sealer, name)
		if err != nil || found {
			return secret, err
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("new %s: %w", name, err)
		}
		sealed, err := sealer.Seal(ctx, scope, secret)
		if err != nil {
			return nil, fmt.Errorf("seal %s: %w", name, err)
		}
		if err := store.PutSecret(ctx, name, sealed); err == nil {
			return secret, nil
		}
		// Lost the race (or the put failed): read again.
	}
	return nil, fmt.Errorf("%s: could not create or read", name)
}

// Open returns the existing secret called name; found is false when none
// exists yet (for functions that may not create it: no KMS encrypt grant).
func Open(ctx context.Context, store Store, sealer Sealer, name string) (secret []byte, found bool, err error) {
	sealed, err := store.GetSecret(ctx, name)
	if errors.Is(err, account.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", name, err)
	}
	secret, err = sealer.Open(ctx, scope, sealed)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", name, err)
	}
	return secret, true, nil
}
