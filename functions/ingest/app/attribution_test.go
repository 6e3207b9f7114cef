package app_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
)

// withReferral is m as sent after a tap on a Click-to-WhatsApp ad.
func withReferral(m metatest.InboundMessage, sourceID, clid string) metatest.InboundMessage {
	m.Message.Referral = &meta.Referral{SourceURL: "https://fb.me/" + sourceID, SourceID: sourceID, SourceType: "ad",
		Headline: "2BHK in Pune", Body: "Book a visit", MediaType: "image", ImageURL: "https://example.com/ad.jpg", CtwaClid: clid}
	return m
}

// A first message from a Click-to-WhatsApp ad gives the lead its
// attribution; a later message from another ad is a referral activity
// (once, however often delivered) and leaves the attribution; a Lead Ads
// lead keeps its ad, ad set, campaign and form; the ad id lists each.
func TestClickToWhatsAppAttribution(t *testing.T) {
	e := newEnv(t)
	from := "919876500077"
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	first := withReferral(metatest.Text(from, "Is it available?").At(at), "120201111", "clid-first")
	if failed := e.deliver(e.sim.InboundPayload(numberID, display, first)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	l := e.leadByPhone("+" + from)
	want := lead.Attribution{SourceType: "ad", SourceID: "120201111", SourceURL: "https://fb.me/120201111", CtwaClid: "clid-first"}
	if l.Attribution == nil || *l.Attribution != want {
		t.Fatalf("attribution %+v", l.Attribution)
	}
	later := withReferral(metatest.Text(from, "Also this one?").At(at.Add(time.Second)), "120202222", "clid-later")
	payload := e.sim.InboundPayload(numberID, display, later)
	if failed := e.deliver(payload, payload); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if failed := e.deliver(payload); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	l = e.leadByPhone("+" + from)
	if *l.Attribution != want {
		t.Fatalf("a later referral changed the attribution: %+v", l.Attribution)
	}
	acts, err := e.store.Activities(e.ctx, e.orgID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range acts {
		if a.Kind == lead.ActivityReferral {
			ids = append(ids, a.Details["source_id"])
		}
	}
	if len(ids) != 2 || ids[0] != "120201111" || ids[1] != "120202222" {
		t.Fatalf("referral activities %v in %+v", ids, acts)
	}

	leadgen := e.sim.AddLead(formID, map[string][]string{"full_name": {"Meera"}, "phone_number": {"+919812300077"}}, at)
	if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, leadgen, at)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	ads := e.leadByPhone("+919812300077")
	p := ads.Provenance
	if p == nil || p.AdID == "" || p.AdsetID == "" || p.CampaignID == "" || p.FormID != formID {
		t.Fatalf("Lead Ads provenance %+v", p)
	}
	for id, wantID := range map[string]string{"120201111": l.ID, p.AdID: ads.ID, "120202222": ""} {
		res, err := e.store.ListLeads(e.ctx, e.orgID, lead.Filter{SourceID: id}, 50, page.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		if (wantID == "" && len(res.Items) != 0) || (wantID != "" && (len(res.Items) != 1 || res.Items[0].ID != wantID)) {
			t.Fatalf("source_id %s lists %d leads", id, len(res.Items))
		}
	}
}
