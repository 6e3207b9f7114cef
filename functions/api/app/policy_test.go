package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/policy"
)

// mailBox is a policy.Mailer that keeps what it is given.
type mailBox struct {
	mu   sync.Mutex
	sent []outbound.Email
}

func (m *mailBox) SendEmail(_ context.Context, e outbound.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return "m", nil
}

func TestPolicyVersionsNoticeAndAcknowledgement(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	admin := e.member(t, owner, "admin")

	// Nothing published yet.
	r := e.do(t, "GET", "/v1/policy", "", nil)
	expect(t, r, 200)
	if r.Body["current"] != nil || r.Body["upcoming"] != nil {
		t.Fatalf("policy before any version %s", r.Raw)
	}
	me := e.do(t, "GET", "/v1/me", owner.Access, nil)
	expect(t, me, 200)
	if me.Body["policy_notice"] != nil {
		t.Fatalf("notice before any version %s", me.Raw)
	}

	// One version in force, one published by the operator command's use
	// case for a date three weeks ahead (mail goes to the SES stand-in).
	now := time.Now().UTC()
	if err := e.store.PutPolicyVersion(ctx, policy.Version{ID: "2026-01", Effective: now.AddDate(0, -6, 0).Truncate(24 * time.Hour),
		Summary: "First version.", PublishedAt: now.AddDate(0, -7, 0)}); err != nil {
		t.Fatal(err)
	}
	next := now.AddDate(0, 0, 21).Truncate(24 * time.Hour)
	mails := &mailBox{}
	pub := &policy.Publisher{Store: e.store, Owners: e.store, Mailer: mails, From: "no-reply@leadluence.local"}
	if _, err := pub.Publish(ctx, policy.Version{ID: "2027-01", Effective: next, Summary: "Messages are kept for two years."}); err != nil {
		t.Fatal(err)
	}
	if len(mails.sent) != 1 || mails.sent[0].To != owner.Email || mails.sent[0].From != "no-reply@leadluence.local" {
		t.Fatalf("publish mailed %+v, want the owner only", mails.sent)
	}

	r = e.do(t, "GET", "/v1/policy", "", nil)
	expect(t, r, 200)
	if r.str("current", "version") != "2026-01" || r.str("upcoming", "version") != "2027-01" ||
		r.str("upcoming", "effective") != next.Format("2006-01-02") || r.str("upcoming", "summary") != "Messages are kept for two years." {
		t.Fatalf("policy %s", r.Raw)
	}

	me = e.do(t, "GET", "/v1/me", owner.Access, nil)
	expect(t, me, 200)
	if me.str("policy_notice", "version") != "2027-01" {
		t.Fatalf("owner's notice %s", me.Raw)
	}
	me = e.do(t, "GET", "/v1/me", admin.Access, nil)
	expect(t, me, 200)
	if me.Body["policy_notice"] != nil {
		t.Fatalf("admin sees the owner's notice %s", me.Raw)
	}

	ack := func(s session, version string) response {
		return e.do(t, "POST", "/v1/me/policy-acknowledgement", s.Access, map[string]string{"version": version})
	}
	problemCode(t, ack(admin, "2027-01"), 403, "forbidden")
	expect(t, ack(owner, "2099-01"), 422)
	expect(t, e.do(t, "POST", "/v1/me/policy-acknowledgement", "", map[string]string{"version": "2027-01"}), 401)
	expect(t, ack(owner, "2027-01"), 204)
	expect(t, ack(owner, "2027-01"), 204) // twice is fine

	me = e.do(t, "GET", "/v1/me", owner.Access, nil)
	expect(t, me, 200)
	if me.Body["policy_notice"] != nil {
		t.Fatalf("notice after acknowledgement %s", me.Raw)
	}

	r = e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, r, 200)
	var acked, denied bool
	for _, it := range r.items() {
		d, _ := it["details"].(map[string]any)
		if it["action"] == "policy.acknowledge" && it["actor_id"] == owner.UserID && it["target_id"] == "2027-01" {
			acked = true
		}
		if it["action"] == "permission.denied" && it["actor_id"] == admin.UserID && d["attempted"] == "policy.acknowledge" {
			denied = true
		}
	}
	if !acked || !denied {
		t.Fatalf("audit: acknowledgement %v, admin denial %v", acked, denied)
	}
}
