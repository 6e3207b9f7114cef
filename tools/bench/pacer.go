package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/leadluence/backend/shared/outbound"
)

// The pacer at Meta's highest tier: many senders (each its own
// outbound.Pacer, as separate Lambda containers are) share one number's
// limit of 1,000 messages a second through the table, as the sender uses
// them: book the recipient's pair slot, then take a slot in the number's
// one-second window (sharded counters above outbound.ShardCapacity). The
// whole sender at this rate is bound by this machine (its sends per second
// are in the table above); this figure checks what the pacer promises at
// 1,000 mps: the limit reached, never exceeded, the pair schedule kept.

// pacerOptions size the pacer figure.
type pacerOptions struct {
	Rate, Containers, Workers, Recipients int
	Duration                              time.Duration
	// InMemory keeps the pacer's state in memPaceStore instead of the
	// table: the pacer's own logic at full rate, without DynamoDB Local's
	// throughput on this machine as the bound.
	InMemory bool
}

// pacerResult is the pacer figure.
type pacerResult struct {
	Opts pacerOptions
	// Grants is the slots granted; Deferred the sends whose pair slot was
	// later than now (the sender would requeue them with the booking).
	Grants, Deferred int
	// Windows counts full one-second windows (the first and last, partial,
	// are left out of the rate); Achieved is the mean grants in them.
	Windows     int
	Achieved    float64
	WindowsOver int
	MaxWindow   int
	// PairViolations counts sends against the GCRA check of each
	// recipient's granted times.
	PairViolations int
	Shards         int
	Errors         int
	Took           time.Duration
}

// measurePacer runs the pacer figure on a fresh outbound setup.
func measurePacer(ctx context.Context, o pacerOptions) (pacerResult, error) {
	r := pacerResult{Opts: o, Shards: (o.Rate + outbound.ShardCapacity - 1) / outbound.ShardCapacity}
	e, err := setupOutbound(ctx)
	if err != nil {
		return r, err
	}
	defer e.sim.Close()
	number := fmt.Sprintf("%s-pacer-%d", obNumberID, time.Now().UnixNano()%1e6)
	type grant struct {
		to  int
		sec int64
		at  time.Time
	}
	var mu sync.Mutex
	var grants []grant
	var deferred, errs int
	var next int
	begin := time.Now()
	stop := begin.Add(o.Duration)
	var db outbound.PaceStore = e.store
	if o.InMemory {
		db = newMemPaceStore()
	}
	var wg sync.WaitGroup
	for range o.Containers {
		p := outbound.NewPacer(db)
		for range o.Workers {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(stop) {
					mu.Lock()
					to := next % o.Recipients
					next++
					mu.Unlock()
					recipient := fmt.Sprintf("91%010d", to)
					slot, err := p.BookPair(ctx, number, recipient)
					if err == nil && slot.After(p.Now().Add(time.Millisecond)) {
						mu.Lock()
						deferred++
						mu.Unlock()
						continue
					}
					var win time.Time
					if err == nil {
						win, err = p.TakeNumberSlot(ctx, number, o.Rate, 2*time.Second)
					}
					at := time.Now()
					mu.Lock()
					if err != nil {
						var paced *outbound.PacedError
						if !errors.As(err, &paced) {
							errs++
						}
					} else {
						grants = append(grants, grant{to: to, sec: win.Unix(), at: at})
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	r.Took = time.Since(begin)
	r.Grants, r.Deferred, r.Errors = len(grants), deferred, errs
	if len(grants) == 0 {
		return r, errors.New("pacer: no slot granted")
	}
	windows := map[int64]int{}
	perTo := map[int][]time.Time{}
	first, last := grants[0].sec, grants[0].sec
	for _, g := range grants {
		windows[g.sec]++
		perTo[g.to] = append(perTo[g.to], g.at)
		first, last = min(first, g.sec), max(last, g.sec)
	}
	full := 0
	for sec, n := range windows {
		r.MaxWindow = max(r.MaxWindow, n)
		if n > o.Rate {
			r.WindowsOver++
		}
		if sec > first && sec < last {
			r.Windows++
			full += n
		}
	}
	if r.Windows > 0 {
		r.Achieved = float64(full) / float64(r.Windows)
	}
	for _, ts := range perTo {
		r.PairViolations += pairViolations(ts)
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("pacer: %d calls failed", r.Errors)
	}
	return r, nil
}

// markdown renders the pacer figure as rows of the Outbound table.
func (r pacerResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Opts
	where := "against DynamoDB Local"
	if o.InMemory {
		where = "against an in-memory store with the table's conditions (`memPaceStore`)"
	}
	w("\n### The pacer at %d mps, %s\n\n", o.Rate, where)
	w("%d senders (each its own `outbound.Pacer`, as separate containers), %d goroutines each, share one number's limit of %d mps for %s,\n",
		o.Containers, o.Workers, o.Rate, o.Duration)
	w("as the sender uses the pacer: book the recipient's pair slot (`BookPair`), then take a slot in the number's one-second window\n")
	w("(`TakeNumberSlot`, %d sharded counters of at most %d); recipients round-robin over %d (a pair slot later\n",
		r.Shards, outbound.ShardCapacity, o.Recipients)
	w("than now is counted as deferred: the sender requeues such a message with its booking). Windows are the window the pacer granted.\n\n")
	w("| figure | value | goal |\n|---|---|---|\n")
	w("| slots granted | %d in %s (%d deferred by the pair schedule) | |\n", r.Grants, r.Took.Round(100*time.Millisecond), r.Deferred)
	w("| achieved rate, mean of the %d full windows | %.1f mps = **%.1f %%** of the limit | ≥ 95 %% |\n", r.Windows, r.Achieved, 100*r.Achieved/float64(o.Rate))
	w("| 1-second windows over %d | **%d** (busiest: %d) | 0 |\n", o.Rate, r.WindowsOver, r.MaxWindow)
	w("| pair-limit violations (GCRA, 6 s, burst 2, per recipient) | **%d** | 0 |\n", r.PairViolations)
	if 100*r.Achieved/float64(o.Rate) < 95 && !o.InMemory {
		w("\nBelow the limit here: every slot is two or three conditional writes to DynamoDB Local, which shares this machine's 2 cores with the\n")
		w("bench (%.0f slots a second is %.0f to %.0f writes a second); the window counters never let more than the limit through.\n",
			r.Achieved, 2*r.Achieved, 3*r.Achieved)
	}
	return b.String()
}

// memPaceStore is an in-memory outbound.PaceStore with the conditions of
// dynamostore's pacing items: a counter ADD only below the limit, a
// schedule started only when idle (tat <= now) and extended only when busy
// (tat > now).
type memPaceStore struct {
	mu       sync.Mutex
	counts   map[string]int
	tats     map[string]time.Time
	bookings map[string]time.Time
}

func newMemPaceStore() *memPaceStore {
	return &memPaceStore{counts: map[string]int{}, tats: map[string]time.Time{}, bookings: map[string]time.Time{}}
}

func (m *memPaceStore) CountWindowSend(_ context.Context, number string, shard int, window time.Time, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := fmt.Sprintf("%s/%d/%d", number, shard, window.Unix())
	if m.counts[k] >= limit {
		return false, nil
	}
	m.counts[k]++
	return true, nil
}

func (m *memPaceStore) StartPairSchedule(_ context.Context, number, to string, now, next time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := number + "/" + to
	if tat, ok := m.tats[k]; ok && tat.After(now) {
		return false, nil
	}
	m.tats[k] = next
	return true, nil
}

func (m *memPaceStore) ExtendPairSchedule(_ context.Context, number, to string, now time.Time, interval time.Duration) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := number + "/" + to
	tat, ok := m.tats[k]
	if !ok || !tat.After(now) {
		return time.Time{}, false, nil
	}
	m.tats[k] = tat.Add(interval)
	return m.tats[k], true, nil
}

func (m *memPaceStore) SaveBooking(_ context.Context, orgID, msgID string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bookings[orgID+"/"+msgID] = at
	return nil
}

func (m *memPaceStore) TakeBooking(_ context.Context, orgID, msgID string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.bookings[orgID+"/"+msgID]
	delete(m.bookings, orgID+"/"+msgID)
	return at, ok, nil
}
