package org

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
)

// SettingsStore keeps the org's settings on its org item.
type SettingsStore interface {
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
	UpdateOrgSettings(ctx context.Context, orgID string, p account.OrgSettingsPatch, at time.Time) (account.Org, error)
}

// ActionSettingsUpdate records a change of the org's settings.
const ActionSettingsUpdate = "org.settings_update"

func (s *server) registerSettings(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-org", Method: http.MethodGet, Path: "/v1/org", Tags: []string{"org"},
		Summary:  "The organisation's settings (every role)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusNotFound},
	}, s.getSettings)
	huma.Register(api, huma.Operation{
		OperationID: "patch-org", Method: http.MethodPatch, Path: "/v1/org", Tags: []string{"org"},
		Summary: "Change the organisation's settings (owner, admin)",
		Description: "Only the fields given change; business_hours, when given, replaces the whole week (a day left out is closed). " +
			"default_country reads phone numbers written without a country code (leads created or changed through the API, " +
			"Lead Ads and WhatsApp intake): the API reads it from the caller's access token, so it applies to each user's " +
			"numbers from their next token refresh (access tokens live 15 minutes; POST /v1/auth/refresh at once), and to " +
			"intake within 5 minutes. Audited.",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.patchSettings)
}

// OpeningRange is one opening range of a day, in the org's timezone.
type OpeningRange struct {
	Start string `json:"start" pattern:"^([01][0-9]|2[0-3]):[0-5][0-9]$" example:"09:00" doc:"HH:MM, 00:00 to 23:59."`
	End   string `json:"end" pattern:"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" example:"17:00" doc:"HH:MM after start; 24:00 is midnight."`
}

// WeekHours are the opening ranges of each weekday; a day without a
// range is closed.
type WeekHours struct {
	Mon []OpeningRange `json:"mon,omitempty" maxItems:"4"`
	Tue []OpeningRange `json:"tue,omitempty" maxItems:"4"`
	Wed []OpeningRange `json:"wed,omitempty" maxItems:"4"`
	Thu []OpeningRange `json:"thu,omitempty" maxItems:"4"`
	Fri []OpeningRange `json:"fri,omitempty" maxItems:"4"`
	Sat []OpeningRange `json:"sat,omitempty" maxItems:"4"`
	Sun []OpeningRange `json:"sun,omitempty" maxItems:"4"`
}

// days lists the week's ranges by account.Weekdays key.
func (b *WeekHours) days() map[string]*[]OpeningRange {
	return map[string]*[]OpeningRange{"mon": &b.Mon, "tue": &b.Tue, "wed": &b.Wed, "thu": &b.Thu, "fri": &b.Fri, "sat": &b.Sat, "sun": &b.Sun}
}

func (b WeekHours) domain() account.BusinessHours {
	out := account.BusinessHours{}
	for day, ranges := range b.days() {
		for _, r := range *ranges {
			out[day] = append(out[day], account.TimeRange{Start: r.Start, End: r.End})
		}
	}
	return out
}

func hoursOut(h account.BusinessHours) WeekHours {
	var out WeekHours
	for day, ranges := range out.days() {
		for _, r := range h[day] {
			*ranges = append(*ranges, OpeningRange{Start: r.Start, End: r.End})
		}
	}
	return out
}

// SettingsOut is the org's settings.
type SettingsOut struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Timezone       *string    `json:"timezone" doc:"IANA timezone name; null until set."`
	DefaultCountry string     `json:"default_country" doc:"ISO 3166 alpha-2 code: phone numbers written without a country code are read as numbers of this country."`
	BusinessHours  WeekHours  `json:"business_hours" doc:"Opening hours by weekday, in the org's timezone; days without a range are closed."`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      *time.Time `json:"updated_at" doc:"When the settings last changed; null if never."`
}

// SettingsIn changes some settings: the fields given.
type SettingsIn struct {
	Name           *string    `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Timezone       *string    `json:"timezone,omitempty" maxLength:"64" example:"Asia/Kolkata" doc:"An IANA timezone name."`
	DefaultCountry *string    `json:"default_country,omitempty" minLength:"2" maxLength:"2" example:"IN" doc:"ISO 3166 alpha-2 country code."`
	BusinessHours  *WeekHours `json:"business_hours,omitempty" doc:"The whole week; replaces the current hours."`
}

type settingsOutput struct{ Body SettingsOut }

func settingsOut(o account.Org) *settingsOutput {
	out := SettingsOut{ID: o.ID, Name: o.Name, Timezone: httpapi.Optional(o.Timezone), DefaultCountry: o.DefaultRegion,
		BusinessHours: hoursOut(o.BusinessHours), CreatedAt: o.CreatedAt.UTC()}
	if !o.UpdatedAt.IsZero() {
		t := o.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	return &settingsOutput{Body: out}
}

func (s *server) getSettings(ctx context.Context, _ *struct{}) (*settingsOutput, error) {
	p := httpapi.Caller(ctx)
	o, err := s.deps.Settings.GetOrg(ctx, p.User.OrgID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("organisation")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	return settingsOut(o), nil
}

func (s *server) patchSettings(ctx context.Context, in *struct{ Body SettingsIn }) (*settingsOutput, error) {
	p := httpapi.Caller(ctx)
	orgID := p.User.OrgID
	if !p.User.Role.Privileged() {
		return nil, s.Deny(ctx, ActionSettingsUpdate, "org", orgID, "only an owner or admin can change the organisation's settings")
	}
	cur, err := s.deps.Settings.GetOrg(ctx, orgID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("organisation")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	b := in.Body
	patch := account.OrgSettingsPatch{Name: b.Name, Timezone: b.Timezone, DefaultCountry: b.DefaultCountry}
	if b.BusinessHours != nil {
		h := b.BusinessHours.domain()
		patch.BusinessHours = &h
	}
	next, err := patch.Apply(cur.Settings(), s.deps.KnownCountry)
	var se *account.SettingsError
	if errors.As(err, &se) {
		return nil, httpapi.FieldProblem(se.Field, se.Reason)
	}
	if err != nil {
		return nil, s.Internal(ctx, "apply org settings", err)
	}
	// Write the cleaned values of the fields given, and only those.
	var changed []string
	clean := account.OrgSettingsPatch{}
	if patch.Name != nil {
		clean.Name = &next.Name
		changed = append(changed, "name")
	}
	if patch.Timezone != nil {
		clean.Timezone = &next.Timezone
		changed = append(changed, "timezone")
	}
	if patch.DefaultCountry != nil {
		clean.DefaultCountry = &next.DefaultCountry
		changed = append(changed, "default_country")
	}
	if patch.BusinessHours != nil {
		clean.BusinessHours = &next.BusinessHours
		changed = append(changed, "business_hours")
	}
	if len(changed) == 0 {
		return settingsOut(cur), nil
	}
	o, err := s.deps.Settings.UpdateOrgSettings(ctx, orgID, clean, s.Now())
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("organisation")
	}
	if err != nil {
		return nil, s.Internal(ctx, "save org settings", err)
	}
	sort.Strings(changed)
	details := map[string]string{"fields": strings.Join(changed, ",")}
	if clean.Timezone != nil {
		details["timezone_from"], details["timezone_to"] = cur.Timezone, o.Timezone
	}
	if clean.DefaultCountry != nil {
		details["default_country_from"], details["default_country_to"] = cur.DefaultRegion, o.DefaultRegion
	}
	s.Record(ctx, audit.Record{OrgID: orgID, ActorID: p.User.ID, Action: ActionSettingsUpdate, TargetType: "org", TargetID: orgID,
		Details: details})
	return settingsOut(o), nil
}
