// Package envelope encrypts secrets (Meta tokens, signing keys) with KMS
// envelope encryption: a KMS GenerateDataKey per data key, AES-256-GCM for the
// payload, and the owning org id bound into both the KMS encryption context
// and the GCM additional data, so ciphertext of one org can never be opened
// as another's.
//
// Data keys are cached for a bounded age and use count, which keeps KMS calls
// (and their latency and cost) off the hot path without keeping any single
// plaintext key around for long.
package envelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// ContextKey is the encryption-context key that carries the org id.
const ContextKey = "org_id"

// format version of a sealed blob.
const version byte = 1

// ErrOpen means a sealed blob could not be opened: it is corrupt, was sealed
// for another org, or KMS refused its data key.
var ErrOpen = errors.New("envelope: cannot open ciphertext")

// KMS is the part of the KMS client the envelope needs.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Options bound the data-key cache.
type Options struct {
	// MaxAge is how long a plaintext data key may be reused (default 5 min).
	MaxAge time.Duration
	// MaxUses is how many payloads one data key may seal (default 1,000).
	MaxUses int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Sealer seals and opens secrets with one KMS key. It is safe for concurrent use.
type Sealer struct {
	kms   KMS
	keyID string
	opt   Options

	mu      sync.Mutex
	encKeys map[string]*dataKey   // org id -> key used for sealing
	decKeys map[[32]byte]*dataKey // sha256(encrypted key) -> key used for opening
}

type dataKey struct {
	plain     []byte
	encrypted []byte
	created   time.Time
	uses      int
}

// New returns a Sealer using keyID.
func New(client KMS, keyID string, opt Options) *Sealer {
	if opt.MaxAge <= 0 {
		opt.MaxAge = 5 * time.Minute
	}
	if opt.MaxUses <= 0 {
		opt.MaxUses = 1000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Sealer{kms: client, keyID: keyID, opt: opt, encKeys: map[string]*dataKey{}, decKeys: map[[32]byte]*dataKey{}}
}

// Seal encrypts plaintext for orgID. The blob is self-contained: version,
// encrypted data key, nonce and GCM ciphertext.
func (s *Sealer) Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error) {
	if orgID == "" {
		return nil, errors.New("seal: empty org id")
	}
	dk, err := s.sealingKey(ctx, orgID)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(dk.plain)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	out := make([]byte, 0, 1+2+len(dk.encrypted)+len(nonce)+len(plaintext)+gcm.Overhead())
	out = append(out, version)
	if len(dk.encrypted) > 0xffff {
		return nil, errors.New("seal: encrypted data key too long")
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(dk.encrypted))) //nolint:gosec // bounded just above
	out = append(out, dk.encrypted...)
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, plaintext, aad(orgID, out[:3+len(dk.encrypted)])), nil
}

// Open decrypts a blob sealed for orgID. A blob sealed for another org, or
// altered in any byte, fails with ErrOpen.
func (s *Sealer) Open(ctx context.Context, orgID string, blob []byte) ([]byte, error) {
	if len(blob) < 3 || blob[0] != version {
		return nil, fmt.Errorf("%w: bad header", ErrOpen)
	}
	n := int(binary.BigEndian.Uint16(blob[1:3]))
	if len(blob) < 3+n+12 {
		return nil, fmt.Errorf("%w: truncated", ErrOpen)
	}
	encrypted := blob[3 : 3+n]
	plainKey, err := s.openingKey(ctx, orgID, encrypted)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(plainKey)
	if err != nil {
		return nil, err
	}
	rest := blob[3+n:]
	nonce, ct := rest[:gcm.NonceSize()], rest[gcm.NonceSize():]
	pt, err := gcm.Open(nil, nonce, ct, aad(orgID, blob[:3+n]))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	return pt, nil
}

func (s *Sealer) sealingKey(ctx context.Context, orgID string) (*dataKey, error) {
	now := s.opt.Now()
	s.mu.Lock()
	if dk, ok := s.encKeys[orgID]; ok && now.Sub(dk.created) < s.opt.MaxAge && dk.uses < s.opt.MaxUses {
		dk.uses++
		s.mu.Unlock()
		return dk, nil
	}
	s.mu.Unlock()

	out, err := s.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &s.keyID,
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: map[string]string{ContextKey: orgID},
	})
	if err != nil {
		return nil, fmt.Errorf("seal: generate data key: %w", err)
	}
	dk := &dataKey{plain: out.Plaintext, encrypted: out.CiphertextBlob, created: now, uses: 1}
	s.mu.Lock()
	s.encKeys[orgID] = dk
	s.decKeys[cacheKey(orgID, dk.encrypted)] = dk
	s.mu.Unlock()
	return dk, nil
}

func (s *Sealer) openingKey(ctx context.Context, orgID string, encrypted []byte) ([]byte, error) {
	now := s.opt.Now()
	ck := cacheKey(orgID, encrypted)
	s.mu.Lock()
	if dk, ok := s.decKeys[ck]; ok && now.Sub(dk.created) < s.opt.MaxAge {
		s.mu.Unlock()
		return dk.plain, nil
	}
	s.mu.Unlock()

	out, err := s.kms.Decrypt(ctx, &kms.DecryptInput{
		KeyId:             &s.keyID,
		CiphertextBlob:    encrypted,
		EncryptionContext: map[string]string{ContextKey: orgID},
	})
	if err != nil {
		var invalid *types.InvalidCiphertextException
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("%w: %w", ErrOpen, err)
		}
		return nil, fmt.Errorf("open: decrypt data key: %w", err)
	}
	s.mu.Lock()
	s.evictExpired(now)
	s.decKeys[ck] = &dataKey{plain: out.Plaintext, encrypted: encrypted, created: now}
	s.mu.Unlock()
	return out.Plaintext, nil
}

// evictExpired drops aged keys so the cache stays bounded. Callers hold mu.
func (s *Sealer) evictExpired(now time.Time) {
	for k, dk := range s.decKeys {
		if now.Sub(dk.created) >= s.opt.MaxAge {
			delete(s.decKeys, k)
		}
	}
}

// cacheKey binds the cached key to the org as well as the encrypted key, so
// a cached entry can never open another org's blob.
func cacheKey(orgID string, encrypted []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(orgID))
	h.Write([]byte{0})
	h.Write(encrypted)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// aad is the GCM additional data: the org id and the blob's header (version
// and encrypted data key), so that no byte of the blob can change unnoticed,
// whatever KMS tolerates in the key blob.
func aad(orgID string, header []byte) []byte {
	out := []byte("leadluence/envelope/v1\x00" + ContextKey + "=" + orgID + "\x00")
	return append(out, header...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: gcm: %w", err)
	}
	return gcm, nil
}
