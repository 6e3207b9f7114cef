package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/tools/devstack"
)

// verifyLink follows the local stand-in of the link SES mails to addr.
func verifyLink(t *testing.T, addr string) {
	t.Helper()
	if err := devstack.VerifyEmailIdentity(context.Background(), os.Getenv("AWS_ENDPOINT_URL_SESV2"), addr); err != nil {
		t.Fatal(err)
	}
}

// senderAddr is an address no other test uses.
func senderAddr(name string) string {
	return fmt.Sprintf("%s.%d.%d@acme.test", name, time.Now().UnixNano(), emailSeq.Add(1))
}

// sentEmail sends an email to the lead and returns its stored payload and
// the message's number (the From address).
func (e *msgEnv) sentEmail(t *testing.T, s session, leadID string) (map[string]string, string) {
	t.Helper()
	r := e.send(t, s, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Visit", "text": "See you at 11."})
	expect(t, r, 202)
	m, err := e.store.GetMessage(context.Background(), s.OrgID, leadID, r.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]string
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		t.Fatal(err)
	}
	return p, m.Number
}

// noSenderYet checks that an email to the lead is refused while the org
// has no verified sender address, and that the refusal says how to set one.
func (e *msgEnv) noSenderYet(t *testing.T, s session, leadID string) {
	t.Helper()
	r := e.send(t, s, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Visit", "text": "See you at 11."})
	problemCode(t, r, 409, "no_verified_sender")
	if !strings.Contains(r.str("detail"), "PUT /v1/email/sender") {
		t.Fatalf("no_verified_sender does not say how to set one: %s", r.Raw)
	}
}

// verifiedSender gives the org of s a sender address verified in the SES
// stand-in and returns it: emails to leads go only from such an address.
func (e *msgEnv) verifiedSender(t *testing.T, s session) string {
	t.Helper()
	addr := senderAddr("team")
	expect(t, e.do(t, "PUT", "/v1/email/sender", s.Access, map[string]string{"email": addr}), 200)
	verifyLink(t, addr)
	// Last checked two minutes ago: the next send asks SES again.
	if ok, err := e.store.ClaimEmailSenderCheck(context.Background(), s.OrgID, addr, time.Now().Add(time.Hour), time.Now().Add(-2*time.Minute)); err != nil || !ok {
		t.Fatalf("back-date the sender check: %v %v", ok, err)
	}
	return addr
}

func TestEmailSender(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	leadID := e.createLead(t, owner, map[string]any{"name": "Bina", "email": "bina@example.com"}).str("id")
	addr := senderAddr("sales")

	t.Run("none set: no email to leads from the platform address", func(t *testing.T) {
		problemCode(t, e.do(t, "GET", "/v1/email/sender", viewer.Access, nil), 404, "not_found")
		e.noSenderYet(t, owner, leadID)
	})

	t.Run("roles and checks", func(t *testing.T) {
		for _, s := range []session{manager, agent, viewer} {
			problemCode(t, e.do(t, "PUT", "/v1/email/sender", s.Access, map[string]string{"email": addr}), 403, "forbidden")
			problemCode(t, e.do(t, "DELETE", "/v1/email/sender", s.Access, nil), 403, "forbidden")
		}
		for _, bad := range []string{"Sales <" + addr + ">", "not-an-address", "ops@leadluence.local", "x@LEADLUENCE.local"} {
			expect(t, e.do(t, "PUT", "/v1/email/sender", owner.Access, map[string]string{"email": bad}), 422)
		}
		// The display name is the organisation's name, not free text.
		expect(t, e.do(t, "PUT", "/v1/email/sender", owner.Access, map[string]string{"email": addr, "name": "Your Bank"}), 422)
		problemCode(t, e.do(t, "DELETE", "/v1/email/sender", owner.Access, nil), 404, "not_found")
	})

	t.Run("pending: still refused", func(t *testing.T) {
		r := e.do(t, "PUT", "/v1/email/sender", admin.Access, map[string]string{"email": strings.ToUpper(addr[:5]) + addr[5:]})
		expect(t, r, 200)
		if r.str("email") != addr || r.str("status") != "pending" || r.str("checked_at") == "" || strings.Contains(r.Raw, `"name"`) {
			t.Fatalf("put %s", r.Raw)
		}
		r = e.do(t, "GET", "/v1/email/sender", agent.Access, nil)
		expect(t, r, 200)
		if r.str("email") != addr || r.str("status") != "pending" {
			t.Fatalf("get %s", r.Raw)
		}
		e.noSenderYet(t, owner, leadID)
		// Setting it again at once would mail another link: not yet.
		r = e.do(t, "PUT", "/v1/email/sender", admin.Access, map[string]string{"email": addr})
		problemCode(t, r, 429, "too_many_requests")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	})

	t.Run("verified after the link, checked at most once a minute", func(t *testing.T) {
		verifyLink(t, addr)
		// Checked moments ago: SES is not asked again yet.
		r := e.do(t, "GET", "/v1/email/sender", owner.Access, nil)
		if r.str("status") != "pending" {
			t.Fatalf("get right after the link %s", r.Raw)
		}
		e.noSenderYet(t, owner, leadID)
		// A minute on, the next request asks SES.
		snd, err := e.store.GetEmailSender(ctx, owner.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		old := snd.CheckedAt
		snd.CheckedAt = snd.CheckedAt.Add(-2 * time.Minute)
		if err := e.store.PutEmailSender(ctx, snd, snd.Email); err != nil {
			t.Fatal(err)
		}
		r = e.do(t, "GET", "/v1/email/sender", viewer.Access, nil)
		expect(t, r, 200)
		checked, _ := time.Parse(time.RFC3339, r.str("checked_at"))
		if r.str("status") != "verified" || checked.Before(old.Truncate(time.Second)) {
			t.Fatalf("get after a minute %s", r.Raw)
		}
		p, number := e.sentEmail(t, owner, leadID)
		if p["from"] != `"Sharma Realty" <`+addr+`>` || p["reply_to"] != "" || number != addr {
			t.Fatalf("payload once verified %v, number %s", p, number)
		}
	})

	t.Run("sending re-checks a pending address too", func(t *testing.T) {
		other := e.signup(t, "Iyer Homes")
		lead2 := e.createLead(t, other, map[string]any{"name": "Devi", "email": "devi@example.com"}).str("id")
		addr2 := senderAddr("hello")
		r := e.do(t, "PUT", "/v1/email/sender", other.Access, map[string]string{"email": addr2})
		expect(t, r, 200)
		verifyLink(t, addr2)
		snd, err := e.store.GetEmailSender(ctx, other.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		snd.CheckedAt = time.Now().Add(-time.Hour)
		if err := e.store.PutEmailSender(ctx, snd, snd.Email); err != nil {
			t.Fatal(err)
		}
		p, _ := e.sentEmail(t, other, lead2)
		if p["from"] != `"Iyer Homes" <`+addr2+`>` || p["reply_to"] != "" {
			t.Fatalf("payload %v", p)
		}
		if got, _ := e.store.GetEmailSender(ctx, other.OrgID); got.Status != account.SenderVerified {
			t.Fatalf("stored status %s", got.Status)
		}

		// One org per address: the first org's address is taken.
		problemCode(t, e.do(t, "PUT", "/v1/email/sender", other.Access, map[string]string{"email": addr}), 409, "sender_taken")
	})

	t.Run("an address verified before is not verified for a new claim", func(t *testing.T) {
		third := e.signup(t, "Rao Estates")
		addr3 := senderAddr("desk")
		verifyLink(t, addr3)
		r := e.do(t, "PUT", "/v1/email/sender", third.Access, map[string]string{"email": addr3})
		expect(t, r, 200)
		if r.str("status") != "pending" {
			t.Fatalf("put %s: want pending, a fresh link for this org", r.Raw)
		}
	})

	t.Run("a pending claim can be taken over; the link verifies the new one only", func(t *testing.T) {
		squatter, real := e.signup(t, "Squat Co"), e.signup(t, "Real Co")
		addr5 := senderAddr("owner")
		expect(t, e.do(t, "PUT", "/v1/email/sender", squatter.Access, map[string]string{"email": addr5}), 200)
		r := e.do(t, "PUT", "/v1/email/sender", real.Access, map[string]string{"email": addr5})
		expect(t, r, 200)
		if r.str("status") != "pending" {
			t.Fatalf("take over %s", r.Raw)
		}
		verifyLink(t, addr5)
		status := func(s session) string {
			t.Helper()
			snd, err := e.store.GetEmailSender(ctx, s.OrgID)
			if err != nil {
				t.Fatal(err)
			}
			// Last checked two minutes ago (only checked_at is written).
			if ok, err := e.store.ClaimEmailSenderCheck(ctx, s.OrgID, snd.Email, time.Now().Add(time.Hour), time.Now().Add(-2*time.Minute)); err != nil || !ok {
				t.Fatalf("back-date the check: %v %v", ok, err)
			}
			r := e.do(t, "GET", "/v1/email/sender", s.Access, nil)
			expect(t, r, 200)
			return r.str("status")
		}
		if got := status(real); got != "verified" {
			t.Fatalf("the org that asked last: %s, want verified", got)
		}
		if got := status(squatter); got != "superseded" {
			t.Fatalf("the org whose claim was taken over: %s, want superseded", got)
		}
		problemCode(t, e.do(t, "PUT", "/v1/email/sender", squatter.Access, map[string]string{"email": addr5}), 409, "sender_taken")
	})

	t.Run("delete: no email to leads until another address is verified", func(t *testing.T) {
		expect(t, e.do(t, "DELETE", "/v1/email/sender", owner.Access, nil), 204)
		problemCode(t, e.do(t, "GET", "/v1/email/sender", owner.Access, nil), 404, "not_found")
		e.noSenderYet(t, owner, leadID)
		// The address is free again, and removed from SES: another org must
		// have its own link followed.
		fourth := e.signup(t, "Nair Realty")
		r := e.do(t, "PUT", "/v1/email/sender", fourth.Access, map[string]string{"email": addr})
		expect(t, r, 200)
		if r.str("status") != "pending" {
			t.Fatalf("put %s", r.Raw)
		}
	})

	t.Run("audit", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
		expect(t, r, 200)
		actions := map[string]int{}
		denied := map[string]int{}
		for _, it := range r.items() {
			actions[it["action"].(string)]++
			if d, _ := it["details"].(map[string]any); it["action"] == "permission.denied" {
				denied[fmt.Sprint(d["attempted"])]++
			}
		}
		if actions["email_sender.set"] != 1 || actions["email_sender.delete"] != 1 || denied["email_sender.set"] != 3 || denied["email_sender.delete"] != 3 {
			t.Fatalf("audit actions %v, denied %v", actions, denied)
		}
		if strings.Contains(r.Raw, addr) {
			t.Fatal("the audit trail holds the sender address")
		}
		if strings.Contains(e.logs.String(), addr) {
			t.Fatal("the function logs hold the sender address")
		}
	})
}

// TestEmailRateLimit: each org may queue LEADLUENCE_EMAILS_PER_MINUTE
// emails a minute, counted in the table so that every api instance shares
// the count; over it the api answers 429 email_rate_limited with
// Retry-After, and other orgs are not affected.
func TestEmailRateLimit(t *testing.T) {
	t.Setenv("LEADLUENCE_EMAILS_PER_MINUTE", "3")
	e := newMsgEnv(t)
	owner, other := e.signup(t, "Busy Realty"), e.signup(t, "Quiet Homes")
	e.verifiedSender(t, owner)
	e.verifiedSender(t, other)
	lead := e.createLead(t, owner, map[string]any{"name": "Bina", "email": "bina@example.com"}).str("id")
	lead2 := e.createLead(t, other, map[string]any{"name": "Devi", "email": "devi@example.com"}).str("id")
	mail := func(s session, leadID, clientID string) response {
		return e.send(t, s, leadID, map[string]any{"channel": "email", "client_message_id": clientID, "subject": "Visit", "text": "See you at 11."})
	}
	// Stay inside one minute, so that the count is not reset midway.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 10*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	first := cid()
	expect(t, mail(owner, lead, first), 202)
	expect(t, mail(owner, lead, cid()), 202)
	expect(t, mail(owner, lead, cid()), 202)
	r := mail(owner, lead, cid())
	problemCode(t, r, 429, "email_rate_limited")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("429 answered %s", ct)
	}
	// A retry of an accepted email is not a new send.
	expect(t, mail(owner, lead, first), 200)
	// Another org has its own count.
	expect(t, mail(other, lead2, cid()), 202)
}

// senderStatus reads the org's sender status through the API after
// back-dating its last check, so that SES is asked again.
func (e *msgEnv) senderStatus(t *testing.T, s session) string {
	t.Helper()
	snd, err := e.store.GetEmailSender(context.Background(), s.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ClaimEmailSenderCheck(context.Background(), s.OrgID, snd.Email, time.Now().Add(time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatalf("back-date the check: %v", err)
	}
	r := e.do(t, "GET", "/v1/email/sender", s.Access, nil)
	expect(t, r, 200)
	return r.str("status")
}

// TestEmailSenderSuperseded: one claim per address. A newer claim by another
// org supersedes a pending one; the earlier org sees its address
// superseded, may set another address (no 500) or release it, and neither
// removes the SES identity the newer claim waits on.
func TestEmailSenderSuperseded(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	first, second := e.signup(t, "Early Realty"), e.signup(t, "Later Homes")
	addr, other := senderAddr("front"), senderAddr("desk")
	// The first org claimed addr over a minute ago (so that it may set an
	// address again now).
	if err := e.store.PutEmailSender(ctx, account.EmailSender{OrgID: first.OrgID, Email: addr, Status: account.SenderPending,
		CheckedAt: time.Now(), SetBy: first.UserID, SetAt: time.Now().Add(-2 * time.Minute)}, ""); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "PUT", "/v1/email/sender", second.Access, map[string]string{"email": addr})
	expect(t, r, 200)
	if r.str("status") != "pending" {
		t.Fatalf("take over %s", r.Raw)
	}
	if got := e.senderStatus(t, first); got != "superseded" {
		t.Fatalf("the earlier org's address: %s, want superseded", got)
	}
	// The earlier org moves to another address: its old claim is the
	// other org's now, and SES keeps that org's identity.
	r = e.do(t, "PUT", "/v1/email/sender", first.Access, map[string]string{"email": other})
	expect(t, r, 200)
	if r.str("email") != other || r.str("status") != "pending" {
		t.Fatalf("set another address %s", r.Raw)
	}
	if got := e.senderStatus(t, second); got != "pending" {
		t.Fatalf("the newer claim after the earlier org moved on: %s, want pending (its SES identity kept)", got)
	}
	verifyLink(t, addr)
	if got := e.senderStatus(t, second); got != "verified" {
		t.Fatalf("the newer claim after the link: %s, want verified", got)
	}
	// A verified address cannot be taken over.
	if ok, err := e.store.ClaimEmailSenderCheck(ctx, first.OrgID, other, time.Now().Add(time.Hour), time.Now().Add(-2*time.Minute)); err != nil || !ok {
		t.Fatalf("back-date: %v %v", ok, err)
	}
	snd, _ := e.store.GetEmailSender(ctx, first.OrgID)
	snd.SetAt = time.Now().Add(-2 * time.Minute)
	if err := e.store.PutEmailSender(ctx, snd, snd.Email); err != nil {
		t.Fatal(err)
	}
	problemCode(t, e.do(t, "PUT", "/v1/email/sender", first.Access, map[string]string{"email": addr}), 409, "sender_taken")
}

// TestEmailSenderReleaseKeepsOthersIdentity: an org releasing an address
// whose claim another org took over removes only its own sender; the SES
// identity stays for the other org's claim.
func TestEmailSenderReleaseKeepsOthersIdentity(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	first, second := e.signup(t, "Early Realty"), e.signup(t, "Later Homes")
	addr := senderAddr("front")
	if err := e.store.PutEmailSender(ctx, account.EmailSender{OrgID: first.OrgID, Email: addr, Status: account.SenderPending,
		CheckedAt: time.Now(), SetBy: first.UserID, SetAt: time.Now().Add(-2 * time.Minute)}, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(t, "PUT", "/v1/email/sender", second.Access, map[string]string{"email": addr}), 200)
	expect(t, e.do(t, "DELETE", "/v1/email/sender", first.Access, nil), 204)
	if got := e.senderStatus(t, second); got != "pending" {
		t.Fatalf("the other org's claim after the release: %s, want pending (its SES identity kept)", got)
	}
}

// TestEmailSenderConcurrentClaims: two orgs claim the same address at the
// same moment. No request fails with a server error; exactly one org holds
// the claim (pending, then verified by the link) and the other sees its
// address superseded and cannot email from it.
func TestEmailSenderConcurrentClaims(t *testing.T) {
	e := newMsgEnv(t)
	for round := range 4 {
		a, b := e.signup(t, fmt.Sprintf("Alpha %d", round)), e.signup(t, fmt.Sprintf("Beta %d", round))
		addr := senderAddr("shared")
		codes := make([]int, 2)
		done := make(chan struct{})
		for i, s := range []session{a, b} {
			go func() {
				defer func() { done <- struct{}{} }()
				codes[i] = e.do(t, "PUT", "/v1/email/sender", s.Access, map[string]string{"email": addr}).Status
			}()
		}
		<-done
		<-done
		for i, c := range codes {
			if c != 200 && c != 409 {
				t.Fatalf("round %d: org %d's claim answered %d, want 200 or 409", round, i, c)
			}
		}
		holder, _, err := e.store.EmailSenderOwner(context.Background(), addr)
		if err != nil || (holder != a.OrgID && holder != b.OrgID) {
			t.Fatalf("round %d: claim held by %q: %v", round, holder, err)
		}
		verifyLink(t, addr)
		for i, s := range []session{a, b} {
			if _, err := e.store.GetEmailSender(context.Background(), s.OrgID); errors.Is(err, account.ErrNotFound) {
				continue // its claim was refused (409)
			}
			got, want := e.senderStatus(t, s), "superseded"
			if s.OrgID == holder {
				want = "verified"
			}
			if got != want || codes[i] != 200 {
				t.Fatalf("round %d: org %d (holder %v): status %s after %d, want %s", round, i, s.OrgID == holder, got, codes[i], want)
			}
		}
	}
}

// TestVerificationEmailNamesTheOrg: setting a sender address has SES mail
// the address a custom verification email, from the platform address,
// whose subject and text name the organisation that asks (escaped), and
// its link verifies the claim.
func TestVerificationEmailNamesTheOrg(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Mehta & <Sons> Realty")
	addr := senderAddr("office")
	expect(t, e.do(t, "PUT", "/v1/email/sender", owner.Access, map[string]string{"email": addr}), 200)
	got := sesMails(t, 0, 1, func(m verificationCopy) bool { return slices.Contains(m.Destination.To, addr) })
	if len(got) == 0 {
		t.Fatal("no verification email reached the address")
	}
	m := got[0]
	if len(got) != 1 || m.From != e.cfg.EmailFrom || !strings.Contains(m.Subject, "Mehta & <Sons> Realty") ||
		!strings.Contains(m.Body.HTML, "Leadluence organisation <strong>Mehta &amp; &lt;Sons&gt; Realty</strong>") ||
		!strings.Contains(m.Body.HTML, devstack.VerifyPathPrefix) {
		t.Fatalf("verification emails %+v", got)
	}
	verifyLink(t, addr)
	if st := e.senderStatus(t, owner); st != "verified" {
		t.Fatalf("after the link: %s", st)
	}
}

// verificationCopy is the SES stand-in's copy of a verification email.
type verificationCopy struct {
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		HTML string `json:"html"`
	} `json:"body"`
}
