// Package unsubscribe makes and honours the one-click unsubscribe links of
// emails to leads (RFC 8058): every email carries
// List-Unsubscribe: <BASE/v1/unsubscribe/TOKEN> with List-Unsubscribe-Post,
// and a POST to that URL records the lead's email marketing opt-out.
//
// A token names an org and a lead and is signed with the platform
// unsubscribe key (HMAC-SHA256 over the org id, the lead id, the channel
// "email" and the purpose "marketing"), so it cannot be forged or turned
// to another lead, and it carries no contact detail. The key is one of the
// platform secrets (package platformsecret): the HTTP functions (api,
// account) create it with the other platform secrets on their first request
// that needs them, before any email can be queued (LoadKey); the sender
// only opens it (Lazy).
package unsubscribe

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/platformsecret"
)

// keyName names the sealed key among the platform secrets.
const keyName = "unsubscribe-key"

// Source is the consent ledger source of a one-click unsubscribe.
const Source = "one_click_unsubscribe"

// PathPrefix is the path of the unsubscribe route before the token.
const PathPrefix = "/v1/unsubscribe/"

// ErrBadToken is a token that is malformed or not signed with the key.
var ErrBadToken = errors.New("unsubscribe token is not valid")

// ErrNoKey means the unsubscribe key does not exist yet (the HTTP
// functions create it on their first authenticated or public request).
var ErrNoKey = errors.New("unsubscribe key does not exist yet")

// SecretStore keeps the sealed key (dynamostore.Store).
type SecretStore = platformsecret.Store

// Sealer seals and opens it with the KMS envelope key (envelope.Sealer).
type Sealer = platformsecret.Sealer

// LoadKey returns the unsubscribe key, creating it on first use (only ever
// stored sealed by KMS; see package platformsecret).
func LoadKey(ctx context.Context, store SecretStore, sealer Sealer) ([]byte, error) {
	return platformsecret.Load(ctx, store, sealer, keyName)
}

// OpenKey returns the existing unsubscribe key; found is false when none
// exists yet (for a function that may not create it).
func OpenKey(ctx context.Context, store SecretStore, sealer Sealer) (key []byte, found bool, err error) {
	return platformsecret.Open(ctx, store, sealer, keyName)
}

// Open returns the signer over the existing key, or nil when none exists
// yet: for functions that may not create it (no KMS encrypt grant).
func Open(ctx context.Context, store SecretStore, sealer Sealer) (*Signer, error) {
	key, found, err := platformsecret.Open(ctx, store, sealer, keyName)
	if err != nil || !found {
		return nil, err
	}
	return NewSigner(key)
}

// Signer makes and checks tokens.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer with key (from LoadKey; at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("unsubscribe key: shorter than 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Claim is what a valid token names.
type Claim struct {
	OrgID, LeadID string
	// TokenID names the token in the consent ledger (the entry's
	// evidence): a hash of the token, never the address.
	TokenID string
}

// b64 is strict: a token has one spelling only.
var b64 = base64.RawURLEncoding.Strict()

// Token is the token of a lead's email marketing unsubscribe link.
func (s *Signer) Token(orgID, leadID string) string {
	return b64.EncodeToString([]byte(orgID+"\x00"+leadID)) + "." + b64.EncodeToString(s.mac(orgID, leadID))
}

// Verify checks a token and returns what it names, or ErrBadToken.
func (s *Signer) Verify(token string) (Claim, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claim{}, ErrBadToken
	}
	ids, err1 := b64.DecodeString(payload)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return Claim{}, ErrBadToken
	}
	orgID, leadID, ok := strings.Cut(string(ids), "\x00")
	if !ok || orgID == "" || leadID == "" || strings.Contains(leadID, "\x00") || !hmac.Equal(mac, s.mac(orgID, leadID)) {
		return Claim{}, ErrBadToken
	}
	sum := sha256.Sum256([]byte(token))
	return Claim{OrgID: orgID, LeadID: leadID, TokenID: "unsub_" + hex.EncodeToString(sum[:12])}, nil
}

func (s *Signer) mac(orgID, leadID string) []byte {
	m := hmac.New(sha256.New, s.key)
	// Length-free framing is safe: none of the parts contains a NUL.
	m.Write([]byte("leadluence/unsubscribe/v1\x00" + orgID + "\x00" + leadID + "\x00" +
		string(conversation.ChannelEmail) + "\x00" + conversation.PurposeMarketing))
	return m.Sum(nil)[:16]
}

// Lazy opens the existing key on first need, for a function that may not
// create it: while no key exists, each call looks again (one read of the
// sealed secret, no KMS call). Once found, the signer is kept.
type Lazy struct {
	Store  SecretStore
	Sealer Sealer

	mu sync.Mutex
	s  *Signer
}

// Signer returns the signer, or ErrNoKey while no key exists.
func (l *Lazy) Signer(ctx context.Context) (*Signer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	s, err := Open(ctx, l.Store, l.Sealer)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, ErrNoKey
	}
	l.s = s
	return s, nil
}

// Links makes the unsubscribe URLs of emails (outbound.Sender.Unsubscribe).
type Links struct {
	// BaseURL is the api's public base URL, without a trailing slash.
	BaseURL string
	Keys    *Lazy
}

// Link returns the one-click unsubscribe URL of a lead.
func (l *Links) Link(ctx context.Context, orgID, leadID string) (string, error) {
	s, err := l.Keys.Signer(ctx)
	if err != nil {
		return "", fmt.Errorf("unsubscribe link: %w", err)
	}
	return strings.TrimRight(l.BaseURL, "/") + PathPrefix + s.Token(orgID, leadID), nil
}

// Store is what the unsubscribe needs of storage (dynamostore.Store).
type Store interface {
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	AppendConsent(ctx context.Context, c conversation.ConsentEntry) error
}

// Service honours one-click unsubscribes.
type Service struct {
	Signer *Signer
	Store  Store
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Unsubscribe records the email marketing opt-out of the lead a token
// names, unless the lead is already opted out of it (so a repeated POST
// writes nothing more). A lead that no longer exists is no error: the
// answer must not tell whether it does. A bad token is ErrBadToken.
func (s *Service) Unsubscribe(ctx context.Context, token string) error {
	c, err := s.Signer.Verify(token)
	if err != nil {
		return err
	}
	l, err := s.Store.GetLead(ctx, c.OrgID, c.LeadID)
	if errors.Is(err, lead.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unsubscribe: read lead %s: %w", c.LeadID, err)
	}
	if st, _ := conversation.Preference(l.Consent, conversation.ChannelEmail, conversation.PurposeMarketing); st == conversation.StateOptedOut {
		return nil
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now().UTC()
	err = s.Store.AppendConsent(ctx, conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		OrgID: l.OrgID, LeadID: l.ID, Channel: conversation.ChannelEmail, Purpose: conversation.PurposeMarketing,
		Action: conversation.OptOut, At: at, Evidence: c.TokenID, Source: Source})
	if err != nil {
		return fmt.Errorf("unsubscribe lead %s: %w", l.ID, err)
	}
	return nil
}
