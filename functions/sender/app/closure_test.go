package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/sendgate"
)

// A message queued before its org closed is never sent: the sender reads
// the org and fails the message (org_closed), on WhatsApp and email alike.
func TestClosedOrgMessagesFailUnsent(t *testing.T) {
	e := newEnv(t, options{})
	l := e.newLead(time.Now().Add(-time.Hour), nil)
	wa := e.queueText(l, "Your visit is at 11 tomorrow.")
	mail := e.queue(l, conversation.ChannelEmail, "email", "At 11.", sendgate.Email{To: l.Email, Subject: "Your visit", Text: "At 11."}, nil)
	users, err := e.Store.ListUsers(e.Ctx, e.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.SetOrgClosed(e.Ctx, e.OrgID, users, time.Now()); err != nil {
		t.Fatal(err)
	}
	if failed := e.deliver(e.enqueue(wa), e.enqueue(mail)); len(failed) != 0 {
		t.Fatalf("asked for retries: %v", failed)
	}
	if sent := e.Sim.Sent(numberID); len(sent) != 0 {
		t.Fatalf("simulator got %d sends from a closed org", len(sent))
	}
	if slices.ContainsFunc(sesStore(t), func(s sesMail) bool { return slices.Contains(s.Destination.To, l.Email) }) {
		t.Fatal("SES got a mail from a closed org")
	}
	e.wantStatus(wa, conversation.StatusFailed, sendgate.TitleOrgClosed)
	e.wantStatus(mail, conversation.StatusFailed, sendgate.TitleOrgClosed)

	// Reopened, a new message goes again.
	if err := e.Store.SetOrgClosed(e.Ctx, e.OrgID, users, time.Time{}); err != nil {
		t.Fatal(err)
	}
	again := e.queueText(l, "Reopened.")
	if failed := e.deliver(e.enqueue(again)); len(failed) != 0 {
		t.Fatalf("asked for retries: %v", failed)
	}
	if sent := e.Sim.Sent(numberID); len(sent) != 1 {
		t.Fatalf("simulator got %d sends after reopening, want 1", len(sent))
	}
}
