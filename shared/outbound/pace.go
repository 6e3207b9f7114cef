package outbound

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The pacer keeps its state in the single table, in items of its own that
// no other package reads. Their keys are built here (the rest of the
// table's keys are in dynamostore/keys.go):
//
//	PK "RATE#<phone_number_id>"                 SK "<unix second>"  count (N), ttl
//	    sends granted from a business number in one one-second window
//	PK "RATE#<phone_number_id>#TO#<wa_id>"      SK "PAIR"           tat (N, unix ms), ttl
//	    the pair schedule of one business number and one recipient
//	PK "RATE#BOOKING#<org_id>#<message_id>"     SK "BOOKING"        at (N, unix ms), ttl
//	    a pair slot booked by a message that waits for it in the queue
//
// Every item carries a ttl; DynamoDB Local never expires items, but no read
// here depends on expiry (windows are addressed by second, schedules only
// move forward, bookings are taken with a delete).
const (
	attrPK      = "PK"
	attrSK      = "SK"
	attrTTL     = "ttl"
	skPair      = "PAIR"
	skBooking   = "BOOKING"
	windowTTL   = 2 * time.Minute
	scheduleTTL = 24 * time.Hour
)

func numberWindowPK(number string) string  { return "RATE#" + number }
func pairPK(number, to string) string      { return "RATE#" + number + "#TO#" + to }
func bookingPK(orgID, msgID string) string { return "RATE#BOOKING#" + orgID + "#" + msgID }

// DynamoDB is the part of the DynamoDB client the pacer uses.
type DynamoDB interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Pair pacing defaults: WhatsApp allows about one message every 6 seconds
// from a business number to one recipient; a burst of 2 lets a quick
// follow-up through.
const (
	DefaultPairInterval = 6 * time.Second
	DefaultPairBurst    = 2
)

// PacedError means a send must wait: try again after RetryAfter.
type PacedError struct {
	RetryAfter time.Duration
	What       string
}

// Error implements error.
func (e *PacedError) Error() string {
	return fmt.Sprintf("paced: %s full, retry in %s", e.What, e.RetryAfter.Round(time.Millisecond))
}

// Pacer limits sends across every concurrent sender:
//
//   - per business number, at most limit sends in each one-second window
//     (a conditional ADD on the window's counter item), and
//   - per business number and recipient, a schedule kept with the generic
//     cell rate algorithm: each send books the next slot, PairInterval after
//     the one before, with a burst of PairBurst (two writes at most, no
//     read-modify-write races: the slot is computed from the value the
//     conditional update returns).
//
// It is safe for concurrent use.
type Pacer struct {
	db    DynamoDB
	table string

	// PairInterval and PairBurst shape the per-recipient schedule
	// (defaults DefaultPairInterval, DefaultPairBurst).
	PairInterval time.Duration
	PairBurst    int
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	full map[string]int64 // number → latest window second known full
}

// NewPacer returns a Pacer keeping its items in table.
func NewPacer(db DynamoDB, table string) *Pacer {
	return &Pacer{db: db, table: table, PairInterval: DefaultPairInterval, PairBurst: DefaultPairBurst, Now: time.Now, full: map[string]int64{}}
}

// tolerance is how far ahead of its slot a send may go: the burst.
func (p *Pacer) tolerance() time.Duration {
	return time.Duration(max(p.PairBurst, 1)-1) * p.PairInterval
}

// TakeNumberSlot takes one of number's limit sends in the current one-second
// window. When the window is full it waits for the next one, for at most
// maxWait; then it gives up with a *PacedError. It returns the start of the
// window granted.
func (p *Pacer) TakeNumberSlot(ctx context.Context, number string, limit int, maxWait time.Duration) (time.Time, error) {
	if limit <= 0 {
		return time.Time{}, fmt.Errorf("number %s: rate limit %d: must be positive", number, limit)
	}
	giveUp := p.Now().Add(maxWait)
	for {
		now := p.Now()
		sec := now.Unix()
		if !p.knownFull(number, sec) {
			ok, err := p.tryWindow(ctx, number, sec, limit)
			if err != nil {
				return time.Time{}, err
			}
			if ok {
				return time.Unix(sec, 0), nil
			}
			p.markFull(number, sec)
		}
		// Wake a little after the next window opens, spread so that the
		// waiters of many senders do not all arrive at once.
		next := time.Unix(sec+1, 0).Add(time.Duration(rand.Int64N(int64(20 * time.Millisecond)))) //nolint:gosec // jitter, not security
		if next.After(giveUp) {
			return time.Time{}, &PacedError{RetryAfter: next.Sub(now), What: "number " + number}
		}
		if err := sleep(ctx, next.Sub(now)); err != nil {
			return time.Time{}, err
		}
	}
}

func (p *Pacer) knownFull(number string, sec int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.full[number] == sec
}

func (p *Pacer) markFull(number string, sec int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full[number] < sec {
		p.full[number] = sec
	}
}

// tryWindow counts one send in window sec if it has room.
func (p *Pacer) tryWindow(ctx context.Context, number string, sec int64, limit int) (bool, error) {
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &p.table,
		Key:       key(numberWindowPK(number), strconv.FormatInt(sec, 10)),
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
		return false, fmt.Errorf("take send slot of number %s: %w", number, err)
	}
	return true, nil
}

// BookPair books the next send slot of number to recipient to and returns
// its time: now when the schedule has room (including the burst), else
// PairInterval after the previous booking. The slot is the caller's: it
// must send at that time (or not at all), so that the schedule holds.
func (p *Pacer) BookPair(ctx context.Context, number, to string) (time.Time, error) {
	k := key(pairPK(number, to), skPair)
	interval := p.PairInterval.Milliseconds()
	for range 3 {
		now := p.Now()
		nowMS := now.UnixMilli()
		ttl := num(now.Add(scheduleTTL).Unix())
		// Idle schedule: the slot is now.
		_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &p.table, Key: k,
			UpdateExpression:          aws.String("SET tat = :next, #ttl = :ttl"),
			ConditionExpression:       aws.String("attribute_not_exists(tat) OR tat <= :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":next": num(nowMS + interval), ":now": num(nowMS), ":ttl": ttl},
		})
		if err == nil {
			return time.UnixMilli(nowMS), nil
		}
		if !isConditionFailed(err) {
			return time.Time{}, fmt.Errorf("book pair slot: %w", err)
		}
		// Busy schedule: append a slot after the last one.
		out, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &p.table, Key: k,
			UpdateExpression:          aws.String("SET tat = tat + :interval, #ttl = :ttl"),
			ConditionExpression:       aws.String("tat > :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":interval": num(interval), ":now": num(nowMS), ":ttl": ttl},
			ReturnValues:              types.ReturnValueUpdatedNew,
		})
		if isConditionFailed(err) {
			continue // the schedule fell idle in between (clock skew): start over
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("book pair slot: %w", err)
		}
		tat, err := numAttr(out.Attributes, "tat")
		if err != nil {
			return time.Time{}, fmt.Errorf("book pair slot: %w", err)
		}
		slot := time.UnixMilli(tat - interval).Add(-p.tolerance())
		if slot.Before(now) {
			slot = time.UnixMilli(nowMS)
		}
		return slot, nil
	}
	return time.Time{}, errors.New("book pair slot: schedule kept changing")
}

// SaveBooking keeps the pair slot at booked by a message that goes back to
// the queue until then, so that its next delivery sends in that slot
// instead of booking another.
func (p *Pacer) SaveBooking(ctx context.Context, orgID, msgID string, at time.Time) error {
	_, err := p.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &p.table, Item: map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: bookingPK(orgID, msgID)}, attrSK: &types.AttributeValueMemberS{Value: skBooking},
		"type": &types.AttributeValueMemberS{Value: "pace_booking"}, "at": num(at.UnixMilli()),
		attrTTL: num(at.Add(scheduleTTL).Unix()),
	}})
	if err != nil {
		return fmt.Errorf("save pair booking of %s: %w", msgID, err)
	}
	return nil
}

// TakeBooking removes and returns the pair slot a message saved, if any.
func (p *Pacer) TakeBooking(ctx context.Context, orgID, msgID string) (time.Time, bool, error) {
	out, err := p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &p.table, Key: key(bookingPK(orgID, msgID), skBooking), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("take pair booking of %s: %w", msgID, err)
	}
	if len(out.Attributes) == 0 {
		return time.Time{}, false, nil
	}
	at, err := numAttr(out.Attributes, "at")
	if err != nil {
		return time.Time{}, false, fmt.Errorf("take pair booking of %s: %w", msgID, err)
	}
	return time.UnixMilli(at), true, nil
}

// Late reports whether a booked slot is too old to use: sending later than
// the burst tolerance after it could crowd the slots booked after it.
func (p *Pacer) Late(at, now time.Time) bool { return now.Sub(at) > p.tolerance() }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func numAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s missing or not a number", name)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait: %w", context.Cause(ctx))
	}
}
