package account

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Weekdays are the keys of BusinessHours, Monday first.
var Weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// MaxRangesPerDay bounds the opening ranges of one day.
const MaxRangesPerDay = 4

// MaxOrgNameLength is the longest org name, in characters.
const MaxOrgNameLength = 200

// TimeRange is one opening range of a day, "HH:MM" to "HH:MM" in the org's
// timezone; End is after Start ("24:00" closes at midnight).
type TimeRange struct {
	Start string
	End   string
}

// BusinessHours are an org's opening ranges by weekday (Weekdays); a day
// that is absent or has no range is closed.
type BusinessHours map[string][]TimeRange

// OrgSettings are the settings of an org its owner and admins change
// (PATCH /v1/org).
type OrgSettings struct {
	Name string
	// Timezone is an IANA name ("Asia/Kolkata"); empty until set.
	Timezone string
	// DefaultCountry reads phone numbers written without a country code
	// (Org.DefaultRegion).
	DefaultCountry string
	BusinessHours  BusinessHours
}

// OrgSettingsPatch is a change of some settings: nil fields stay.
type OrgSettingsPatch struct {
	Name           *string
	Timezone       *string
	DefaultCountry *string
	BusinessHours  *BusinessHours
}

// SettingsError is a setting that is not valid: Field names it as the
// request does ("timezone", "business_hours.mon[0].end").
type SettingsError struct {
	Field  string
	Reason string
}

func (e *SettingsError) Error() string { return e.Field + " " + e.Reason }

// Settings returns the org's settings.
func (o Org) Settings() OrgSettings {
	return OrgSettings{Name: o.Name, Timezone: o.Timezone, DefaultCountry: o.DefaultRegion, BusinessHours: o.BusinessHours}
}

// Apply returns s with the patch's fields, cleaned (names trimmed, the
// country upper case), after checking each: the name 1 to MaxOrgNameLength
// characters; the timezone an IANA name time.LoadLocation knows (not
// "Local"); the country one knownCountry accepts (an ISO 3166 alpha-2 code
// the phone numbering plans have); the business hours valid
// (ValidateBusinessHours). The error is a *SettingsError.
func (p OrgSettingsPatch) Apply(s OrgSettings, knownCountry func(string) bool) (OrgSettings, error) {
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if n == "" || utf8.RuneCountInString(n) > MaxOrgNameLength {
			return s, &SettingsError{"name", fmt.Sprintf("must be 1 to %d characters", MaxOrgNameLength)}
		}
		s.Name = n
	}
	if p.Timezone != nil {
		tz := strings.TrimSpace(*p.Timezone)
		if err := ValidateTimezone(tz); err != nil {
			return s, &SettingsError{"timezone", err.Error()}
		}
		s.Timezone = tz
	}
	if p.DefaultCountry != nil {
		c := strings.ToUpper(strings.TrimSpace(*p.DefaultCountry))
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || !knownCountry(c) {
			return s, &SettingsError{"default_country", "must be an ISO 3166 alpha-2 country code, such as IN or US"}
		}
		s.DefaultCountry = c
	}
	if p.BusinessHours != nil {
		if err := ValidateBusinessHours(*p.BusinessHours); err != nil {
			return s, err
		}
		s.BusinessHours = cleanHours(*p.BusinessHours)
	}
	return s, nil
}

// ValidateTimezone checks that tz is an IANA timezone name.
func ValidateTimezone(tz string) error {
	if tz == "" || tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return errors.New("must be an IANA timezone name, such as Asia/Kolkata")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return errors.New("must be an IANA timezone name, such as Asia/Kolkata")
	}
	return nil
}

// ValidateBusinessHours checks that every key is a weekday, a day has at
// most MaxRangesPerDay ranges, each "HH:MM" (00:00 to 24:00) with End
// after Start, and that a day's ranges do not overlap. The error is a
// *SettingsError.
func ValidateBusinessHours(h BusinessHours) error {
	for day, ranges := range h {
		if !isWeekday(day) {
			return &SettingsError{"business_hours." + day, "is not a day: use " + strings.Join(Weekdays, ", ")}
		}
		if len(ranges) > MaxRangesPerDay {
			return &SettingsError{"business_hours." + day, fmt.Sprintf("has more than %d ranges", MaxRangesPerDay)}
		}
		type span struct{ from, to, i int }
		spans := make([]span, 0, len(ranges))
		for i, r := range ranges {
			field := fmt.Sprintf("business_hours.%s[%d]", day, i)
			from, ok := minutes(r.Start)
			if !ok || from == 24*60 {
				return &SettingsError{field + ".start", "must be a time HH:MM from 00:00 to 23:59"}
			}
			to, ok := minutes(r.End)
			if !ok {
				return &SettingsError{field + ".end", "must be a time HH:MM from 00:01 to 24:00"}
			}
			if to <= from {
				return &SettingsError{field + ".end", "must be after start"}
			}
			spans = append(spans, span{from, to, i})
		}
		sort.Slice(spans, func(a, b int) bool { return spans[a].from < spans[b].from })
		for k := 1; k < len(spans); k++ {
			if spans[k].from < spans[k-1].to {
				return &SettingsError{fmt.Sprintf("business_hours.%s[%d]", day, spans[k].i), "overlaps another range of the day"}
			}
		}
	}
	return nil
}

// cleanHours returns h without closed days and with each day's ranges in
// order.
func cleanHours(h BusinessHours) BusinessHours {
	out := BusinessHours{}
	for day, ranges := range h {
		if len(ranges) == 0 {
			continue
		}
		rs := append([]TimeRange(nil), ranges...)
		sort.Slice(rs, func(a, b int) bool { return rs[a].Start < rs[b].Start })
		out[day] = rs
	}
	return out
}

func isWeekday(day string) bool {
	for _, d := range Weekdays {
		if d == day {
			return true
		}
	}
	return false
}

// minutes reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func minutes(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}
