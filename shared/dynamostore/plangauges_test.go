package dynamostore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// gauge reads one of the org's gauges.
func gauge(t *testing.T, s interface {
	ReadGauges(context.Context, string, []plan.Metric) ([]int, error)
}, orgID string, m plan.Metric) int {
	t.Helper()
	n, err := s.ReadGauges(context.Background(), orgID, []plan.Metric{m})
	if err != nil {
		t.Fatal(err)
	}
	return n[0]
}

// concurrently runs n creates at once and counts those that passed and
// those refused at the limit (any other error fails the test).
func concurrently(t *testing.T, n int, create func(i int) error) (ok, refused int) {
	t.Helper()
	var okN, refusedN atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := create(i)
			if _, limit := plan.IsLimit(err); limit {
				refusedN.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			okN.Add(1)
		})
	}
	wg.Wait()
	return int(okN.Load()), int(refusedN.Load())
}

// The users gauge counts the owner, each active user created and takes
// back a deactivation, once: of parallel creates with k slots left
// exactly k pass.
func TestUsersGaugeIsExactUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	org := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: org, Name: "Owner", Email: "owner-" + org + "@example.com", Role: account.RoleOwner,
		Active: true, PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(ctx, account.Org{ID: org, Name: "Gauge Co", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	if n := gauge(t, s, org, plan.Users); n != 1 {
		t.Fatalf("users after sign-up = %d, want 1", n)
	}
	// GIVEN a limit of 4 (3 slots left) and 10 creates at once
	limited := plan.WithLimit(ctx, plan.Users, 4)
	users := make([]account.User, 10)
	ok, refused := concurrently(t, 10, func(i int) error {
		users[i] = account.User{ID: ulid.Make().String(), OrgID: org, Name: "U", Email: "u" + strconv.Itoa(i) + "-" + org + "@example.com",
			Role: account.RoleAgent, Active: true, PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
		return s.CreateUser(limited, users[i])
	})
	// THEN exactly 3 pass and the gauge holds 4
	if ok != 3 || refused != 7 || gauge(t, s, org, plan.Users) != 4 {
		t.Fatalf("%d created, %d refused, gauge %d; want 3, 7, 4", ok, refused, gauge(t, s, org, plan.Users))
	}
	listed, err := s.ListUsers(ctx, org)
	if err != nil || len(listed) != 4 {
		t.Fatalf("%d users stored (%v), want 4", len(listed), err)
	}
	// A refused create wrote nothing: its email is free.
	var made []account.User
	for _, u := range listed {
		if u.ID != owner.ID {
			made = append(made, u)
		}
	}
	// Deactivating one twice at once takes back one slot, once.
	d := made[0]
	d.Active, d.UpdatedAt = false, now
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.UpdateUser(ctx, d); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := gauge(t, s, org, plan.Users); n != 3 {
		t.Fatalf("users after a deactivation = %d, want 3", n)
	}
	// A rename read before that deactivation (the user still active)
	// does not bring the user back, nor the gauge.
	stale := made[0]
	stale.Name = "Renamed late"
	if err := s.UpdateUser(ctx, stale); !errors.Is(err, account.ErrConflict) {
		t.Fatalf("a stale rename of a deactivated user: %v, want ErrConflict", err)
	}
	if got, err := s.GetUser(ctx, org, stale.ID); err != nil || got.Active || got.Name == "Renamed late" || gauge(t, s, org, plan.Users) != 3 {
		t.Fatalf("after a stale rename: %+v %v, gauge %d", got, err, gauge(t, s, org, plan.Users))
	}
	// A rename of an active user changes nothing.
	r := made[1]
	r.Name = "Renamed"
	if err := s.UpdateUser(ctx, r); err != nil || gauge(t, s, org, plan.Users) != 3 {
		t.Fatalf("rename: %v, gauge %d", err, gauge(t, s, org, plan.Users))
	}
	// An owner deactivated (another owner remains) leaves the gauge too.
	o2 := made[1]
	o2.Role = account.RoleOwner
	if err := s.UpdateUser(ctx, o2); err != nil {
		t.Fatal(err)
	}
	o2.Active = false
	if err := s.UpdateUser(ctx, o2); err != nil || gauge(t, s, org, plan.Users) != 2 {
		t.Fatalf("owner deactivated: %v, gauge %d", err, gauge(t, s, org, plan.Users))
	}
	// Room made: one more create passes, the next is refused.
	ok, refused = concurrently(t, 3, func(i int) error {
		return s.CreateUser(limited, account.User{ID: ulid.Make().String(), OrgID: org, Name: "V", Email: "v" + strconv.Itoa(i) + "-" + org + "@example.com",
			Role: account.RoleAgent, Active: true, PasswordHash: "h", CreatedAt: now, UpdatedAt: now})
	})
	if ok != 2 || refused != 1 {
		t.Fatalf("after two deactivations: %d created, %d refused; want 2 and 1", ok, refused)
	}
}

// Running campaigns: a create or resume past the limit is refused; a
// pause or the last page's commit takes one back, once.
func TestActiveCampaignsGauge(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	org := ulid.Make().String()
	limited := plan.WithLimit(ctx, plan.ActiveCampaigns, 2)
	ids := make([]string, 6)
	ok, refused := concurrently(t, 6, func(i int) error {
		ids[i] = ulid.Make().String()
		return s.CreateCampaign(limited, campaign.Campaign{OrgID: org, ID: ids[i], Name: "C", Status: campaign.StatusRunning,
			TemplateName: "t", TemplateLanguage: "en", PageSize: 10, CreatedAt: now, UpdatedAt: now})
	})
	if ok != 2 || refused != 4 || gauge(t, s, org, plan.ActiveCampaigns) != 2 {
		t.Fatalf("%d created, %d refused, gauge %d; want 2, 4, 2", ok, refused, gauge(t, s, org, plan.ActiveCampaigns))
	}
	list, _, err := s.ListCampaigns(ctx, org, 10, page.Cursor{})
	if err != nil || len(list) != 2 {
		t.Fatalf("%d campaigns stored (%v), want 2", len(list), err)
	}
	a, b := list[0], list[1]
	// Paused twice at once: one slot back.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _ = s.SetCampaignStatus(ctx, org, a.ID, campaign.StatusRunning, campaign.StatusPaused, now) })
	}
	wg.Wait()
	if n := gauge(t, s, org, plan.ActiveCampaigns); n != 1 {
		t.Fatalf("after a pause: %d", n)
	}
	// The last page of b completes it: another slot back.
	if err := s.CommitCampaignPage(ctx, org, b.ID, b.Version, page.Cursor{}, campaign.PageCounts{Skipped: map[string]int{}}, now); err != nil {
		t.Fatal(err)
	}
	if n := gauge(t, s, org, plan.ActiveCampaigns); n != 0 {
		t.Fatalf("after completion: %d", n)
	}
	// A new one takes a slot; resuming a then fills the plan, a third is refused.
	if err := s.CreateCampaign(limited, campaign.Campaign{OrgID: org, ID: ulid.Make().String(), Name: "C", Status: campaign.StatusRunning,
		TemplateName: "t", TemplateLanguage: "en", PageSize: 10, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCampaignStatus(limited, org, a.ID, campaign.StatusPaused, campaign.StatusRunning, now); err != nil {
		t.Fatal(err)
	}
	err = s.CreateCampaign(limited, campaign.Campaign{OrgID: org, ID: ulid.Make().String(), Name: "C", Status: campaign.StatusRunning,
		TemplateName: "t", TemplateLanguage: "en", PageSize: 10, CreatedAt: now, UpdatedAt: now})
	if le, isLimit := plan.IsLimit(err); !isLimit || le.Limit != 2 || le.Metric != plan.ActiveCampaigns {
		t.Fatalf("third running campaign: %v", err)
	}
	if err := s.SetCampaignStatus(ctx, org, a.ID, campaign.StatusRunning, campaign.StatusPaused, now); err != nil {
		t.Fatal(err)
	}
	// A resume at the limit is refused and leaves the campaign paused.
	if err := s.CreateCampaign(limited, campaign.Campaign{OrgID: org, ID: ulid.Make().String(), Name: "C", Status: campaign.StatusRunning,
		TemplateName: "t", TemplateLanguage: "en", PageSize: 10, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, isLimit := plan.IsLimit(s.SetCampaignStatus(limited, org, a.ID, campaign.StatusPaused, campaign.StatusRunning, now)); !isLimit {
		t.Fatal("resume past the limit passed")
	}
	if c, _ := s.GetCampaign(ctx, org, a.ID); c.Status != campaign.StatusPaused {
		t.Fatalf("refused resume left %s", c.Status)
	}
}

// Integrations: a new connection counts, connecting again one that is
// connected does not, a disconnection takes one back once.
func TestIntegrationsGauge(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	org := ulid.Make().String()
	limited := plan.WithLimit(ctx, plan.Integrations, 1)
	in := func(id string) integration.Integration {
		return integration.Integration{OrgID: org, Kind: integration.KindFacebookPage, ExternalID: id, Name: "Page", SealedToken: []byte("x"),
			ConnectedAt: now, UpdatedAt: now}
	}
	first, second := "p1-"+org, "p2-"+org
	ok, refused := concurrently(t, 4, func(i int) error {
		return s.ConnectIntegration(limited, in([]string{first, second, "p3-" + org, "p4-" + org}[i]))
	})
	if ok != 1 || refused != 3 || gauge(t, s, org, plan.Integrations) != 1 {
		t.Fatalf("%d connected, %d refused, gauge %d; want 1, 3, 1", ok, refused, gauge(t, s, org, plan.Integrations))
	}
	all, err := s.ListIntegrations(ctx, org)
	if err != nil || len(all) != 1 {
		t.Fatalf("%d integrations (%v)", len(all), err)
	}
	got := all[0].ExternalID
	// A new token for the connected one is no new integration.
	if err := s.ConnectIntegration(limited, in(got)); err != nil || gauge(t, s, org, plan.Integrations) != 1 {
		t.Fatalf("reconnect: %v, gauge %d", err, gauge(t, s, org, plan.Integrations))
	}
	for range 2 {
		if err := s.DisconnectIntegration(ctx, org, integration.KindFacebookPage, got, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := gauge(t, s, org, plan.Integrations); n != 0 {
		t.Fatalf("after disconnecting twice: %d", n)
	}
	// Connecting the disconnected one again counts again.
	if err := s.ConnectIntegration(limited, in(got)); err != nil || gauge(t, s, org, plan.Integrations) != 1 {
		t.Fatalf("connect again: %v, gauge %d", err, gauge(t, s, org, plan.Integrations))
	}
	// A recount sets what exists now (an org from before the gauges).
	if err := s.DisconnectIntegration(ctx, org, integration.KindFacebookPage, got, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ConnectIntegration(ctx, in(first+"x")); err != nil {
		t.Fatal(err)
	}
	n, err := s.RecountGauges(ctx, org)
	if err != nil || n[plan.Integrations] != 1 || gauge(t, s, org, plan.Integrations) != 1 || gauge(t, s, org, plan.Users) != 0 {
		t.Fatalf("recount %v %v", n, err)
	}
}
