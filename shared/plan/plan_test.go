package plan_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/plan"
)

func TestTable(t *testing.T) {
	for _, n := range plan.Names {
		p := plan.Plans[n]
		if p.Name != n || p.APIShards < 1 || p.APIShards > plan.MaxShards {
			t.Fatalf("plan %s: %+v", n, p)
		}
		for _, m := range plan.Metrics {
			if p.Limits[m] <= 0 {
				t.Fatalf("plan %s has no limit for %s", n, m)
			}
		}
	}
	if plan.Of("").Name != plan.Free || plan.Of("gold").Name != plan.Free || plan.Of(plan.Growth).Name != plan.Growth {
		t.Fatal("Of does not default to free")
	}
	if plan.Plans[plan.Free].Limits[plan.APIRequestsPerMinute] != 300 {
		t.Fatal("free allows 300 requests a minute")
	}
}

func TestShardLimitsAddUp(t *testing.T) {
	for _, limit := range []int{1, 7, 300, 1201} {
		for n := 1; n <= plan.MaxShards; n++ {
			sum := 0
			for i := range n {
				sum += plan.ShardLimit(limit, n, i)
			}
			if sum != limit {
				t.Fatalf("limit %d over %d shards sums to %d", limit, n, sum)
			}
		}
	}
}

func TestWindows(t *testing.T) {
	at := time.Date(2027, 12, 31, 23, 59, 30, 0, time.UTC)
	for _, c := range []struct {
		p      plan.Period
		key    string
		resets time.Time
	}{
		{plan.Minute, "202712312359", time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)},
		{plan.Day, "20271231", time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)},
		{plan.Month, "202712", time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, r := c.p.Window(at); !r.Equal(c.resets) || c.p.Key(at) != c.key {
			t.Fatalf("%s: key %s resets %s", c.p, c.p.Key(at), r)
		}
	}
}
