package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
)

// closureStore keeps one org and its users in memory.
type closureStore struct {
	org     account.Org
	users   []account.User
	revoked map[string]bool
}

func (m *closureStore) GetOrg(context.Context, string) (account.Org, error) { return m.org, nil }

func (m *closureStore) GetUserByEmail(_ context.Context, email string) (account.User, error) {
	for _, u := range m.users {
		if u.Email == email {
			return u, nil
		}
	}
	return account.User{}, account.ErrNotFound
}

func (m *closureStore) ListUsers(context.Context, string) ([]account.User, error) {
	return m.users, nil
}

func (m *closureStore) SetOrgClosed(_ context.Context, _ string, users []account.User, at time.Time) error {
	m.org.ClosedAt = at
	for i := range m.users {
		m.users[i].OrgClosedAt = at
	}
	if len(users) != len(m.users) {
		return errors.New("not every user marked")
	}
	return nil
}

func (m *closureStore) RevokeAllSessions(_ context.Context, userID string) error {
	m.revoked[userID] = true
	return nil
}

type activity struct{ stopped int }

func (a *activity) StopOrgActivity(context.Context, string, time.Time) (int, int, error) {
	a.stopped++
	return 2, 1, nil
}

func checkPassword(hash, password string) error {
	if hash != "hash:"+password {
		return errors.New("mismatch")
	}
	return nil
}

func TestCloseAndReopenWindow(t *testing.T) {
	owner := account.User{ID: "u1", OrgID: "o1", Email: "owner@example.com", Role: account.RoleOwner, Active: true, PasswordHash: "hash:pw"}
	admin := account.User{ID: "u2", OrgID: "o1", Email: "admin@example.com", Role: account.RoleAdmin, Active: true, PasswordHash: "hash:pw"}
	st := &closureStore{org: account.Org{ID: "o1"}, users: []account.User{owner, admin}, revoked: map[string]bool{}}
	act := &activity{}
	now := time.Date(2027, 1, 10, 9, 0, 0, 0, time.UTC)
	svc := &account.ClosureService{Store: st, Activity: act, Password: checkPassword, Now: func() time.Time { return now }}
	ctx := context.Background()

	if _, err := svc.Close(ctx, admin, "pw"); !errors.Is(err, account.ErrNotOwner) {
		t.Fatalf("admin closes: %v", err)
	}
	if _, err := svc.Close(ctx, owner, "wrong"); !errors.Is(err, account.ErrWrongPassword) || st.org.Closed() {
		t.Fatalf("wrong password: %v, closed %v", err, st.org.Closed())
	}
	c, err := svc.Close(ctx, owner, "pw")
	if err != nil || !c.Org.ClosedAt.Equal(now) || c.Users != 2 || c.Integrations != 2 || c.Campaigns != 1 {
		t.Fatalf("close: %+v, %v", c, err)
	}
	if !st.revoked["u1"] || !st.revoked["u2"] || act.stopped != 1 || st.users[1].OrgClosedAt.IsZero() {
		t.Fatalf("after close: revoked %v, stopped %d, users %+v", st.revoked, act.stopped, st.users)
	}
	if _, err := svc.Close(ctx, owner, "pw"); !errors.Is(err, account.ErrOrgClosed) {
		t.Fatalf("close twice: %v", err)
	}

	if _, _, err := svc.Reopen(ctx, "admin@example.com", "pw"); !errors.Is(err, account.ErrWrongPassword) {
		t.Fatalf("admin reopens: %v", err)
	}
	if _, _, err := svc.Reopen(ctx, "nobody@example.com", "pw"); !errors.Is(err, account.ErrWrongPassword) {
		t.Fatalf("unknown email reopens: %v", err)
	}
	now = now.Add(account.ReopenWindow)
	if _, _, err := svc.Reopen(ctx, "owner@example.com", "pw"); !errors.Is(err, account.ErrReopenExpired) || !st.org.Closed() {
		t.Fatalf("reopen after the window: %v", err)
	}
	now = now.Add(-time.Second)
	o, u, err := svc.Reopen(ctx, "owner@example.com", "pw")
	if err != nil || o.Closed() || u.ID != "u1" || st.org.Closed() || !st.users[1].OrgClosedAt.IsZero() {
		t.Fatalf("reopen inside the window: %+v %v", o, err)
	}
	if _, _, err := svc.Reopen(ctx, "owner@example.com", "pw"); !errors.Is(err, account.ErrNotClosed) {
		t.Fatalf("reopen an open org: %v", err)
	}
}
