package account

import (
	"context"
	"slices"
	"time"

	"github.com/leadluence/backend/shared/ratelimit"
)

// API keys let an org's own systems (a web form, a landing page) create and
// read leads without a user: `Authorization: Bearer ll_live_...` or
// `X-Api-Key: ll_live_...`. Only a SHA-256 of a key is stored; the key is
// shown once, when it is made.

// APIKeyScope is what an API key may do.
type APIKeyScope string

// The scopes.
const (
	// ScopeLeadsWrite creates leads (POST /v1/leads).
	ScopeLeadsWrite APIKeyScope = "leads:write"
	// ScopeLeadsRead reads leads (GET /v1/leads, GET /v1/leads/{id}).
	ScopeLeadsRead APIKeyScope = "leads:read"
)

// APIKeyScopes lists every scope.
var APIKeyScopes = []APIKeyScope{ScopeLeadsWrite, ScopeLeadsRead}

// Valid reports whether s is a known scope.
func (s APIKeyScope) Valid() bool { return slices.Contains(APIKeyScopes, s) }

// APIKeyActorPrefix starts the actor id of an API key in the audit trail
// and on what it creates ("api_key:<id>").
const APIKeyActorPrefix = "api_key:"

// APIKey is an org's API key.
type APIKey struct {
	ID    string
	OrgID string
	Name  string
	// Scopes are what the key may do.
	Scopes []APIKeyScope
	// Prefix is the key's first characters, shown to tell keys apart.
	Prefix string
	// Hash is the SHA-256 of the key (auth.HashAPIKey), under which it is
	// found.
	Hash       string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Has reports whether the key holds scope s.
func (k APIKey) Has(s APIKeyScope) bool { return slices.Contains(k.Scopes, s) }

// ActorID is the key as an actor of the audit trail.
func (k APIKey) ActorID() string { return APIKeyActorPrefix + k.ID }

// APIKeyStore keeps API keys (dynamostore.Store).
type APIKeyStore interface {
	// CreateAPIKey stores a new key.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// ListAPIKeys returns the org's keys, newest first.
	ListAPIKeys(ctx context.Context, orgID string) ([]APIKey, error)
	// GetAPIKey returns a key of the org (ErrNotFound).
	GetAPIKey(ctx context.Context, orgID, id string) (APIKey, error)
	// RevokeAPIKey deletes a key: it stops working at once (ErrNotFound).
	RevokeAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds a live key by the hash of the key presented
	// (ErrNotFound).
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// TouchAPIKey sets the key's last use to at unless it was set less
	// than every before.
	TouchAPIKey(ctx context.Context, k APIKey, at time.Time, every time.Duration) error
}

// APIKeyBucket is the token bucket limiting each API key's requests to
// perMinute a minute (ratelimit.Limiter, one bucket per key shared by
// every api instance). It holds a minute's worth, what the earlier
// per-minute counter let a key make at once: 120 a minute allows 120 at
// once after a quiet minute, then one every half second.
func APIKeyBucket(perMinute int) ratelimit.Bucket {
	perMinute = max(perMinute, 1)
	return ratelimit.Bucket{Rate: perMinute, Per: time.Minute, Burst: perMinute}
}

// APIKeyBucketKey names an API key's request bucket.
func APIKeyBucketKey(keyID string) ratelimit.Key {
	return ratelimit.Key{Kind: ratelimit.APIKeyRequests, ID: keyID}
}
