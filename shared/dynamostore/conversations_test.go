package dynamostore_test

import (
	"context"
	"errors"
	"sync/atomic"
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

// TestInboundMessageAfterACrashBetweenItsWrites: the wamid guard is
// written before the message's transaction; a delivery that stops between
// the two (here the transaction fails) leaves the guard, and the next
// delivery stores the message once, under the id and lead the guard names,
// with its consent entry; a third is a duplicate.
func TestInboundMessageAfterACrashBetweenItsWrites(t *testing.T) {
	ctx := context.Background()
	var failTx atomic.Bool
	s, _ := newStoreWith(t, func(op string) error {
		if op == "TransactWriteItems" && failTx.CompareAndSwap(true, false) {
			return errors.New("crash")
		}
		return nil
	})
	l := newLead("org1", "WA", "+919876543218", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1795860000, 0).UTC()
	delivery := func() (conversation.Message, *conversation.ConsentEntry) {
		m := conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
			Direction: conversation.Inbound, ProviderID: "wamid.crash1", Type: "text", Text: "STOP", Status: conversation.StatusReceived, At: at}
		return m, &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
			Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: at, Evidence: "wamid.crash1", Source: "keyword"}
	}
	first, c1 := delivery()
	failTx.Store(true)
	if err := s.PutInboundMessage(ctx, first, c1); err == nil {
		t.Fatal("the crashed delivery succeeded")
	}
	if msgs, err := s.Messages(ctx, "org1", l.ID); err != nil || len(msgs) != 0 {
		t.Fatalf("messages after the crash = %+v, %v", msgs, err)
	}
	second, c2 := delivery()
	if err := s.PutInboundMessage(ctx, second, c2); err != nil {
		t.Fatal(err)
	}
	third, c3 := delivery()
	if err := s.PutInboundMessage(ctx, third, c3); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("third delivery = %v, want ErrDuplicate", err)
	}
	msgs, err := s.Messages(ctx, "org1", l.ID)
	if err != nil || len(msgs) != 1 || msgs[0].ID != first.ID {
		t.Fatalf("messages = %+v, %v; want one, %s", msgs, err, first.ID)
	}
	if got, err := s.MessageByProviderID(ctx, "wamid.crash1"); err != nil || got.ID != first.ID {
		t.Fatalf("message by wamid = %+v, %v", got, err)
	}
	ledger, err := s.ConsentLedger(ctx, "org1", l.ID)
	if err != nil || len(ledger) != 1 {
		t.Fatalf("ledger = %+v, %v", ledger, err)
	}
	sum, ok, err := s.Conversation(ctx, "org1", l.ID)
	if err != nil || !ok || sum.Unread != 1 || sum.LastMessageID != first.ID {
		t.Fatalf("conversation = %+v %v %v", sum, ok, err)
	}
}

// TestRedeliveryToADeletedLeadWritesNothing: a delivery that stopped after
// its wamid guard leaves the guard naming the lead; the lead is deleted
// and the number gets a new lead; the message delivered again is not
// written into the deleted lead's history (nor into the new lead's): it is
// a duplicate, and neither lead has a message or a conversation from it.
func TestRedeliveryToADeletedLeadWritesNothing(t *testing.T) {
	ctx := context.Background()
	var failTx atomic.Bool
	s, _ := newStoreWith(t, func(op string) error {
		if op == "TransactWriteItems" && failTx.CompareAndSwap(true, false) {
			return errors.New("crash")
		}
		return nil
	})
	s.UseSuppression(testHasher(t))
	old := newLead("org1", "WA", "+919876543217", "")
	if err := s.CreateLead(ctx, old); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1795860000, 0).UTC()
	delivery := func(leadID string) conversation.Message {
		return conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: leadID, Channel: conversation.ChannelWhatsApp,
			Direction: conversation.Inbound, ProviderID: "wamid.gone1", Type: "text", Text: "hello", Status: conversation.StatusReceived, At: at}
	}
	failTx.Store(true)
	if err := s.PutInboundMessage(ctx, delivery(old.ID), nil); err == nil {
		t.Fatal("the crashed delivery succeeded")
	}
	cur, err := s.GetLead(ctx, "org1", old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteLead(ctx, cur); err != nil {
		t.Fatal(err)
	}
	next := newLead("org1", "WA", "+919876543217", "")
	if err := s.CreateLead(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := s.PutInboundMessage(ctx, delivery(next.ID), nil); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("redelivery = %v, want ErrDuplicate", err)
	}
	for _, id := range []string{old.ID, next.ID} {
		if msgs, err := s.Messages(ctx, "org1", id); err != nil || len(msgs) != 0 {
			t.Fatalf("messages of %s = %+v, %v; want none", id, msgs, err)
		}
		if sum, ok, err := s.Conversation(ctx, "org1", id); err != nil || ok {
			t.Fatalf("conversation of %s = %+v %v %v; want none", id, sum, ok, err)
		}
	}
}

// TestWindowOnConversation: an inbound WhatsApp message moves the lead's
// window with its own write (the conversation summary), the lead reads
// take the later of the summary's and the lead item's, an older inbound
// message still moves it forward (never back), and email does not open it.
func TestWindowOnConversation(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	l := newLead("org1", "WA", "+919876543219", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1795860000, 0).UTC()
	msg := func(dir conversation.Direction, ch conversation.Channel, wamid string, at time.Time) conversation.Message {
		return conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: "org1", LeadID: l.ID,
			Channel: ch, Direction: dir, ProviderID: wamid, Type: "text", Text: "hi", Status: conversation.StatusReceived, At: at}
	}
	window := func(want time.Time) {
		t.Helper()
		got, err := s.GetLead(ctx, "org1", l.ID)
		if err != nil || !got.LastInboundAt.Equal(want) {
			t.Fatalf("GetLead window = %v, %v; want %v", got.LastInboundAt, err, want)
		}
		sub, err := s.SendSubjects(ctx, "org1", l.ID, "")
		if err != nil || sub.Lead == nil || !sub.Lead.LastInboundAt.Equal(want) {
			t.Fatalf("SendSubjects window = %+v, %v; want %v", sub.Lead, err, want)
		}
	}
	if err := s.PutInboundMessage(ctx, msg(conversation.Inbound, conversation.ChannelWhatsApp, "wamid.w1", base), nil); err != nil {
		t.Fatal(err)
	}
	window(base)
	// An outbound message moves the conversation, not the window.
	if err := s.PutInboundMessage(ctx, msg(conversation.Outbound, conversation.ChannelWhatsApp, "wamid.w2", base.Add(time.Hour)), nil); err != nil {
		t.Fatal(err)
	}
	window(base)
	// An inbound message older than the latest (outbound) one, newer than
	// the window: the window moves forward.
	if err := s.PutInboundMessage(ctx, msg(conversation.Inbound, conversation.ChannelWhatsApp, "wamid.w3", base.Add(time.Minute)), nil); err != nil {
		t.Fatal(err)
	}
	window(base.Add(time.Minute))
	// An older one still: never back.
	if err := s.PutInboundMessage(ctx, msg(conversation.Inbound, conversation.ChannelWhatsApp, "wamid.w4", base.Add(time.Second)), nil); err != nil {
		t.Fatal(err)
	}
	window(base.Add(time.Minute))
	// Email does not open WhatsApp's window.
	if err := s.PutInboundMessage(ctx, msg(conversation.Inbound, conversation.ChannelEmail, "ses.e1", base.Add(2*time.Hour)), nil); err != nil {
		t.Fatal(err)
	}
	window(base.Add(time.Minute))
	// The lead item's own time counts when it is the later one.
	if err := s.TouchLastInbound(ctx, "org1", l.ID, base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	window(base.Add(3 * time.Hour))
	if err := s.PutInboundMessage(ctx, msg(conversation.Inbound, conversation.ChannelWhatsApp, "wamid.w5", base.Add(4*time.Hour)), nil); err != nil {
		t.Fatal(err)
	}
	window(base.Add(4 * time.Hour))
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
