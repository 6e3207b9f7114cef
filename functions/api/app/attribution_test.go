package app_test

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
)

// TestLeadAttribution: a lead from a Click-to-WhatsApp ad shows its
// attribution, a Lead Ads lead its ad, ad set, campaign and form, a lead
// typed in none; source_id lists the leads of one ad; the timeline shows
// the referral.
func TestLeadAttribution(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Ads Co")
	ctx, st := t.Context(), e.store(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)

	ctwa := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "Tapped", Phone: "+919811177001", Source: "whatsapp",
		Status: lead.StatusNew, CreatedAt: at, UpdatedAt: at, Version: 1, LastInboundAt: at,
		Provenance:  &lead.Provenance{IntegrationKind: "whatsapp", IntegrationID: "5551", Fields: []string{"name", "phone"}},
		Attribution: &lead.Attribution{SourceType: "ad", SourceID: "1202000001", SourceURL: "https://fb.me/x", CtwaClid: "clid"}}
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: owner.OrgID, LeadID: ctwa.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: "wamid.attr1", Type: "text", Text: "hi",
		Status: conversation.StatusReceived, At: at, Number: "5551"}
	if _, err := st.CreateLeadWithInboundMessage(ctx, ctwa, m, func(lead.Lead) *conversation.ConsentEntry { return nil }); err != nil {
		t.Fatal(err)
	}
	ads := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "Form", Phone: "+919811177002", Source: "facebook_lead_ads",
		Status: lead.StatusNew, CreatedAt: at, UpdatedAt: at, Version: 1,
		Provenance: &lead.Provenance{IntegrationKind: "facebook_page", IntegrationID: "777", LeadgenID: "lg", FormID: "f1", AdID: "1202000002",
			AdsetID: "s1", CampaignID: "c1", Fields: []string{"name"}}}
	if err := st.CreateLead(ctx, ads); err != nil {
		t.Fatal(err)
	}
	typed := e.createLead(t, owner, map[string]any{"name": "Typed", "phone": "+919811177003"})
	if typed.Body["attribution"] != nil {
		t.Fatalf("a typed lead has attribution: %s", typed.Raw)
	}

	r := e.do(t, "GET", "/v1/leads/"+ctwa.ID, owner.Access, nil)
	expect(t, r, 200)
	if r.str("attribution", "source_type") != "ad" || r.str("attribution", "source_id") != "1202000001" ||
		r.str("attribution", "source_url") != "https://fb.me/x" || r.str("attribution", "ctwa_clid") != "clid" {
		t.Fatalf("CTWA lead %s", r.Raw)
	}
	r = e.do(t, "GET", "/v1/leads/"+ads.ID, owner.Access, nil)
	expect(t, r, 200)
	if r.str("attribution", "source_type") != "lead_ads" || r.str("attribution", "ad_id") != "1202000002" ||
		r.str("attribution", "adset_id") != "s1" || r.str("attribution", "campaign_id") != "c1" || r.str("attribution", "form_id") != "f1" {
		t.Fatalf("Lead Ads lead %s", r.Raw)
	}
	for id, want := range map[string]string{"1202000001": ctwa.ID, "1202000002": ads.ID} {
		l := e.do(t, "GET", "/v1/leads?source_id="+id, owner.Access, nil)
		expect(t, l, 200)
		if items := l.items(); len(items) != 1 || items[0]["id"] != want {
			t.Fatalf("source_id=%s: %s", id, l.Raw)
		}
	}
	tl := e.do(t, "GET", "/v1/leads/"+ctwa.ID+"/activities", owner.Access, nil)
	expect(t, tl, 200)
	found := false
	for _, it := range tl.items() {
		if it["kind"] == "referral" {
			d, _ := it["details"].(map[string]any)
			found = d["source_id"] == "1202000001"
		}
	}
	if !found {
		t.Fatalf("timeline without the referral: %s", tl.Raw)
	}
}
