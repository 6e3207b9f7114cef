package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/retention"
)

// waLead stores a lead as WhatsApp intake creates it, from number, with
// one inbound message at at.
func waLead(t *testing.T, s *dynamostore.Store, org, number, phone string, at time.Time) (lead.Lead, string) {
	t.Helper()
	ctx := context.Background()
	l := newLead(org, "WA "+phone, phone, "")
	l.Source = "whatsapp"
	l.Provenance = &lead.Provenance{IntegrationKind: string(integration.KindWhatsApp), IntegrationID: number, Fields: []string{"name", "phone"}}
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l, waMessage(t, s, l, number, at)
}

func waMessage(t *testing.T, s *dynamostore.Store, l lead.Lead, number string, at time.Time) string {
	t.Helper()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(), Type: "text", Text: "hi",
		Status: conversation.StatusReceived, At: at, Number: number}
	if err := s.PutInboundMessage(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	return m.ProviderID
}

func connect(t *testing.T, s *dynamostore.Store, org string, kind integration.Kind, id string, at time.Time) {
	t.Helper()
	if err := s.ConnectIntegration(context.Background(), integration.Integration{OrgID: org, Kind: kind, ExternalID: id, Name: "Profile " + id,
		WABAID: "555", DisplayPhoneNumber: "+1 555", SealedToken: []byte("sealed"), ConnectedAt: at, UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
}

// Disconnecting a WhatsApp number purges what it brought before the
// disconnection: a lead only Meta filled is deleted (its opt-outs kept
// as suppression entries); a lead the business worked on keeps its own
// data and loses the Meta fields and the number's messages; another
// number's data, another org's, and what a reconnection collects stay.
func TestIntegrationPurgeRemovesWhatTheNumberBrought(t *testing.T) {
	ctx := context.Background()
	s, calls := newStore(t)
	s.UseSuppression(testHasher(t))
	org, other := ulid.Make().String(), ulid.Make().String()
	const number, number2 = "1111", "2222"
	before := time.Now().Add(-time.Hour).UTC()
	connect(t, s, org, integration.KindWhatsApp, number, before)
	connect(t, s, org, integration.KindWhatsApp, number2, before)
	connect(t, s, other, integration.KindWhatsApp, "3333", before)

	metaOnly, metaWamid := waLead(t, s, org, number, "+919800000001", before)
	worked, workedWamid := waLead(t, s, org, number, "+919800000002", before.Add(time.Second))
	// The business adds an email and edits the lead.
	cur, _ := s.GetLead(ctx, org, worked.ID)
	next := cur
	next.Email, next.Status, next.Version, next.EditedAt = "worked@example.com", lead.StatusContacted, cur.Version+1, time.Now().UTC()
	next.CustomFields = map[string]string{"budget": "10k"}
	if err := s.UpdateLead(ctx, cur, next); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.QueueOutbound(ctx, conversation.Message{ID: ulid.Make().String(), OrgID: org, LeadID: worked.ID, Channel: conversation.ChannelEmail,
		Direction: conversation.Outbound, Type: "text", Text: "hello by email", Status: conversation.StatusQueued, At: before.Add(2 * time.Second),
		ClientMessageID: ulid.Make().String()}); err != nil {
		t.Fatal(err)
	}
	otherNumber, _ := waLead(t, s, org, number2, "+919800000003", before)
	otherOrg, _ := waLead(t, s, other, "3333", "+919800000001", before)

	at := time.Now().UTC()
	if err := s.DisconnectIntegration(ctx, org, integration.KindWhatsApp, number, at); err != nil {
		t.Fatal(err)
	}
	// Reconnected at once; a new lead and a new message on the worked lead
	// arrive before the purge runs.
	time.Sleep(5 * time.Millisecond)
	connect(t, s, org, integration.KindWhatsApp, number, time.Now().UTC())
	fresh, freshWamid := waLead(t, s, org, number, "+919800000004", time.Now().UTC())
	newOnWorked := waMessage(t, s, worked, number, time.Now().UTC())

	purges, err := s.IntegrationPurges(ctx, org)
	if err != nil || len(purges) != 1 || purges[0].State != retention.PurgePending {
		t.Fatalf("purges %+v, %v", purges, err)
	}
	scans := calls.get("Scan")
	r := &retention.Runner{Store: s, Audit: s, Purges: s, Integrations: s, Rate: 100000}
	res, err := r.PurgeIntegrations(ctx)
	if err != nil || !res.Complete || res.Finished != 1 {
		t.Fatalf("purge %+v, %v", res, err)
	}
	if calls.get("Scan") != scans {
		t.Fatal("the purge scanned the table")
	}

	if _, err := s.GetLead(ctx, org, metaOnly.ID); err != lead.ErrNotFound {
		t.Fatalf("Meta-only lead read = %v", err)
	}
	if _, err := s.MessageByProviderID(ctx, metaWamid); err == nil {
		t.Fatal("the Meta-only lead's message is still found")
	}
	got, err := s.GetLead(ctx, org, worked.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Phone != "" || got.Email != "worked@example.com" || got.Name != "worked@example.com" || got.Status != lead.StatusContacted ||
		got.CustomFields["budget"] != "10k" || len(got.Provenance.Fields) != 0 {
		t.Fatalf("worked-on lead after the purge: %+v", got)
	}
	msgs, err := s.Messages(ctx, org, worked.ID)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, m := range msgs {
		kept[m.ProviderID+m.Text] = true
	}
	if len(msgs) != 2 || !kept["hello by email"] || !kept[newOnWorked+"hi"] {
		t.Fatalf("worked-on lead's messages: %+v", msgs)
	}
	if _, err := s.MessageByProviderID(ctx, workedWamid); err == nil {
		t.Fatal("the worked-on lead's WhatsApp message is still found")
	}
	for _, l := range []lead.Lead{otherNumber, otherOrg, fresh} {
		if _, err := s.GetLead(ctx, l.OrgID, l.ID); err != nil {
			t.Fatalf("lead %s of another number, org or after the reconnection: %v", l.Name, err)
		}
	}
	if _, err := s.MessageByProviderID(ctx, freshWamid); err != nil {
		t.Fatalf("message collected after the reconnection: %v", err)
	}
	in, err := s.GetIntegration(ctx, org, integration.KindWhatsApp, number)
	if err != nil || in.WABAID == "" {
		t.Fatalf("the reconnected number lost its profile: %+v, %v", in, err)
	}

	purges, err = s.IntegrationPurges(ctx, org)
	if err != nil || len(purges) != 1 || purges[0].State != retention.PurgeDone || purges[0].FinishedAt.IsZero() ||
		purges[0].Counts["lead"] != 1 || purges[0].Counts["message"] < 2 {
		t.Fatalf("purge record %+v, %v", purges, err)
	}
	if p, err := s.PendingIntegrationPurges(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("pending after the purge: %+v, %v", p, err)
	}
	recs, _, err := s.ListAudit(ctx, org, 20, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Action == retention.ActionIntegrationPurged {
			n++
			if rec.Details["finished"] != "whatsapp:1111" || rec.Details["deleted_lead"] != "1" {
				t.Fatalf("audit record %+v", rec)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d integration purge audit records, want 1", n)
	}
	// A second run finds nothing.
	if res, err := r.PurgeIntegrations(ctx); err != nil || res.Integrations != 0 {
		t.Fatalf("second run %+v, %v", res, err)
	}
}

// A page's purge removes the Lead Ads answers: a lead nobody touched goes,
// and the profile held on the disconnected integration is cleared.
func TestIntegrationPurgeOfAPage(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	org := ulid.Make().String()
	connect(t, s, org, integration.KindFacebookPage, "777", time.Now().Add(-time.Hour))
	l := newLead(org, "Form Person", "+919800000010", "form@example.com")
	l.CustomFields = map[string]string{"budget": "5k"}
	l.Provenance = &lead.Provenance{IntegrationKind: string(integration.KindFacebookPage), IntegrationID: "777", LeadgenID: "lg1",
		Fields: []string{"name", "phone", "email", "budget"}}
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	// A business-created lead resubmitted the form: the activity goes, the lead stays.
	mine := newLead(org, "Known", "+919800000011", "")
	mine.CreatedBy = "user1"
	if err := s.CreateLead(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachEvent(ctx, org, "leadgen:lg2", lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: mine.ID, Kind: "lead_ads_resubmission",
		At: time.Now().Add(-time.Minute), FromMeta: true, Details: map[string]string{"page_id": "777"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectIntegration(ctx, org, integration.KindFacebookPage, "777", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := &retention.Runner{Store: s, Audit: s, Purges: s, Integrations: s, Rate: 100000}
	if res, err := r.PurgeIntegrations(ctx); err != nil || res.Finished != 1 {
		t.Fatalf("purge %+v, %v", res, err)
	}
	if _, err := s.GetLead(ctx, org, l.ID); err != lead.ErrNotFound {
		t.Fatalf("Lead Ads lead read = %v", err)
	}
	if a, err := s.Activities(ctx, org, mine.ID); err != nil || len(a) != 1 || a[0].Kind != lead.ActivityCreated {
		t.Fatalf("activities left %+v, %v", a, err)
	}
	if _, err := s.GetLead(ctx, org, mine.ID); err != nil {
		t.Fatal(err)
	}
	in, err := s.GetIntegration(ctx, org, integration.KindFacebookPage, "777")
	if err != nil || in.Name != "" || in.WABAID != "" || in.Status != integration.StatusDisconnected {
		t.Fatalf("integration after the purge %+v, %v", in, err)
	}
}
