package automation_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/automation"
)

func TestClosedNamesThePeriodByItsStart(t *testing.T) {
	h := automation.BusinessHours{TimeZone: "Asia/Kolkata", Days: map[string]automation.OpenHours{
		"monday": {Open: "09:00", Close: "18:00"}, "tuesday": {Open: "09:00", Close: "18:00"},
		"wednesday": {Open: "09:00", Close: "18:00"}, "thursday": {Open: "09:00", Close: "18:00"},
		"friday": {Open: "09:00", Close: "18:00"}, "saturday": {Open: "10:00", Close: "14:00"},
	}}
	ist := time.FixedZone("IST", 5*3600+1800)
	at := func(day, hh, mm int) time.Time { return time.Date(2025, time.June, day, hh, mm, 0, 0, ist) } // 2 June 2025 is a Monday
	for _, c := range []struct {
		t      time.Time
		closed bool
		period string
	}{
		{at(2, 9, 0), false, ""},
		{at(2, 17, 59), false, ""},
		{at(2, 18, 0), true, "2025-06-02"},
		{at(3, 8, 59), true, "2025-06-02"}, // Tuesday before opening: Monday's evening period
		{at(7, 15, 0), true, "2025-06-07"}, // Saturday after 14:00
		{at(8, 12, 0), true, "2025-06-07"}, // Sunday, closed all day
		{at(9, 7, 0), true, "2025-06-07"},  // Monday morning: still the weekend's period
		{at(9, 7, 0).UTC(), true, "2025-06-07"},
	} {
		closed, period := h.Closed(c.t)
		if closed != c.closed || period != c.period {
			t.Errorf("%s: closed %v %q, want %v %q", c.t, closed, period, c.closed, c.period)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []automation.Settings{
		{LeadAds: automation.LeadAdsWelcome{Enabled: true}},
		{AfterHours: automation.AfterHours{Enabled: true, Text: "x", Hours: automation.BusinessHours{TimeZone: "Mars/Base"}}},
		{AfterHours: automation.AfterHours{Enabled: true, Text: "x", Hours: automation.BusinessHours{TimeZone: "UTC",
			Days: map[string]automation.OpenHours{"monday": {Open: "18:00", Close: "09:00"}}}}},
		{AfterHours: automation.AfterHours{Enabled: true, Text: "x", Hours: automation.BusinessHours{TimeZone: "UTC",
			Days: map[string]automation.OpenHours{"funday": {Open: "09:00", Close: "18:00"}}}}},
		{Reengagement: automation.Reengagement{AutoSend: true, Language: "en"}},
		{Reengagement: automation.Reengagement{Template: "t", Language: "en", Category: "authentication"}},
	}
	for i, s := range bad {
		if s.Validate() == nil {
			t.Errorf("settings %d accepted", i)
		}
	}
	if err := (automation.Settings{}).Validate(); err != nil {
		t.Errorf("zero settings: %v", err)
	}
	// A template without auto-send is only offered.
	if err := (automation.Settings{Reengagement: automation.Reengagement{Template: "t", Language: "en", Category: "utility"}}).Validate(); err != nil {
		t.Errorf("offered template: %v", err)
	}
}
