package app_test

import (
	"strconv"
	"strings"
	"testing"
)

func TestSignup(t *testing.T) {
	e := newEnv(t)
	email := uniqueEmail("priya")
	r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "Sharma Realty", "name": "Priya", "email": strings.ToUpper(email), "password": password})
	expect(t, r, 201)
	if r.str("token_type") != "Bearer" || r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("signup body lacks tokens: %s", r.Raw)
	}
	if r.Body["expires_in"].(float64) > 900 {
		t.Fatalf("expires_in %v > 15 minutes", r.Body["expires_in"])
	}
	if r.str("user", "role") != "owner" || r.str("user", "email") != email || r.str("org", "name") != "Sharma Realty" {
		t.Fatalf("signup body: %s", r.Raw)
	}
	if strings.Contains(r.Raw, "password") || strings.Contains(r.Raw, "argon2") {
		t.Fatalf("signup leaks the password or its hash: %s", r.Raw)
	}

	t.Run("email taken across the platform", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "Other", "name": "X", "email": email, "password": password})
		expect(t, r, 409)
	})
	t.Run("weak password", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "O", "name": "X", "email": uniqueEmail("w"), "password": "short"})
		expect(t, r, 422)
		if !strings.Contains(r.Raw, "body.password") {
			t.Fatalf("422 does not name the password field: %s", r.Raw)
		}
	})
	t.Run("bad email and missing fields", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/auth/signup", "", map[string]string{"org_name": "O", "email": "nope", "password": password})
		expect(t, r, 422)
		for _, f := range []string{"body.email", "body.name"} {
			if !strings.Contains(r.Raw, f) {
				t.Errorf("422 does not name %s: %s", f, r.Raw)
			}
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		expect(t, e.do(t, "POST", "/v1/auth/signup", "", `{"org_name":`), 400)
	})
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Login Co")

	s := e.login(t, strings.ToUpper(owner.Email))
	if s.Access == "" || s.UserID != owner.UserID {
		t.Fatalf("login session %+v", s)
	}
	me := e.do(t, "GET", "/v1/me", s.Access, nil)
	expect(t, me, 200)
	if me.str("user", "id") != owner.UserID || me.str("org", "id") != owner.OrgID {
		t.Fatalf("/v1/me = %s", me.Raw)
	}

	wrong := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": "not-the-password"})
	expect(t, wrong, 401)
	unknown := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": uniqueEmail("ghost"), "password": "not-the-password"})
	expect(t, unknown, 401)
	if wrong.str("detail") != unknown.str("detail") || wrong.str("code") != unknown.str("code") {
		t.Fatalf("unknown email answered differently: %s vs %s", unknown.Raw, wrong.Raw)
	}

	t.Run("no token, bad token", func(t *testing.T) {
		expect(t, e.do(t, "GET", "/v1/me", "", nil), 401)
		expect(t, e.do(t, "GET", "/v1/me", "not.a.jwt", nil), 401)
		expect(t, e.do(t, "GET", "/v1/me", s.Access[:len(s.Access)-3]+"abc", nil), 401)
	})

	t.Run("throttled after repeated failures", func(t *testing.T) {
		victim := e.signup(t, "Throttle Co")
		var last response
		for range 6 {
			last = e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim.Email, "password": "guess-guess-guess"})
		}
		expect(t, last, 429)
		ra, err := strconv.Atoi(last.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 15*60 {
			t.Fatalf("Retry-After %q", last.Header.Get("Retry-After"))
		}
		// Even the right password waits out the window.
		expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim.Email, "password": password}), 429)
		// Other accounts are unaffected.
		e.login(t, owner.Email)
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	s := e.signup(t, "Refresh Co")

	r1 := e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s.Refresh})
	expect(t, r1, 200)
	second := r1.str("refresh_token")
	if second == "" || second == s.Refresh || r1.str("access_token") == "" {
		t.Fatalf("refresh did not rotate: %s", r1.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/me", r1.str("access_token"), nil), 200)

	// The first token again: reuse. It fails and revokes the family...
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s.Refresh}), 401)
	// ...so the newest token of the family stops working too.
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": second}), 401)

	// Another session of the same user is untouched.
	other := e.login(t, s.Email)
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": other.Refresh}), 200)

	t.Run("garbage and tampered tokens", func(t *testing.T) {
		expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": "garbage"}), 401)
		id, _, _ := strings.Cut(other.Refresh, ".")
		expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}), 401)
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	s := e.signup(t, "Logout Co")
	expect(t, e.do(t, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": s.Refresh}), 204)
	expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s.Refresh}), 401)
	// Logging out twice is harmless.
	expect(t, e.do(t, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": s.Refresh}), 204)
	expect(t, e.do(t, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": "nope"}), 401)
}
