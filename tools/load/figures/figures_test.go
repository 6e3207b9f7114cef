package figures

import (
	"strings"
	"testing"
	"time"
)

func TestQuantilesOf(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	q := QuantilesOf(ds)
	o := Op{Latency: q}
	if o.At(0) != 1 || o.At(50) != 50 || o.At(99) != 99 || o.At(100) != 100 {
		t.Errorf("p0 %v p50 %v p99 %v max %v; want 1, 50, 99, 100", o.At(0), o.At(50), o.At(99), o.At(100))
	}
	if got := QuantilesOf(nil); len(got) != len(Quantiles) {
		t.Errorf("no samples: %d quantiles; want %d", len(got), len(Quantiles))
	}
}

func TestSplice(t *testing.T) {
	marker := "<!-- by hand -->"
	doc := "# B\n\n## A\na\n\n" + marker + "\n\n## H\nh\n"
	added := Splice(doc, "Load", "\n## Load\n\nnew\n", marker)
	if want := "# B\n\n## A\na\n\n## Load\n\nnew\n\n" + marker + "\n\n## H\nh\n"; added != want {
		t.Errorf("added = %q; want %q", added, want)
	}
	replaced := Splice(added, "Load", "\n## Load\n\nnewer\n", marker)
	if strings.Contains(replaced, "\nnew\n") || !strings.Contains(replaced, "newer") || !strings.Contains(replaced, "## H\nh\n") {
		t.Errorf("replaced = %q", replaced)
	}
	if got := Splice("# B\n\n## Load\nold\n\n## C\nc\n", "Load", "\n## Load\nx\n", marker); got != "# B\n\n## Load\nx\n\n## C\nc\n" {
		t.Errorf("middle section: %q", got)
	}
}

func TestRender(t *testing.T) {
	r := &Result{Date: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC), Machine: "2 CPUs", Rate: 50, Duration: time.Minute, Command: "make load",
		Ops: []Op{{Name: "list_leads", Route: "GET /v1/leads", Weight: 1, Count: 3, Latency: QuantilesOf([]time.Duration{time.Millisecond})},
			{Name: "login", Route: "POST /v1/auth/login", Weight: 1, Count: 2, Errors: map[string]int{"429 too_many_attempts": 1}, RateLimited: 1,
				Latency: QuantilesOf([]time.Duration{time.Millisecond})}}}
	if r.Errors() != 1 {
		t.Errorf("errors %d; want 1", r.Errors())
	}
	md := r.Markdown()
	for _, want := range []string{"## Load", SVGLink, "429 too_many_attempts ×1", "| 429s (rate limits, login throttle) | 1 |", "2026-12-04 19:00 UTC"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	svg, err := r.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "2026-12-04 19:00 UTC") {
		t.Error("the figure does not note the date")
	}
	if tab := r.Table(); !strings.Contains(tab, "list_leads") {
		t.Errorf("table: %s", tab)
	}
}
