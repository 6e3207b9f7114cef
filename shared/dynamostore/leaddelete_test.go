package dynamostore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/suppression"
)

// testHasher is a suppression hasher with a fixed key, for stores whose
// tests delete leads.
func testHasher(t *testing.T) *suppression.Hasher {
	t.Helper()
	h, err := suppression.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A lead whose history is over the bound is gone from every read at once
// and named as a pending purge; the retention function's lead purge job
// removes the rest and audits it with counts.
func TestDeleteLeadOverTheBoundIsFinishedByThePurgeJob(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	l := newLead("org1", "Ravi", "+919876500001", "ravi@example.com")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC()
	var wamids []string
	for i := range 3 {
		m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Second)), ulid.DefaultEntropy()).String(),
			OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(),
			Type: "text", Text: fmt.Sprint("hello ", i), Status: conversation.StatusReceived, At: at.Add(time.Duration(i) * time.Second)}
		var consent *conversation.ConsentEntry
		if i == 2 {
			consent = &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
				Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: m.At, Evidence: m.ID, Source: "keyword"}
		}
		if err := s.PutInboundMessage(ctx, m, consent); err != nil {
			t.Fatal(err)
		}
		wamids = append(wamids, m.ProviderID)
	}
	for i := range 305 {
		if err := s.AttachEvent(ctx, "org1", fmt.Sprint("leadgen:big-", i), lead.Activity{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID,
			Kind: "lead_ads_resubmission", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := s.GetLead(ctx, "org1", l.ID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.DeleteLead(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Pending || d.Counts["lead"] != 1 || d.Counts["lead_guard"] != 2 {
		t.Fatalf("deletion %+v, want pending", d)
	}
	if _, err := s.GetLead(ctx, "org1", l.ID); err != lead.ErrNotFound {
		t.Fatalf("deleted lead read = %v", err)
	}
	if p, err := s.ListLeads(ctx, "org1", lead.Filter{}, 10, page.Cursor{}); err != nil || len(p.Items) != 0 {
		t.Fatalf("listing after delete: %v %v", p.Items, err)
	}
	pending, err := s.PendingLeadPurges(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].LeadID != l.ID {
		t.Fatalf("pending purges %v, %v", pending, err)
	}

	// A new lead with the same email (no phone) starts opted out.
	again := newLead("org1", "Ravi again", "", "Ravi@Example.com")
	again.Email = "ravi@example.com"
	if err := s.CreateLead(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLead(ctx, "org1", again.ID); got.Consent["whatsapp:all"] == "" {
		t.Fatalf("re-created lead consent %v", got.Consent)
	}

	r := &retention.Runner{Store: s, Audit: s, Purges: s, Rate: 100000}
	res, err := r.PurgeLeads(ctx)
	if err != nil || !res.Complete || res.Finished != 1 {
		t.Fatalf("purge job %+v, %v", res, err)
	}
	for _, q := range []func() (int, error){
		func() (int, error) { a, err := s.Activities(ctx, "org1", l.ID); return len(a), err },
		func() (int, error) { m, err := s.Messages(ctx, "org1", l.ID); return len(m), err },
		func() (int, error) { c, err := s.ConsentLedger(ctx, "org1", l.ID); return len(c), err },
		func() (int, error) { p, err := s.PendingLeadPurges(ctx, 10); return len(p), err },
	} {
		if n, err := q(); err != nil || n != 0 {
			t.Fatalf("left after the purge job: %d, %v", n, err)
		}
	}
	for _, w := range wamids {
		if _, err := s.MessageByProviderID(ctx, w); err == nil {
			t.Fatalf("provider id %s still maps to a message", w)
		}
	}
	recs, _, err := s.ListAudit(ctx, "org1", 10, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rec := range recs {
		if rec.Action == retention.ActionLeadPurged && rec.TargetID == l.ID {
			found = rec.Details["finished"] == "true" && rec.Details["deleted_activity"] == "306" && rec.Details["deleted_message"] == "3"
		}
	}
	if !found {
		t.Fatalf("no complete purge audit record in %+v", recs)
	}
}
