package plan

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// markers is an in-memory AlertStore: the near-limit markers by key.
type markers struct {
	mu     sync.Mutex
	marked map[string]bool
	owners []Owner
}

func (s *markers) ActiveOwners(context.Context, string) ([]Owner, error) { return s.owners, nil }

func (s *markers) NotifyOverLimit(context.Context, string, Metric, string, []string, time.Time, time.Time) (bool, error) {
	return false, nil
}

func (s *markers) MarkNearLimit(_ context.Context, orgID string, m Metric, period string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := orgID + "#" + string(m) + "#" + period
	if s.marked[k] {
		return false, nil
	}
	s.marked[k] = true
	return true, nil
}

func (s *markers) UnmarkNearLimit(_ context.Context, orgID string, m Metric, period string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.marked, orgID+"#"+string(m)+"#"+period)
	return nil
}

// A warning that reached some owners is not sent again when it failed for
// another; one that reached nobody is tried again by a later use.
func TestNearLimitWarnsEachOwnerOnce(t *testing.T) {
	ctx, resets := context.Background(), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name      string
		failFor   map[string]bool
		wantFirst []string
		wantLater []string
	}{
		{"one owner's mail fails", map[string]bool{"b@example.com": true}, []string{"a@example.com"}, nil},
		{"every owner's mail fails", map[string]bool{"a@example.com": true, "b@example.com": true}, nil, []string{"a@example.com", "b@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &markers{marked: map[string]bool{}, owners: []Owner{{UserID: "u1", Email: "a@example.com"}, {UserID: "u2", Email: "b@example.com"}}}
			var sent []string
			fail := tc.failFor
			a := &Alerts{Store: store, Mail: func(_ context.Context, to, _, _ string) error {
				if fail[to] {
					return errors.New("ses throttled")
				}
				sent = append(sent, to)
				return nil
			}}
			if err := a.nearLimit(ctx, "o1", LeadsPerMonth, 90, 100, "202612", resets); err == nil {
				t.Fatal("a failed mail reported no error")
			}
			if !slices.Equal(sent, tc.wantFirst) {
				t.Fatalf("first use mailed %v, want %v", sent, tc.wantFirst)
			}
			sent, fail = nil, nil
			if err := a.nearLimit(ctx, "o1", LeadsPerMonth, 91, 100, "202612", resets); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sent, tc.wantLater) {
				t.Fatalf("a later use mailed %v, want %v", sent, tc.wantLater)
			}
		})
	}
}
