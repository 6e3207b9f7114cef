package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/leadluence/backend/tools/load/figures"
)

// TestRunSchedulesOpenLoop drives run with stand-in operations: every
// request due is counted once, in the mix's proportions; a wrong status is
// an error of its kind, and requests due while the in-flight cap is reached
// are dropped rather than queued.
func TestRunSchedulesOpenLoop(t *testing.T) {
	ok := func(context.Context, *org) (int, string, error) { return http.StatusOK, "", nil }
	slow := func(ctx context.Context, _ *org) (int, string, error) {
		select {
		case <-ctx.Done():
		case <-time.After(400 * time.Millisecond):
		}
		return http.StatusOK, "", nil
	}
	bad := func(context.Context, *org) (int, string, error) {
		return http.StatusInternalServerError, "internal", nil
	}
	l := &load{o: options{Rate: 200, Duration: 500 * time.Millisecond, MaxInFlight: 4}, orgs: []*org{{}, {}},
		ops: []op{{name: "ok", weight: 3, want: http.StatusOK, do: ok}, {name: "slow", weight: 1, want: http.StatusOK, do: slow},
			{name: "bad", weight: 1, want: http.StatusOK, do: bad}}}
	r := &figures.Result{}
	l.run(context.Background(), r)
	if r.Scheduled != 100 {
		t.Fatalf("scheduled %d; want 100", r.Scheduled)
	}
	counts, dropped := map[string]int{}, 0
	for _, o := range r.Ops {
		counts[o.Name] = o.Count
		dropped += o.Errors["dropped"]
		for kind := range o.Errors {
			if kind != "dropped" && (o.Name != "bad" || kind != "500 internal") {
				t.Errorf("%s: error kind %q", o.Name, kind)
			}
		}
		if o.Name == "bad" && o.ErrorCount() != o.Count {
			t.Errorf("bad: %d errors of %d", o.ErrorCount(), o.Count)
		}
	}
	if counts["ok"] != 60 || counts["slow"] != 20 || counts["bad"] != 20 {
		t.Errorf("counts %v; want ok 60, slow 20, bad 20", counts)
	}
	if dropped == 0 || r.Sent+dropped != 100 || r.Completed != r.Sent {
		t.Errorf("sent %d, completed %d, dropped %d: want drops at the cap, sent + dropped = 100", r.Sent, r.Completed, dropped)
	}
	if r.MaxInFlightSeen > 4 {
		t.Errorf("%d in flight; cap 4", r.MaxInFlightSeen)
	}
	sum := 0
	for _, n := range r.PerSecond {
		sum += n
	}
	if sum != 100 {
		t.Errorf("per second sums to %d; want 100", sum)
	}
}
