package outbound

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// PaceStore keeps the pacer's state where every sender sees it
// (dynamostore.Store): a send counter per business number and one-second
// window, a schedule per business number and recipient (its theoretical
// arrival time, "tat", the time after which the schedule is idle), and the
// slots messages booked before going back to the queue. Every write is
// conditional, so concurrent senders never both take the last slot.
type PaceStore interface {
	// CountWindowSend counts one send of number on a shard of the
	// one-second window starting at window if fewer than limit (the
	// shard's share) were counted there; false when that shard is full.
	CountWindowSend(ctx context.Context, number string, shard int, window time.Time, limit int) (bool, error)
	// StartPairSchedule sets the schedule of number and recipient to to
	// next, provided it is idle at now; false when it is busy.
	StartPairSchedule(ctx context.Context, number, to string, now, next time.Time) (bool, error)
	// ExtendPairSchedule moves a schedule busy at now interval further and
	// returns its new tat; false when it is idle at now.
	ExtendPairSchedule(ctx context.Context, number, to string, now time.Time, interval time.Duration) (time.Time, bool, error)
	// SaveBooking keeps the slot at booked by a message.
	SaveBooking(ctx context.Context, orgID, msgID string, at time.Time) error
	// TakeBooking removes and returns the slot a message booked, if any.
	TakeBooking(ctx context.Context, orgID, msgID string) (time.Time, bool, error)
}

// Pair pacing defaults: WhatsApp allows about one message every 6 seconds
// from a business number to one recipient; a burst of 2 lets a quick
// follow-up through.
const (
	DefaultPairInterval = 6 * time.Second
	DefaultPairBurst    = 2
)

// PacedError means a send must wait: try again after RetryAfter.
type PacedError struct {
	RetryAfter time.Duration
	What       string
}

// Error implements error.
func (e *PacedError) Error() string {
	return fmt.Sprintf("paced: %s full, retry in %s", e.What, e.RetryAfter.Round(time.Millisecond))
}

// ShardCapacity is the most sends a second one window counter takes. A
// number's limit is split over ceil(limit/ShardCapacity) counters, each in
// its own partition, so that at Meta's highest tier (1,000 messages a
// second per number) no counter nears DynamoDB's 1,000 writes a second per
// partition; up to 250 mps (the tiers below) there is one counter, as
// before the split.
const ShardCapacity = 250

// maxShards bounds the split (a bit set of full shards per number).
const maxShards = 64

// shardsOf returns how many counters a limit is split over.
func shardsOf(limit int) int { return min((limit+ShardCapacity-1)/ShardCapacity, maxShards) }

// shareOf returns shard i's share of limit over n shards: the shares
// differ by at most one and add up to limit exactly.
func shareOf(limit, n, i int) int {
	share := limit / n
	if i < limit%n {
		share++
	}
	return share
}

// Pacer limits sends across every concurrent sender:
//
//   - per business number, at most limit sends in each one-second window
//     (a conditional ADD on a counter item; over ShardCapacity the limit
//     is split over several counters whose shares add up to it, and a
//     send that finds its counter full tries the others), and
//   - per business number and recipient, a schedule kept with the generic
//     cell rate algorithm: each send books the next slot, PairInterval after
//     the one before, with a burst of PairBurst (two writes at most, no
//     read-modify-write races: the slot is computed from the value the
//     conditional update returns).
//
// It is safe for concurrent use.
type Pacer struct {
	db PaceStore

	// PairInterval and PairBurst shape the per-recipient schedule
	// (defaults DefaultPairInterval, DefaultPairBurst).
	PairInterval time.Duration
	PairBurst    int
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	full map[string]fullShards // number → shards known full in its latest window
}

// fullShards are the shards of one window second known to be full.
type fullShards struct {
	sec  int64
	bits uint64
}

// NewPacer returns a Pacer keeping its state in db.
func NewPacer(db PaceStore) *Pacer {
	return &Pacer{db: db, PairInterval: DefaultPairInterval, PairBurst: DefaultPairBurst, Now: time.Now, full: map[string]fullShards{}}
}

// tolerance is how far ahead of its slot a send may go: the burst.
func (p *Pacer) tolerance() time.Duration {
	return time.Duration(max(p.PairBurst, 1)-1) * p.PairInterval
}

// TakeNumberSlot takes one of number's limit sends in the current one-second
// window. When the window is full it waits for the next one, for at most
// maxWait; then it gives up with a *PacedError. It returns the start of the
// window granted.
func (p *Pacer) TakeNumberSlot(ctx context.Context, number string, limit int, maxWait time.Duration) (time.Time, error) {
	if limit <= 0 {
		return time.Time{}, fmt.Errorf("number %s: rate limit %d: must be positive", number, limit)
	}
	giveUp := p.Now().Add(maxWait)
	n := shardsOf(limit)
	for {
		now := p.Now()
		sec := now.Unix()
		ok, err := p.tryWindow(ctx, number, sec, limit, n)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Unix(sec, 0), nil
		}
		// Wake a little after the next window opens, spread so that the
		// waiters of many senders do not all arrive at once.
		next := time.Unix(sec+1, 0).Add(time.Duration(rand.Int64N(int64(20 * time.Millisecond)))) //nolint:gosec // jitter, not security
		if next.After(giveUp) {
			return time.Time{}, &PacedError{RetryAfter: next.Sub(now), What: "number " + number}
		}
		if err := sleep(ctx, next.Sub(now)); err != nil {
			return time.Time{}, err
		}
	}
}

// tryWindow counts one send in window sec on one of its n shards with
// room: it starts at a random shard (so concurrent senders spread over
// them) and tries the others in turn, skipping those this pacer already
// found full; false when every shard is full.
func (p *Pacer) tryWindow(ctx context.Context, number string, sec int64, limit, n int) (bool, error) {
	start := 0
	if n > 1 {
		start = rand.IntN(n) //nolint:gosec // load spreading, not security
	}
	for j := range n {
		i := (start + j) % n
		if p.knownFull(number, sec, i) {
			continue
		}
		ok, err := p.db.CountWindowSend(ctx, number, i, time.Unix(sec, 0), shareOf(limit, n, i))
		if err != nil {
			return false, fmt.Errorf("take send slot of number %s: %w", number, err)
		}
		if ok {
			return true, nil
		}
		p.markFull(number, sec, i)
	}
	return false, nil
}

func (p *Pacer) knownFull(number string, sec int64, shard int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.full[number]
	return f.sec == sec && f.bits&(1<<shard) != 0
}

func (p *Pacer) markFull(number string, sec int64, shard int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.full[number]
	switch {
	case f.sec < sec:
		p.full[number] = fullShards{sec: sec, bits: 1 << shard}
	case f.sec == sec:
		f.bits |= 1 << shard
		p.full[number] = f
	}
}

// BookPair books the next send slot of number to recipient to and returns
// its time: now when the schedule has room (including the burst), else
// PairInterval after the previous booking. The slot is the caller's: it
// must send at that time (or not at all), so that the schedule holds.
func (p *Pacer) BookPair(ctx context.Context, number, to string) (time.Time, error) {
	for range 3 {
		now := p.Now().Truncate(time.Millisecond)
		// Idle schedule: the slot is now.
		ok, err := p.db.StartPairSchedule(ctx, number, to, now, now.Add(p.PairInterval))
		if err != nil {
			return time.Time{}, fmt.Errorf("book pair slot: %w", err)
		}
		if ok {
			return now, nil
		}
		// Busy schedule: append a slot after the last one.
		tat, ok, err := p.db.ExtendPairSchedule(ctx, number, to, now, p.PairInterval)
		if err != nil {
			return time.Time{}, fmt.Errorf("book pair slot: %w", err)
		}
		if !ok {
			continue // the schedule fell idle in between (clock skew): start over
		}
		slot := tat.Add(-p.PairInterval).Add(-p.tolerance())
		if slot.Before(now) {
			slot = now
		}
		return slot, nil
	}
	return time.Time{}, errors.New("book pair slot: schedule kept changing")
}

// SaveBooking keeps the pair slot at booked by a message that goes back to
// the queue until then, so that its next delivery sends in that slot
// instead of booking another.
func (p *Pacer) SaveBooking(ctx context.Context, orgID, msgID string, at time.Time) error {
	if err := p.db.SaveBooking(ctx, orgID, msgID, at); err != nil {
		return fmt.Errorf("save pair booking of %s: %w", msgID, err)
	}
	return nil
}

// TakeBooking removes and returns the pair slot a message saved, if any.
func (p *Pacer) TakeBooking(ctx context.Context, orgID, msgID string) (time.Time, bool, error) {
	at, ok, err := p.db.TakeBooking(ctx, orgID, msgID)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("take pair booking of %s: %w", msgID, err)
	}
	return at, ok, nil
}

// Late reports whether a booked slot is too old to use: sending later than
// the burst tolerance after it could crowd the slots booked after it.
func (p *Pacer) Late(at, now time.Time) bool { return now.Sub(at) > p.tolerance() }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait: %w", context.Cause(ctx))
	}
}
