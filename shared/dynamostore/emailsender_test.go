package dynamostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
)

func TestEmailSenderClaims(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	snd := func(org, addr string, st account.SenderStatus) account.EmailSender {
		return account.EmailSender{OrgID: org, Email: addr, Status: st, CheckedAt: now, SetBy: "u1", SetAt: now}
	}
	// GIVEN two admins of one org setting two addresses at once, both having
	// read that the org had none
	if err := s.PutEmailSender(ctx, snd("o1", "x@acme.test", account.SenderPending), ""); err != nil {
		t.Fatal(err)
	}
	// THEN the second write is refused, and claims nothing
	if err := s.PutEmailSender(ctx, snd("o1", "y@acme.test", account.SenderPending), ""); !errors.Is(err, account.ErrConflict) {
		t.Fatalf("second concurrent set = %v, want ErrConflict", err)
	}
	if owner, _, err := s.EmailSenderOwner(ctx, "y@acme.test"); err != nil || owner != "" {
		t.Fatalf("the refused address is claimed by %q (%v)", owner, err)
	}
	// A pending claim can be taken over by another org ...
	if err := s.PutEmailSender(ctx, snd("o2", "x@acme.test", account.SenderPending), ""); err != nil {
		t.Fatalf("take over a pending claim: %v", err)
	}
	// ... and once that org's claim is verified, the first org cannot
	// become verified with it, nor claim it again.
	if err := s.SetEmailSenderStatus(ctx, "o2", "x@acme.test", account.SenderVerified); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmailSenderStatus(ctx, "o1", "x@acme.test", account.SenderVerified); !errors.Is(err, account.ErrSenderTaken) {
		t.Fatalf("verifying a claim taken over = %v, want ErrSenderTaken", err)
	}
	if got, err := s.GetEmailSender(ctx, "o1"); err != nil || got.Status != account.SenderSuperseded {
		t.Fatalf("first org's address %+v (%v), want superseded", got, err)
	}
	if err := s.PutEmailSender(ctx, snd("o1", "x@acme.test", account.SenderPending), "x@acme.test"); !errors.Is(err, account.ErrSenderTaken) {
		t.Fatalf("claiming a verified address of another org = %v, want ErrSenderTaken", err)
	}
	// The first org can still forget the address; the other org keeps its claim.
	if err := s.DeleteEmailSender(ctx, "o1", "x@acme.test"); err != nil {
		t.Fatalf("forget an address whose claim was taken over: %v", err)
	}
	if _, err := s.GetEmailSender(ctx, "o1"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if owner, verified, err := s.EmailSenderOwner(ctx, "x@acme.test"); err != nil || owner != "o2" || !verified {
		t.Fatalf("claim after the other org's delete: %q %v %v", owner, verified, err)
	}
}
