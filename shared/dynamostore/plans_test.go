package dynamostore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// fixedPlan is an org's plan without an org item.
type fixedPlan plan.Name

func (f fixedPlan) OrgPlan(context.Context, string) (plan.Name, error) { return plan.Name(f), nil }

func TestUsageCounterIsExactUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	// GIVEN a counter with a limit of 10 and 40 uses at once
	c := plan.Counter{OrgID: "o1", Metric: plan.LeadsPerMonth, Period: plan.Month.Key(now)}
	const limit, tries = 10, 40
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			_, took, err := s.TakeUsage(ctx, c, limit, now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if took {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	// THEN exactly the limit pass, and the counter holds it
	if ok.Load() != limit {
		t.Fatalf("%d uses passed, want %d", ok.Load(), limit)
	}
	r, err := s.ReadUsage(ctx, []plan.Counter{c})
	if err != nil || r[0].Count != limit {
		t.Fatalf("counter = %+v, %v; want %d", r, err, limit)
	}
	// A use given back makes room for one more, and only one.
	if err := s.ReleaseUsage(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, took, _ := s.TakeUsage(ctx, c, limit, now.Add(time.Hour)); !took {
		t.Fatal("the use given back is not available")
	}
	if _, took, _ := s.TakeUsage(ctx, c, limit, now.Add(time.Hour)); took {
		t.Fatal("passed the limit after a release")
	}
	// Kept uses (Lead Ads) pass the limit and are recorded as over.
	_, over, err := s.AddUsage(ctx, c, limit, now.Add(time.Hour))
	if err != nil || !over {
		t.Fatalf("add past the limit: over=%v %v", over, err)
	}
	r, _ = s.ReadUsage(ctx, []plan.Counter{c})
	if r[0].Count != limit+1 || r[0].Over != 1 {
		t.Fatalf("after a kept use: %+v", r[0])
	}
	// A missing counter reads zero.
	if r, err := s.ReadUsage(ctx, []plan.Counter{{OrgID: "o2", Metric: plan.EmailPerDay, Period: plan.Day.Key(now)}}); err != nil || r[0] != (plan.Reading{}) {
		t.Fatalf("missing counter: %+v %v", r, err)
	}
}

func TestSetOrgPlan(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.SetOrgPlan(ctx, "nope", plan.Growth); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("set plan of a missing org: %v", err)
	}
}

// A keyed use (a campaign or automation message) counts once however
// often it is asked for, and parallel keys never pass the limit.
func TestTakeOnceCountsEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	svc := &plan.Service{Counters: s, Orgs: fixedPlan(plan.Free), CacheFor: -1}
	limit := plan.Plans[plan.Free].Limits[plan.WhatsAppPerDay]
	org := "o-once"
	// GIVEN 3 uses left and 6 keys each asked for 3 times at once
	now := time.Now().UTC()
	_, resets := plan.Day.Window(now)
	for range limit - 3 {
		if _, ok, err := s.TakeUsage(ctx, plan.Counter{OrgID: org, Metric: plan.WhatsAppPerDay, Period: plan.Day.Key(now)}, limit, resets); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	var mu sync.Mutex
	passed := map[string]int{}
	var wg sync.WaitGroup
	for i := range 18 {
		wg.Go(func() {
			key := "campaign:c1:lead" + string(rune('a'+i%6))
			err := svc.TakeOnce(ctx, org, plan.WhatsAppPerDay, key)
			if _, refused := plan.IsLimit(err); refused {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			passed[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// THEN (at most) 3 keys pass, and the counter holds the limit
	rep, err := svc.Usage(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range rep.Usage {
		if u.Metric == plan.WhatsAppPerDay && u.Used != limit {
			t.Fatalf("counter %d, want %d", u.Used, limit)
		}
	}
	if len(passed) != 3 {
		t.Fatalf("keys passed: %v, want 3", passed)
	}
	// A key counted before is allowed again, at the limit too.
	for k := range passed {
		if err := svc.TakeOnce(ctx, org, plan.WhatsAppPerDay, k); err != nil {
			t.Fatalf("a counted key again: %v", err)
		}
	}
}

// The owners are warned once a period at 80 % of a limit, and told once a
// period in the app that uses were kept past it, however many uses cross
// at the same time.
func TestPlanAlertsOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	org := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: org, Name: "Owner", Email: "owner-" + org + "@example.com", Role: account.RoleOwner,
		Active: true, PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(ctx, account.Org{ID: org, Name: "Alert Co", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	agent := owner
	agent.ID, agent.Email, agent.Role = ulid.Make().String(), "agent-"+org+"@example.com", account.RoleAgent
	if err := s.CreateUser(ctx, agent); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var mails []string
	svc := &plan.Service{Counters: s, Orgs: s, CacheFor: -1, Alerts: &plan.Alerts{Store: s,
		Mail: func(_ context.Context, to, subject, _ string) error {
			mu.Lock()
			defer mu.Unlock()
			mails = append(mails, to+": "+subject)
			return nil
		}}}
	limit := plan.Plans[plan.Free].Limits[plan.LeadsPerMonth]
	// GIVEN the month's leads 5 short of 80 % and 20 uses at once
	for range plan.WarnFrom(limit) - 5 {
		if _, err := svc.Record(ctx, org, plan.LeadsPerMonth); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = svc.Take(ctx, org, plan.LeadsPerMonth)
			} else {
				_, err = svc.Record(ctx, org, plan.LeadsPerMonth)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// THEN the owner (only) got one email
	if len(mails) != 1 || mails[0] != owner.Email+": Leadluence: 80% of your plan's leads per month used" {
		t.Fatalf("mails %q", mails)
	}
	// AND past the limit, Lead Ads leads are kept and the owner told once
	for range limit {
		if _, err := svc.Record(ctx, org, plan.LeadsPerMonth); err != nil {
			t.Fatal(err)
		}
	}
	wg = sync.WaitGroup{}
	for range 10 {
		wg.Go(func() {
			if over, err := svc.Record(ctx, org, plan.LeadsPerMonth); err != nil || !over {
				t.Errorf("over %v, %v", over, err)
			}
		})
	}
	wg.Wait()
	notes, err := s.ListNotifications(ctx, org, owner.ID, true, 50, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes.Items) != 1 || notes.Items[0].Kind != lead.NotificationPlanOverLimit || notes.Items[0].Limit != string(plan.LeadsPerMonth) {
		t.Fatalf("owner notifications %+v", notes.Items)
	}
	if n, _ := s.ListNotifications(ctx, org, agent.ID, false, 50, page.Cursor{}); len(n.Items) != 0 {
		t.Fatalf("an agent was notified: %+v", n.Items)
	}
	rep, err := svc.Usage(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range rep.Usage {
		if u.Metric == plan.LeadsPerMonth && (u.Over == 0 || !rep.OverLimit) {
			t.Fatalf("usage %+v", u)
		}
	}
	if len(mails) != 1 {
		t.Fatalf("mails %q", mails)
	}
}
