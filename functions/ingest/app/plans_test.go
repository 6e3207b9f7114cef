package app_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// Lead Ads leads past the plan's leads of the month are stored all the
// same, counted once each as over the limit, and the owner is told once
// in the app.
func TestLeadAdsLeadsPastThePlanAreKeptAndCounted(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	limit := plan.Plans[plan.Free].Limits[plan.LeadsPerMonth]
	c := plan.Counter{OrgID: e.orgID, Metric: plan.LeadsPerMonth, Period: plan.Month.Key(now)}
	for range limit {
		if _, ok, err := e.store.TakeUsage(e.ctx, c, limit, now.Add(time.Hour)); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	at := now.Add(-time.Minute).Truncate(time.Second)
	first := e.sim.LeadgenPayload(pageID, formID, e.sim.AddLead(formID, map[string][]string{"full_name": {"Asha"}, "phone_number": {"+919812340001"}}, at), at)
	second := e.sim.LeadgenPayload(pageID, formID, e.sim.AddLead(formID, map[string][]string{"full_name": {"Bina"}, "phone_number": {"+919812340002"}}, at), at)
	// Delivered twice: counted once.
	if failed := e.deliver(first, second, first); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if failed := e.deliver(second); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	listed, err := e.store.ListLeads(e.ctx, e.orgID, lead.Filter{}, 100, page.Cursor{})
	if err != nil || len(listed.Items) != 2 {
		t.Fatalf("%d leads stored (%v), want 2", len(listed.Items), err)
	}
	r, err := e.store.ReadUsage(e.ctx, []plan.Counter{c})
	if err != nil || r[0].Count != limit+2 || r[0].Over != 2 {
		t.Fatalf("counter %+v %v, want %d with 2 over", r, err, limit+2)
	}
	owners, err := e.store.ActiveOwners(e.ctx, e.orgID)
	if err != nil || len(owners) != 1 {
		t.Fatalf("owners %v %v", owners, err)
	}
	notes, err := e.store.ListNotifications(e.ctx, e.orgID, owners[0].UserID, true, 50, page.Cursor{})
	if err != nil || len(notes.Items) != 1 || notes.Items[0].Kind != lead.NotificationPlanOverLimit || notes.Items[0].Limit != string(plan.LeadsPerMonth) {
		t.Fatalf("notifications %+v %v", notes.Items, err)
	}
}
