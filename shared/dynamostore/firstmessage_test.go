package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/lead"
)

// serviceOptIn is the consentFor of a first message: the service opt-in,
// unless the lead's preference is known already (carried opt-outs).
func serviceOptIn(wamid string, at time.Time) func(lead.Lead) *conversation.ConsentEntry {
	return func(l lead.Lead) *conversation.ConsentEntry {
		if st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateUnknown {
			return nil
		}
		return &conversation.ConsentEntry{ID: inboundAt(l.OrgID, l.ID, wamid, at).ID, OrgID: l.OrgID, LeadID: l.ID,
			Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService, Action: conversation.OptIn, At: at,
			Evidence: wamid, Source: intake.SourceInbound}
	}
}

// TestFirstMessageCreatesOneLeadUnderConcurrency: first messages from one
// new number, delivered at once, make one lead; every other delivery is
// told which lead holds the number, and nothing of it was written; the
// winner's lead carries the consent its message recorded, in its item and
// in the ledger, with its message, conversation and "created" activity.
func TestFirstMessageCreatesOneLeadUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const n = 6
	at := time.Now().UTC().Truncate(time.Second)
	type outcome struct {
		l   lead.Lead
		err error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			l := newLead("org1", "WA", "+919876540001", "")
			wamid := fmt.Sprintf("wamid.first%d", i)
			m := inboundAt("org1", l.ID, wamid, at.Add(time.Duration(i)*time.Second))
			_, err := s.CreateLeadWithInboundMessage(ctx, l, m, serviceOptIn(wamid, m.At))
			out[i] = outcome{l, err}
		})
	}
	wg.Wait()
	var winner lead.Lead
	for _, o := range out {
		if o.err == nil {
			if winner.ID != "" {
				t.Fatalf("two leads made for one number: %s and %s", winner.ID, o.l.ID)
			}
			winner = o.l
		}
	}
	if winner.ID == "" {
		t.Fatalf("no delivery made the lead: %+v", out)
	}
	for _, o := range out {
		if o.err == nil {
			continue
		}
		var dup *lead.DuplicateError
		// A delivery that lost the race to a transaction in flight may see a
		// conflict instead, and is retried by its caller.
		if !errors.As(o.err, &dup) && !isConflict(o.err) {
			t.Fatalf("a losing delivery got %v, want a DuplicateError", o.err)
		}
		if dup != nil && dup.ExistingID != winner.ID {
			t.Fatalf("DuplicateError names %s, want %s", dup.ExistingID, winner.ID)
		}
		if _, err := s.GetLead(ctx, "org1", o.l.ID); !errors.Is(err, lead.ErrNotFound) {
			t.Fatalf("a losing delivery's lead was written (%v)", err)
		}
		if msgs, err := s.Messages(ctx, "org1", o.l.ID); err != nil || len(msgs) != 0 {
			t.Fatalf("a losing delivery's message was written: %+v, %v", msgs, err)
		}
	}
	got, err := s.GetLead(ctx, "org1", winner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := conversation.Preference(got.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateOptedIn {
		t.Fatalf("the lead's consent %v, want the service opt-in", got.Consent)
	}
	if id, err := s.LeadIDByPhone(ctx, "org1", "+919876540001"); err != nil || id != winner.ID {
		t.Fatalf("the number's lead is %s (%v), want %s", id, err, winner.ID)
	}
	ledger, err := s.ConsentLedger(ctx, "org1", winner.ID)
	if err != nil || len(ledger) != 1 || ledger[0].Source != intake.SourceInbound {
		t.Fatalf("ledger %+v, %v; want the one service opt-in", ledger, err)
	}
	msgs, err := s.Messages(ctx, "org1", winner.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %+v, %v; want the first", msgs, err)
	}
	if sum, ok, err := s.Conversation(ctx, "org1", winner.ID); err != nil || !ok || sum.Unread != 1 {
		t.Fatalf("conversation %+v (%v, %v), want one unread message", sum, ok, err)
	}
	acts, err := s.Activities(ctx, "org1", winner.ID)
	if err != nil || len(acts) != 1 || acts[0].Kind != lead.ActivityCreated {
		t.Fatalf("activities %+v, %v; want the one \"created\"", acts, err)
	}
	// The winner's message delivered again: the number is taken; stored on
	// the lead, it is a duplicate.
	again := newLead("org1", "WA", "+919876540001", "")
	m := msgs[0]
	m.LeadID = again.ID
	var dup *lead.DuplicateError
	if _, err := s.CreateLeadWithInboundMessage(ctx, again, m, serviceOptIn(m.ProviderID, m.At)); !errors.As(err, &dup) || dup.ExistingID != winner.ID {
		t.Fatalf("redelivery = %v, want a DuplicateError naming %s", err, winner.ID)
	}
	m.LeadID = winner.ID
	if err := s.PutInboundMessage(ctx, m, nil); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("redelivery on the lead = %v, want ErrDuplicate", err)
	}
	// A stored wamid from a number no lead holds (its lead deleted since)
	// is a duplicate, and writes no lead.
	other := newLead("org1", "WA", "+919876540002", "")
	m.LeadID = other.ID
	if _, err := s.CreateLeadWithInboundMessage(ctx, other, m, serviceOptIn(m.ProviderID, m.At)); !errors.Is(err, intake.ErrDuplicate) {
		t.Fatalf("a stored wamid = %v, want ErrDuplicate", err)
	}
	if _, err := s.GetLead(ctx, "org1", other.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("the duplicate's lead was written (%v)", err)
	}
}

// isConflict is a transaction cancelled by a concurrent one, after the
// store's own retries.
func isConflict(err error) bool { return strings.Contains(err.Error(), "TransactionConflict") }

// TestFirstMessageRecordsAfterACrash: the records of a lead's creation by
// its first message ("created" activity, consent entry) follow the
// transaction that stores the lead and the message; a delivery that stops
// between the two leaves them unwritten, and the next delivery of the
// message, a duplicate, writes them, once however often it comes.
func TestFirstMessageRecordsAfterACrash(t *testing.T) {
	ctx := context.Background()
	var failPut atomic.Bool
	s, _ := newStoreWith(t, func(op string) error {
		if op == "PutItem" && failPut.Load() {
			return errors.New("crash")
		}
		return nil
	})
	at := time.Now().UTC().Truncate(time.Second)
	l := newLead("org1", "WA", "+919876540003", "")
	l.Source, l.CreatedAt = "whatsapp", at
	m := inboundAt("org1", l.ID, "wamid.crashfirst", at)
	failPut.Store(true)
	if _, err := s.CreateLeadWithInboundMessage(ctx, l, m, serviceOptIn(m.ProviderID, m.At)); err == nil {
		t.Fatal("the crashed delivery succeeded")
	}
	failPut.Store(false)
	if acts, err := s.Activities(ctx, "org1", l.ID); err != nil || len(acts) != 0 {
		t.Fatalf("activities after the crash = %+v, %v", acts, err)
	}
	for range 2 {
		again := inboundAt("org1", l.ID, m.ProviderID, at)
		if err := s.PutInboundMessage(ctx, again, nil); !errors.Is(err, intake.ErrDuplicate) {
			t.Fatalf("redelivery = %v, want ErrDuplicate", err)
		}
		acts, err := s.Activities(ctx, "org1", l.ID)
		if err != nil || len(acts) != 1 || acts[0].Kind != lead.ActivityCreated || !acts[0].At.Equal(at) {
			t.Fatalf("activities = %+v, %v; want the one \"created\"", acts, err)
		}
		ledger, err := s.ConsentLedger(ctx, "org1", l.ID)
		if err != nil || len(ledger) != 1 || ledger[0].Source != intake.SourceInbound || ledger[0].Evidence != m.ProviderID || !ledger[0].At.Equal(at) {
			t.Fatalf("ledger = %+v, %v; want the one service opt-in", ledger, err)
		}
		if msgs, err := s.Messages(ctx, "org1", l.ID); err != nil || len(msgs) != 1 || msgs[0].ID != m.ID {
			t.Fatalf("messages = %+v, %v", msgs, err)
		}
	}
	got, err := s.GetLead(ctx, "org1", l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := conversation.Preference(got.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateOptedIn {
		t.Fatalf("the lead's consent %v, want the service opt-in", got.Consent)
	}
}
