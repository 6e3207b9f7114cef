package main

import "testing"

func TestKeepByHand(t *testing.T) {
	fresh := "# Benchmarks\n\n## Summary\nnew figures\n"
	old := "# Benchmarks\n\n## Summary\nold figures\n\n" + byHand + "\n\n## By hand\nkept\n"
	want := "# Benchmarks\n\n## Summary\nnew figures\n\n" + byHand + "\n\n## By hand\nkept\n"
	if got := keepByHand(fresh, old); got != want {
		t.Errorf("keepByHand with a marker = %q; want %q", got, want)
	}
	if got := keepByHand(fresh, "# Benchmarks\n\n## Summary\nold figures\n"); got != fresh {
		t.Errorf("keepByHand without a marker = %q; want the fresh document", got)
	}
}
