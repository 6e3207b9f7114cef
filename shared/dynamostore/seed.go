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

// SeedStatusLogs is for benchmarks only, like SeedMessages: for each seeded
// message with a provider id it writes the provider id guard and the given
// status events exactly as RecordSent/PutInboundMessage and ApplyStatus
// write them (keys, attributes, ttl), 25 to a BatchWriteItem, without
// moving the message's own status.
func (s *Store) SeedStatusLogs(ctx context.Context, msgs []conversation.Message, events map[string][]conversation.StatusEvent) error {
	var reqs []types.WriteRequest
	flush := func(force bool) error {
		for len(reqs) >= 25 || (force && len(reqs) > 0) {
			n := min(25, len(reqs))
			if err := s.seedBatch(ctx, reqs[:n]); err != nil {
				return fmt.Errorf("seed status logs: %w", err)
			}
			reqs = reqs[n:]
		}
		return nil
	}
	for _, m := range msgs {
		if m.ProviderID == "" {
			continue
		}
		ttl := messageTTLOfID(m.ID, m.At)
		av, err := marshal(wamidItem{PK: wamidPK(m.ProviderID), SK: skWAMID, Type: "wamid", OrgID: m.OrgID, LeadID: m.LeadID,
			MsgSK: messageSK(m.ID), TTL: ttl})
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		for _, ev := range events[m.ProviderID] {
			av, err := marshal(statusLogItem{PK: wamidPK(m.ProviderID), SK: statusLogSK(ev.At.Unix(), string(ev.Status)), Type: "status_event",
				Status: string(ev.Status), At: ev.At, ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle, TTL: ttl})
			if err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}
