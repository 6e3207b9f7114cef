package intake

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
)

// TestEventTimesPastTheRangeAreNotUsed: a Meta timestamp or SES time that
// no ULID or time key can hold (found by FuzzProcess: it made ulid.MustNew
// panic) gives way to the receive time.
func TestEventTimesPastTheRangeAreNotUsed(t *testing.T) {
	for _, s := range []string{"9999999999999", "253402300800", "-1", "0"} {
		if at, ok := parseUnix(s); ok {
			t.Errorf("parseUnix(%q) = %v, want refused", s, at)
		}
	}
	if at, ok := parseUnix("253402300799"); !ok || !at.Equal(maxEventTime) {
		t.Errorf("parseUnix(the last second of 9999) = %v, %v", at, ok)
	}
	fallback := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z"} {
		if got := sesTime(s, fallback); !got.Equal(fallback) {
			t.Errorf("sesTime(%q) = %v, want the fallback", s, got)
		}
	}
	if got := sesTime("2026-11-28T10:15:31.000Z", fallback); got.Year() != 2026 || got.Month() != 11 {
		t.Errorf("sesTime of a real time = %v", got)
	}
}

// TestLongAnswersAreCutOnACharacter: names, custom field keys and values
// over a lead's limits are cut at a character boundary, so the lead stays
// valid UTF-8 (found by FuzzProcess with a long Devanagari profile name).
func TestLongAnswersAreCutOnACharacter(t *testing.T) {
	long := strings.Repeat("अ", 700) // 3 bytes each
	l, _ := MapLead(meta.Lead{FieldData: []meta.FieldData{{Name: "full_name", Values: []string{long}},
		{Name: "email", Values: []string{"a@example.com"}}, {Name: strings.Repeat("क", 30), Values: []string{long}}}})
	if len(l.Name) > lead.MaxNameLen || !utf8.ValidString(l.Name) || l.Name == "" {
		t.Errorf("name cut to %d bytes, valid UTF-8 %v", len(l.Name), utf8.ValidString(l.Name))
	}
	if len(l.CustomFields) != 1 {
		t.Fatalf("custom fields %v", l.CustomFields)
	}
	for k, v := range l.CustomFields {
		if len(k) > lead.MaxCustomKeyLen || len(v) > lead.MaxCustomValueLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Errorf("custom field cut to %d/%d bytes, valid UTF-8 %v/%v", len(k), len(v), utf8.ValidString(k), utf8.ValidString(v))
		}
	}
	if err := lead.Normalize(&l, "IN", func(raw, _ string) (string, error) { return raw, nil }); err != nil {
		t.Errorf("mapped lead is not valid: %v", err)
	}
	if got := clip("ab", 5); got != "ab" {
		t.Errorf("clip(ab, 5) = %q", got)
	}
}
