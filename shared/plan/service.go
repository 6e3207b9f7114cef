package plan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Counter names one usage counter: an org's metric in one period, and
// the shard of a split counter (0 otherwise).
type Counter struct {
	OrgID  string
	Metric Metric
	// Period is the period's key (Period.Key).
	Period string
	Shard  int
}

// Reading is what a counter holds.
type Reading struct {
	// Count is the uses counted.
	Count int
	// Over is the uses recorded past the limit (Service.Record): stored
	// and counted, never refused.
	Over int
}

// Counters keeps usage counters (dynamostore.Store).
type Counters interface {
	// TakeUsage adds one use to c provided it holds fewer than limit, in
	// one conditional atomic write; false means the limit is reached.
	// The counter expires at expires.
	// n is the count after the add.
	TakeUsage(ctx context.Context, c Counter, limit int, expires time.Time) (n int, ok bool, err error)
	// TakeUsageOnce is TakeUsage for the use named key: a key counted
	// before is already true and counts nothing again.
	// n is the count after the add (0 when nothing was added).
	TakeUsageOnce(ctx context.Context, c Counter, key string, limit int, expires time.Time) (n int, took, already bool, err error)
	// ReleaseUsage takes back a use taken for something that was then
	// not done.
	ReleaseUsage(ctx context.Context, c Counter) error
	// AddUsage adds one use to c whatever the limit and, when that
	// passes limit, one to its over-limit count; it returns the count
	// after the add and whether the use was over.
	AddUsage(ctx context.Context, c Counter, limit int, expires time.Time) (n int, over bool, err error)
	// ReadUsage reads counters; a missing one reads zero.
	ReadUsage(ctx context.Context, cs []Counter) ([]Reading, error)
	// ReadGauges reads the org's gauges (see Gauges); a missing one
	// reads zero.
	ReadGauges(ctx context.Context, orgID string, ms []Metric) ([]int, error)
}

// Orgs reads an org's plan (dynamostore.Store).
type Orgs interface {
	// OrgPlan returns the org's plan name, "" when none is set (free).
	OrgPlan(ctx context.Context, orgID string) (Name, error)
}

// LimitError is a use refused at its plan's limit.
type LimitError struct {
	Metric Metric
	Limit  int
	// ResetsAt is when the period ends and uses are allowed again; zero
	// for a gauge (room is made by removing something).
	ResetsAt time.Time
}

// Error implements error.
func (e *LimitError) Error() string {
	if e.ResetsAt.IsZero() {
		return fmt.Sprintf("the plan's limit of %d %s is reached", e.Limit, e.Metric)
	}
	return fmt.Sprintf("the plan's limit of %d %s is reached until %s", e.Limit, e.Metric, e.ResetsAt.Format(time.RFC3339))
}

// IsLimit reports whether err is a *LimitError, and returns it.
func IsLimit(err error) (*LimitError, bool) {
	var le *LimitError
	ok := errors.As(err, &le)
	return le, ok
}

// DefaultCacheFor is how long Service remembers an org's plan: a changed
// plan takes effect within it.
const DefaultCacheFor = time.Minute

// Service counts and limits an org's usage by its plan.
type Service struct {
	Counters Counters
	Orgs     Orgs
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CacheFor is how long an org's plan is remembered
	// (DefaultCacheFor when 0; negative: never).
	CacheFor time.Duration
	// Alerts, when set, tells the org's owners when a limit of a day or
	// a month is WarnAt used (email) and when a use is kept past it
	// (in-app notification), once per period each.
	Alerts *Alerts

	mu    sync.Mutex
	plans map[string]cachedPlan
}

type cachedPlan struct {
	plan Plan
	at   time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// PlanOf returns the org's plan, remembered for CacheFor so the hot path
// (every API request) does not read the org each time.
func (s *Service) PlanOf(ctx context.Context, orgID string) (Plan, error) {
	now := s.now()
	keep := s.CacheFor
	if keep == 0 {
		keep = DefaultCacheFor
	}
	if keep > 0 {
		s.mu.Lock()
		c, ok := s.plans[orgID]
		s.mu.Unlock()
		if ok && now.Sub(c.at) < keep {
			return c.plan, nil
		}
	}
	n, err := s.Orgs.OrgPlan(ctx, orgID)
	if err != nil {
		return Plan{}, fmt.Errorf("read plan of org %s: %w", orgID, err)
	}
	p := Of(n)
	if keep > 0 {
		s.mu.Lock()
		if s.plans == nil || len(s.plans) > 10000 {
			s.plans = map[string]cachedPlan{}
		}
		s.plans[orgID] = cachedPlan{plan: p, at: now}
		s.mu.Unlock()
	}
	return p, nil
}

// Take counts one use of m by the org, or refuses it with a *LimitError
// when the org's plan's limit for the period is reached.
func (s *Service) Take(ctx context.Context, orgID string, m Metric) error {
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		return err
	}
	return s.TakeOn(ctx, p, orgID, m)
}

// TakeOn is Take under plan p, for a caller that read the org already.
func (s *Service) TakeOn(ctx context.Context, p Plan, orgID string, m Metric) error {
	per := m.Period()
	if per == None {
		return fmt.Errorf("take %s: not counted per period", m)
	}
	now := s.now()
	_, resets := per.Window(now)
	limit := p.Limits[m]
	n := p.Shards(m)
	first := 0
	if n > 1 {
		first = rand.IntN(n) //nolint:gosec // spreads writes, not a secret
	}
	// The picked shard and, when it is full, the next one: one or two
	// writes per use whatever the load.
	for try := range min(n, 2) {
		shard := (first + try) % n
		c := Counter{OrgID: orgID, Metric: m, Period: per.Key(now), Shard: shard}
		used, ok, err := s.Counters.TakeUsage(ctx, c, ShardLimit(limit, n, shard), resets.Add(per.Kept()))
		if err != nil {
			return fmt.Errorf("count %s of org %s: %w", m, orgID, err)
		}
		if ok {
			if n == 1 {
				s.warn(ctx, orgID, m, used, limit, c.Period, resets)
			}
			return nil
		}
	}
	return &LimitError{Metric: m, Limit: limit, ResetsAt: resets}
}

// TakeOnce is Take for the use named key (an automatic send's client
// message id, say): however often it is asked for the same key in a
// period (a redelivered job, a page processed again) the use counts
// once, and a key counted before is allowed again. At the limit it is a
// *LimitError. Metrics split in shards are not taken this way.
func (s *Service) TakeOnce(ctx context.Context, orgID string, m Metric, key string) error {
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		return err
	}
	per := m.Period()
	if per == None || p.Shards(m) > 1 {
		return fmt.Errorf("take %s once: not counted per period in one counter", m)
	}
	now := s.now()
	_, resets := per.Window(now)
	limit := p.Limits[m]
	c := Counter{OrgID: orgID, Metric: m, Period: per.Key(now)}
	used, took, already, err := s.Counters.TakeUsageOnce(ctx, c, key, limit, resets.Add(per.Kept()))
	if err != nil {
		return fmt.Errorf("count %s of org %s: %w", m, orgID, err)
	}
	if took {
		s.warn(ctx, orgID, m, used, limit, c.Period, resets)
	}
	if !took && !already {
		return &LimitError{Metric: m, Limit: limit, ResetsAt: resets}
	}
	return nil
}

// Release takes back a use of m that Take counted for something that was
// then not done (a lead create that failed validation, say).
func (s *Service) Release(ctx context.Context, orgID string, m Metric) error {
	per := m.Period()
	c := Counter{OrgID: orgID, Metric: m, Period: per.Key(s.now())}
	if err := s.Counters.ReleaseUsage(ctx, c); err != nil {
		return fmt.Errorf("release %s of org %s: %w", m, orgID, err)
	}
	return nil
}

// Record counts one use of m that must never be refused (a Lead Ads
// lead, an inbound WhatsApp message): past the limit it is still counted,
// and recorded as over the limit, which GET /v1/usage shows. It reports
// whether the use was over.
func (s *Service) Record(ctx context.Context, orgID string, m Metric) (bool, error) {
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		return false, err
	}
	per := m.Period()
	now := s.now()
	_, resets := per.Window(now)
	c := Counter{OrgID: orgID, Metric: m, Period: per.Key(now)}
	used, over, err := s.Counters.AddUsage(ctx, c, p.Limits[m], resets.Add(per.Kept()))
	if err != nil {
		return false, fmt.Errorf("record %s of org %s: %w", m, orgID, err)
	}
	s.warn(ctx, orgID, m, used, p.Limits[m], c.Period, resets)
	if over && s.Alerts != nil {
		s.Alerts.report(ctx, orgID, m, s.Alerts.overLimit(ctx, orgID, m, c.Period, resets))
	}
	return over, nil
}

// warn emails the owners once a limit of a day or a month is WarnAt used
// (per-minute limits reset too fast to mail about).
func (s *Service) warn(ctx context.Context, orgID string, m Metric, used, limit int, period string, resets time.Time) {
	if s.Alerts == nil || m.Period() == Minute {
		return
	}
	s.Alerts.report(ctx, orgID, m, s.Alerts.nearLimit(ctx, orgID, m, used, limit, period, resets))
}

// Usage is one metric's use against its limit.
type Usage struct {
	Metric Metric
	Limit  int
	// Metered reports whether the metric is counted and enforced (every
	// metric is now: per period, or as a gauge).
	Metered bool
	Used    int
	// Over is the uses recorded past the limit (never refused).
	Over int
	// Period is the window (None for a gauge).
	Period Period
	// ResetsAt is when the period ends (zero for a gauge).
	ResetsAt time.Time
}

// Report is an org's plan and usage in the current periods.
type Report struct {
	Plan  Name
	Usage []Usage
	// OverLimit reports that some use was recorded past a limit.
	OverLimit bool
}

// Usage reads the org's usage in the current periods.
func (s *Service) Usage(ctx context.Context, orgID string) (Report, error) {
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		return Report{}, err
	}
	now := s.now()
	var cs []Counter
	var of []int
	for i, m := range Metrics {
		per := m.Period()
		if per == None {
			continue
		}
		for shard := range p.Shards(m) {
			cs = append(cs, Counter{OrgID: orgID, Metric: m, Period: per.Key(now), Shard: shard})
			of = append(of, i)
		}
	}
	readings, err := s.Counters.ReadUsage(ctx, cs)
	if err != nil {
		return Report{}, fmt.Errorf("read usage of org %s: %w", orgID, err)
	}
	gauges, err := s.Counters.ReadGauges(ctx, orgID, Gauges)
	if err != nil {
		return Report{}, fmt.Errorf("read gauges of org %s: %w", orgID, err)
	}
	r := Report{Plan: p.Name, Usage: make([]Usage, len(Metrics))}
	for i, m := range Metrics {
		r.Usage[i] = Usage{Metric: m, Limit: p.Limits[m], Period: m.Period()}
		if per := m.Period(); per != None {
			_, resets := per.Window(now)
			r.Usage[i].Metered, r.Usage[i].ResetsAt = true, resets
		}
		if g := slices.Index(Gauges, m); g >= 0 {
			r.Usage[i].Metered, r.Usage[i].Used = true, gauges[g]
		}
	}
	for j, rd := range readings {
		u := &r.Usage[of[j]]
		u.Used += rd.Count
		u.Over += rd.Over
		if rd.Over > 0 {
			r.OverLimit = true
		}
	}
	return r, nil
}
