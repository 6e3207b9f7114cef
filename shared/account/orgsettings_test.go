package account_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/shared/account"
)

func known(c string) bool { return c == "IN" || c == "US" || c == "GB" }

func ptr[T any](v T) *T { return &v }

func TestOrgSettingsPatchApply(t *testing.T) {
	cur := account.OrgSettings{Name: "Demo Realty", DefaultCountry: "IN"}
	// GIVEN a patch of every field, untidy
	got, err := account.OrgSettingsPatch{
		Name: ptr("  Demo Realty Pvt  "), Timezone: ptr("Asia/Kolkata"), DefaultCountry: ptr(" us"),
		BusinessHours: &account.BusinessHours{
			"mon": {{Start: "14:00", End: "18:00"}, {Start: "09:00", End: "13:00"}},
			"sat": {{Start: "10:00", End: "24:00"}},
			"sun": {},
		},
	}.Apply(cur, known)
	// THEN the settings are the cleaned values
	if err != nil {
		t.Fatal(err)
	}
	want := account.OrgSettings{Name: "Demo Realty Pvt", Timezone: "Asia/Kolkata", DefaultCountry: "US", BusinessHours: account.BusinessHours{
		"mon": {{Start: "09:00", End: "13:00"}, {Start: "14:00", End: "18:00"}},
		"sat": {{Start: "10:00", End: "24:00"}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	// AND an empty patch changes nothing
	if same, err := (account.OrgSettingsPatch{}).Apply(cur, known); err != nil || !cmp.Equal(same, cur) {
		t.Errorf("empty patch: %v, %v", same, err)
	}
}

func TestOrgSettingsPatchRefuses(t *testing.T) {
	hours := func(day string, r ...account.TimeRange) *account.BusinessHours {
		return &account.BusinessHours{day: r}
	}
	for _, tc := range []struct {
		name  string
		patch account.OrgSettingsPatch
		field string
	}{
		{"blank name", account.OrgSettingsPatch{Name: ptr("   ")}, "name"},
		{"long name", account.OrgSettingsPatch{Name: ptr(string(make([]byte, 201)) + "x")}, "name"},
		{"unknown timezone", account.OrgSettingsPatch{Timezone: ptr("Mars/Olympus")}, "timezone"},
		{"Local", account.OrgSettingsPatch{Timezone: ptr("Local")}, "timezone"},
		{"empty timezone", account.OrgSettingsPatch{Timezone: ptr("")}, "timezone"},
		{"path timezone", account.OrgSettingsPatch{Timezone: ptr("../../etc/passwd")}, "timezone"},
		{"alpha-3 country", account.OrgSettingsPatch{DefaultCountry: ptr("IND")}, "default_country"},
		{"unknown country", account.OrgSettingsPatch{DefaultCountry: ptr("ZZ")}, "default_country"},
		{"digits country", account.OrgSettingsPatch{DefaultCountry: ptr("91")}, "default_country"},
		{"not a day", account.OrgSettingsPatch{BusinessHours: hours("monday", account.TimeRange{Start: "09:00", End: "17:00"})}, "business_hours.monday"},
		{"bad start", account.OrgSettingsPatch{BusinessHours: hours("mon", account.TimeRange{Start: "9:00", End: "17:00"})}, "business_hours.mon[0].start"},
		{"24:00 start", account.OrgSettingsPatch{BusinessHours: hours("mon", account.TimeRange{Start: "24:00", End: "24:00"})}, "business_hours.mon[0].start"},
		{"bad end", account.OrgSettingsPatch{BusinessHours: hours("mon", account.TimeRange{Start: "09:00", End: "17:60"})}, "business_hours.mon[0].end"},
		{"end before start", account.OrgSettingsPatch{BusinessHours: hours("tue", account.TimeRange{Start: "17:00", End: "09:00"})}, "business_hours.tue[0].end"},
		{"empty range", account.OrgSettingsPatch{BusinessHours: hours("tue", account.TimeRange{Start: "09:00", End: "09:00"})}, "business_hours.tue[0].end"},
		{"overlap", account.OrgSettingsPatch{BusinessHours: hours("wed", account.TimeRange{Start: "09:00", End: "13:00"}, account.TimeRange{Start: "12:00", End: "18:00"})}, "business_hours.wed[1]"},
		{"too many ranges", account.OrgSettingsPatch{BusinessHours: hours("thu",
			account.TimeRange{Start: "01:00", End: "02:00"}, account.TimeRange{Start: "03:00", End: "04:00"}, account.TimeRange{Start: "05:00", End: "06:00"},
			account.TimeRange{Start: "07:00", End: "08:00"}, account.TimeRange{Start: "09:00", End: "10:00"})}, "business_hours.thu"},
	} {
		_, err := tc.patch.Apply(account.OrgSettings{Name: "x", DefaultCountry: "IN"}, known)
		var se *account.SettingsError
		if !errors.As(err, &se) || se.Field != tc.field {
			t.Errorf("%s: error %v, want a settings error on %s", tc.name, err, tc.field)
		}
	}
}
