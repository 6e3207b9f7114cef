package app_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// mfaEnrolment is what POST /v1/me/mfa showed.
type mfaEnrolment struct {
	uri, secret string
	recovery    []string
}

// totpAt is the TOTP code of secret at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	return totpStep(t, secret, auth.TOTPStep(at))
}

func totpStep(t *testing.T, secret string, step int64) string {
	t.Helper()
	code, err := auth.TOTPCode(secret, step)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolMFA starts s's two-factor enrolment.
func (e *testEnv) enrolMFA(t *testing.T, s session) mfaEnrolment {
	t.Helper()
	r := e.do(t, "POST", "/v1/me/mfa", s.Access, nil)
	expect(t, r, 201)
	enr := mfaEnrolment{uri: r.str("otpauth_uri"), secret: r.str("secret")}
	list, _ := r.Body["recovery_codes"].([]any)
	for _, c := range list {
		enr.recovery = append(enr.recovery, c.(string))
	}
	return enr
}

// mfaOn enrols s and confirms the enrolment with the code of now.
func (e *testEnv) mfaOn(t *testing.T, s session) mfaEnrolment {
	t.Helper()
	enr := e.enrolMFA(t, s)
	expect(t, e.do(t, "POST", "/v1/me/mfa/confirm", s.Access, map[string]string{"code": totpAt(t, enr.secret, time.Now())}), 200)
	return enr
}

// challenge logs in a user with two-factor sign-in and returns the
// login's challenge.
func (e *testEnv) challenge(t *testing.T, email string) string {
	t.Helper()
	r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	expect(t, r, 200)
	if r.Body["mfa_required"] != true || r.str("challenge") == "" || r.str("access_token") != "" || r.str("refresh_token") != "" {
		t.Fatalf("login of a user with two-factor sign-in: %s", r.Raw)
	}
	return r.str("challenge")
}

// itemHolds reports whether any attribute of item contains one of words.
func itemHolds(item map[string]types.AttributeValue, words []string) bool {
	for _, av := range item {
		for _, s := range devstacktest.AttrStrings(av) {
			for _, w := range words {
				if strings.Contains(s, w) {
					return true
				}
			}
		}
	}
	return false
}

func completeMFA(t *testing.T, e *testEnv, challenge, code string, status int) response {
	t.Helper()
	r := e.do(t, "POST", "/v1/auth/mfa", "", map[string]string{"challenge": challenge, "code": code})
	expect(t, r, status)
	return r
}

// A user enrols (secret and recovery codes shown once, the secret stored
// only sealed), confirms, and from then on logs in with a code: a TOTP
// code works once, a recovery code too, a challenge once; turning it off
// needs a code.
func TestMFAEnrolConfirmLogin(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Two Factor Co")

	enr := e.enrolMFA(t, owner)
	u, err := url.Parse(enr.uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "Leadluence" ||
		u.Query().Get("secret") != enr.secret || !strings.Contains(u.Path, "Leadluence:"+owner.Email) {
		t.Fatalf("otpauth uri %q (%v)", enr.uri, err)
	}
	if len(enr.recovery) != 10 || enr.secret == "" {
		t.Fatalf("enrolment %+v", enr)
	}
	// The table holds neither the secret nor a recovery code in clear.
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range devstacktest.ScanTable(t, dynamodb.NewFromConfig(cfg), e.cfg.TableName) {
		if itemHolds(item, append([]string{enr.secret}, enr.recovery...)) {
			t.Fatalf("an item holds the TOTP secret or a recovery code: %v", item)
		}
	}
	// Unconfirmed: the login still gives tokens.
	if r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": password}); r.str("access_token") == "" {
		t.Fatalf("login with an unconfirmed enrolment: %s", r.Raw)
	}
	// Enrolling again replaces the unconfirmed enrolment.
	enr2 := e.enrolMFA(t, owner)
	if enr2.secret == enr.secret {
		t.Fatal("a new enrolment kept the secret")
	}
	enr = enr2

	r := e.do(t, "POST", "/v1/me/mfa/confirm", owner.Access, map[string]string{"code": "000000"})
	if r.Status != 422 || r.str("code") != "invalid_code" {
		t.Fatalf("a wrong code: %d %s", r.Status, r.Raw)
	}
	now := time.Now()
	step := auth.TOTPStep(now)
	first := totpStep(t, enr.secret, step)
	r = e.do(t, "POST", "/v1/me/mfa/confirm", owner.Access, map[string]string{"code": first})
	expect(t, r, 200)
	expect(t, e.do(t, "POST", "/v1/me/mfa/confirm", owner.Access, map[string]string{"code": first}), 409)
	expect(t, e.do(t, "POST", "/v1/me/mfa", owner.Access, nil), 409)
	me := e.do(t, "GET", "/v1/me", owner.Access, nil)
	if me.Body["user"].(map[string]any)["mfa_enabled"] != true {
		t.Fatalf("me after confirming: %s", me.Raw)
	}

	// The login: a challenge, no tokens; the code of the confirmation is
	// refused (replay in its window), the next step's code is taken once.
	ch := e.challenge(t, owner.Email)
	if r := completeMFA(t, e, ch, first, 401); r.str("code") != "invalid_code" {
		t.Fatalf("replayed code: %s", r.Raw)
	}
	next := totpStep(t, enr.secret, step+1)
	done := completeMFA(t, e, ch, next, 200)
	if done.str("access_token") == "" || done.str("refresh_token") == "" || done.str("user", "id") != owner.UserID {
		t.Fatalf("completed login: %s", done.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/me", done.str("access_token"), nil), 200)
	// The challenge worked once.
	if r := completeMFA(t, e, ch, totpStep(t, enr.secret, step+1), 401); r.str("code") != "invalid_challenge" {
		t.Fatalf("a used challenge: %s", r.Raw)
	}
	// The same code with a new challenge: refused.
	ch = e.challenge(t, owner.Email)
	completeMFA(t, e, ch, next, 401)
	// A recovery code, in capitals and without its dash, works once.
	rc := strings.ToUpper(strings.ReplaceAll(enr.recovery[3], "-", ""))
	completeMFA(t, e, ch, rc, 200)
	completeMFA(t, e, e.challenge(t, owner.Email), enr.recovery[3], 401)
	// Junk challenges.
	completeMFA(t, e, "not-a-challenge", next, 401)

	// Turning it off needs a code.
	r = e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": "123456"})
	if r.Status != 422 {
		t.Fatalf("turning off with a wrong code: %d %s", r.Status, r.Raw)
	}
	expect(t, e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": enr.recovery[3]}), 422)
	expect(t, e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": enr.recovery[0]}), 204)
	expect(t, e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": enr.recovery[1]}), 409)
	if r := e.login(t, owner.Email); r.Access == "" {
		t.Fatal("no tokens after turning two-factor sign-in off")
	}

	acts := auditActions(t, e, owner)
	for _, a := range []string{"mfa.enrol", "mfa.confirm", "mfa.disable", "mfa.recovery_code_used", "auth.mfa_challenge", "auth.mfa_failed"} {
		if acts[a] == 0 {
			t.Errorf("no %s in the audit trail: %v", a, acts)
		}
	}
	if acts["mfa.recovery_code_used"] != 2 {
		t.Errorf("recovery codes used: %d audited, want 2", acts["mfa.recovery_code_used"])
	}
}

// Wrong codes are counted per user before they are checked, as failed
// logins: the sixth attempt in the window is 429, even with a right code.
func TestMFAThrottle(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Throttle Co")
	enr := e.mfaOn(t, owner)
	ch := e.challenge(t, owner.Email)
	for range 5 {
		completeMFA(t, e, ch, "999999", 401)
	}
	r := completeMFA(t, e, ch, totpStep(t, enr.secret, auth.TOTPStep(time.Now())+1), 429)
	if r.Header.Get("Retry-After") == "" || r.str("code") != "too_many_attempts" {
		t.Fatalf("throttled: %v %s", r.Header, r.Raw)
	}
	// The throttle is the user's: turning off is refused too.
	expect(t, e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": enr.recovery[0]}), 429)
	if acts := auditActions(t, e, owner); acts["auth.mfa_throttled"] != 2 || acts["auth.mfa_failed"] != 5 {
		t.Fatalf("audit %v", acts)
	}
}

// An org that requires two-factor sign-in of owners and admins: an admin
// without it gets an enrol-only token at login and a refused refresh; an
// agent is not concerned; an owner cannot turn it off.
func TestMFARequiredForAdmins(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Strict Co")
	admin := e.member(t, owner, "admin")
	agent := e.member(t, owner, "agent")

	r := e.do(t, "PUT", "/v1/org/security", owner.Access, map[string]any{"mfa_required_for_admins": true})
	if r.Status != 409 || r.str("code") != "mfa_not_enabled" {
		t.Fatalf("requiring it without having it: %d %s", r.Status, r.Raw)
	}
	expect(t, e.do(t, "PUT", "/v1/org/security", agent.Access, map[string]any{"mfa_required_for_admins": false}), 403)
	enr := e.mfaOn(t, owner)
	r = e.do(t, "PUT", "/v1/org/security", owner.Access, map[string]any{"mfa_required_for_admins": true})
	expect(t, r, 200)
	if r.Body["mfa_required_for_admins"] != true {
		t.Fatal(r.Raw)
	}
	if me := e.do(t, "GET", "/v1/me", owner.Access, nil); me.Body["org"].(map[string]any)["mfa_required_for_admins"] != true {
		t.Fatalf("me: %s", me.Raw)
	}

	// The admin's session from before: refresh refused.
	if r := e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": admin.Refresh}); r.Status != 403 || r.str("code") != "mfa_enrolment_required" {
		t.Fatalf("refresh of an admin without mfa: %d %s", r.Status, r.Raw)
	}
	// Its login: an enrol-only token, no refresh token.
	r = e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": admin.Email, "password": password})
	expect(t, r, 200)
	limited := r.str("access_token")
	if r.Body["mfa_enrolment_required"] != true || limited == "" || r.str("refresh_token") != "" {
		t.Fatalf("login of an admin without mfa: %s", r.Raw)
	}
	for _, path := range []string{"/v1/leads", "/v1/users", "/v1/api-keys"} {
		if r := e.do(t, "GET", path, limited, nil); r.Status != 403 || r.str("code") != "mfa_enrolment_required" {
			t.Fatalf("GET %s with an enrol-only token: %d %s", path, r.Status, r.Raw)
		}
	}
	expect(t, e.do(t, "GET", "/v1/me", limited, nil), 200)
	adminEnr := e.mfaOn(t, session{Access: limited})
	// Now the admin logs in with a code.
	completeMFA(t, e, e.challenge(t, admin.Email), totpAt(t, adminEnr.secret, time.Now().Add(30*time.Second)), 200)

	// An admin joining by invitation gets an enrol-only token too.
	e.verify(t, owner)
	_, token := e.invite(t, owner, uniqueEmail("new-admin"), "admin")
	r = e.do(t, "POST", "/v1/invitations/accept", "", map[string]string{"token": token, "name": "New admin", "password": password})
	expect(t, r, 201)
	if r.Body["mfa_enrolment_required"] != true || r.str("refresh_token") != "" {
		t.Fatalf("accepting an invitation as admin: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads", r.str("access_token"), nil), 403)

	// An agent is not concerned.
	if s := e.login(t, agent.Email); s.Access == "" || s.Refresh == "" {
		t.Fatal("agent login")
	}
	// The owner may not turn its own off while the org requires it.
	r = e.do(t, "DELETE", "/v1/me/mfa", owner.Access, map[string]string{"code": enr.recovery[0]})
	if r.Status != 409 || r.str("code") != "mfa_required_by_org" {
		t.Fatalf("turning off while required: %d %s", r.Status, r.Raw)
	}
	acts := auditActions(t, e, owner)
	if acts["org.security_set"] != 1 {
		t.Fatalf("audit %v", acts)
	}
	if acts["mfa.confirm"] != 2 {
		t.Fatalf("confirmations audited: %v", acts)
	}
}
