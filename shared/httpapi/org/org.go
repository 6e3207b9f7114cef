// Package org is the org area of the HTTP API: the organisation's own
// settings that are not about one area's records: its name, timezone,
// default country and business hours (GET/PATCH /v1/org); its retention settings
// (GET/PUT /v1/org/retention), how long message content is kept before it
// is sanitized, within the privacy policy's bounds; its consent mapping
// (GET/PUT /v1/org/consent-mapping), which Lead Ads form answers are
// opt-ins; and closing and reopening its account (POST /v1/org/close,
// POST /v1/org/reopen); and its plan's usage (GET /v1/usage).
package org

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/retention"
)

// Deps are the collaborators of the org routes.
type Deps struct {
	Retention retention.SettingsStore
	// ConsentMapping keeps the org's consent mapping; nil leaves its
	// routes out.
	ConsentMapping conversation.ConsentMappingStore
	// Closure closes and reopens the org's account; nil leaves the
	// closure routes out.
	Closure *account.ClosureService
	// Throttle counts password failures of close and reopen with login's.
	Throttle account.LoginThrottle
	// HashEmail keys the throttle (auth.HashEmail).
	HashEmail func(email string) string
	// Settings keeps the org's settings (GET/PATCH /v1/org); nil leaves
	// those routes out.
	Settings SettingsStore
	// KnownCountry reports whether an org's default country is one phone
	// numbers can be read in (phone.KnownRegion).
	KnownCountry func(country string) bool
	// Usage reads the org's plan and usage (GET /v1/usage); nil leaves
	// the route out.
	Usage UsageReader
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the org routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	huma.Register(api, huma.Operation{
		OperationID: "get-org-retention", Method: http.MethodGet, Path: "/v1/org/retention", Tags: []string{"org"},
		Summary:  "The organisation's retention settings (owner, admin)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.getRetention)
	huma.Register(api, huma.Operation{
		OperationID: "put-org-retention", Method: http.MethodPut, Path: "/v1/org/retention", Tags: []string{"org"},
		Summary: "Change the organisation's retention settings (owner, admin)",
		Description: "content_days: after how many days message content is sanitized (text masked and cut to a short preview, " +
			"media references dropped). 0 or absent means the default (" + strconv.Itoa(retention.DefaultContentDays) + "); " +
			"a shorter period is allowed, a longer one than " + strconv.Itoa(retention.MaxContentDays) + " days is refused (422 retention_too_long).",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.putRetention)
	if d.Closure != nil {
		s.registerClosure(api)
	}
	if d.ConsentMapping != nil {
		s.registerConsentMapping(api)
	}
	if d.Settings != nil {
		s.registerSettings(api)
	}
	if d.Usage != nil {
		s.registerUsage(api)
	}
}

// RetentionOut is an org's retention settings with the policy's bounds.
type RetentionOut struct {
	ContentDays        int        `json:"content_days" doc:"Days message content is kept before it is sanitized (the effective value)."`
	DefaultContentDays int        `json:"default_content_days"`
	MaxContentDays     int        `json:"max_content_days" doc:"The longest period the privacy policy allows."`
	IsDefault          bool       `json:"is_default" doc:"The org has not chosen a period of its own."`
	UpdatedAt          *time.Time `json:"updated_at" doc:"Null when never changed."`
}

// RetentionIn changes the settings.
type RetentionIn struct {
	ContentDays int `json:"content_days" minimum:"0" doc:"0 means the default."`
}

type retentionOutput struct{ Body RetentionOut }

func out(st retention.Settings) *retentionOutput {
	o := RetentionOut{ContentDays: st.EffectiveContentDays(), DefaultContentDays: retention.DefaultContentDays,
		MaxContentDays: retention.MaxContentDays, IsDefault: st.ContentDays == 0}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt.UTC()
		o.UpdatedAt = &t
	}
	return &retentionOutput{Body: o}
}

func (s *server) getRetention(ctx context.Context, _ *struct{}) (*retentionOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, "retention.read", "retention", "", "only an owner or admin can see retention settings")
	}
	st, err := s.deps.Retention.RetentionSettings(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read retention settings", err)
	}
	return out(st), nil
}

func (s *server) putRetention(ctx context.Context, in *struct{ Body RetentionIn }) (*retentionOutput, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, retention.ActionSettingsUpdate, "retention", "", "only an owner or admin can change retention settings")
	}
	st := retention.Settings{ContentDays: in.Body.ContentDays}
	if err := st.Validate(); err != nil {
		if errors.Is(err, retention.ErrTooLong) {
			return nil, httpapi.CodedFieldProblem("retention_too_long", "content_days",
				"is longer than the privacy policy allows (at most "+strconv.Itoa(retention.MaxContentDays)+" days)")
		}
		return nil, httpapi.FieldProblem("content_days", "must be at least "+strconv.Itoa(retention.MinContentDays))
	}
	prev, err := s.deps.Retention.RetentionSettings(ctx, p.User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read retention settings", err)
	}
	st.UpdatedAt, st.UpdatedBy = s.Now().UTC(), p.User.ID
	if err := s.deps.Retention.PutRetentionSettings(ctx, p.User.OrgID, st); err != nil {
		return nil, s.Internal(ctx, "save retention settings", err)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: retention.ActionSettingsUpdate, TargetType: "retention",
		Details: map[string]string{
			"content_days_from": strconv.Itoa(prev.EffectiveContentDays()), "content_days_to": strconv.Itoa(st.EffectiveContentDays()),
		}})
	return out(st), nil
}
