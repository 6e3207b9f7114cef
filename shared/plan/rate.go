package plan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/leadluence/backend/shared/ratelimit"
)

// API requests are limited by a token bucket per org rather than counted
// per minute (see shared/ratelimit for the algorithm, GCRA): its rate is
// the plan's APIRequestsPerMinute and it holds RequestBurstWindow's worth
// of it (a minute's: what the earlier per-minute counter let an org make at
// once, so no client that kept to it is refused now), so an org may make
// that many requests at once after a quiet spell and then keeps to its
// rate: unlike the counter, it cannot make a second minute's worth a
// moment later just because a minute boundary passed.
//
// Sharding: every authenticated request writes its org's bucket, so one
// item takes the org's whole request rate (business: 100 a second, more
// counting the refusals of a flood, which cost about one write per
// interval and api instance). Each bucket item stays far below DynamoDB's
// per-item write ceiling (1,000 WCU a second) by splitting the bucket over
// the plan's APIShards items (free 1, growth 2, business 4: at most 25
// requests a second each), each with its share of the rate and of the
// burst (ShardLimit). A request takes from a shard picked at random and,
// when that one is empty, from the next one: one write usually, bounded
// whatever the load (O(1)). Near the limit a request may thus be refused
// while a third shard still holds a token: the org then gets a little less
// than its rate, never more.

// RequestBurstWindow is how much of its request rate an org's bucket
// holds: a minute's worth, so free 300 requests at once, growth 1,200,
// business 6,000 (1,500 on each of its 4 shards).
const RequestBurstWindow = time.Minute

// RequestBurst is the burst of an org's request bucket under p.
func (p Plan) RequestBurst() int {
	return max(1, int(int64(p.Limits[APIRequestsPerMinute])*int64(RequestBurstWindow)/int64(time.Minute)))
}

// RequestBucket is shard i of the org's request bucket under p: its share
// of the rate and of the burst (at least one of each).
func (p Plan) RequestBucket(shard int) ratelimit.Bucket {
	n := p.Shards(APIRequestsPerMinute)
	return ratelimit.Bucket{
		Rate:  max(1, ShardLimit(p.Limits[APIRequestsPerMinute], n, shard)),
		Per:   time.Minute,
		Burst: max(1, ShardLimit(p.RequestBurst(), n, shard)),
	}
}

// Reader returns an org's plan (Service, which remembers it).
type Reader interface {
	PlanOf(ctx context.Context, orgID string) (Plan, error)
}

// Requests limits each org's API requests by its plan: the token bucket
// described above, shared by every api instance through Buckets.
type Requests struct {
	Plans   Reader
	Buckets *ratelimit.Limiter
}

// TakeRequest takes one request of the org from its bucket under plan on,
// or under the org's plan read through Plans when on is nil; an empty
// bucket is a *LimitError (APIRequestsPerMinute) whose ResetsAt is when a
// request will pass again.
func (r *Requests) TakeRequest(ctx context.Context, orgID string, on *Plan) error {
	var p Plan
	if on != nil {
		p = *on
	} else {
		var err error
		if p, err = r.Plans.PlanOf(ctx, orgID); err != nil {
			return err
		}
	}
	n := p.Shards(APIRequestsPerMinute)
	first := 0
	if n > 1 {
		first = rand.IntN(n) //nolint:gosec // spreads writes, not a secret
	}
	var retryAt time.Time
	for try := range min(n, 2) {
		shard := (first + try) % n
		d, err := r.Buckets.Take(ctx, ratelimit.Key{Kind: ratelimit.OrgRequests, ID: orgID, Shard: shard}, p.RequestBucket(shard))
		if err != nil {
			return fmt.Errorf("take a request of org %s: %w", orgID, err)
		}
		if d.Allowed {
			return nil
		}
		if retryAt.IsZero() || d.RetryAt.Before(retryAt) {
			retryAt = d.RetryAt
		}
	}
	return &LimitError{Metric: APIRequestsPerMinute, Limit: p.Limits[APIRequestsPerMinute], ResetsAt: retryAt}
}
