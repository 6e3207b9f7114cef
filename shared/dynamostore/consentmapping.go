package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/conversation"
)

// An org's consent mapping (which Lead Ads form answers are opt-ins) is
// one item in its partition, ORG#o / CONSENT_MAPPING, holding the JSON of
// conversation.ConsentMapping.

var _ conversation.ConsentMappingStore = (*Store)(nil)

type consentMappingItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	Mapping   string `dynamodbav:"mapping"`
	UpdatedAt string `dynamodbav:"updated_at"`
	UpdatedBy string `dynamodbav:"updated_by,omitempty"`
}

// ConsentMapping returns an org's consent mapping; an org that never set
// one gets the zero mapping (no rules).
func (s *Store) ConsentMapping(ctx context.Context, orgID string) (conversation.ConsentMapping, error) {
	var it consentMappingItem
	ok, err := s.get(ctx, orgPK(orgID), skConsentMapping, &it)
	if err != nil || !ok || it.Mapping == "" {
		return conversation.ConsentMapping{}, err
	}
	var m conversation.ConsentMapping
	if err := json.Unmarshal([]byte(it.Mapping), &m); err != nil {
		return conversation.ConsentMapping{}, fmt.Errorf("decode consent mapping of %s: %w", orgID, err)
	}
	return m, nil
}

// PutConsentMapping stores an org's consent mapping as given, replacing
// the previous one.
func (s *Store) PutConsentMapping(ctx context.Context, orgID string, m conversation.ConsentMapping) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode consent mapping: %w", err)
	}
	av, err := marshal(consentMappingItem{PK: orgPK(orgID), SK: skConsentMapping, Type: "consent_mapping",
		Mapping: string(raw), UpdatedAt: m.UpdatedAt.UTC().Format(time.RFC3339Nano), UpdatedBy: m.UpdatedBy})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("put consent mapping of %s: %w", orgID, err)
	}
	return nil
}
