package dynamostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
)

func TestOutboundLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	l := newLead("org1", "Out", "+919876543299", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	m := conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Outbound, Type: "text", Text: "Hello", Payload: `{"type":"text"}`, ClientMessageID: "c-1", At: now}
	stored, created, err := s.QueueOutbound(ctx, m)
	if err != nil || !created || stored.Status != conversation.StatusQueued {
		t.Fatalf("queue = %+v, %v, %v", stored, created, err)
	}
	again := m
	again.ID = ulid.Make().String()
	stored, created, err = s.QueueOutbound(ctx, again)
	if err != nil || created || stored.ID != m.ID {
		t.Fatalf("same client id again = %s created %v (%v), want the first message", stored.ID, created, err)
	}

	if err := s.ClaimSend(ctx, "org1", l.ID, m.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSend(ctx, "org1", l.ID, m.ID, now); !errors.Is(err, conversation.ErrNotQueued) {
		t.Fatalf("second claim = %v, want ErrNotQueued", err)
	}
	if err := s.ReleaseSend(ctx, "org1", l.ID, m.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSend(ctx, "org1", l.ID, m.ID, now); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := s.RecordSent(ctx, "org1", l.ID, m.ID, "wamid.sent1", now); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: "wamid.sent1", Status: conversation.StatusDelivered, At: now}); err != nil || !moved {
		t.Fatalf("status after send: %v %v", moved, err)
	}
	got, _ := s.GetMessage(ctx, "org1", l.ID, m.ID)
	if got.Status != conversation.StatusDelivered || got.ProviderID != "wamid.sent1" || got.Payload != `{"type":"text"}` {
		t.Fatalf("message %+v", got)
	}

	// A crash while sending: the message is marked unknown, never resent.
	m2 := m
	m2.ID, m2.ClientMessageID = ulid.Make().String(), "c-2"
	if _, _, err := s.QueueOutbound(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSend(ctx, "org1", l.ID, m2.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.FailSend(ctx, "org1", l.ID, m2.ID, conversation.StatusUnknown, 0, "", "sender stopped mid-send", now); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSend(ctx, "org1", l.ID, m2.ID, now); !errors.Is(err, conversation.ErrNotQueued) {
		t.Fatalf("claim of an unknown-outcome message = %v", err)
	}
	got, _ = s.GetMessage(ctx, "org1", l.ID, m2.ID)
	if got.Status != conversation.StatusUnknown || got.Reason == "" {
		t.Fatalf("message %+v", got)
	}
}
