package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/automation"
)

// An org's automation settings are one item in its partition,
// ORG#o / AUTOMATION#settings, holding the JSON of automation.Settings.

type automationSettingsItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	Settings  string `dynamodbav:"settings"`
	UpdatedAt string `dynamodbav:"updated_at"`
}

// AutomationSettings returns an org's automation settings; an org that
// never saved any gets the zero Settings (everything off).
func (s *Store) AutomationSettings(ctx context.Context, orgID string) (automation.Settings, error) {
	var it automationSettingsItem
	ok, err := s.get(ctx, orgPK(orgID), skAutomationSettings, &it)
	if err != nil || !ok || it.Settings == "" {
		return automation.Settings{}, err
	}
	var st automation.Settings
	if err := json.Unmarshal([]byte(it.Settings), &st); err != nil {
		return automation.Settings{}, fmt.Errorf("decode automation settings of %s: %w", orgID, err)
	}
	return st, nil
}

// PutAutomationSettings stores an org's automation settings as given,
// replacing the previous ones.
func (s *Store) PutAutomationSettings(ctx context.Context, orgID string, st automation.Settings) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode automation settings: %w", err)
	}
	av, err := marshal(automationSettingsItem{PK: orgPK(orgID), SK: skAutomationSettings, Type: "automation_settings",
		Settings: string(raw), UpdatedAt: st.UpdatedAt.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("put automation settings of %s: %w", orgID, err)
	}
	return nil
}
