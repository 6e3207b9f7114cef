package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/platformsecret"
)

// AccessTTL is how long an access token lives.
const AccessTTL = 15 * time.Minute

// RefreshTTL is how long a refresh token (and its family) lives unused.
const RefreshTTL = 30 * 24 * time.Hour

const issuer = "leadluence"

// Claims are the access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	OrgID string `json:"org"`
	// SessionID is the refresh-token family the token was issued from.
	SessionID string `json:"sid"`
	// Region is the org's default phone region, carried so that requests
	// need not read the org.
	Region string `json:"rgn,omitempty"`
	// Limit, when set, narrows what the token may do: LimitMFAEnrol is
	// the token of an owner or admin whose org requires two-factor
	// sign-in before it is on.
	Limit string `json:"lim,omitempty"`
}

// LimitMFAEnrol limits a token to turning two-factor sign-in on (and
// reading /v1/me).
const LimitMFAEnrol = "mfa_enrol"

// Tokens signs and verifies access tokens with an HMAC secret held in memory
// after one KMS decrypt, so verifying costs no KMS call.
type Tokens struct {
	secret atomic.Pointer[[]byte]
	now    func() time.Time
}

// ErrNoSecret is the answer of pending Tokens (NewPendingTokens) before
// their secret is set: no token is issued or accepted, no key derived.
var ErrNoSecret = errors.New("token secret not loaded yet")

// NewTokens returns Tokens using secret (at least 32 bytes).
func NewTokens(secret []byte) (*Tokens, error) {
	t := NewPendingTokens()
	if err := t.SetSecret(secret); err != nil {
		return nil, err
	}
	return t, nil
}

// NewPendingTokens returns Tokens whose secret is set later (SetSecret),
// for a function that loads it on first use. Until then they fail closed:
// Verify refuses every token, Issue fails and Derive panics.
func NewPendingTokens() *Tokens { return &Tokens{now: time.Now} }

// SetSecret gives pending Tokens their secret (at least 32 bytes), once.
func (t *Tokens) SetSecret(secret []byte) error {
	if len(secret) < 32 {
		return errors.New("token secret shorter than 32 bytes")
	}
	s := append([]byte(nil), secret...)
	if !t.secret.CompareAndSwap(nil, &s) {
		return errors.New("token secret already set")
	}
	return nil
}

// key returns the secret; nil while pending.
func (t *Tokens) key() []byte {
	if p := t.secret.Load(); p != nil {
		return *p
	}
	return nil
}

// Derive returns a secret for another purpose (cursor signing, say), derived
// from the token secret so there is one secret to protect and rotate. It
// panics on pending Tokens (never a key derived from no secret).
func (t *Tokens) Derive(purpose string) []byte {
	k := t.key()
	if k == nil {
		panic(ErrNoSecret)
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("leadluence/derive/" + purpose))
	return m.Sum(nil)
}

// Issue returns a signed access token for u, a member of org, in session sid.
func (t *Tokens) Issue(u account.User, org account.Org, sid string) (string, error) {
	return t.issue(u, org, sid, "")
}

// IssueEnrolOnly returns an access token for u, outside any session, that
// only turns two-factor sign-in on (LimitMFAEnrol).
func (t *Tokens) IssueEnrolOnly(u account.User, org account.Org) (string, error) {
	return t.issue(u, org, "", LimitMFAEnrol)
}

func (t *Tokens) issue(u account.User, org account.Org, sid, limit string) (string, error) {
	if t.key() == nil {
		return "", ErrNoSecret
	}
	now := t.now()
	// The issue time is kept in whole seconds, and a request refuses tokens
	// issued until the user's AccessRevokedAt: a token issued in the same
	// second, after the revocation, carries the next second instead.
	iat := now
	if r := u.AccessRevokedAt; !r.IsZero() && !now.Truncate(time.Second).After(r) {
		iat = r.Truncate(time.Second).Add(time.Second)
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: u.ID, Audience: jwt.ClaimStrings{"leadluence-api"},
			IssuedAt: jwt.NewNumericDate(iat), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(AccessTTL)), ID: ulid.Make().String(),
		},
		OrgID: u.OrgID, SessionID: sid, Region: org.DefaultRegion, Limit: limit,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.derivedJWTKey())
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

func (t *Tokens) derivedJWTKey() []byte { return t.Derive("jwt") }

// Verify checks an access token and returns its claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	var c Claims
	if t.key() == nil {
		return Claims{}, account.ErrTokenInvalid
	}
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.derivedJWTKey(), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithAudience("leadluence-api"), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now))
	if err != nil || c.Subject == "" || c.OrgID == "" {
		return Claims{}, account.ErrTokenInvalid
	}
	return c, nil
}

// NewRefreshToken mints a refresh token for u in family (a new family when
// empty). It returns the opaque string given to the client and the record
// to store, which holds only a hash of the secret half.
func NewRefreshToken(u account.User, family string, now time.Time) (string, account.RefreshToken, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", account.RefreshToken{}, fmt.Errorf("refresh token: %w", err)
	}
	if family == "" {
		family = ulid.Make().String()
	}
	id := ulid.Make().String()
	sum := sha256.Sum256(secret)
	rec := account.RefreshToken{ID: id, FamilyID: family, UserID: u.ID, OrgID: u.OrgID, SecretHash: sum[:], ExpiresAt: now.Add(RefreshTTL)}
	return id + "." + base64.RawURLEncoding.EncodeToString(secret), rec, nil
}

// ParseRefreshToken splits a refresh token into its id and secret.
func ParseRefreshToken(token string) (id string, secret []byte, err error) {
	id, enc, ok := strings.Cut(token, ".")
	if !ok || len(id) != 26 {
		return "", nil, account.ErrTokenInvalid
	}
	secret, err = base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(secret) != 32 {
		return "", nil, account.ErrTokenInvalid
	}
	return id, secret, nil
}

// RefreshSecretMatches compares a presented secret with the stored hash in
// constant time.
func RefreshSecretMatches(rec account.RefreshToken, secret []byte) bool {
	sum := sha256.Sum256(secret)
	return hmac.Equal(sum[:], rec.SecretHash)
}

// SecretStore keeps sealed platform secrets, such as the signing secret
// (dynamostore.Store).
type SecretStore interface {
	// GetSecret returns a sealed secret, or account.ErrNotFound.
	GetSecret(ctx context.Context, name string) ([]byte, error)
	// PutSecret stores a sealed secret unless one exists already
	// (ErrSecretExists).
	PutSecret(ctx context.Context, name string, sealed []byte) error
}

// ErrSecretExists means PutSecret lost a race: another writer stored the
// secret first, and the caller should read that one.
var ErrSecretExists = errors.New("secret already exists")

// Sealer is envelope encryption (see package envelope).
type Sealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, orgID string, blob []byte) ([]byte, error)
}

// signingSecretName names the sealed token secret in the store.
const (
	signingSecretName = "token-signing-v1"
)

// LoadSigningSecret returns the token signing secret, creating it on first
// use. The secret is only ever stored sealed by KMS; the winner of a
// concurrent first start is kept and the others read it back.
func LoadSigningSecret(ctx context.Context, store SecretStore, sealer Sealer) ([]byte, error) {
	return platformsecret.Load(ctx, store, sealer, signingSecretName)
}

// OpenSigningSecret returns the existing token signing secret; found is
// false when none exists yet (for a function that may not create it: no
// KMS encrypt grant).
func OpenSigningSecret(ctx context.Context, store SecretStore, sealer Sealer) (secret []byte, found bool, err error) {
	return platformsecret.Open(ctx, store, sealer, signingSecretName)
}

// HashEmail is the key under which failed logins for an email are counted;
// the email itself is not stored there.
func HashEmail(email string) string {
	sum := sha256.Sum256([]byte("leadluence/login/" + email))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
