package dynamostore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/plan"
)

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
			took, err := s.TakeUsage(ctx, c, limit, now.Add(time.Hour))
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
	if took, _ := s.TakeUsage(ctx, c, limit, now.Add(time.Hour)); !took {
		t.Fatal("the use given back is not available")
	}
	if took, _ := s.TakeUsage(ctx, c, limit, now.Add(time.Hour)); took {
		t.Fatal("passed the limit after a release")
	}
	// Kept uses (Lead Ads) pass the limit and are recorded as over.
	over, err := s.AddUsage(ctx, c, limit, now.Add(time.Hour))
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
