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
			"that period resets. over counts uses past the limit that were kept all the same (Lead Ads leads and inbound " +
			"WhatsApp messages are never dropped); over_limit is true when any limit has such uses. A limit with metered " +
			"false is part of the plan but not yet counted.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getUsage)
}

// UsageOut is one limit of the plan and its use.
type UsageOut struct {
	Limit    string     `json:"limit" doc:"The limit's name."`
	Max      int        `json:"max" doc:"The plan's limit."`
	Metered  bool       `json:"metered" doc:"Whether the limit is counted and enforced; false: part of the plan, not yet enforced."`
	Used     int        `json:"used" doc:"Uses counted in the current period (0 when not metered)."`
	Over     int        `json:"over" doc:"Uses past the limit that were kept (Lead Ads, inbound WhatsApp)."`
	Period   string     `json:"period" enum:"minute,day,month,none" doc:"The period the limit counts in (UTC)."`
	ResetsAt *time.Time `json:"resets_at" doc:"When the current period ends; null when not metered."`
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
		o := UsageOut{Limit: string(u.Metric), Max: u.Limit, Metered: u.Metered, Used: u.Used, Over: u.Over, Period: string(u.Period)}
		if o.Period == "" {
			o.Period = "none"
		}
		if u.Metered {
			at := u.ResetsAt
			o.ResetsAt = &at
		}
		out.Usage = append(out.Usage, o)
	}
	return &struct{ Body UsageReport }{Body: out}, nil
}
