package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
)

// TestSESEventsMoveEmailsAndConsent feeds the sample SES events (SNS
// notifications on the intake queue) for a sent email.
func TestSESEventsMoveEmailsAndConsent(t *testing.T) {
	e := newEnv(t)
	const sesID = "010f0192-ses-demo-message-id-000000"
	l := lead.Lead{ID: ulid.Make().String(), OrgID: e.orgID, Name: "Asha", Email: "asha@example.com", Status: lead.StatusNew, Version: 1}
	if err := e.store.CreateLead(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	m := conversation.Message{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: l.ID, Channel: conversation.ChannelEmail,
		Direction: conversation.Outbound, Type: "email", Text: "Brochure", Payload: `{}`, ClientMessageID: "c-ses", At: time.Now()}
	if _, _, err := e.store.QueueOutbound(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ClaimSend(e.ctx, e.orgID, l.ID, m.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordSent(e.ctx, e.orgID, l.ID, m.ID, sesID, time.Now()); err != nil {
		t.Fatal(err)
	}
	event := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "ses", name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if failed := e.deliver(event("delivery.json")); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if got, _ := e.store.GetMessage(e.ctx, e.orgID, l.ID, m.ID); got.Status != conversation.StatusDelivered {
		t.Fatalf("after delivery: %s", got.Status)
	}
	// A hard bounce (delivered twice) fails the message and opts the address out once.
	if failed := e.deliver(event("bounce-permanent.json"), event("bounce-permanent.json")); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	got, _ := e.store.GetMessage(e.ctx, e.orgID, l.ID, m.ID)
	if got.Status != conversation.StatusFailed || !strings.Contains(got.ErrorTitle, "Permanent") {
		t.Fatalf("after bounce: %+v", got)
	}
	e.deliver(event("complaint.json"))
	ledger, err := e.store.ConsentLedger(e.ctx, e.orgID, l.ID)
	if err != nil || len(ledger) != 1 || ledger[0].Channel != conversation.ChannelEmail || ledger[0].Action != conversation.OptOut ||
		ledger[0].Evidence != sesID || ledger[0].Source != "hard_bounce" {
		t.Fatalf("ledger %+v (%v): want one email opt-out for the bounce (the complaint names the same mail)", ledger, err)
	}
	lead, _ := e.store.GetLead(e.ctx, e.orgID, l.ID)
	if !strings.HasPrefix(lead.Consent["email:all"], "opt_out") {
		t.Fatalf("lead email consent %q", lead.Consent["email:all"])
	}
	// An event for a mail we do not know yet is retried, not dropped.
	unknown := strings.ReplaceAll(string(event("delivery.json")), sesID, "010f-unknown")
	if failed := e.deliver([]byte(unknown)); len(failed) != 1 {
		t.Fatalf("unknown mail: failures %v, want a retry", failed)
	}
}
