package app_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/meta/metatest"
)

// A person's own WhatsApp message records a WhatsApp service opt-in (the
// wamid its evidence), once; it never opts in to marketing, and after a
// STOP an ordinary message does not take the opt-out back.
func TestInboundMessageRecordsServiceOptIn(t *testing.T) {
	e := newAutoEnv(t, automation.Settings{})
	const from = "919876500301"
	first := metatest.Text(from, "Is the 2BHK still available?").At(time.Now().Add(-3 * time.Minute))
	second := metatest.Text(from, "And the price?").At(time.Now().Add(-2 * time.Minute))
	for _, m := range []metatest.InboundMessage{first, second} {
		if failed := e.deliver(e.sim.InboundPayload(numberID, display, m)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
	}
	l := e.leadByPhone("+" + from)
	ledger, err := e.store.ConsentLedger(e.ctx, e.orgID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[0].Action != conversation.OptIn || ledger[0].Channel != conversation.ChannelWhatsApp ||
		ledger[0].Purpose != conversation.PurposeService || ledger[0].Source != "inbound_message" || ledger[0].Evidence != first.Message.ID {
		t.Fatalf("ledger %+v", ledger)
	}
	if st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateOptedIn {
		t.Fatalf("service %s", st)
	}
	if st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeMarketing); st != conversation.StateUnknown {
		t.Fatalf("marketing %s after an ordinary message", st)
	}

	// STOP opts out; the next ordinary message records nothing.
	stop := metatest.Text(from, "STOP").At(time.Now().Add(-time.Minute))
	again := metatest.Text(from, "one more question").At(time.Now())
	for _, m := range []metatest.InboundMessage{stop, again} {
		if failed := e.deliver(e.sim.InboundPayload(numberID, display, m)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
	}
	l = e.leadByPhone("+" + from)
	if ledger, _ = e.store.ConsentLedger(e.ctx, e.orgID, l.ID); len(ledger) != 2 || ledger[1].Action != conversation.OptOut {
		t.Fatalf("ledger after STOP %+v", ledger)
	}
	if st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateOptedOut {
		t.Fatalf("service %s after STOP and a message", st)
	}
}
