package org

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/plan"
)

// UsageReader reads an org's plan and usage (plan.Service).
type UsageReader interface {
	Usage(ctx context.Context, orgID string) (plan.Report, error)
}

func (s *server) registerUsage(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-usage", Method: http.MethodGet, Path: "/v1/usage", Tags: []string{"org"},
		Summary: "The organisation's plan, and its usage against the plan's limits (owner, admin, manager)",
		Description: "Each limit with what was used of it in the current period (UTC minute, day or calendar month) and when " +
			"that period resets. users, active_campaigns and integrations count what exists now (period none, no resets_at): " +
			"a create past them is 403 plan_limit until one is deactivated, paused or disconnected. over counts uses past the " +
			"limit that were kept all the same (Lead Ads leads and inbound WhatsApp messages are never dropped); a limit's " +
			"over_limit, and the report's, is true when it has such uses.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getUsage)
}

// UsageOut is one limit of the plan and its use.
type UsageOut struct {
	Limit     string     `json:"limit" doc:"The limit's name."`
	Max       int        `json:"max" doc:"The plan's limit."`
	Metered   bool       `json:"metered" doc:"Whether the limit is counted and enforced (every limit is)."`
	Used      int        `json:"used" doc:"Uses counted in the current period; for users, active_campaigns and integrations, how many there are now."`
	Over      int        `json:"over" doc:"Uses past the limit that were kept (Lead Ads, inbound WhatsApp)."`
	OverLimit bool       `json:"over_limit" doc:"Some use of this limit in the current period was kept past it (over > 0)."`
	Period    string     `json:"period" enum:"minute,day,month,none" doc:"The period the limit counts in (UTC); none for a count of what exists."`
	ResetsAt  *time.Time `json:"resets_at" doc:"When the current period ends; null for users, active_campaigns and integrations."`
}

// UsageReport is the org's plan and usage.
type UsageReport struct {
	Plan      string     `json:"plan" enum:"free,growth,business"`
	OverLimit bool       `json:"over_limit" doc:"Some use in the current periods was kept past its limit."`
	Usage     []UsageOut `json:"usage"`
}

func (s *server) getUsage(ctx context.Context, _ *struct{}) (*struct{ Body UsageReport }, error) {
	p := httpapi.Caller(ctx)
	if r := p.User.Role; r != account.RoleOwner && r != account.RoleAdmin && r != account.RoleManager {
		return nil, s.Deny(ctx, "usage.read", "org", p.User.OrgID, "only an owner, admin or manager can see the plan's usage")
	}
	rep, err := s.deps.Usage.Usage(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read usage", err)
	}
	out := UsageReport{Plan: string(rep.Plan), OverLimit: rep.OverLimit, Usage: make([]UsageOut, 0, len(rep.Usage))}
	for _, u := range rep.Usage {
		o := UsageOut{Limit: string(u.Metric), Max: u.Limit, Metered: u.Metered, Used: u.Used, Over: u.Over, OverLimit: u.Over > 0,
			Period: string(u.Period)}
		if o.Period == "" {
			o.Period = "none"
		}
		if !u.ResetsAt.IsZero() {
			at := u.ResetsAt
			o.ResetsAt = &at
		}
		out.Usage = append(out.Usage, o)
	}
	return &struct{ Body UsageReport }{Body: out}, nil
}
