package dynamostore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/ratelimit"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// Parallel requests of several api instances against a small bucket:
// exactly the burst passes; then one token comes back per interval, and
// the whole burst after a quiet spell.
func TestBucketIsExactUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, calls := newStore(t)
	clk := &fakeClock{at: time.Now().UTC().Truncate(time.Millisecond)}
	b := ratelimit.Bucket{Rate: 60, Per: time.Minute, Burst: 5}
	k := ratelimit.Key{Kind: ratelimit.APIKeyRequests, ID: "k1"}
	instances := make([]*ratelimit.Limiter, 4)
	for i := range instances {
		instances[i] = &ratelimit.Limiter{Store: s, Now: clk.Now}
	}
	var ok, writes atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d, err := instances[i%len(instances)].Take(ctx, k, b)
			if err != nil {
				t.Error(err)
				return
			}
			writes.Add(int32(d.Writes))
			if d.Allowed {
				ok.Add(1)
			} else if d.RetryAt.Sub(clk.Now()) != time.Second {
				t.Errorf("retry at %s, want a second on", d.RetryAt)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d of 40 parallel requests passed a burst of 5", ok.Load())
	}
	if int64(writes.Load()) != calls.get("UpdateItem") || calls.get("GetItem") != 0 {
		t.Fatalf("%d writes counted, %d UpdateItem and %d GetItem made", writes.Load(), calls.get("UpdateItem"), calls.get("GetItem"))
	}
	t.Logf("40 parallel requests, 4 instances: %d UpdateItem", calls.get("UpdateItem"))
	// Known empty: refused with no write.
	before := calls.get("UpdateItem")
	if d, _ := instances[0].Take(ctx, k, b); d.Allowed || d.Writes != 0 || calls.get("UpdateItem") != before {
		t.Fatalf("a request against a bucket known empty: %+v", d)
	}
	// Refill: one token a second.
	clk.add(time.Second)
	if d, err := instances[1].Take(ctx, k, b); err != nil || !d.Allowed {
		t.Fatalf("no token after a second: %+v %v", d, err)
	}
	if d, _ := instances[2].Take(ctx, k, b); d.Allowed {
		t.Fatal("two tokens after a second")
	}
	clk.add(time.Minute)
	for i := range 6 {
		d, err := instances[i%4].Take(ctx, k, b)
		if err != nil || d.Allowed != (i < 5) {
			t.Fatalf("request %d after a quiet minute: %+v %v", i, d, err)
		}
	}
	// Another bucket is apart.
	if d, _ := instances[0].Take(ctx, ratelimit.Key{Kind: ratelimit.APIKeyRequests, ID: "k2"}, b); !d.Allowed {
		t.Fatal("another key's bucket is empty")
	}
}

// An org's sharded bucket never passes its plan's burst, and refusals say
// when a request passes again.
func TestOrgRequestBucketNeverPassesTheLimit(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	clk := &fakeClock{at: time.Now().UTC().Truncate(time.Millisecond)}
	p := plan.Plan{Name: plan.Business, APIShards: 4, Limits: map[plan.Metric]int{plan.APIRequestsPerMinute: 24}}
	if p.RequestBurst() != 24 || p.RequestBucket(0) != (ratelimit.Bucket{Rate: 6, Per: time.Minute, Burst: 6}) {
		t.Fatalf("burst %d, shard %+v", p.RequestBurst(), p.RequestBucket(0))
	}
	r := &plan.Requests{Plans: fixedPlans(p), Buckets: &ratelimit.Limiter{Store: s, Now: clk.Now}}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			err := r.TakeRequest(ctx, "o1", nil)
			if le, refused := plan.IsLimit(err); refused {
				if le.Limit != 24 || le.Metric != plan.APIRequestsPerMinute || le.ResetsAt.Sub(clk.Now()) != 10*time.Second {
					t.Errorf("refusal %+v", le)
				}
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	if n := ok.Load(); n > 24 || n < 18 {
		t.Fatalf("%d requests passed a burst of 24 over 4 shards", n)
	}
}

type fixedPlans plan.Plan

func (f fixedPlans) PlanOf(context.Context, string) (plan.Plan, error) { return plan.Plan(f), nil }

// BenchmarkOrgRequestBucket measures what one API request costs the
// org's bucket at the free plan's rate (one request every 200 ms): the
// DynamoDB writes (each a conditional UpdateItem of an item under 1 KB: 1
// WCU, refused or not) and reads per request, and a flood at 10 times the
// rate from 4 instances.
func BenchmarkOrgRequestBucket(b *testing.B) {
	ctx := context.Background()
	s, calls := newStore(b)
	p := plan.Of(plan.Free)
	run := func(b *testing.B, every time.Duration, instances int) {
		clk := &fakeClock{at: time.Now().UTC().Truncate(time.Millisecond)}
		ls := make([]*plan.Requests, instances)
		for i := range ls {
			ls[i] = &plan.Requests{Plans: fixedPlans(p), Buckets: &ratelimit.Limiter{Store: s, Now: clk.Now}}
		}
		org := "bench-" + b.Name() + "-" + time.Now().Format("150405.000000")
		w0, r0 := calls.get("UpdateItem"), calls.get("GetItem")
		var refused int
		b.ResetTimer()
		for i := range b.N {
			clk.add(every)
			if err := ls[i%instances].TakeRequest(ctx, org, nil); err != nil {
				if _, ok := plan.IsLimit(err); !ok {
					b.Fatal(err)
				}
				refused++
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(calls.get("UpdateItem")-w0)/float64(b.N), "WCU/op")
		b.ReportMetric(float64(calls.get("GetItem")-r0)/float64(b.N), "reads/op")
		b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
	}
	b.Run("at-rate-1-instance", func(b *testing.B) { run(b, 200*time.Millisecond, 1) })
	b.Run("at-rate-4-instances", func(b *testing.B) { run(b, 200*time.Millisecond, 4) })
	b.Run("flood-10x-4-instances", func(b *testing.B) { run(b, 20*time.Millisecond, 4) })
}
