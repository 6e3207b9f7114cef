package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/policy"
)

func day(s string) time.Time {
	t, err := policy.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCheckNeedsFourteenDaysNotice(t *testing.T) {
	now := time.Date(2027, 1, 5, 9, 30, 0, 0, time.UTC)
	ok := policy.Version{ID: "2027-01", Effective: day("2027-01-20"), Summary: "Retention of messages shortened to two years."}
	if err := policy.Check(ok, now); err != nil {
		t.Fatalf("15 days ahead: %v", err)
	}
	// 19 Jan 00:00 is 13 days 14.5 hours after now.
	early := ok
	early.Effective = day("2027-01-19")
	var refused *policy.RefusedError
	err := policy.Check(early, now)
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "less than 14 days") || !strings.Contains(refused.Reason, "2027-01-20") {
		t.Fatalf("13 days ahead: %v", err)
	}
	exact := ok
	exact.Effective = day("2027-01-20")
	if err := policy.Check(exact, time.Date(2027, 1, 6, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("exactly 14 days ahead: %v", err)
	}
	for _, bad := range []policy.Version{
		{ID: "", Effective: ok.Effective, Summary: "x"},
		{ID: "2027 01", Effective: ok.Effective, Summary: "x"},
		{ID: "2027-01", Effective: ok.Effective, Summary: "  "},
	} {
		if err := policy.Check(bad, now); !errors.As(err, &refused) {
			t.Errorf("Check(%+v) = %v, want a refusal", bad, err)
		}
	}
}

func TestCurrentAndNewest(t *testing.T) {
	vs := []policy.Version{{ID: "a", Effective: day("2026-01-01")}, {ID: "b", Effective: day("2026-06-01")},
		{ID: "c", Effective: day("2027-01-20")}, {ID: "d", Effective: day("2027-03-01")}}
	cur, next := policy.Current(vs, time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC))
	if cur == nil || cur.ID != "b" || next == nil || next.ID != "c" {
		t.Fatalf("current %v upcoming %v", cur, next)
	}
	if cur, next := policy.Current(nil, time.Now()); cur != nil || next != nil {
		t.Fatal("versions out of nothing")
	}
	if n := policy.Newest(vs); n == nil || n.ID != "d" {
		t.Fatalf("newest %v", n)
	}
}
