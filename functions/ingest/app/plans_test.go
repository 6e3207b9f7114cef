package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// Lead Ads leads past the plan's leads of the month are stored all the
// same, counted once each as over the limit, and the owner is told once
// in the app and mailed the usage warning once.
func TestLeadAdsLeadsPastThePlanAreKeptAndCounted(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	since := now.Add(-time.Second).Unix()
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
	if n := warningsTo(t, since, owners[0].Email); n != 1 {
		t.Fatalf("%d usage warnings mailed to the owner, want 1", n)
	}
}

// warningsTo counts the usage warnings the SES stand-in holds for addr
// since a Unix time.
func warningsTo(t *testing.T, since int64, addr string) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/store?since=%d", strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/"), since))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []struct {
			Subject     string `json:"subject"`
			Destination struct {
				To []string `json:"to"`
			} `json:"destination"`
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range st.Emails {
		if len(m.Destination.To) == 1 && strings.EqualFold(m.Destination.To[0], addr) {
			n++
		}
	}
	return n
}
