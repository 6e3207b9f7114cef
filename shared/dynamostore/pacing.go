package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The pacer's state (outbound.Pacer), in items no other code reads:
//
//	PK "RATE#<phone_number_id>[#S<shard>]"   SK "<unix second>"  count (N), ttl
//	    sends granted from a business number in one one-second window, on
//	    one of the shards its limit is split over (outbound.ShardCapacity)
//	PK "RATE#<phone_number_id>#TO#<wa_id>"   SK "PAIR"           tat (N, unix ms), ttl
//	    the pair schedule of one business number and one recipient
//	PK "RATE#BOOKING#<org_id>#<message_id>"  SK "BOOKING"        at (N, unix ms), ttl
//	    a pair slot booked by a message that waits for it in the queue
//	PK "RATE#EMAIL#<org_id>"                 SK "<unix second>"  count (N), ttl
//	    emails an org queued in the one-minute window starting then (the
//	    api's per-org email limit)
//
// Every item carries a ttl; DynamoDB Local never expires items, but no read
// here depends on expiry (windows are addressed by second, schedules only
// move forward, bookings are taken with a delete).
const (
	windowTTL   = 2 * time.Minute
	scheduleTTL = 24 * time.Hour
)

// CountWindowSend counts one send of number on the given shard of the
// one-second window that starts at window, if fewer than limit (the
// shard's share) were counted there (a conditional ADD on the shard's
// counter); false when that shard is full.
func (s *Store) CountWindowSend(ctx context.Context, number string, shard int, window time.Time, limit int) (bool, error) {
	sec := window.Unix()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       key(rateWindowPK(number, shard), rateWindowSK(sec)),
		// "count" is a reserved word.
		UpdateExpression:         aws.String("SET #ttl = :ttl ADD #n :one"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :limit"),
		ExpressionAttributeNames: map[string]string{"#n": "count", "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":limit": num(int64(limit)), ":ttl": num(time.Unix(sec, 0).Add(windowTTL).Unix()),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("count send of number %s: %w", number, err)
	}
	return true, nil
}

// CountEmailSend counts one email of org in the one-minute window that
// starts at window, if fewer than limit were counted there (a conditional
// ADD, shared by every api instance); false when the org reached its limit
// for that minute.
func (s *Store) CountEmailSend(ctx context.Context, orgID string, window time.Time, limit int) (bool, error) {
	sec := window.Unix()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      key(emailRatePK(orgID), emailRateSK(sec)),
		UpdateExpression:         aws.String("SET #ttl = :ttl ADD #n :one"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :limit"),
		ExpressionAttributeNames: map[string]string{"#n": "count", "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":limit": num(int64(limit)), ":ttl": num(time.Unix(sec, 0).Add(time.Minute + windowTTL).Unix()),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("count email of org %s: %w", orgID, err)
	}
	return true, nil
}

// StartPairSchedule sets the pair's schedule (tat) to next, provided it is
// idle at now (no tat, or one not after now); false when it is busy.
func (s *Store) StartPairSchedule(ctx context.Context, number, to string, now, next time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(pairPK(number, to), skPair),
		UpdateExpression:         aws.String("SET tat = :next, #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(tat) OR tat <= :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": num(next.UnixMilli()), ":now": num(now.UnixMilli()), ":ttl": num(now.Add(scheduleTTL).Unix()),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start pair schedule: %w", err)
	}
	return true, nil
}

// ExtendPairSchedule moves a schedule that is busy at now (tat after now)
// interval further and returns the new tat, read from the update itself so
// that concurrent bookings each get their own; false when it is idle.
func (s *Store) ExtendPairSchedule(ctx context.Context, number, to string, now time.Time, interval time.Duration) (time.Time, bool, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(pairPK(number, to), skPair),
		UpdateExpression:         aws.String("SET tat = tat + :interval, #ttl = :ttl"),
		ConditionExpression:      aws.String("tat > :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":interval": num(interval.Milliseconds()), ":now": num(now.UnixMilli()), ":ttl": num(now.Add(scheduleTTL).Unix()),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("extend pair schedule: %w", err)
	}
	tat, err := numAttr(out.Attributes, "tat")
	if err != nil {
		return time.Time{}, false, fmt.Errorf("extend pair schedule: %w", err)
	}
	return time.UnixMilli(tat), true, nil
}

type bookingItem struct {
	PK   string `dynamodbav:"PK"`
	SK   string `dynamodbav:"SK"`
	Type string `dynamodbav:"type"`
	At   int64  `dynamodbav:"at"`
	TTL  int64  `dynamodbav:"ttl"`
}

// SaveBooking keeps the pair slot at booked by a message.
func (s *Store) SaveBooking(ctx context.Context, orgID, msgID string, at time.Time) error {
	av, err := marshal(bookingItem{PK: bookingPK(orgID, msgID), SK: skBooking, Type: "pace_booking", At: at.UnixMilli(),
		TTL: at.Add(scheduleTTL).Unix()})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("save booking of %s: %w", msgID, err)
	}
	return nil
}

// TakeBooking removes and returns the pair slot a message saved, if any.
func (s *Store) TakeBooking(ctx context.Context, orgID, msgID string) (time.Time, bool, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: key(bookingPK(orgID, msgID), skBooking), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("take booking of %s: %w", msgID, err)
	}
	if len(out.Attributes) == 0 {
		return time.Time{}, false, nil
	}
	at, err := numAttr(out.Attributes, "at")
	if err != nil {
		return time.Time{}, false, fmt.Errorf("take booking of %s: %w", msgID, err)
	}
	return time.UnixMilli(at), true, nil
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func numAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("attribute " + name + " missing or not a number")
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}
