package main

import (
	"slices"
	"strings"
	"testing"
	"time"
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
