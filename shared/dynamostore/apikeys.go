package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
)

// API keys: the key's record in the org's partition (name, scopes, prefix,
// last use; what GET /v1/api-keys lists) and a lookup item under the
// SHA-256 of the key (org, id, scopes), which each request of the key reads
// with one GetItem. Both are written and deleted together, so a revoked key
// stops working at once. Each key's requests are limited by a token bucket
// of its own (buckets.go).

var _ account.APIKeyStore = (*Store)(nil)

type apiKeyItem struct {
	PK         string     `dynamodbav:"PK"`
	SK         string     `dynamodbav:"SK"`
	Type       string     `dynamodbav:"type"`
	ID         string     `dynamodbav:"id"`
	OrgID      string     `dynamodbav:"org_id"`
	Name       string     `dynamodbav:"name"`
	Scopes     []string   `dynamodbav:"scopes"`
	Prefix     string     `dynamodbav:"prefix"`
	KeyHash    string     `dynamodbav:"key_hash"`
	CreatedBy  string     `dynamodbav:"created_by"`
	CreatedAt  time.Time  `dynamodbav:"created_at"`
	LastUsedAt *time.Time `dynamodbav:"last_used_at,omitempty"`
}

type apiKeyLookupItem struct {
	PK     string   `dynamodbav:"PK"`
	SK     string   `dynamodbav:"SK"`
	Type   string   `dynamodbav:"type"`
	ID     string   `dynamodbav:"id"`
	OrgID  string   `dynamodbav:"org_id"`
	Scopes []string `dynamodbav:"scopes"`
}

func scopeStrings(in []account.APIKeyScope) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, string(s))
	}
	return out
}

func scopesOf(in []string) []account.APIKeyScope {
	out := make([]account.APIKeyScope, 0, len(in))
	for _, s := range in {
		out = append(out, account.APIKeyScope(s))
	}
	return out
}

func (i apiKeyItem) key() account.APIKey {
	k := account.APIKey{ID: i.ID, OrgID: i.OrgID, Name: i.Name, Scopes: scopesOf(i.Scopes), Prefix: i.Prefix, Hash: i.KeyHash,
		CreatedBy: i.CreatedBy, CreatedAt: i.CreatedAt}
	if i.LastUsedAt != nil {
		k.LastUsedAt = *i.LastUsedAt
	}
	return k
}

// CreateAPIKey stores a new key: its record and its lookup item.
func (s *Store) CreateAPIKey(ctx context.Context, k account.APIKey) error {
	rec, err := marshal(apiKeyItem{PK: orgPK(k.OrgID), SK: apiKeySK(k.ID), Type: "api_key", ID: k.ID, OrgID: k.OrgID, Name: k.Name,
		Scopes: scopeStrings(k.Scopes), Prefix: k.Prefix, KeyHash: k.Hash, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UTC()})
	if err != nil {
		return err
	}
	lookup, err := marshal(apiKeyLookupItem{PK: apiKeyLookupPK(k.Hash), SK: skAPIKeyLookup, Type: "api_key_lookup", ID: k.ID,
		OrgID: k.OrgID, Scopes: scopeStrings(k.Scopes)})
	if err != nil {
		return err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: rec, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: lookup, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}); err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// ListAPIKeys returns the org's keys, newest first. An org has a handful.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]account.APIKey, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", orgID, err)
	}
	out := make([]account.APIKey, 0, len(items))
	for _, item := range items {
		var it apiKeyItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.key())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// GetAPIKey returns a key of the org.
func (s *Store) GetAPIKey(ctx context.Context, orgID, id string) (account.APIKey, error) {
	return getAs(ctx, s, orgPK(orgID), apiKeySK(id), apiKeyItem.key, account.ErrNotFound)
}

// RevokeAPIKey deletes the key's record and lookup item together.
func (s *Store) RevokeAPIKey(ctx context.Context, k account.APIKey) error {
	err := s.transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(k.OrgID), apiKeySK(k.ID)), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(apiKeyLookupPK(k.Hash), skAPIKeyLookup)}},
	})
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash finds a key by the hash of the key presented, with one
// consistent GetItem (a revoked key is gone at once).
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (account.APIKey, error) {
	return getAs(ctx, s, apiKeyLookupPK(hash), skAPIKeyLookup, func(it apiKeyLookupItem) account.APIKey {
		return account.APIKey{ID: it.ID, OrgID: it.OrgID, Scopes: scopesOf(it.Scopes), Hash: hash}
	}, account.ErrNotFound)
}

// TouchAPIKey sets the key's last use to at unless it was set less than
// every before: one write a minute at most, however busy the key.
func (s *Store) TouchAPIKey(ctx context.Context, k account.APIKey, at time.Time, every time.Duration) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	beforeAV, err := attributevalue.Marshal(at.Add(-every).UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(orgPK(k.OrgID), apiKeySK(k.ID)),
		UpdateExpression:          aws.String("SET last_used_at = :at"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND (attribute_not_exists(last_used_at) OR last_used_at <= :before)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": atAV, ":before": beforeAV}})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch api key %s: %w", k.ID, err)
	}
	return nil
}
