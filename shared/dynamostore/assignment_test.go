package dynamostore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
)

// The turn counter hands every concurrent caller a turn of its own; a
// keyed turn is taken once until forgotten, and putting the rule again
// keeps the counter.
func TestAssignmentTurns(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	org := "org-turns-" + time.Now().Format("150405.000000")
	if r, err := s.AssignmentRule(ctx, org); err != nil || r.On() || r.Type != lead.RuleNone {
		t.Fatalf("rule before any %+v, %v", r, err)
	}
	if _, err := s.TakeTurn(ctx, org, ""); err == nil {
		t.Fatal("a turn without a rule")
	}
	rule := lead.AssignmentRule{Type: lead.RuleRoundRobin, UserIDs: []string{"u1", "u2"}, OnlyAvailable: true, UpdatedAt: time.Now(), UpdatedBy: "u0"}
	if err := s.PutAssignmentRule(ctx, org, rule); err != nil {
		t.Fatal(err)
	}
	got, err := s.AssignmentRule(ctx, org)
	if err != nil || !got.On() || !slices.Equal(got.UserIDs, rule.UserIDs) || !got.OnlyAvailable || got.UpdatedBy != "u0" {
		t.Fatalf("rule %+v, %v", got, err)
	}

	const n = 40
	turns := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tk, err := s.TakeTurn(ctx, org, "")
			if err != nil {
				t.Error(err)
			}
			turns[i] = tk
		})
	}
	wg.Wait()
	slices.Sort(turns)
	for i, tk := range turns {
		if tk != int64(i+1) {
			t.Fatalf("turns %v: not 1..%d each once", turns, n)
		}
	}

	// A keyed turn: taken again, the same; the counter moves once.
	a, err := s.TakeTurn(ctx, org, "leadgen:111")
	if err != nil || a != n+1 {
		t.Fatalf("keyed turn %d, %v", a, err)
	}
	if again, err := s.TakeTurn(ctx, org, "leadgen:111"); err != nil || again != a {
		t.Fatalf("keyed turn again %d, %v (want %d)", again, err, a)
	}
	// The rule changes; the counter and the ticket stay.
	rule.UserIDs = []string{"u2", "u3", "u4"}
	if err := s.PutAssignmentRule(ctx, org, rule); err != nil {
		t.Fatal(err)
	}
	if b, err := s.TakeTurn(ctx, org, "leadgen:222"); err != nil || b != n+2 {
		t.Fatalf("second keyed turn %d, %v", b, err)
	}
	if again, err := s.TakeTurn(ctx, org, "leadgen:111"); err != nil || again != a {
		t.Fatalf("keyed turn after the rule changed %d, %v", again, err)
	}
	// Forgotten once its lead is written: the key would take a new turn.
	if err := s.ForgetTurn(ctx, org, "leadgen:111"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.TakeTurn(ctx, org, "leadgen:111"); err != nil || c != n+3 {
		t.Fatalf("turn after forgetting %d, %v", c, err)
	}
	if err := s.ForgetTurn(ctx, "no-such-org", "leadgen:111"); err != nil {
		t.Fatalf("forget without a rule: %v", err)
	}
}
