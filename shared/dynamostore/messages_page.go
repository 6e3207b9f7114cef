package dynamostore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
)

// Readers for the conversation API: a lead's messages a page at a time and
// a message by its client id (the inbox is in inbox.go). Message sort keys
// are ULIDs built from the message time, so the key order is the time order.

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
