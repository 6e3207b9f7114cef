package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// BackfillBoard is a one-off migration: it files every lead written before
// pipelines existed (no stage stored, so not in GSI3) in the board index
// at the stage it already reads as, the default pipeline's stage of its
// status. It reads one page of the table with a Scan of at most limit
// items (leads without GSI3PK), starting at cursor (the zero Cursor for
// the first page), and sets pipeline_id, stage_id, GSI3PK and GSI3SK on
// each; it returns how many it filed and the cursor of the next page, zero
// once the whole table was read. Call it again with next until then.
//
// It is idempotent and safe beside normal traffic: each write is
// conditioned on the lead still lacking GSI3PK and still having the status
// read, so a lead placed meanwhile (any change files it) or deleted is
// left alone. The version stays: the lead reads the same before and after,
// so an If-Match a client holds stays valid.
func (s *Store) BackfillBoard(ctx context.Context, limit int, cursor page.Cursor) (done int, next page.Cursor, err error) {
	out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
		TableName: &s.table, Limit: aws.Int32(pageLimit(limit)), ExclusiveStartKey: encodeKey(cursor),
		FilterExpression:          aws.String("#type = :lead AND attribute_not_exists(GSI3PK)"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lead": &types.AttributeValueMemberS{Value: "lead"}},
	})
	if err != nil {
		return 0, page.Cursor{}, fmt.Errorf("backfill board: scan: %w", err)
	}
	for _, item := range out.Items {
		var it leadItem
		if err := unmarshal(item, &it); err != nil {
			return done, page.Cursor{}, err
		}
		if it.StageID != "" || !lead.Status(it.Status).Valid() {
			continue
		}
		stage := it.Status // the default pipeline's stage ids are the statuses
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(it.PK, it.SK),
			UpdateExpression:         aws.String("SET pipeline_id = :p, stage_id = :s, GSI3PK = :gpk, GSI3SK = :gsk"),
			ConditionExpression:      aws.String("attribute_exists(PK) AND attribute_not_exists(GSI3PK) AND #status = :s"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":p":   &types.AttributeValueMemberS{Value: lead.DefaultPipelineID},
				":s":   &types.AttributeValueMemberS{Value: stage},
				":gpk": &types.AttributeValueMemberS{Value: leadStagePK(it.OrgID, lead.DefaultPipelineID, stage)},
				":gsk": &types.AttributeValueMemberS{Value: leadSK(it.ID)},
			},
		})
		if isConditionFailed(err) {
			continue
		}
		if err != nil {
			return done, page.Cursor{}, fmt.Errorf("backfill board: lead %s: %w", it.ID, err)
		}
		done++
	}
	return done, decodeKey(out.LastEvaluatedKey), nil
}
