package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
)

func TestSeedMessagesWritesThemAsTheStoreDoes(t *testing.T) {
	s, c := newStore(t)
	ctx := context.Background()
	orgID, leadID := ulid.Make().String(), ulid.Make().String()
	asOf := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	var msgs []conversation.Message
	for i := range 60 { // three batches; the first 10 are 100+ days old
		at := asOf.Add(-time.Duration(100+60-i) * 24 * time.Hour)
		if i >= 10 {
			at = asOf.Add(-time.Duration(60-i) * time.Hour)
		}
		id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
		msgs = append(msgs, conversation.Message{ID: id, OrgID: orgID, LeadID: leadID, Channel: conversation.ChannelWhatsApp,
			Direction: conversation.Inbound, ProviderID: "wamid." + id, Type: "text", Text: "hello", Status: conversation.StatusReceived, At: at})
	}
	if err := s.SeedMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Messages(ctx, orgID, leadID)
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("messages: %d, %v; want %d", len(got), err, len(msgs))
	}
	if got[0].ID != msgs[0].ID || got[0].Text != "hello" || !got[0].At.Equal(msgs[0].At) {
		t.Errorf("first message %+v, want %+v", got[0], msgs[0])
	}
	due, err := s.CountDueContent(ctx, orgID, asOf.AddDate(0, 0, -90))
	if err != nil || due != 10 {
		t.Fatalf("due: %d, %v; want 10", due, err)
	}
	if n := c.get("TransactWriteItems") + c.get("PutItem"); n != 0 {
		t.Errorf("%d single or transactional writes, want batches only", n)
	}
}
