package dynamostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/integration"
)

func TestInboundMessagesAreStoredOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	l := newLead("org1", "WA", "+919876543210", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1795860000, 0).UTC()
	m := conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Inbound, ProviderID: "wamid.stop1", Type: "text", Text: "STOP", Status: conversation.StatusReceived, At: at}
	consent := &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: at, Evidence: "wamid.stop1", Source: "keyword"}
	if err := s.PutInboundMessage(ctx, m, consent); err != nil {
		t.Fatal(err)
	}
	again := m
	again.ID = ulid.Make().String()
	if err := s.PutInboundMessage(ctx, again, consent); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("second delivery = %v, want ErrDuplicate", err)
	}
	msgs, err := s.Messages(ctx, "org1", l.ID)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "STOP" {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	ledger, err := s.ConsentLedger(ctx, "org1", l.ID)
	if err != nil || len(ledger) != 1 || ledger[0].Action != conversation.OptOut || ledger[0].Evidence != "wamid.stop1" {
		t.Fatalf("ledger = %+v, %v", ledger, err)
	}
	got, err := s.GetLead(ctx, "org1", l.ID)
	if err != nil || got.Consent["whatsapp:all"] == "" || got.Version != 2 {
		t.Fatalf("lead consent %v version %d, %v", got.Consent, got.Version, err)
	}
	if err := s.TouchLastInbound(ctx, "org1", l.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchLastInbound(ctx, "org1", l.ID, at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLead(ctx, "org1", l.ID); !got.LastInboundAt.Equal(at) {
		t.Fatalf("last_inbound_at = %v, want %v (never backwards)", got.LastInboundAt, at)
	}
}

func TestStatusStateMachine(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	l := newLead("org1", "WA", "+919876543211", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: "wamid.out1", Status: conversation.StatusSent, At: time.Now()}); !errors.Is(err, conversation.ErrUnknownMessage) {
		t.Fatalf("status for unknown message = %v, want ErrUnknownMessage", err)
	}
	base := time.Unix(1795860000, 0).UTC()
	m := conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Outbound, ProviderID: "wamid.out1", Type: "text", Text: "hi", Status: conversation.StatusAccepted, At: base}
	if err := s.PutInboundMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		status conversation.Status
		offset time.Duration
		moves  bool
	}{
		{conversation.StatusDelivered, 2 * time.Second, true}, // delivered before sent: out of order
		{conversation.StatusSent, 1 * time.Second, false},
		{conversation.StatusDelivered, 2 * time.Second, false}, // duplicate
		{conversation.StatusRead, 3 * time.Second, true},
		{conversation.StatusFailed, 4 * time.Second, true}, // failed wins
		{conversation.StatusRead, 5 * time.Second, false},
	}
	for _, st := range steps {
		moved, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: "wamid.out1", Status: st.status, At: base.Add(st.offset), ErrorCode: 131026, ErrorTitle: "Message undeliverable"})
		if err != nil || moved != st.moves {
			t.Fatalf("apply %s: moved %v err %v; want moved %v", st.status, moved, err, st.moves)
		}
	}
	got, err := s.MessageByProviderID(ctx, "wamid.out1")
	if err != nil || got.Status != conversation.StatusFailed || got.ErrorCode != 131026 {
		t.Fatalf("message = %+v, %v", got, err)
	}
	log, err := s.StatusLog(ctx, "wamid.out1")
	if err != nil || len(log) != 5 {
		t.Fatalf("status log has %d entries (%v), want 5 (every distinct event, duplicates once)", len(log), err)
	}
}

func TestIntegrationOwnership(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	page := integration.Integration{OrgID: "org1", Kind: integration.KindFacebookPage, ExternalID: "104858765678112", Name: "Page",
		SealedToken: []byte("sealed"), ConnectedAt: now, UpdatedAt: now}
	if err := s.ConnectIntegration(ctx, page); err != nil {
		t.Fatal(err)
	}
	other := page
	other.OrgID = "org2"
	if err := s.ConnectIntegration(ctx, other); !errors.Is(err, integration.ErrOwnedElsewhere) {
		t.Fatalf("second org connecting the page = %v, want ErrOwnedElsewhere", err)
	}
	if err := s.ConnectIntegration(ctx, page); err != nil {
		t.Fatalf("reconnect by the owner: %v", err)
	}
	if o, err := s.IntegrationOwner(ctx, integration.KindFacebookPage, page.ExternalID); err != nil || o.OrgID != "org1" {
		t.Fatalf("owner = %+v, %v", o, err)
	}
	if err := s.DisconnectIntegration(ctx, "org1", integration.KindFacebookPage, page.ExternalID, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIntegration(ctx, "org1", integration.KindFacebookPage, page.ExternalID)
	if err != nil || got.Status != integration.StatusDisconnected || len(got.SealedToken) != 0 {
		t.Fatalf("after disconnect: %+v, %v", got, err)
	}
	if err := s.CountDropped(ctx, "org1", integration.KindFacebookPage, page.ExternalID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetIntegration(ctx, "org1", integration.KindFacebookPage, page.ExternalID); got.DroppedEvents != 1 {
		t.Fatalf("dropped = %d", got.DroppedEvents)
	}
	// A disconnected page may be connected by another org.
	if err := s.ConnectIntegration(ctx, other); err != nil {
		t.Fatalf("connect after disconnect: %v", err)
	}
	list, err := s.ListIntegrations(ctx, "org2")
	if err != nil || len(list) != 1 || list[0].Status != integration.StatusActive {
		t.Fatalf("org2 integrations = %+v, %v", list, err)
	}
}

func TestClaimEventOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.ClaimEvent(ctx, "org1", "leadgen:123", "lead-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimEvent(ctx, "org1", "leadgen:123", "lead-b"); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("second claim = %v", err)
	}
	if ref, ok, err := s.EventClaimed(ctx, "org1", "leadgen:123"); err != nil || !ok || ref != "lead-a" {
		t.Fatalf("claimed = %q %v %v", ref, ok, err)
	}
}
