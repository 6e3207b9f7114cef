package plan

import (
	"context"
	"fmt"
	"slices"
)

// Gauges lists the metrics that count what exists now (active users,
// running campaigns, connected integrations) rather than uses in a
// period. Each is one counter per org that the store keeps in the same
// transaction as the change it counts: a user created, invited in or
// deactivated, a campaign started, resumed, paused or completed, an
// integration connected or disconnected. An add is conditional on the
// counter being under the limit, so parallel creates never pass it.
var Gauges = []Metric{Users, ActiveCampaigns, Integrations}

// Gauge reports whether m is a gauge (see Gauges).
func (m Metric) Gauge() bool { return slices.Contains(Gauges, m) }

type limitKey struct{ m Metric }

// WithLimit returns ctx carrying limit for gauge m: a store write that
// adds to m's counter refuses the add, in the same transaction, when the
// counter holds limit already, with a *LimitError (no ResetsAt). Without
// it a store write counts with no limit (an org's first user, tools).
func WithLimit(ctx context.Context, m Metric, limit int) context.Context {
	return context.WithValue(ctx, limitKey{m}, limit)
}

// LimitFrom returns the limit WithLimit put in ctx for gauge m.
func LimitFrom(ctx context.Context, m Metric) (int, bool) {
	n, ok := ctx.Value(limitKey{m}).(int)
	return n, ok
}

// Added tells the org's owners, once a calendar month, that gauge m is
// WarnAt used, after an add to it (a user created, a campaign started,
// an integration connected). A failure is only logged (Alerts.Log).
func (s *Service) Added(ctx context.Context, orgID string, m Metric) {
	if s.Alerts == nil || s.Alerts.Mail == nil || !m.Gauge() {
		return
	}
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		s.Alerts.report(ctx, orgID, m, err)
		return
	}
	n, err := s.Counters.ReadGauges(ctx, orgID, []Metric{m})
	if err != nil {
		s.Alerts.report(ctx, orgID, m, err)
		return
	}
	now := s.now()
	_, resets := Month.Window(now)
	s.Alerts.report(ctx, orgID, m, s.Alerts.nearLimit(ctx, orgID, m, n[0], p.Limits[m], Month.Key(now), resets))
}

// Bind returns ctx carrying the org's plan limit of gauge m (WithLimit),
// for the store write that adds to it.
func (s *Service) Bind(ctx context.Context, orgID string, m Metric) (context.Context, error) {
	if !m.Gauge() {
		return ctx, fmt.Errorf("bind %s: not a gauge", m)
	}
	p, err := s.PlanOf(ctx, orgID)
	if err != nil {
		return ctx, err
	}
	return WithLimit(ctx, m, p.Limits[m]), nil
}
