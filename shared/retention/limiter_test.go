package retention

import (
	"context"
	"testing"
	"time"
)

// A purge step is paced by the items it removed: at 50 items a second,
// a step that removed 150 items is followed by the next one 3 s later,
// whatever the step size the store aimed at.
func TestItemLimiterChargesWhatAStepRemoved(t *testing.T) {
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Runner{Rate: 50, Now: func() time.Time { return at }}
	l := r.itemLimiter()
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.charge(150 - 1)
	if got := l.next.Sub(at); got != 3*time.Second {
		t.Fatalf("next step %s after the first, want 3s", got)
	}
	l.charge(0) // a step that removed one item paid with its wait
	l.charge(-1)
	if got := l.next.Sub(at); got != 3*time.Second {
		t.Fatalf("next step moved to %s by steps that removed at most one item", got)
	}
}
