package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
)

// SeedMessages is for benchmarks and tests only (tools/bench); no function
// calls it. It writes each message's own item exactly as PutInboundMessage
// writes it for a message from Meta (same keys, attributes, ttl and due-index
// keys), 25 to a BatchWriteItem, and nothing else: no provider-id guard, no
// conversation summary, no consent entry, no condition. It is a fast way to
// give a table a large message history; the history is readable as any other
// (GetMessage, Messages, DueContent) but is not a complete conversation.
func (s *Store) SeedMessages(ctx context.Context, msgs []conversation.Message) error {
	for start := 0; start < len(msgs); start += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, m := range msgs[start:min(start+25, len(msgs))] {
			av, err := marshal(toMessageItem(m, true))
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		if err := s.seedBatch(ctx, reqs); err != nil {
			return fmt.Errorf("seed messages: %w", err)
		}
	}
	return nil
}

// seedBatch writes up to 25 requests, retrying what comes back unprocessed.
func (s *Store) seedBatch(ctx context.Context, reqs []types.WriteRequest) error {
	for try := 0; len(reqs) > 0; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("seed batch: %w", ctx.Err())
			case <-time.After(time.Duration(min(try, 10)) * 50 * time.Millisecond):
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			return fmt.Errorf("seed batch: %w", err)
		}
		reqs = out.UnprocessedItems[s.table]
	}
	return nil
}
