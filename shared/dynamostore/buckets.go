package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/ratelimit"
)

// Token buckets (shared/ratelimit): one item per bucket holding its
// theoretical arrival time, written only by conditional updates:
//
//	PK "USAGE#<org>#<shard>"  SK "BUCKET#api_requests"  tat (N, unix ms), ttl
//	    a shard of an org's API request bucket (shared/plan)
//	PK "RATE#APIKEY#<key>"    SK "BUCKET"               tat (N, unix ms), ttl
//	    an API key's request bucket
//
// A take is one UpdateItem; a refused one returns the item as it was
// (ReturnValuesOnConditionCheckFailure), so the limiter learns the TAT
// without a read. The item expires (ttl) a minute after its bucket is full
// again; an expired or missing one reads as a full bucket.

var _ ratelimit.Store = (*Store)(nil)

// bucketKept is how long a bucket item outlives its TAT.
const bucketKept = time.Minute

func (s *Store) bucketUpdate(ctx context.Context, k ratelimit.Key, update, cond string, vals map[string]types.AttributeValue) (bool, time.Time, error) {
	pk, sk, err := bucketKey(k)
	if err != nil {
		return false, time.Time{}, err
	}
	vals[":type"] = &types.AttributeValueMemberS{Value: "rate_bucket"}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(pk, sk),
		UpdateExpression:                    aws.String(update + ", #t = :type, #ttl = :ttl"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            map[string]string{"#t": "type", "#ttl": attrTTL},
		ExpressionAttributeValues:           vals,
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if _, ok := ccf.Item["tat"]; !ok {
			return false, time.Time{}, nil
		}
		tat, err := numAttr(ccf.Item, "tat")
		if err != nil {
			return false, time.Time{}, fmt.Errorf("bucket %s: %w", pk, err)
		}
		return false, time.UnixMilli(tat), nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("take from bucket %s: %w", pk, err)
	}
	tat, err := numAttr(out.Attributes, "tat")
	if err != nil {
		return false, time.Time{}, fmt.Errorf("take from bucket %s: %w", pk, err)
	}
	return true, time.UnixMilli(tat), nil
}

// StartBucket sets the TAT of an idle bucket (no TAT, or one not after
// now) to next: one conditional UpdateItem.
func (s *Store) StartBucket(ctx context.Context, k ratelimit.Key, now, next time.Time) (bool, time.Time, error) {
	return s.bucketUpdate(ctx, k, "SET tat = :next", "attribute_not_exists(tat) OR tat <= :now", map[string]types.AttributeValue{
		":next": num(next.UnixMilli()), ":now": num(now.UnixMilli()), ":ttl": num(next.Add(bucketKept).Unix()),
	})
}

// AdvanceBucket moves a busy bucket's TAT (after now, not after limit)
// interval further: one conditional UpdateItem, which returns the new TAT.
func (s *Store) AdvanceBucket(ctx context.Context, k ratelimit.Key, now, limit time.Time, interval time.Duration) (bool, time.Time, error) {
	return s.bucketUpdate(ctx, k, "SET tat = tat + :interval", "tat > :now AND tat <= :limit", map[string]types.AttributeValue{
		":interval": num(interval.Milliseconds()), ":now": num(now.UnixMilli()), ":limit": num(limit.UnixMilli()),
		":ttl": num(limit.Add(interval + bucketKept).Unix()),
	})
}
