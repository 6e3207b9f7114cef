package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
)

var (
	_ lead.PipelineStore = (*Store)(nil)
	_ lead.StageCounter  = (*Store)(nil)
)

// pipelineItem is one pipeline of an org with its ordered stages, in the
// org's partition. The default pipeline is stored only once an owner or
// admin changes it; until then it reads as lead.DefaultPipeline.
type pipelineItem struct {
	PK        string      `dynamodbav:"PK"`
	SK        string      `dynamodbav:"SK"`
	Type      string      `dynamodbav:"type"`
	ID        string      `dynamodbav:"id"`
	OrgID     string      `dynamodbav:"org_id"`
	Name      string      `dynamodbav:"name"`
	Stages    []stageAttr `dynamodbav:"stages"`
	CreatedAt time.Time   `dynamodbav:"created_at"`
	UpdatedAt time.Time   `dynamodbav:"updated_at"`
	Version   int         `dynamodbav:"version"`
}

// stageAttr is one stage of a pipeline.
type stageAttr struct {
	ID     string `dynamodbav:"id"`
	Name   string `dynamodbav:"name"`
	Kind   string `dynamodbav:"kind"`
	Status string `dynamodbav:"status,omitempty"`
}

func toPipelineItem(p lead.Pipeline) pipelineItem {
	it := pipelineItem{PK: orgPK(p.OrgID), SK: pipelineSK(p.ID), Type: "pipeline", ID: p.ID, OrgID: p.OrgID, Name: p.Name,
		Stages: make([]stageAttr, 0, len(p.Stages)), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Version: p.Version}
	for _, s := range p.Stages {
		it.Stages = append(it.Stages, stageAttr{ID: s.ID, Name: s.Name, Kind: string(s.Kind), Status: string(s.Status)})
	}
	return it
}

func (it pipelineItem) pipeline() lead.Pipeline {
	p := lead.Pipeline{ID: it.ID, OrgID: it.OrgID, Name: it.Name, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version}
	for _, s := range it.Stages {
		p.Stages = append(p.Stages, lead.Stage{ID: s.ID, Name: s.Name, Kind: lead.StageKind(s.Kind), Status: lead.Status(s.Status)})
	}
	return p
}

// Pipeline returns one pipeline of an org; the default one reads as
// lead.DefaultPipeline until it is written.
func (s *Store) Pipeline(ctx context.Context, orgID, id string) (lead.Pipeline, error) {
	var it pipelineItem
	ok, err := s.get(ctx, orgPK(orgID), pipelineSK(id), &it)
	switch {
	case err != nil:
		return lead.Pipeline{}, fmt.Errorf("read pipeline %s: %w", id, err)
	case ok:
		return it.pipeline(), nil
	case id == lead.DefaultPipelineID:
		return lead.DefaultPipeline(orgID), nil
	}
	return lead.Pipeline{}, lead.ErrPipelineNotFound
}

// Pipelines returns an org's pipelines, the default first, then by
// creation (one Query).
func (s *Store) Pipelines(ctx context.Context, orgID string) ([]lead.Pipeline, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixPipeline)
	if err != nil {
		return nil, fmt.Errorf("list pipelines of %s: %w", orgID, err)
	}
	out := []lead.Pipeline{lead.DefaultPipeline(orgID)}
	for _, item := range items {
		var it pipelineItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		if it.ID == lead.DefaultPipelineID {
			out[0] = it.pipeline()
			continue
		}
		out = append(out, it.pipeline())
	}
	return out, nil
}

// PutPipeline writes p if the stored pipeline is at p.Version-1 (absent
// for version 1), else lead.ErrPipelineChanged.
func (s *Store) PutPipeline(ctx context.Context, p lead.Pipeline) error {
	av, err := marshal(toPipelineItem(p))
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if p.Version > 1 {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(p.Version - 1)}}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) {
			return lead.ErrPipelineChanged
		}
		return fmt.Errorf("put pipeline %s: %w", p.ID, err)
	}
	return nil
}

// DeletePipeline deletes p if it is still at p.Version.
func (s *Store) DeletePipeline(ctx context.Context, p lead.Pipeline) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: key(orgPK(p.OrgID), pipelineSK(p.ID)),
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(p.Version)}},
	})
	if isConditionFailed(err) {
		return lead.ErrPipelineChanged
	}
	if err != nil {
		return fmt.Errorf("delete pipeline %s: %w", p.ID, err)
	}
	return nil
}

// CountStage counts the leads in a board column: Select=COUNT Queries of
// the column's GSI3 key (one per 1 MB of index items read; an assignee
// is a filter on them). GSI3 is eventually consistent: a lead moved a
// moment ago may be counted in its old column for that moment.
func (s *Store) CountStage(ctx context.Context, orgID, pipelineID, stageID, assigneeID string) (int, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI3), Select: types.SelectCount,
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: leadStagePK(orgID, pipelineID, stageID)}},
	}
	if assigneeID != "" {
		in.FilterExpression = aws.String("assignee_id = :assignee")
		in.ExpressionAttributeValues[":assignee"] = &types.AttributeValueMemberS{Value: assigneeID}
	}
	n := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count stage %s of pipeline %s: %w", stageID, pipelineID, err)
		}
		n += int(out.Count)
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
