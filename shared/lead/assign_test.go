package lead_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
)

// turnStore is an in-memory lead.RuleStore.
type turnStore struct {
	rule    lead.AssignmentRule
	turn    int64
	tickets map[string]int64
}

func (s *turnStore) AssignmentRule(context.Context, string) (lead.AssignmentRule, error) {
	return s.rule, nil
}
func (s *turnStore) PutAssignmentRule(_ context.Context, _ string, r lead.AssignmentRule) error {
	s.rule = r
	return nil
}
func (s *turnStore) TakeTurn(_ context.Context, _, key string) (int64, error) {
	if t, ok := s.tickets[key]; ok && key != "" {
		return t, nil
	}
	s.turn++
	if key != "" {
		s.tickets[key] = s.turn
	}
	return s.turn, nil
}
func (s *turnStore) ForgetTurn(_ context.Context, _, key string) error {
	delete(s.tickets, key)
	return nil
}

type userList []account.User

func (u userList) ListUsers(context.Context, string) ([]account.User, error) { return u, nil }

func TestAssignerRoundRobin(t *testing.T) {
	ctx := context.Background()
	users := userList{
		{ID: "a", Role: account.RoleAgent, Active: true},
		{ID: "b", Role: account.RoleAgent, Active: true, Unavailable: true},
		{ID: "c", Role: account.RoleManager, Active: true},
		{ID: "d", Role: account.RoleAgent, Active: false},
		{ID: "v", Role: account.RoleViewer, Active: true},
	}
	st := &turnStore{tickets: map[string]int64{}}
	a := &lead.Assigner{Rules: st, Users: users}
	if p, err := a.Pick(ctx, "o", ""); err != nil || p.UserID != "" || st.turn != 0 {
		t.Fatalf("without a rule %+v, %v; turn %d", p, err, st.turn)
	}
	st.rule = lead.AssignmentRule{Type: lead.RuleRoundRobin, UserIDs: []string{"d", "a", "b", "c", "v"}}
	var got []string
	for range 6 {
		p, err := a.Pick(ctx, "o", "")
		if err != nil || p.By != "rule:round_robin" {
			t.Fatalf("pick %+v, %v", p, err)
		}
		got = append(got, p.UserID)
	}
	if want := "[a b c a b c]"; fmtList(got) != want {
		t.Fatalf("picks %v, want %s (inactive d and the viewer skipped)", got, want)
	}
	st.rule.OnlyAvailable = true
	if p, _ := a.Pick(ctx, "o", ""); p.UserID != "c" && p.UserID != "a" {
		t.Fatalf("only available picked %q", p.UserID)
	}
	// A keyed turn is taken once until released.
	p1, _ := a.Pick(ctx, "o", "ev")
	turn := st.turn
	if p2, _ := a.Pick(ctx, "o", "ev"); p2 != p1 || st.turn != turn {
		t.Fatalf("keyed pick again %+v vs %+v, turn %d vs %d", p2, p1, st.turn, turn)
	}
	if err := a.Release(ctx, "o", "ev"); err != nil || len(st.tickets) != 0 {
		t.Fatalf("release: %v, tickets %v", err, st.tickets)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

func TestValidateRule(t *testing.T) {
	users := []account.User{{ID: "a", Role: account.RoleAgent, Active: true}, {ID: "x", Role: account.RoleAgent},
		{ID: "v", Role: account.RoleViewer, Active: true}}
	if r, err := lead.ValidateRule(lead.AssignmentRule{Type: "none", UserIDs: []string{"zzz"}}, users); err != nil || r.On() || len(r.UserIDs) != 0 {
		t.Fatalf("none %+v, %v", r, err)
	}
	if r, err := lead.ValidateRule(lead.AssignmentRule{Type: lead.RuleRoundRobin, UserIDs: []string{" a "}}, users); err != nil || r.UserIDs[0] != "a" {
		t.Fatalf("round robin %+v, %v", r, err)
	}
	for _, bad := range []lead.AssignmentRule{
		{Type: "weighted", UserIDs: []string{"a"}},
		{Type: lead.RuleRoundRobin},
		{Type: lead.RuleRoundRobin, UserIDs: []string{"x"}},
		{Type: lead.RuleRoundRobin, UserIDs: []string{"v"}},
		{Type: lead.RuleRoundRobin, UserIDs: []string{"a", "a"}},
		{Type: lead.RuleRoundRobin, UserIDs: []string{"nobody"}},
	} {
		var fe *lead.FieldError
		if _, err := lead.ValidateRule(bad, users); !errors.As(err, &fe) {
			t.Errorf("rule %+v: %v, want a field error", bad, err)
		}
	}
}

// The rule's assigned activity sorts right after the created one, at the
// same time.
func TestRuleAssignedActivitySortsAfterCreated(t *testing.T) {
	for range 200 {
		l := lead.Lead{ID: ulid.Make().String(), OrgID: "o", AssigneeID: "a", AssignedBy: "rule:round_robin", CreatedAt: time.Now()}
		created := lead.CreatedActivity(l)
		assigned := lead.RuleAssignedActivity(l, created.ID)
		if assigned.ID <= created.ID || ulid.MustParse(assigned.ID).Time() != ulid.MustParse(created.ID).Time() {
			t.Fatalf("assigned %s not right after created %s", assigned.ID, created.ID)
		}
		if assigned.Kind != lead.ActivityAssigned || assigned.Details["by"] != "rule:round_robin" || assigned.ActorID != "" ||
			assigned.Changes[0].New != "a" {
			t.Fatalf("assigned activity %+v", assigned)
		}
	}
}
