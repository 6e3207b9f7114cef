package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// platformMail is the SES stand-in's copy of a mail the api sent.
type platformMail struct {
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		Text string `json:"text"`
	} `json:"body"`
}

// mailsTo returns the mails the SES stand-in holds for addr since the env
// was made, waiting a few seconds for at least n.
func (e *testEnv) mailsTo(t *testing.T, addr string, n int) []platformMail {
	t.Helper()
	return sesMails(t, e.started.Unix(), n, func(m platformMail) bool {
		return len(m.Destination.To) == 1 && strings.EqualFold(m.Destination.To[0], addr)
	})
}

// sesMails returns the mails the SES stand-in holds (since a Unix time; 0
// for all of them), decoded as T, that match, waiting a few seconds for at
// least n.
func sesMails[T any](t *testing.T, since int64, n int, match func(T) bool) []T {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("%s/store?since=%d", strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/"), since))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Emails []T `json:"emails"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var out []T
		for _, m := range st.Emails {
			if match(m) {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkToken returns the one-time token of the newest mail to addr whose
// link opens path in the app, failing when there is none.
func (e *testEnv) linkToken(t *testing.T, addr, path string) string {
	t.Helper()
	mails := e.mailsTo(t, addr, 1)
	for i := len(mails) - 1; i >= 0; i-- {
		_, after, ok := strings.Cut(mails[i].Body.Text, path+"#token=")
		if !ok {
			continue
		}
		if end := strings.IndexAny(after, " \n\r\t"); end >= 0 {
			after = after[:end]
		}
		return after
	}
	t.Fatalf("no mail to %s links to %s (%d mails)", addr, path, len(mails))
	return ""
}

// verify follows the verification link mailed to s.
func (e *testEnv) verify(t *testing.T, s session) {
	t.Helper()
	expect(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": e.linkToken(t, s.Email, "/verify-email")}), 204)
}

// addUser has owner add a user with role directly and returns its email
// (no login: the caller needs only the address).
func (e *testEnv) addUser(t *testing.T, owner session, role string) string {
	t.Helper()
	email := uniqueEmail(role)
	expect(t, e.do(t, "POST", "/v1/users", owner.Access, map[string]string{"name": "A " + role, "email": email, "role": role, "password": password}), 201)
	return email
}

// invite has by invite email with role and returns the invitation's id and
// the token of its link.
func (e *testEnv) invite(t *testing.T, by session, email, role string) (id, token string) {
	t.Helper()
	r := e.do(t, "POST", "/v1/invitations", by.Access, map[string]string{"email": email, "role": role})
	expect(t, r, 201)
	return r.str("id"), e.linkToken(t, email, "/invitations/accept")
}

func auditActions(t *testing.T, e *testEnv, s session) map[string]int {
	t.Helper()
	r := e.do(t, "GET", "/v1/audit?limit=100", s.Access, nil)
	expect(t, r, 200)
	out := map[string]int{}
	for _, it := range r.items() {
		a, _ := it["action"].(string)
		out[a]++
	}
	return out
}

func TestEmailVerification(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Verify Co")
	me := e.do(t, "GET", "/v1/me", owner.Access, nil)
	expect(t, me, 200)
	if v, _ := me.Body["user"].(map[string]any)["email_verified"].(bool); v {
		t.Fatal("a new owner is verified")
	}
	mail := e.mailsTo(t, owner.Email, 1)
	if len(mail) != 1 || mail[0].From != e.cfg.EmailFrom || !strings.Contains(mail[0].Body.Text, e.accountCfg.AppBaseURL+"/verify-email#token=") {
		t.Fatalf("verification mail %+v", mail)
	}
	// Unverified: no invitations.
	r := e.do(t, "POST", "/v1/invitations", owner.Access, map[string]string{"email": uniqueEmail("inv"), "role": "agent"})
	problemCode(t, r, 403, "email_unverified")

	token := e.linkToken(t, owner.Email, "/verify-email")
	expect(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token}), 204)
	// Once only.
	problemCode(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token}), 400, "invalid_token")
	problemCode(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": "not-a-token"}), 400, "invalid_token")
	me = e.do(t, "GET", "/v1/me", owner.Access, nil)
	if v, _ := me.Body["user"].(map[string]any)["email_verified"].(bool); !v {
		t.Fatalf("after the link: %s", me.Raw)
	}
	problemCode(t, e.do(t, "POST", "/v1/auth/verify-email/resend", owner.Access, nil), 409, "already_verified")

	// A user an owner creates gets a link too; resending mails a new one,
	// at most 5 an hour.
	agent := e.member(t, owner, "agent")
	if n := len(e.mailsTo(t, agent.Email, 1)); n != 1 {
		t.Fatalf("%d mails to a created user", n)
	}
	first := e.linkToken(t, agent.Email, "/verify-email")
	expect(t, e.do(t, "POST", "/v1/auth/verify-email/resend", agent.Access, nil), 202)
	if n := len(e.mailsTo(t, agent.Email, 2)); n != 2 {
		t.Fatalf("%d mails after a resend", n)
	}
	second := e.linkToken(t, agent.Email, "/verify-email")
	if first == second {
		t.Fatal("resend mailed the same token")
	}
	for range 4 {
		expect(t, e.do(t, "POST", "/v1/auth/verify-email/resend", agent.Access, nil), 202)
	}
	expect(t, e.do(t, "POST", "/v1/auth/verify-email/resend", agent.Access, nil), 429)
	// Either link works, once.
	expect(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": first}), 204)
	acts := auditActions(t, e, owner)
	if acts["auth.email_verified"] != 2 || acts["auth.email_verification_sent"] < 3 {
		t.Fatalf("audit %v", acts)
	}
}

func TestInvitations(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Invite Co")
	e.verify(t, owner)
	admin := e.member(t, owner, "admin")
	e.verify(t, admin)
	manager := e.member(t, owner, "manager")

	t.Run("who may invite whom", func(t *testing.T) {
		inv := func(s session, role string) response {
			return e.do(t, "POST", "/v1/invitations", s.Access, map[string]string{"email": uniqueEmail("who"), "role": role})
		}
		expect(t, inv(owner, "owner"), 201)
		expect(t, inv(owner, "admin"), 201)
		expect(t, inv(admin, "agent"), 201)
		expect(t, inv(admin, "owner"), 403)
		expect(t, inv(admin, "admin"), 403)
		expect(t, inv(manager, "agent"), 403)
		expect(t, inv(owner, "root"), 422)
		problemCode(t, e.do(t, "POST", "/v1/invitations", owner.Access, map[string]string{"email": manager.Email, "role": "agent"}), 409, "already_member")
		other := e.signup(t, "Other Co")
		problemCode(t, e.do(t, "POST", "/v1/invitations", admin.Access, map[string]string{"email": strings.ToUpper(other.Email), "role": "agent"}), 409, "email_taken")
		expect(t, e.do(t, "GET", "/v1/invitations", manager.Access, nil), 403)
	})

	t.Run("accept", func(t *testing.T) {
		email := uniqueEmail("invitee")
		id, token := e.invite(t, admin, email, "manager")
		mail := e.mailsTo(t, email, 1)[0]
		if mail.From != e.cfg.EmailFrom || !strings.Contains(mail.Subject, "Invite Co") || !strings.Contains(mail.Body.Text, "as manager") {
			t.Fatalf("invitation mail %+v", mail)
		}
		list := e.do(t, "GET", "/v1/invitations", admin.Access, nil)
		expect(t, list, 200)
		if len(list.items()) == 0 || list.items()[0]["id"] != id || list.items()[0]["status"] != "pending" || list.items()[0]["email"] != email {
			t.Fatalf("list %s", list.Raw)
		}
		if strings.Contains(list.Raw, token) {
			t.Fatal("the list shows the token")
		}
		body := map[string]string{"token": token, "name": "Invited Person", "password": password}
		// Accepted twice at once: one user, the other is refused.
		var wg sync.WaitGroup
		results := make([]response, 2)
		for i := range results {
			wg.Go(func() { results[i] = e.do(t, "POST", "/v1/invitations/accept", "", body) })
		}
		wg.Wait()
		var won response
		created := 0
		for _, r := range results {
			switch r.Status {
			case 201:
				created++
				won = r
			case 400:
			default:
				t.Fatalf("accept: %d %s", r.Status, r.Raw)
			}
		}
		if created != 1 {
			t.Fatalf("%d acceptances succeeded, want 1", created)
		}
		if won.str("org", "id") != owner.OrgID || won.str("user", "email") != email || won.str("user", "role") != "manager" ||
			won.Body["user"].(map[string]any)["email_verified"] != true || won.str("access_token") == "" {
			t.Fatalf("accepted %s", won.Raw)
		}
		problemCode(t, e.do(t, "POST", "/v1/invitations/accept", "", body), 400, "invalid_token")
		// The new user is a member: it logs in, sees the org's users.
		member := e.login(t, email)
		expect(t, e.do(t, "GET", "/v1/users", member.Access, nil), 200)
		list = e.do(t, "GET", "/v1/invitations", owner.Access, nil)
		if list.items()[0]["status"] != "accepted" || list.items()[0]["accepted_by"] != member.UserID {
			t.Fatalf("after acceptance %s", list.Raw)
		}
		expect(t, e.do(t, "DELETE", "/v1/invitations/"+id, owner.Access, nil), 409)
	})

	t.Run("revoke", func(t *testing.T) {
		email := uniqueEmail("revoked")
		id, token := e.invite(t, owner, email, "admin")
		expect(t, e.do(t, "DELETE", "/v1/invitations/"+id, manager.Access, nil), 403)
		expect(t, e.do(t, "DELETE", "/v1/invitations/"+id, admin.Access, nil), 403)
		expect(t, e.do(t, "DELETE", "/v1/invitations/"+id, owner.Access, nil), 204)
		problemCode(t, e.do(t, "DELETE", "/v1/invitations/"+id, owner.Access, nil), 409, "invitation_closed")
		expect(t, e.do(t, "DELETE", "/v1/invitations/01JNOSUCHINVITE00000000000", owner.Access, nil), 404)
		problemCode(t, e.do(t, "POST", "/v1/invitations/accept", "", map[string]string{"token": token, "name": "Too late", "password": password}), 400, "invalid_token")
		expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}), 401)
	})

	t.Run("audited", func(t *testing.T) {
		acts := auditActions(t, e, owner)
		if acts["invitation.create"] < 5 || acts["invitation.accept"] != 1 || acts["invitation.revoke"] != 1 {
			t.Fatalf("audit %v", acts)
		}
	})
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Reset Co")
	agent := e.member(t, owner, "agent")
	other := e.login(t, agent.Email) // a second session

	// Unknown and known emails are answered alike.
	unknown := uniqueEmail("nobody")
	for _, email := range []string{unknown, agent.Email} {
		r := e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email})
		expect(t, r, 202)
		if r.Raw != "" {
			t.Fatalf("answer body %q", r.Raw)
		}
	}
	if n := len(e.mailsTo(t, unknown, 0)); n != 0 {
		t.Fatalf("%d mails to an unknown address", n)
	}
	token := e.linkToken(t, agent.Email, "/password-reset")
	mail := e.mailsTo(t, agent.Email, 2)
	if last := mail[len(mail)-1]; last.From != e.cfg.EmailFrom || !strings.Contains(last.Body.Text, e.accountCfg.AppBaseURL+"/password-reset#token=") {
		t.Fatalf("reset mail %+v", last)
	}

	expect(t, e.do(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "password": "short"}), 422)
	newPassword := "a-brand-new-password"
	expect(t, e.do(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "password": newPassword}), 204)
	problemCode(t, e.do(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "password": newPassword}), 400, "invalid_token")

	// Every session is gone: refresh tokens and access tokens.
	for _, s := range []session{agent, other} {
		expect(t, e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s.Refresh}), 401)
		expect(t, e.do(t, "GET", "/v1/me", s.Access, nil), 401)
	}
	expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": agent.Email, "password": password}), 401)
	r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": agent.Email, "password": newPassword})
	expect(t, r, 200)
	expect(t, e.do(t, "GET", "/v1/me", r.str("access_token"), nil), 200)
	// The reset mail reached the address: it is verified.
	if r.Body["user"].(map[string]any)["email_verified"] != true {
		t.Fatalf("after a reset: %s", r.Raw)
	}

	// At most 3 links an hour per email; more are answered alike, unmailed.
	before := len(e.mailsTo(t, owner.Email, 1))
	for range 5 {
		expect(t, e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": owner.Email}), 202)
	}
	if n := len(e.mailsTo(t, owner.Email, before+3)); n != before+3 {
		t.Fatalf("%d mails after 5 requests, want %d", n, before+3)
	}
	acts := auditActions(t, e, owner)
	if acts["auth.password_reset"] != 1 || acts["auth.password_reset_request"] != 4 {
		t.Fatalf("audit %v", acts)
	}
	// At most 20 requests an hour from one client address.
	const ip = "192.0.2.44"
	for range 20 {
		expect(t, e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": uniqueEmail("flood")}, clientIPHeader, ip), 202)
	}
	expect(t, e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": uniqueEmail("flood")}, clientIPHeader, ip), 429)
}
