package account_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
)

// senderStore keeps claims in memory: one org per address.
type senderStore struct {
	senders map[string]account.EmailSender // by org
	owners  map[string]string              // address to org
}

func (m *senderStore) GetEmailSender(_ context.Context, orgID string) (account.EmailSender, error) {
	snd, ok := m.senders[orgID]
	if !ok {
		return account.EmailSender{}, account.ErrNotFound
	}
	return snd, nil
}

func (m *senderStore) EmailSenderOwner(_ context.Context, email string) (string, bool, error) {
	org := m.owners[email]
	return org, org != "" && m.senders[org].Status == account.SenderVerified, nil
}

func (m *senderStore) PutEmailSender(_ context.Context, snd account.EmailSender, previous string) error {
	if m.senders[snd.OrgID].Email != previous {
		return account.ErrConflict
	}
	if org := m.owners[snd.Email]; org != "" && org != snd.OrgID {
		delete(m.senders, org)
	}
	delete(m.owners, previous)
	m.senders[snd.OrgID], m.owners[snd.Email] = snd, snd.OrgID
	return nil
}

func (m *senderStore) DeleteEmailSender(_ context.Context, orgID, email string) error {
	if m.senders[orgID].Email != email {
		return account.ErrConflict
	}
	delete(m.senders, orgID)
	delete(m.owners, email)
	return nil
}

func (m *senderStore) ClaimEmailSenderCheck(context.Context, string, string, time.Time, time.Time) (bool, error) {
	return true, nil
}

func (m *senderStore) SetEmailSenderStatus(_ context.Context, orgID, _ string, st account.SenderStatus) error {
	snd := m.senders[orgID]
	snd.Status = st
	m.senders[orgID] = snd
	return nil
}

// identities answers like the email service; err fails every call.
type identities struct {
	status  map[string]account.SenderStatus
	err     error
	deleted []string
}

func (f *identities) RequestVerification(_ context.Context, addr, _ string) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	f.status[addr] = account.SenderPending
	return false, nil
}

func (f *identities) IdentityStatus(_ context.Context, addr string) (account.SenderStatus, error) {
	if f.err != nil {
		return "", f.err
	}
	return f.status[addr], nil
}

func (f *identities) DeleteIdentity(_ context.Context, addr string) error {
	if f.err != nil {
		return f.err
	}
	f.deleted = append(f.deleted, addr)
	delete(f.status, addr)
	return nil
}

// orgs answers every org with a name.
type orgs struct{}

func (orgs) GetOrg(_ context.Context, id string) (account.Org, error) {
	return account.Org{ID: id, Name: "Org " + id}, nil
}

type records []audit.Record

func (r *records) Record(_ context.Context, rec audit.Record) { *r = append(*r, rec) }

func TestSenderService(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	store := &senderStore{senders: map[string]account.EmailSender{}, owners: map[string]string{}}
	ids := &identities{status: map[string]account.SenderStatus{}}
	trail := &records{}
	var logs bytes.Buffer
	svc := &account.SenderService{Store: store, Identities: ids, Orgs: orgs{}, PlatformFrom: "no-reply@leadluence.test", Audit: trail,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), Describe: func(error) string { return "described" },
		Now: func() time.Time { return now }}
	owner := account.User{ID: "u1", OrgID: "o1", Role: account.RoleOwner}
	other := account.User{ID: "u2", OrgID: "o2", Role: account.RoleAdmin}
	org := account.Org{ID: "o1", Name: "Sharma Realty"}

	var denied *account.DeniedError
	if from, err := svc.From(ctx, org); !errors.Is(err, account.ErrNoVerifiedSender) {
		t.Fatalf("from with no address set: %v, %v; want ErrNoVerifiedSender", from, err)
	}
	if _, err := svc.Set(ctx, account.User{OrgID: "o1", Role: account.RoleManager}, "sales@acme.test"); !errors.As(err, &denied) ||
		denied.Action != account.ActionSenderSet {
		t.Fatalf("manager sets: %v, want a denial", err)
	}
	var fe *account.FieldError
	for _, bad := range []string{"Sales <sales@acme.test>", "sales@mail.leadluence.test"} {
		if _, err := svc.Set(ctx, owner, bad); !errors.As(err, &fe) || fe.Field != "email" {
			t.Fatalf("set %q: %v, want a field error on email", bad, err)
		}
	}

	snd, err := svc.Set(ctx, owner, " Sales@Acme.test ")
	if err != nil || snd.Email != "sales@acme.test" || snd.Status != account.SenderPending {
		t.Fatalf("set: %+v, %v", snd, err)
	}
	if len(*trail) != 1 || (*trail)[0].Action != account.ActionSenderSet || (*trail)[0].Details["status"] != "pending" {
		t.Fatalf("trail %+v", *trail)
	}
	var soon *account.TooSoonError
	if _, err := svc.Set(ctx, owner, "info@acme.test"); !errors.As(err, &soon) || soon.Wait != time.Minute {
		t.Fatalf("set again at once: %v, want to wait a minute", err)
	}
	if from, err := svc.From(ctx, org); !errors.Is(err, account.ErrNoVerifiedSender) {
		t.Fatalf("from while pending: %v, %v; want ErrNoVerifiedSender", from, err)
	}

	// Verified a minute later: the next read checks and emails go from it.
	now = now.Add(time.Minute)
	ids.status["sales@acme.test"] = account.SenderVerified
	if from, err := svc.From(ctx, org); err != nil || from.String() != `"Sharma Realty" <sales@acme.test>` {
		t.Fatalf("from once verified: %v, %v", from, err)
	}
	if _, err := svc.Set(ctx, other, "sales@acme.test"); !errors.Is(err, account.ErrSenderTaken) {
		t.Fatalf("another org takes a verified address: %v, want ErrSenderTaken", err)
	}

	// The email service down: an error to report, logged without the
	// address.
	ids.err = errors.New("lookup failed for sales@acme.test")
	if _, err := svc.Set(ctx, other, "help@other.test"); !errors.Is(err, account.ErrEmailService) {
		t.Fatalf("service down: %v, want ErrEmailService", err)
	}
	if strings.Contains(logs.String(), "@") || !strings.Contains(logs.String(), "described") {
		t.Fatalf("logs %q", logs.String())
	}
	ids.err = nil

	if err := svc.Release(ctx, account.User{OrgID: "o1", Role: account.RoleViewer}); !errors.As(err, &denied) || denied.Action != account.ActionSenderDelete {
		t.Fatalf("viewer releases: %v, want a denial", err)
	}
	if err := svc.Release(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if len(ids.deleted) == 0 || ids.deleted[len(ids.deleted)-1] != "sales@acme.test" {
		t.Fatalf("released identity not removed: %v", ids.deleted)
	}
	if _, err := svc.Get(ctx, "o1"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("get after release: %v, want ErrNotFound", err)
	}
	if err := svc.Release(ctx, owner); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("release twice: %v, want ErrNotFound", err)
	}
}
