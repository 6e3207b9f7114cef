package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
)

// An org's custom field definitions are one item in its partition,
// ORG#o / CUSTOM_FIELDS, holding the JSON of the definitions and a version
// every write is conditioned on. A unique field's values are claimed by
// guard items ORG#o / UNIQ#CF#<key>#<sha256 of the value>, written in the
// lead's transaction like the phone and email guards (leads.go).

var _ lead.FieldDefStore = (*Store)(nil)

type fieldDefsItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Type      string    `dynamodbav:"type"`
	Fields    string    `dynamodbav:"fields"`
	Version   int       `dynamodbav:"version"`
	UpdatedAt time.Time `dynamodbav:"updated_at"`
}

// FieldDefs returns an org's custom field definitions (none: the zero
// FieldDefs).
func (s *Store) FieldDefs(ctx context.Context, orgID string) (lead.FieldDefs, error) {
	var it fieldDefsItem
	ok, err := s.get(ctx, orgPK(orgID), skFieldDefs, &it)
	if err != nil || !ok {
		return lead.FieldDefs{}, err
	}
	d := lead.FieldDefs{Version: it.Version}
	if err := json.Unmarshal([]byte(it.Fields), &d.Fields); err != nil {
		return lead.FieldDefs{}, fmt.Errorf("decode custom fields of %s: %w", orgID, err)
	}
	return d, nil
}

// PutFieldDefs replaces an org's definitions if they are still at version
// prev (0: none yet), else lead.ErrFieldDefsChanged.
func (s *Store) PutFieldDefs(ctx context.Context, orgID string, prev int, next lead.FieldDefs) error {
	if next.Fields == nil {
		next.Fields = []lead.FieldDef{}
	}
	raw, err := json.Marshal(next.Fields)
	if err != nil {
		return fmt.Errorf("encode custom fields: %w", err)
	}
	av, err := marshal(fieldDefsItem{PK: orgPK(orgID), SK: skFieldDefs, Type: "custom_fields", Fields: string(raw),
		Version: next.Version, UpdatedAt: s.now().UTC()})
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if prev > 0 {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(prev)}}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) {
			return lead.ErrFieldDefsChanged
		}
		return fmt.Errorf("put custom fields of %s: %w", orgID, err)
	}
	return nil
}

// LeadsHoldField reports whether any lead of the org has a value for the
// custom field key: a Query of the org's leads (their partition, not a
// Scan), read to the end or to the first hit.
func (s *Store) LeadsHoldField(ctx context.Context, orgID, key string) (bool, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :p)"),
		FilterExpression:          aws.String("attribute_exists(custom_fields.#k)"),
		ExpressionAttributeNames:  map[string]string{"#k": key},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)}, ":p": &types.AttributeValueMemberS{Value: prefixLead}},
		ProjectionExpression:      aws.String("PK"),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("query leads of %s: %w", orgID, err)
		}
		if len(out.Items) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// DropFieldGuards deletes the unique guards of a custom field in an org
// and returns how many there were.
func (s *Store) DropFieldGuards(ctx context.Context, orgID, key string) (int, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), fieldGuardPrefix(key))
	if err != nil {
		return 0, err
	}
	keys := make([]map[string]types.AttributeValue, 0, len(items))
	for _, it := range items {
		keys = append(keys, map[string]types.AttributeValue{attrPK: it[attrPK], attrSK: it[attrSK]})
	}
	if err := s.batchDelete(ctx, keys); err != nil {
		return 0, fmt.Errorf("delete guards of custom field %s: %w", key, err)
	}
	return len(keys), nil
}

// fieldGuardDelete releases a lead's guard of a custom field value; a
// guard already gone (its field's definition deleted) is fine.
func (s *Store) fieldGuardDelete(orgID, sk, leadID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName: &s.table, Key: key(orgPK(orgID), sk),
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR lead_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: leadID}},
	}}
}

// fieldGuards maps the guard sort key of each unique custom field value l
// holds to its field ("custom_fields.<key>").
func fieldGuards(l lead.Lead) map[string]string {
	out := map[string]string{}
	for _, k := range l.UniqueFields {
		if v := l.CustomFields[k]; v != "" {
			out[fieldGuardSK(k, v)] = "custom_fields." + k
		}
	}
	return out
}
