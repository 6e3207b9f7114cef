// Package ratelimit holds token buckets shared by every instance of a
// function: an org's API requests (shared/plan) and each API key's
// (shared/account) are limited by one.
//
// A bucket is kept as GCRA (the generic cell rate algorithm), the token
// bucket's one-attribute equivalent: instead of a token count and the time
// it was last refilled (two attributes, and a refill computed from the
// clock before every take), the store keeps one time, the bucket's
// theoretical arrival time (TAT): when it would be full again if nothing
// more were taken. A take at now with emission interval T (the time one
// token takes to come back, Per/Rate) and burst B is allowed when
// TAT <= now + (B-1)·T, and sets TAT to max(TAT, now) + T. GCRA was
// chosen over a stored token count because the whole decision is then one
// conditional write on one number that only moves forward, which DynamoDB
// does atomically, while a token count needs the refill computed from a
// second attribute inside the same condition.
//
// DynamoDB has no max() in an update expression, so a take is one of two
// conditional writes (Store), by the state of the bucket:
//
//   - idle (no TAT, or one not after now): SET tat = now + T, on the
//     condition that it is still idle;
//   - busy (now < TAT <= now + (B-1)·T): SET tat = tat + T, on that
//     condition.
//
// The limiter guesses which from the TAT it saw last for the bucket (idle
// when it never saw one). A write refused by its condition returns the TAT
// found (DynamoDB's ReturnValuesOnConditionCheckFailure), which either
// proves the bucket empty (TAT > now + (B-1)·T: refused, no more writes)
// or names the other case, tried next. Because the TAT only moves forward,
// a busy bucket never turns idle between two tries, so a take makes at
// most three writes (busy guessed, idle raced, busy) and usually one; it is
// exact under concurrency since every allowed take is one conditional
// write on the same item. A TAT seen by this instance is a lower bound of
// the stored one: when it already proves the bucket empty, the take is
// refused with no write at all, so a flood costs at most about one write
// per emission interval and instance, not one per request.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Kind is what a bucket limits.
type Kind string

// The buckets.
const (
	// OrgRequests is one shard of an org's API requests (shared/plan).
	OrgRequests Kind = "org_requests"
	// APIKeyRequests is an API key's requests (shared/account).
	APIKeyRequests Kind = "api_key_requests"
)

// Key names one bucket; the store builds its item key from it.
type Key struct {
	Kind Kind
	// ID is the org or the API key.
	ID string
	// Shard is the shard of a split bucket (0 otherwise).
	Shard int
}

// Bucket is a token bucket: Rate tokens come back every Per, and it holds
// at most Burst (so Burst takes pass at once after a quiet spell).
type Bucket struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// Interval is the emission interval: the time one token takes to come
// back, rounded up to the millisecond the store keeps (never faster than
// the rate).
func (b Bucket) Interval() time.Duration {
	t := b.Per / time.Duration(max(b.Rate, 1))
	if r := t % time.Millisecond; r != 0 {
		t += time.Millisecond - r
	}
	return max(t, time.Millisecond)
}

// Tolerance is how far ahead of now the TAT may be for a take to pass:
// (Burst-1) intervals.
func (b Bucket) Tolerance() time.Duration { return time.Duration(max(b.Burst, 1)-1) * b.Interval() }

// Store keeps the buckets' TATs (dynamostore.Store), each in one item
// written only by the two conditional writes below. A refused write
// returns the TAT it found (zero when there is none).
type Store interface {
	// StartBucket sets the TAT of an idle bucket (none, or one not after
	// now) to next.
	StartBucket(ctx context.Context, k Key, now, next time.Time) (bool, time.Time, error)
	// AdvanceBucket moves a busy bucket's TAT, one after now and not
	// after limit, interval further, and returns the new TAT.
	AdvanceBucket(ctx context.Context, k Key, now, limit time.Time, interval time.Duration) (bool, time.Time, error)
}

// Decision is the outcome of a take.
type Decision struct {
	Allowed bool
	// RetryAt is, for a refused take, when the bucket holds a token again.
	RetryAt time.Time
	// Writes is the conditional writes the take made (0 when the TAT this
	// instance saw last already proved the bucket empty).
	Writes int
}

// maxTries bounds the writes of one take (see the package comment: the
// third is always conclusive).
const maxTries = 3

// Limiter takes tokens from buckets in Store. One per function instance:
// it remembers the TAT it last saw of each bucket.
type Limiter struct {
	Store Store
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	seen map[Key]time.Time
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) last(k Key) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[k]
}

// remember keeps the later of the known TAT and tat.
func (l *Limiter) remember(k Key, tat time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) > 10000 {
		l.seen = map[Key]time.Time{}
	}
	if tat.After(l.seen[k]) {
		l.seen[k] = tat
	}
}

// Take takes one token from bucket k (of shape b).
func (l *Limiter) Take(ctx context.Context, k Key, b Bucket) (Decision, error) {
	now := l.now()
	interval, tolerance := b.Interval(), b.Tolerance()
	limit := now.Add(tolerance)
	refuse := func(tat time.Time, writes int) Decision {
		return Decision{RetryAt: tat.Add(-tolerance), Writes: writes}
	}
	known := l.last(k)
	if known.After(limit) {
		return refuse(known, 0), nil
	}
	busy := known.After(now)
	var d Decision
	for d.Writes < maxTries {
		d.Writes++
		if busy {
			ok, tat, err := l.Store.AdvanceBucket(ctx, k, now, limit, interval)
			if err != nil {
				return d, fmt.Errorf("take from %s bucket %s: %w", k.Kind, k.ID, err)
			}
			if ok {
				l.remember(k, tat)
				d.Allowed = true
				return d, nil
			}
			if tat.After(limit) {
				l.remember(k, tat)
				return refuse(tat, d.Writes), nil
			}
			// Idle (expired or never written): start it.
			busy = false
			continue
		}
		next := now.Add(interval)
		ok, tat, err := l.Store.StartBucket(ctx, k, now, next)
		if err != nil {
			return d, fmt.Errorf("take from %s bucket %s: %w", k.Kind, k.ID, err)
		}
		if ok {
			l.remember(k, next)
			d.Allowed = true
			return d, nil
		}
		l.remember(k, tat)
		if tat.After(limit) {
			return refuse(tat, d.Writes), nil
		}
		busy = true
	}
	// Not reached while the TAT only moves forward; refuse rather than
	// pass the limit if it ever is.
	return Decision{RetryAt: now.Add(interval), Writes: d.Writes}, nil
}
