// Package plan holds the plans an org can be on (free, growth, business),
// their limits in one table (Plans), the periods usage is counted in and
// the service that counts it (Service). Counting is exact under
// concurrency: each use is one conditional atomic add in the store
// (dynamostore.Store.TakeUsage), which refuses the use that would pass
// the limit, never a read followed by a write.
//
// API requests are the hot limit: every authenticated request takes from
// its org's token bucket (Requests, rate.go), split over Plan.APIShards
// items, rather than being counted per period.
package plan

import (
	"slices"
	"time"
)

// Name names a plan.
type Name string

// The plans.
const (
	Free     Name = "free"
	Growth   Name = "growth"
	Business Name = "business"
)

// Names lists the plans from smallest to largest.
var Names = []Name{Free, Growth, Business}

// Valid reports whether n is a known plan.
func (n Name) Valid() bool { return slices.Contains(Names, n) }

// Metric is what a limit counts.
type Metric string

// The metrics.
const (
	// Users is the org's active users (checked on create and invite).
	Users Metric = "users"
	// LeadsPerMonth is the leads created in a calendar month (UTC).
	LeadsPerMonth Metric = "leads_per_month"
	// WhatsAppPerDay is the WhatsApp messages sent in a day (UTC).
	WhatsAppPerDay Metric = "whatsapp_messages_per_day"
	// EmailPerDay is the emails to leads sent in a day (UTC).
	EmailPerDay Metric = "email_messages_per_day"
	// ActiveCampaigns is the campaigns running at once.
	ActiveCampaigns Metric = "active_campaigns"
	// Integrations is the connected integrations.
	Integrations Metric = "integrations"
	// APIRequestsPerMinute is the rate of authenticated API requests, by
	// users and API keys together: a token bucket per org (Requests), not
	// a count per period, so usage does not show it.
	APIRequestsPerMinute Metric = "api_requests_per_minute"
)

// Metrics lists every metric, in the order usage is shown.
var Metrics = []Metric{APIRequestsPerMinute, LeadsPerMonth, WhatsAppPerDay, EmailPerDay, Users, ActiveCampaigns, Integrations}

// Counted lists the metrics counted per period (the others are a count
// of what exists, checked when it is made).
var Counted = []Metric{LeadsPerMonth, WhatsAppPerDay, EmailPerDay}

// Period is the window a counted metric resets after.
type Period string

// The periods (UTC).
const (
	Minute Period = "minute"
	Day    Period = "day"
	Month  Period = "month"
	// None: the metric is a count of what exists, not per period.
	None Period = ""
)

// Period returns the window m is counted in.
func (m Metric) Period() Period {
	switch m {
	case WhatsAppPerDay, EmailPerDay:
		return Day
	case LeadsPerMonth:
		return Month
	}
	return None
}

// Window returns the start of the period holding at and when it resets.
func (p Period) Window(at time.Time) (start, resets time.Time) {
	at = at.UTC()
	switch p {
	case Minute:
		start = at.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case Day:
		start = time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case Month:
		start = time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return time.Time{}, time.Time{}
}

// Key names the period holding at in a counter's key: 202701 (month),
// 20270115 (day), 202701151304 (minute).
func (p Period) Key(at time.Time) string {
	at = at.UTC()
	switch p {
	case Minute:
		return at.Format("200601021504")
	case Day:
		return at.Format("20060102")
	case Month:
		return at.Format("200601")
	}
	return ""
}

// Kept is how long a counter of the period is kept after it resets (its
// TTL): long enough to show last period's figure, short enough to cost
// nothing.
func (p Period) Kept() time.Duration {
	if p == Minute {
		return 2 * time.Minute
	}
	return 35 * 24 * time.Hour
}

// Plan is one plan and its limits.
type Plan struct {
	Name Name
	// Limits holds each metric's limit.
	Limits map[Metric]int
	// APIShards is how many items the org's request bucket is split in
	// (see rate.go).
	APIShards int
}

// MaxShards bounds Plan.APIShards: the closed-org purge removes shards
// 0 to MaxShards-1.
const MaxShards = 8

// Plans is the one table of plans and their limits.
var Plans = map[Name]Plan{
	Free: {Name: Free, APIShards: 1, Limits: map[Metric]int{
		Users: 3, LeadsPerMonth: 500, WhatsAppPerDay: 250, EmailPerDay: 500,
		ActiveCampaigns: 1, Integrations: 2, APIRequestsPerMinute: 300,
	}},
	Growth: {Name: Growth, APIShards: 2, Limits: map[Metric]int{
		Users: 15, LeadsPerMonth: 10000, WhatsAppPerDay: 2000, EmailPerDay: 5000,
		ActiveCampaigns: 10, Integrations: 5, APIRequestsPerMinute: 1200,
	}},
	Business: {Name: Business, APIShards: 4, Limits: map[Metric]int{
		Users: 100, LeadsPerMonth: 100000, WhatsAppPerDay: 20000, EmailPerDay: 50000,
		ActiveCampaigns: 50, Integrations: 20, APIRequestsPerMinute: 6000,
	}},
}

// Of returns the plan named n; an org without a plan ("") or with an
// unknown one is on free.
func Of(n Name) Plan {
	if p, ok := Plans[n]; ok {
		return p
	}
	return Plans[Free]
}

// Shards returns how many counters m is split in under p.
func (p Plan) Shards(m Metric) int {
	if m != APIRequestsPerMinute || p.APIShards < 1 {
		return 1
	}
	return min(p.APIShards, MaxShards)
}

// ShardLimit is shard i's share of limit split in n: limit/n, the
// remainder spread over the first shards.
func ShardLimit(limit, n, i int) int {
	share := limit / n
	if i < limit%n {
		share++
	}
	return share
}

// WarnAt is the share of a quota at which the owner is told (80 %).
const WarnAt = 0.8
