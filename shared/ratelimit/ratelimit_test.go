package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/ratelimit"
)

// memStore is the Store's contract in memory: each write is atomic.
type memStore struct {
	mu     sync.Mutex
	tat    map[ratelimit.Key]time.Time
	writes atomic.Int64
}

func (m *memStore) StartBucket(_ context.Context, k ratelimit.Key, now, next time.Time) (bool, time.Time, error) {
	m.writes.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tat[k]; ok && t.After(now) {
		return false, t, nil
	}
	if m.tat == nil {
		m.tat = map[ratelimit.Key]time.Time{}
	}
	m.tat[k] = next
	return true, next, nil
}

func (m *memStore) AdvanceBucket(_ context.Context, k ratelimit.Key, now, limit time.Time, interval time.Duration) (bool, time.Time, error) {
	m.writes.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tat[k]
	if !ok || !t.After(now) || t.After(limit) {
		return false, t, nil
	}
	m.tat[k] = t.Add(interval)
	return true, m.tat[k], nil
}

type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

func TestBucketShape(t *testing.T) {
	b := ratelimit.Bucket{Rate: 300, Per: time.Minute, Burst: 50}
	if b.Interval() != 200*time.Millisecond || b.Tolerance() != 49*200*time.Millisecond {
		t.Fatalf("interval %s tolerance %s", b.Interval(), b.Tolerance())
	}
	// Rounded up to the millisecond: never faster than the rate.
	if got := (ratelimit.Bucket{Rate: 7, Per: time.Minute, Burst: 1}).Interval(); got != 8572*time.Millisecond {
		t.Fatalf("7 a minute: interval %s", got)
	}
}

// Many instances taking from one small bucket at once: exactly the burst
// passes, then one more per interval.
func TestConcurrentTakesPassExactlyTheBurst(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	c := &clock{at: time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)}
	b := ratelimit.Bucket{Rate: 60, Per: time.Minute, Burst: 5}
	k := ratelimit.Key{Kind: ratelimit.OrgRequests, ID: "o1"}
	instances := make([]*ratelimit.Limiter, 4)
	for i := range instances {
		instances[i] = &ratelimit.Limiter{Store: st, Now: c.Now}
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d, err := instances[i%len(instances)].Take(ctx, k, b)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				ok.Add(1)
			} else if want := c.Now().Add(time.Second); !d.RetryAt.Equal(want) {
				t.Errorf("retry at %s, want %s", d.RetryAt, want)
			}
			if d.Writes > 3 {
				t.Errorf("%d writes", d.Writes)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d takes passed a burst of 5", ok.Load())
	}
	// Refill: a second later one token is back, and only one.
	c.Add(time.Second)
	if d, _ := instances[0].Take(ctx, k, b); !d.Allowed {
		t.Fatal("no token after one interval")
	}
	if d, _ := instances[1].Take(ctx, k, b); d.Allowed {
		t.Fatal("two tokens after one interval")
	}
	// After a quiet spell the whole burst is back, no more.
	c.Add(time.Minute)
	for i := range 6 {
		d, err := instances[i%2].Take(ctx, k, b)
		if err != nil || d.Allowed != (i < 5) {
			t.Fatalf("take %d after a quiet minute: %+v %v", i, d, err)
		}
	}
}

// An instance that saw the bucket empty refuses without a write until a
// token may be back.
func TestKnownEmptyBucketCostsNoWrite(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	c := &clock{at: time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)}
	b := ratelimit.Bucket{Rate: 60, Per: time.Minute, Burst: 2}
	k := ratelimit.Key{Kind: ratelimit.APIKeyRequests, ID: "k1"}
	l := &ratelimit.Limiter{Store: st, Now: c.Now}
	for range 2 {
		if d, _ := l.Take(ctx, k, b); !d.Allowed || d.Writes != 1 {
			t.Fatalf("take: %+v", d)
		}
	}
	before := st.writes.Load()
	for range 100 {
		if d, _ := l.Take(ctx, k, b); d.Allowed || d.Writes != 0 {
			t.Fatalf("refused take: %+v", d)
		}
	}
	if st.writes.Load() != before {
		t.Fatalf("%d writes for refusals", st.writes.Load()-before)
	}
	// A second instance learns it with one write.
	other := &ratelimit.Limiter{Store: st, Now: c.Now}
	if d, _ := other.Take(ctx, k, b); d.Allowed || d.Writes != 1 {
		t.Fatalf("other instance: %+v", d)
	}
	c.Add(time.Second)
	if d, _ := l.Take(ctx, k, b); !d.Allowed {
		t.Fatalf("after an interval: %+v", d)
	}
}
