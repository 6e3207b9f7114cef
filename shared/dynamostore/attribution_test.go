package dynamostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/retention"
)

// A lead whose first message came from a Click-to-WhatsApp ad keeps the
// referral with the lead and on its timeline, in the first message's
// write; a later referral is an activity and leaves the first as it is;
// the ad id finds the lead (and a Lead Ads lead by its ad) without a
// Scan; disconnecting the number clears the attribution and the referral
// activities.
func TestAttributionIsKeptFilteredAndPurged(t *testing.T) {
	ctx := context.Background()
	s, calls := newStore(t)
	org := ulid.Make().String()
	const number = "4444"
	before := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	connect(t, s, org, integration.KindWhatsApp, number, before)

	l := newLead(org, "CTWA", "+919800000011", "")
	l.StageID, l.PipelineID = "", ""
	l.Source, l.LastInboundAt, l.CreatedAt = "whatsapp", before, before
	l.Provenance = &lead.Provenance{IntegrationKind: string(integration.KindWhatsApp), IntegrationID: number, Fields: []string{"name", "phone"}}
	first := lead.Attribution{SourceType: "ad", SourceID: "120200000000000001", SourceURL: "https://fb.me/ad1", CtwaClid: "clid-1"}
	l.Attribution = &first
	m := inboundAt(org, l.ID, "wamid.ctwa1", before)
	m.Number = number
	if _, err := s.CreateLeadWithInboundMessage(ctx, l, m, serviceOptIn(m.ProviderID, m.At)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetLead(ctx, org, l.ID)
	if err != nil || got.Attribution == nil || *got.Attribution != first {
		t.Fatalf("attribution %+v, %v", got.Attribution, err)
	}
	acts, _ := s.Activities(ctx, org, l.ID)
	ref := referrals(acts)
	if len(acts) != 2 || len(ref) != 1 || ref[0].Details["source_id"] != first.SourceID ||
		ref[0].Details["ctwa_clid"] != "clid-1" || ref[0].Details["number"] != number || !ref[0].FromMeta {
		t.Fatalf("timeline %+v", acts)
	}

	// A later message from another ad: an activity, once per message.
	later := lead.Attribution{SourceType: "post", SourceID: "999", SourceURL: "https://fb.me/post"}
	act := lead.ReferralActivity(org, l.ID, later, number, "wamid.ctwa2", before.Add(time.Minute))
	if err := s.AttachEvent(ctx, org, "referral:wamid.ctwa2", act); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachEvent(ctx, org, "referral:wamid.ctwa2", act); !errors.Is(err, intakemsg.ErrDuplicate) {
		t.Fatalf("second referral of one message = %v", err)
	}
	if acts, _ := s.Activities(ctx, org, l.ID); len(referrals(acts)) != 2 {
		t.Fatalf("timeline after a later referral %+v", acts)
	}
	got, _ = s.GetLead(ctx, org, l.ID)
	if *got.Attribution != first {
		t.Fatalf("attribution overwritten: %+v", got.Attribution)
	}

	ads := newLead(org, "Lead Ads", "+919800000012", "")
	ads.Provenance = &lead.Provenance{IntegrationKind: string(integration.KindFacebookPage), IntegrationID: "777", LeadgenID: "lg9",
		FormID: "form9", AdID: "120200000000000002", AdsetID: "adset9", CampaignID: "camp9", Fields: []string{"name"}}
	plain := newLead(org, "Plain", "+919800000013", "")
	for _, x := range []lead.Lead{ads, plain} {
		if err := s.CreateLead(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if g, _ := s.GetLead(ctx, org, ads.ID); g.Provenance.AdsetID != "adset9" || g.Provenance.CampaignID != "camp9" || g.AdID() != ads.Provenance.AdID {
		t.Fatalf("Lead Ads provenance %+v", g.Provenance)
	}
	scans := calls.get("Scan")
	for id, want := range map[string]string{first.SourceID: l.ID, ads.Provenance.AdID: ads.ID, "nope": ""} {
		for _, f := range []lead.Filter{{SourceID: id}, {SourceID: id, Status: lead.StatusNew}} {
			res, err := s.ListLeads(ctx, org, f, 50, page.Cursor{})
			if err != nil {
				t.Fatal(err)
			}
			if (want == "" && len(res.Items) != 0) || (want != "" && (len(res.Items) != 1 || res.Items[0].ID != want)) {
				t.Fatalf("source_id %s (%+v): %d leads", id, f, len(res.Items))
			}
		}
	}
	if calls.get("Scan") != scans {
		t.Fatal("the source_id filter scanned the table")
	}

	// The business works on the lead, then disconnects the number.
	cur, _ := s.GetLead(ctx, org, l.ID)
	next := cur
	next.Email, next.Version, next.EditedAt = "ctwa@example.com", cur.Version+1, time.Now().UTC()
	if err := s.UpdateLead(ctx, cur, next); err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectIntegration(ctx, org, integration.KindWhatsApp, number, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	r := &retention.Runner{Store: s, Audit: s, Purges: s, Integrations: s, Rate: 100000}
	if res, err := r.PurgeIntegrations(ctx); err != nil || !res.Complete {
		t.Fatalf("purge %+v, %v", res, err)
	}
	got, err = s.GetLead(ctx, org, l.ID)
	if err != nil || got.Attribution != nil || got.Email != "ctwa@example.com" {
		t.Fatalf("after the purge: %+v, %v", got, err)
	}
	if acts, _ := s.Activities(ctx, org, l.ID); len(referrals(acts)) != 0 {
		t.Fatalf("referral activities left: %+v", acts)
	}
	if res, _ := s.ListLeads(ctx, org, lead.Filter{SourceID: first.SourceID}, 50, page.Cursor{}); len(res.Items) != 0 {
		t.Fatal("the purged attribution still finds the lead")
	}
}

// referrals are the referral activities of a timeline.
func referrals(acts []lead.Activity) []lead.Activity {
	var out []lead.Activity
	for _, a := range acts {
		if a.Kind == lead.ActivityReferral {
			out = append(out, a)
		}
	}
	return out
}
