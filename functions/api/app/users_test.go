package app_test

import (
	"testing"
)

func TestUsersRoles(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Users Co")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")

	newUser := func(role string) map[string]string {
		return map[string]string{"name": "New " + role, "email": uniqueEmail("new"), "role": role, "password": password}
	}
	tests := []struct {
		name   string
		by     session
		role   string
		status int
	}{
		{"owner creates owner", owner, "owner", 201},
		{"owner creates admin", owner, "admin", 201},
		{"admin creates manager", admin, "manager", 201},
		{"admin creates agent", admin, "agent", 201},
		{"admin cannot create admin", admin, "admin", 403},
		{"admin cannot create owner", admin, "owner", 403},
		{"manager cannot create users", manager, "agent", 403},
		{"agent cannot create users", agent, "viewer", 403},
		{"viewer cannot create users", viewer, "viewer", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, e.do(t, "POST", "/v1/users", tt.by.Access, newUser(tt.role)), tt.status)
		})
	}

	t.Run("bad role and duplicate email", func(t *testing.T) {
		expect(t, e.do(t, "POST", "/v1/users", owner.Access, newUser("superuser")), 422)
		dup := newUser("agent")
		dup["email"] = agent.Email
		expect(t, e.do(t, "POST", "/v1/users", owner.Access, dup), 409)
	})

	t.Run("list", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/users", viewer.Access, nil)
		expect(t, r, 200)
		if len(r.items()) < 5 {
			t.Fatalf("listed %d users, want at least 5", len(r.items()))
		}
		for _, u := range r.items() {
			if _, ok := u["password_hash"]; ok {
				t.Fatal("user list leaks password hashes")
			}
		}
	})

	t.Run("patch", func(t *testing.T) {
		r := e.do(t, "PATCH", "/v1/users/"+agent.UserID, admin.Access, map[string]string{"name": "Renamed Agent", "role": "manager"})
		expect(t, r, 200)
		if r.str("name") != "Renamed Agent" || r.str("role") != "manager" {
			t.Fatalf("patched user %s", r.Raw)
		}
		expect(t, e.do(t, "PATCH", "/v1/users/"+agent.UserID, admin.Access, map[string]string{"role": "admin"}), 403)
		expect(t, e.do(t, "PATCH", "/v1/users/"+admin.UserID, admin.Access, map[string]string{"name": "Self"}), 403)
		expect(t, e.do(t, "PATCH", "/v1/users/"+agent.UserID, owner.Access, map[string]string{"role": "admin"}), 200)
		expect(t, e.do(t, "PATCH", "/v1/users/"+viewer.UserID, manager.Access, map[string]string{"name": "x"}), 403)
		expect(t, e.do(t, "PATCH", "/v1/users/"+owner.UserID, owner.Access, map[string]string{"role": "viewer"}), 409)
		expect(t, e.do(t, "PATCH", "/v1/users/01JNOSUCHUSER0000000000000", owner.Access, map[string]string{"name": "x"}), 404)
	})

	t.Run("deactivate revokes sessions", func(t *testing.T) {
		victim := e.member(t, owner, "agent")
		expect(t, e.do(t, "DELETE", "/v1/users/"+victim.UserID, manager.Access, nil), 403)
		expect(t, e.do(t, "DELETE", "/v1/users/"+victim.UserID, admin.Access, nil), 204)
		expect(t, e.do(t, "GET", "/v1/me", victim.Access, nil), 401)
		expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": victim.Refresh}), 401)
		expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim.Email, "password": password}), 401)
		expect(t, e.do(t, "DELETE", "/v1/users/"+owner.UserID, owner.Access, nil), 409)
	})

	t.Run("other org's users are not found", func(t *testing.T) {
		other := e.signup(t, "Other Org")
		expect(t, e.do(t, "PATCH", "/v1/users/"+viewer.UserID, other.Access, map[string]string{"name": "x"}), 404)
		expect(t, e.do(t, "DELETE", "/v1/users/"+viewer.UserID, other.Access, nil), 404)
		r := e.do(t, "GET", "/v1/users", other.Access, nil)
		expect(t, r, 200)
		if len(r.items()) != 1 {
			t.Fatalf("other org lists %d users, want only its owner", len(r.items()))
		}
	})
}
