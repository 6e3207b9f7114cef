package httpapi

import (
	"context"
	"net/http"

	"github.com/leadluence/backend/shared/plan"
)

// PlanUsage counts an org's uses against its plan (plan.Service).
type PlanUsage interface {
	Take(ctx context.Context, orgID string, m plan.Metric) error
	Release(ctx context.Context, orgID string, m plan.Metric) error
}

// TakePlan counts one use of m by the org against its plan: nil when
// allowed, the 403 plan_limit problem (with Retry-After) at the limit. A
// nil u counts nothing.
func (k *Kit) TakePlan(ctx context.Context, u PlanUsage, orgID string, m plan.Metric) error {
	if u == nil {
		return nil
	}
	err := u.Take(ctx, orgID, m)
	if le, ok := plan.IsLimit(err); ok {
		return PlanLimitError(le, http.StatusForbidden, k.now())
	}
	if err != nil {
		return k.Internal(ctx, "count "+string(m)+" against the plan", err)
	}
	return nil
}

// ReleasePlan gives back a use TakePlan counted for something that was
// then not done; a failure is only logged (the org loses one use).
func (k *Kit) ReleasePlan(ctx context.Context, u PlanUsage, orgID string, m plan.Metric) {
	if u == nil {
		return
	}
	if err := u.Release(context.WithoutCancel(ctx), orgID, m); err != nil {
		k.log.ErrorContext(ctx, "give back a use of the plan", "limit", string(m), "err", err)
	}
}

// PlanGauges binds an org's gauge limits (plan.Service.Bind) and warns
// its owners near them (plan.Service.Added).
type PlanGauges interface {
	Bind(ctx context.Context, orgID string, m plan.Metric) (context.Context, error)
	Added(ctx context.Context, orgID string, m plan.Metric)
}

// BindPlan returns ctx carrying the org's plan limit of gauge m (active
// users, running campaigns, connected integrations), for the store write
// that adds to it in the same transaction. A nil g binds nothing.
func (k *Kit) BindPlan(ctx context.Context, g PlanGauges, orgID string, m plan.Metric) (context.Context, error) {
	if g == nil {
		return ctx, nil
	}
	bound, err := g.Bind(ctx, orgID, m)
	if err != nil {
		return ctx, k.Internal(ctx, "read the plan", err)
	}
	return bound, nil
}

// PlanAdded tells the org's owners, once a month, when gauge m is 80 %
// used after an add (plan.Service.Added). A nil g does nothing.
func (k *Kit) PlanAdded(ctx context.Context, g PlanGauges, orgID string, m plan.Metric) {
	if g != nil {
		g.Added(context.WithoutCancel(ctx), orgID, m)
	}
}

// PlanRefused returns the 403 plan_limit problem when err is a store
// write refused at a gauge's limit (*plan.LimitError), and nil otherwise.
func (k *Kit) PlanRefused(err error) error {
	if le, ok := plan.IsLimit(err); ok {
		return PlanLimitError(le, http.StatusForbidden, k.now())
	}
	return nil
}
