package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

type auditItem struct {
	PK         string            `dynamodbav:"PK"`
	SK         string            `dynamodbav:"SK"`
	Type       string            `dynamodbav:"type"`
	OrgID      string            `dynamodbav:"org_id"`
	ActorID    string            `dynamodbav:"actor_id,omitempty"`
	Action     string            `dynamodbav:"action"`
	TargetType string            `dynamodbav:"target_type,omitempty"`
	TargetID   string            `dynamodbav:"target_id,omitempty"`
	Outcome    string            `dynamodbav:"outcome"`
	SourceIP   string            `dynamodbav:"source_ip,omitempty"`
	UserAgent  string            `dynamodbav:"user_agent,omitempty"`
	At         time.Time         `dynamodbav:"at"`
	Details    map[string]string `dynamodbav:"details,omitempty"`
}

// AppendAudit appends a record to its org's trail. The record id must be a
// ULID so the trail sorts by time.
func (s *Store) AppendAudit(ctx context.Context, r audit.Record) error {
	av, err := marshal(auditItem{PK: auditPK(r.OrgID), SK: r.ID, Type: "audit", OrgID: r.OrgID, ActorID: r.ActorID,
		Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID, Outcome: r.Outcome, SourceIP: r.SourceIP,
		UserAgent: r.UserAgent, At: r.At, Details: r.Details})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("append audit %s: %w", r.Action, err)
	}
	return nil
}

// ListAudit returns up to limit records of an org's trail, newest first.
func (s *Store) ListAudit(ctx context.Context, orgID string, limit int, from page.Cursor) ([]audit.Record, page.Cursor, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: auditPK(orgID)}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(pageLimit(limit)),
		ExclusiveStartKey:         encodeKey(from),
	})
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("list audit of %s: %w", orgID, err)
	}
	recs := make([]audit.Record, 0, len(out.Items))
	for _, item := range out.Items {
		var it auditItem
		if err := unmarshal(item, &it); err != nil {
			return nil, page.Cursor{}, err
		}
		recs = append(recs, audit.Record{ID: it.SK, OrgID: it.OrgID, ActorID: it.ActorID, Action: it.Action,
			TargetType: it.TargetType, TargetID: it.TargetID, Outcome: it.Outcome, SourceIP: it.SourceIP,
			UserAgent: it.UserAgent, At: it.At, Details: it.Details})
	}
	return recs, decodeKey(out.LastEvaluatedKey), nil
}
