package dynamostore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
)

// Readers for the conversation API: a lead's messages a page at a time,
// its latest message, the inbound messages it has since it was last read,
// and the read marker itself. Message sort keys are ULIDs built from the
// message time, so the key order is the time order.

// skReadMark is the lead's read marker in its history partition
// (ORG#<org>#LEAD#<lead> / READ): when someone last read the conversation.
// It lives in its own item so that lead updates (whole-item puts) never
// overwrite it. (Kept here rather than in keys.go only because that file
// belongs to another change in flight; it is one constant.)
const skReadMark = "READ"

// posSK is the one field of a message-page position: the sort key of the
// last message returned. The partition is implied by the lead.
const posSK = "sk"

// MessagesPage returns up to limit messages of a lead in time order
// (newest first when newestFirst), starting after the position from (a
// next position returned for the same lead, or nil for the first page),
// and the position after the last one (nil when there are no more).
func (s *Store) MessagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from map[string]string) ([]conversation.Message, map[string]string, error) {
	page, err := s.messagesPage(ctx, orgID, leadID, newestFirst, limit, from)
	return page.Items, page.Next, err
}

type messagePage struct {
	Items []conversation.Message
	Next  map[string]string
}

func (s *Store) messagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from map[string]string) (messagePage, error) {
	pk := leadPartPK(orgID, leadID)
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefixMsg},
		},
		ScanIndexForward: aws.Bool(!newestFirst),
		// One more than needed tells whether a next page exists.
		Limit: aws.Int32(pageLimit(limit + 1)),
	}
	if from != nil {
		sk := from[posSK]
		if !strings.HasPrefix(sk, prefixMsg) {
			return messagePage{}, fmt.Errorf("messages of lead %s: bad position", leadID)
		}
		in.ExclusiveStartKey = key(pk, sk)
	}
	var page messagePage
	for range maxListPages {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return messagePage{}, fmt.Errorf("messages of lead %s: %w", leadID, err)
		}
		for _, item := range out.Items {
			if len(page.Items) == limit {
				page.Next = map[string]string{posSK: messageSK(page.Items[len(page.Items)-1].ID)}
				return page, nil
			}
			var it messageItem
			if err := unmarshal(item, &it); err != nil {
				return messagePage{}, err
			}
			page.Items = append(page.Items, it.message())
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(pageLimit(limit - len(page.Items) + 1))
	}
	if n := len(page.Items); n > 0 {
		page.Next = map[string]string{posSK: messageSK(page.Items[n-1].ID)}
	}
	return page, nil
}

// LastMessage returns a lead's latest message; ok is false when the lead
// has none.
func (s *Store) LastMessage(ctx context.Context, orgID, leadID string) (m conversation.Message, ok bool, err error) {
	page, err := s.messagesPage(ctx, orgID, leadID, true, 1, nil)
	if err != nil || len(page.Items) == 0 {
		return conversation.Message{}, false, err
	}
	return page.Items[0], true, nil
}

// CountInboundAfter counts a lead's inbound messages later than after
// (to the millisecond, the ULID resolution), stopping at upTo: the answer
// is min(count, upTo). A zero after counts them all.
func (s *Store) CountInboundAfter(ctx context.Context, orgID, leadID string, after time.Time, upTo int) (int, error) {
	lower := prefixMsg
	if !after.IsZero() {
		// The greatest ULID of after's millisecond: every message of a later
		// millisecond sorts above it.
		var id ulid.ULID
		for i := range id {
			id[i] = 0xFF
		}
		if err := id.SetTime(ulid.Timestamp(after)); err != nil {
			return 0, fmt.Errorf("count inbound of lead %s: %w", leadID, err)
		}
		lower = messageSK(id.String())
	}
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		KeyConditionExpression:   aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		FilterExpression:         aws.String("#d = :in"),
		ExpressionAttributeNames: map[string]string{"#d": "direction"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: leadPartPK(orgID, leadID)},
			":lo": &types.AttributeValueMemberS{Value: lower},
			// "MSG$" is the first string above every "MSG#..." key.
			":hi": &types.AttributeValueMemberS{Value: strings.TrimSuffix(prefixMsg, "#") + "$"},
			":in": &types.AttributeValueMemberS{Value: string(conversation.Inbound)},
		},
		Select:           types.SelectCount,
		ScanIndexForward: aws.Bool(false),
	}
	n := 0
	for range maxListPages {
		// Limit bounds the items read (outbound ones included), so a lead
		// with a long history costs at most a few small reads.
		in.Limit = aws.Int32(pageLimit(upTo - n))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count inbound of lead %s: %w", leadID, err)
		}
		n += int(out.Count)
		if n >= upTo {
			return upTo, nil
		}
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return n, nil
}

// MessageByClientID returns the message an org queued under a client
// message id; ok is false when there is none.
func (s *Store) MessageByClientID(ctx context.Context, orgID, clientID string) (m conversation.Message, ok bool, err error) {
	var g struct {
		LeadID string `dynamodbav:"lead_id"`
		MsgSK  string `dynamodbav:"msg_sk"`
	}
	found, err := s.get(ctx, orgPK(orgID), clientMessageSK(clientID), &g)
	if err != nil || !found {
		return conversation.Message{}, false, err
	}
	var it messageItem
	found, err = s.get(ctx, leadPartPK(orgID, g.LeadID), g.MsgSK, &it)
	if err != nil {
		return conversation.Message{}, false, err
	}
	if !found {
		// The guard is written with the message in one transaction, so this
		// is a message removed since (retention, lead deletion).
		return conversation.Message{}, false, fmt.Errorf("message of client id %s: %w", clientID, conversation.ErrUnknownMessage)
	}
	return it.message(), true, nil
}

type readMarkItem struct {
	PK     string    `dynamodbav:"PK"`
	SK     string    `dynamodbav:"SK"`
	Type   string    `dynamodbav:"type"`
	OrgID  string    `dynamodbav:"org_id"`
	LeadID string    `dynamodbav:"lead_id"`
	ReadAt time.Time `dynamodbav:"read_at"`
}

// MarkRead moves a lead's read marker forward to at (never back).
func (s *Store) MarkRead(ctx context.Context, orgID, leadID string, at time.Time) error {
	v := at.UTC().Format(time.RFC3339Nano)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 key(leadPartPK(orgID, leadID), skReadMark),
		UpdateExpression:    aws.String("SET read_at = :at, #t = :t, org_id = :o, lead_id = :l"),
		ConditionExpression: aws.String("attribute_not_exists(read_at) OR read_at < :at"),
		ExpressionAttributeNames: map[string]string{
			"#t": "type",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: v}, ":t": &types.AttributeValueMemberS{Value: "read_mark"},
			":o": &types.AttributeValueMemberS{Value: orgID}, ":l": &types.AttributeValueMemberS{Value: leadID},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("mark lead %s read: %w", leadID, err)
	}
	return nil
}

// ReadMarks returns the read markers of some leads of an org (leads never
// read are absent), with one BatchGetItem per 100 leads.
func (s *Store) ReadMarks(ctx context.Context, orgID string, leadIDs []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(leadIDs))
	for start := 0; start < len(leadIDs); start += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, id := range leadIDs[start:min(start+100, len(leadIDs))] {
			keys = append(keys, key(leadPartPK(orgID, id), skReadMark))
		}
		req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 8 {
				return nil, fmt.Errorf("read marks of %s: %w", orgID, errors.New("unprocessed keys after retries"))
			}
			if attempt > 0 {
				if err := backoff(ctx, attempt); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read marks of %s: %w", orgID, err)
			}
			for _, item := range res.Responses[s.table] {
				var it readMarkItem
				if err := unmarshal(item, &it); err != nil {
					return nil, err
				}
				out[it.LeadID] = it.ReadAt
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// backoff sleeps before retry attempt (1, 2, ...) of unprocessed batch
// keys: 20 ms doubling, with jitter, as the SDK documentation advises.
func backoff(ctx context.Context, attempt int) error {
	d := (20 * time.Millisecond) << min(attempt-1, 6)
	var b [1]byte
	_, _ = rand.Read(b[:])
	d += time.Duration(b[0]) * d / 512
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("batch retry: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// StatusLogs returns the status logs of several provider ids, querying
// them concurrently (at most 8 at a time); ids without a log are absent.
func (s *Store) StatusLogs(ctx context.Context, providerIDs []string) (map[string][]conversation.StatusEvent, error) {
	var (
		mu    sync.Mutex
		out   = make(map[string][]conversation.StatusEvent, len(providerIDs))
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 8)
	)
	for _, id := range providerIDs {
		if id == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			log, err := s.StatusLog(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if len(log) > 0 {
				out[id] = log
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}
