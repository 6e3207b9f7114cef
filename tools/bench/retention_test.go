package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10000, 50000,100000")
	if err != nil || !slices.Equal(got, []int{10000, 50000, 100000}) {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10,5", "10,10", "0", "-3", "x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

func TestDueSpread(t *testing.T) {
	for _, pct := range []int{1, 10, 33, 100} {
		n := 0
		for j := range 1000 {
			if isDue(j, pct) {
				n++
			}
			if n != dueUpTo(j+1, pct) {
				t.Fatalf("pct %d: %d due among the first %d, dueUpTo says %d", pct, n, j+1, dueUpTo(j+1, pct))
			}
		}
	}
}

func TestUpdateWCU(t *testing.T) {
	no, gsi3 := []bool{false, false, false}, []bool{false, false, true}
	cases := []struct {
		name          string
		before, after int
		in, out       []bool
		want          float64
	}{
		{"sanitize out of GSI3", 800, 530, gsi3, no, 2},
		{"larger item before", 2100, 500, gsi3, no, 3 + 3},
		{"grows, no index", 900, 1500, no, no, 2},
		{"stays in an index", 500, 1100, gsi3, gsi3, 2 + 2},
		{"enters an index", 500, 1100, no, gsi3, 2 + 2},
		{"empty item", 0, 0, no, no, 1},
	}
	for _, c := range cases {
		if got := updateWCU(c.before, c.after, c.in, c.out); got != c.want {
			t.Errorf("%s: updateWCU = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPerThousandAndRatio(t *testing.T) {
	if got := perThousand(20030, 10000); got != 2003 {
		t.Errorf("perThousand = %v", got)
	}
	if got := perThousand(5, 0); got != 0 {
		t.Errorf("perThousand of nothing = %v", got)
	}
	if got := ratio(307, 1108); got != "0.28×" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(1, 0); got != "—" {
		t.Errorf("ratio by 0 = %q", got)
	}
}

func TestSpliceNamed(t *testing.T) {
	hand := byHand + "\n\n## By hand\nkept\n"
	doc := "# B\n\n## Outbound\nold out\n\n" + hand
	// A new section goes before the hand-measured part.
	got := spliceNamed(doc, "Retention", "\n## Retention\nret 1\n")
	want := "# B\n\n## Outbound\nold out\n\n## Retention\nret 1\n\n" + hand
	if got != want {
		t.Fatalf("add: got %q\nwant %q", got, want)
	}
	// Replacing it keeps what follows, the marker included.
	got = spliceNamed(got, "Retention", "\n## Retention\nret 2\n")
	if want = strings.Replace(want, "ret 1", "ret 2", 1); got != want {
		t.Fatalf("replace: got %q\nwant %q", got, want)
	}
	// So does replacing one followed by another section.
	got = spliceSection(got, "\n## Outbound\nnew out\n")
	if want = strings.Replace(want, "old out", "new out", 1); got != want {
		t.Fatalf("replace outbound: got %q\nwant %q", got, want)
	}
	// Without a marker a new section is appended.
	if got := spliceNamed("# B\n\n## Summary\nx\n", "Retention", "\n## Retention\nr\n"); got != "# B\n\n## Summary\nx\n\n## Retention\nr\n" {
		t.Fatalf("append: %q", got)
	}
}

func TestBusiestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var ts []time.Time
	for i := range 10 { // every 200 ms: 5 in any second
		ts = append(ts, t0.Add(time.Duration(i)*200*time.Millisecond))
	}
	if got := busiestWindow(ts, time.Second); got != 5 {
		t.Errorf("busiestWindow = %d, want 5", got)
	}
	ts = append(ts, ts[len(ts)-1], ts[len(ts)-1].Add(time.Millisecond)) // a burst at the end
	if got := busiestWindow(ts, time.Second); got != 7 {
		t.Errorf("busiestWindow with a burst = %d, want 7", got)
	}
	if got := busiestWindow(nil, time.Second); got != 0 {
		t.Errorf("busiestWindow of nothing = %d", got)
	}
}

func TestPurgeInvocations(t *testing.T) {
	q := purgeRated{PerSec: 50, Timeout: 5 * time.Minute, FnMargin: 15 * time.Second}
	if got := q.perInvocation(); got != 14250 {
		t.Errorf("perInvocation = %v, want 14250", got)
	}
	for n, want := range map[int]int{1: 1, 14250: 1, 14251: 2, 50004: 4} {
		if got := q.invocationsFor(n); got != want {
			t.Errorf("invocationsFor(%d) = %d, want %d", n, got, want)
		}
	}
	if got := (purgeRated{}).invocationsFor(10); got != 0 {
		t.Errorf("invocationsFor without a rate = %d", got)
	}
}

func TestPurgeRules(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	big := map[string]types.AttributeValue{"PK": s("ORG#A"), "SK": s("LEAD#1"), "GSI1PK": s("x"), "body": s(strings.Repeat("b", 1500))}
	small := map[string]types.AttributeValue{"PK": s("ORG#A"), "SK": s("UNIQ#PHONE#1")}
	before := map[string]map[string]types.AttributeValue{itemKey(big): big, itemKey(small): small}
	calls := []capacityCall{
		{Op: "BatchWriteItem", Write: true, Items: []itemWrite{{Action: "Delete", Key: itemKey(big)}, {Action: "Delete", Key: itemKey(small)}}},
		{Op: "TransactWriteItems", Write: true, Items: []itemWrite{{Action: "Delete", Key: itemKey(big), Transactional: true}, {Action: "Update", Transactional: true}}},
		{Op: "Query"},
	}
	// big: 2 KB in the table and in one GSI; small: 1; in a transaction
	// big's table write doubles (4 + 2) and the update is 2.
	if got, want := purgeRules(calls, before), float64(2+2+1+4+2+2); got != want {
		t.Errorf("purgeRules = %v, want %v", got, want)
	}
}

func TestNamesOrg(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	if !namesOrg(map[string]types.AttributeValue{"PK": s("WAMID#x"), "org_id": s("01ORG")}, "01ORG") {
		t.Error("org_id not seen")
	}
	if namesOrg(map[string]types.AttributeValue{"PK": s("ORG#01OTHER"), "n": &types.AttributeValueMemberN{Value: "1"}}, "01ORG") {
		t.Error("another org's item named")
	}
}
