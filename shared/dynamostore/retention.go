package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/retention"
)

// The data lifecycle's items. Each org has its retention settings at
// ORG#o / RETENTION#settings (written at sign-up, replaced by PUT
// /v1/org/retention), filed in GSI1 under RETENTION#ORGS so that a run lists
// every org and its settings with one Query per 100 orgs. Intact messages
// carry GSI3PK = RETAIN#CONTENT#<org> and GSI3SK = <time>#<id> (messages.go),
// so an org's due messages are one Query with GSI3SK < cutoff; sanitizing
// a message removes both, so the index holds only what may still come due
// and a run with nothing due reads no message at all. An unfinished run
// keeps its checkpoint at RETENTION#RUN / <job>.

var (
	_ retention.Store         = (*Store)(nil)
	_ retention.SettingsStore = (*Store)(nil)
)

type retentionSettingsItem struct {
	PK          string `dynamodbav:"PK"`
	SK          string `dynamodbav:"SK"`
	GSI1PK      string `dynamodbav:"GSI1PK"`
	GSI1SK      string `dynamodbav:"GSI1SK"`
	Type        string `dynamodbav:"type"`
	OrgID       string `dynamodbav:"org_id"`
	ContentDays int    `dynamodbav:"content_days"`
	UpdatedAt   string `dynamodbav:"updated_at,omitempty"`
	UpdatedBy   string `dynamodbav:"updated_by,omitempty"`
}

func toRetentionSettingsItem(orgID string, st retention.Settings) retentionSettingsItem {
	it := retentionSettingsItem{PK: orgPK(orgID), SK: skRetentionSettings, GSI1PK: retentionOrgsPK, GSI1SK: orgID,
		Type: "retention_settings", OrgID: orgID, ContentDays: st.ContentDays, UpdatedBy: st.UpdatedBy}
	if !st.UpdatedAt.IsZero() {
		it.UpdatedAt = st.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return it
}

func (i retentionSettingsItem) settings() retention.Settings {
	st := retention.Settings{ContentDays: i.ContentDays, UpdatedBy: i.UpdatedBy}
	if t, err := time.Parse(time.RFC3339Nano, i.UpdatedAt); err == nil {
		st.UpdatedAt = t
	}
	return st
}

// retentionSettingsPut is the settings item's put, for the sign-up
// transaction (accounts.go).
func (s *Store) retentionSettingsPut(orgID string, st retention.Settings) (types.TransactWriteItem, error) {
	av, err := marshal(toRetentionSettingsItem(orgID, st))
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}}, nil
}

// RetentionSettings returns an org's retention settings; the zero Settings
// (the policy's defaults) when it has none.
func (s *Store) RetentionSettings(ctx context.Context, orgID string) (retention.Settings, error) {
	var it retentionSettingsItem
	ok, err := s.get(ctx, orgPK(orgID), skRetentionSettings, &it)
	if err != nil || !ok {
		return retention.Settings{}, err
	}
	return it.settings(), nil
}

// PutRetentionSettings replaces an org's retention settings (and files the
// org for the scheduled runs, if it was not yet).
func (s *Store) PutRetentionSettings(ctx context.Context, orgID string, st retention.Settings) error {
	av, err := marshal(toRetentionSettingsItem(orgID, st))
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("put retention settings of %s: %w", orgID, err)
	}
	return nil
}

// RetentionOrgs lists orgs with their retention settings in org id order.
func (s *Store) RetentionOrgs(ctx context.Context, after string, limit int) ([]retention.OrgSettings, bool, error) {
	vals := map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: retentionOrgsPK}}
	cond := "GSI1PK = :pk"
	if after != "" {
		cond += " AND GSI1SK > :after"
		vals[":after"] = &types.AttributeValueMemberS{Value: after}
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
		Limit: aws.Int32(pageLimit(limit)),
	})
	if err != nil {
		return nil, false, fmt.Errorf("list retention orgs: %w", err)
	}
	orgs := make([]retention.OrgSettings, 0, len(out.Items))
	for _, item := range out.Items {
		var it retentionSettingsItem
		if err := unmarshal(item, &it); err != nil {
			return nil, false, err
		}
		orgs = append(orgs, retention.OrgSettings{OrgID: it.OrgID, Settings: it.settings()})
	}
	return orgs, out.LastEvaluatedKey != nil, nil
}

func (s *Store) dueQuery(orgID string, before time.Time) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI3),
		KeyConditionExpression: aws.String("GSI3PK = :pk AND GSI3SK < :cut"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  &types.AttributeValueMemberS{Value: contentDuePK(orgID)},
			":cut": &types.AttributeValueMemberS{Value: before.UTC().Format(dueTimeLayout)},
		},
	}
}

// DueContent returns up to limit of an org's intact messages older than
// before, oldest first.
func (s *Store) DueContent(ctx context.Context, orgID string, before time.Time, limit int) ([]conversation.Message, error) {
	in := s.dueQuery(orgID, before)
	in.Limit = aws.Int32(pageLimit(limit))
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("due content of %s: %w", orgID, err)
	}
	msgs := make([]conversation.Message, 0, len(out.Items))
	for _, item := range out.Items {
		var it messageItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		msgs = append(msgs, it.message())
	}
	return msgs, nil
}

// CountDueContent counts an org's intact messages older than before.
func (s *Store) CountDueContent(ctx context.Context, orgID string, before time.Time) (int, error) {
	in := s.dueQuery(orgID, before)
	in.Select = types.SelectCount
	n := 0
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("count due content of %s: %w", orgID, err)
		}
		n += int(pg.Count)
	}
	return n, nil
}

// PutSanitized writes a sanitized message's content over the stored one
// and takes it out of the due index, unless it was sanitized already or is
// gone (applied false).
func (s *Store) PutSanitized(ctx context.Context, m conversation.Message) (bool, error) {
	upd := "SET sanitized_at = :sat, #text = :text"
	vals := map[string]types.AttributeValue{
		":sat":  &types.AttributeValueMemberS{Value: m.SanitizedAt.UTC().Format(time.RFC3339Nano)},
		":text": &types.AttributeValueMemberS{Value: m.Text},
	}
	names := map[string]string{"#text": "text"}
	remove := []string{"media", "payload", attrGSI3PK, attrGSI3SK}
	if m.Text == "" {
		upd = "SET sanitized_at = :sat"
		delete(vals, ":text")
		remove = append(remove, "#text")
	}
	if cid := m.Details[conversation.DetailCampaignID]; cid != "" {
		upd += ", details = :details"
		vals[":details"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			conversation.DetailCampaignID: &types.AttributeValueMemberS{Value: cid},
		}}
	} else {
		remove = append(remove, "details")
	}
	if m.ErrorTitle != "" {
		upd += ", error_title = :et"
		vals[":et"] = &types.AttributeValueMemberS{Value: m.ErrorTitle}
	}
	if m.Reason != "" {
		upd += ", reason = :reason"
		vals[":reason"] = &types.AttributeValueMemberS{Value: m.Reason}
	}
	upd += " REMOVE "
	for i, a := range remove {
		if i > 0 {
			upd += ", "
		}
		upd += a
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(leadPartPK(m.OrgID, m.LeadID), messageSK(m.ID)),
		UpdateExpression:          aws.String(upd),
		ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(sanitized_at)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sanitize message %s: %w", m.ID, err)
	}
	return true, nil
}

type retentionRunItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	AsOf      string `dynamodbav:"as_of"`
	DoneOrg   string `dynamodbav:"done_org,omitempty"`
	Org       string `dynamodbav:"org,omitempty"`
	OrgCount  int    `dynamodbav:"org_count"`
	StartedAt string `dynamodbav:"started_at"`
}

// RetentionCheckpoint returns the unfinished run of a job, if any.
func (s *Store) RetentionCheckpoint(ctx context.Context, job string) (retention.Checkpoint, bool, error) {
	var it retentionRunItem
	ok, err := s.get(ctx, retentionRunPK, job, &it)
	if err != nil || !ok {
		return retention.Checkpoint{}, false, err
	}
	asOf, err := time.Parse(time.RFC3339Nano, it.AsOf)
	if err != nil {
		return retention.Checkpoint{}, false, fmt.Errorf("retention checkpoint %s: as_of %q: %w", job, it.AsOf, err)
	}
	started, _ := time.Parse(time.RFC3339Nano, it.StartedAt)
	return retention.Checkpoint{Job: job, AsOf: asOf, DoneOrg: it.DoneOrg, Org: it.Org, OrgCount: it.OrgCount, StartedAt: started}, true, nil
}

// PutRetentionCheckpoint saves where an unfinished run stopped.
func (s *Store) PutRetentionCheckpoint(ctx context.Context, c retention.Checkpoint) error {
	av, err := marshal(retentionRunItem{PK: retentionRunPK, SK: c.Job, Type: "retention_run", AsOf: c.AsOf.UTC().Format(time.RFC3339Nano),
		DoneOrg: c.DoneOrg, Org: c.Org, OrgCount: c.OrgCount, StartedAt: c.StartedAt.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("put retention checkpoint %s: %w", c.Job, err)
	}
	return nil
}

// ClearRetentionCheckpoint forgets a job's checkpoint once its run is done.
func (s *Store) ClearRetentionCheckpoint(ctx context.Context, job string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(retentionRunPK, job)}); err != nil {
		return fmt.Errorf("clear retention checkpoint %s: %w", job, err)
	}
	return nil
}

// Filed counts what FileForRetention filed.
type Filed struct {
	// Orgs got retention settings with the defaults, Messages due keys,
	// Owners their entry in the OWNERS index (policy notices).
	Orgs, Messages, Owners int
}

// FileForRetention files what was written before the data lifecycle
// existed: every org without a retention settings item gets one with the
// defaults, every intact message without due keys gets them, and every
// active owner of an open org missing from the OWNERS index (policy.go) is
// filed in it. It is the one operation here that reads the whole table (a
// Scan): a one-off migration run by an operator (`make retention
// ARGS="register"`), never by the scheduled runs. Safe to run twice:
// existing settings are never replaced, filed items not touched.
func (s *Store) FileForRetention(ctx context.Context) (Filed, error) {
	var f Filed
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName: &s.table,
		FilterExpression: aws.String("(SK = :org AND #type = :orgt) OR " +
			"(#type = :msgt AND attribute_not_exists(sanitized_at) AND attribute_not_exists(GSI3PK)) OR " +
			"(#type = :usert AND #role = :owner AND active = :yes AND attribute_not_exists(GSI1PK) AND attribute_not_exists(org_closed_at))"),
		ExpressionAttributeNames: map[string]string{"#type": "type", "#at": "at", "#role": "role"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org":   &types.AttributeValueMemberS{Value: skOrg},
			":orgt":  &types.AttributeValueMemberS{Value: "org"},
			":msgt":  &types.AttributeValueMemberS{Value: "message"},
			":usert": &types.AttributeValueMemberS{Value: "user"},
			":owner": &types.AttributeValueMemberS{Value: string(account.RoleOwner)},
			":yes":   &types.AttributeValueMemberBOOL{Value: true},
		},
		ProjectionExpression: aws.String("PK, SK, #type, id, org_id, #at"),
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return f, fmt.Errorf("scan for retention: %w", err)
		}
		for _, item := range pg.Items {
			var it struct {
				PK    string    `dynamodbav:"PK"`
				SK    string    `dynamodbav:"SK"`
				Type  string    `dynamodbav:"type"`
				ID    string    `dynamodbav:"id"`
				OrgID string    `dynamodbav:"org_id"`
				At    time.Time `dynamodbav:"at"`
			}
			if err := unmarshal(item, &it); err != nil {
				return f, err
			}
			switch it.Type {
			case "org":
				filed, err := s.fileOrg(ctx, it.ID)
				if err != nil {
					return f, err
				}
				if filed {
					f.Orgs++
				}
			case "user":
				filed, err := s.fileOwner(ctx, it.PK, it.SK, it.OrgID, it.ID)
				if err != nil {
					return f, err
				}
				if filed {
					f.Owners++
				}
			default:
				filed, err := s.fileMessage(ctx, it.PK, it.SK, it.OrgID, it.ID, it.At)
				if err != nil {
					return f, err
				}
				if filed {
					f.Messages++
				}
			}
		}
	}
	return f, nil
}

// fileMessage gives an intact message without due keys its keys.
func (s *Store) fileMessage(ctx context.Context, pk, sk, orgID, id string, at time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(pk, sk),
		UpdateExpression:    aws.String("SET GSI3PK = :pk, GSI3SK = :sk"),
		ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(sanitized_at) AND attribute_not_exists(GSI3PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: contentDuePK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: contentDueSK(at, id)},
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("file message %s for retention: %w", id, err)
	}
	return true, nil
}

// fileOwner files an active owner of an open org in the OWNERS index,
// unless the user changed since the scan read it.
func (s *Store) fileOwner(ctx context.Context, pk, sk, orgID, userID string) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(pk, sk),
		UpdateExpression: aws.String("SET GSI1PK = :opk, GSI1SK = :osk"),
		ConditionExpression: aws.String("attribute_exists(PK) AND #role = :owner AND active = :yes AND " +
			"attribute_not_exists(GSI1PK) AND attribute_not_exists(org_closed_at)"),
		ExpressionAttributeNames: map[string]string{"#role": "role"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":opk":   &types.AttributeValueMemberS{Value: ownersPK},
			":osk":   &types.AttributeValueMemberS{Value: ownerSK(orgID, userID)},
			":owner": &types.AttributeValueMemberS{Value: string(account.RoleOwner)},
			":yes":   &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("file owner %s in the owners index: %w", userID, err)
	}
	return true, nil
}

// fileOrg writes an org's default retention settings unless it has some.
func (s *Store) fileOrg(ctx context.Context, orgID string) (bool, error) {
	av, err := marshal(toRetentionSettingsItem(orgID, retention.Settings{}))
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("file org %s for retention: %w", orgID, err)
	}
	return true, nil
}
