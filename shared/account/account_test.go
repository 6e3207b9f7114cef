package account_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
)

func TestRoleRules(t *testing.T) {
	tests := []struct {
		actor, target account.Role
		want          bool
	}{
		{account.RoleOwner, account.RoleOwner, true},
		{account.RoleOwner, account.RoleAdmin, true},
		{account.RoleAdmin, account.RoleAdmin, false},
		{account.RoleAdmin, account.RoleOwner, false},
		{account.RoleAdmin, account.RoleManager, true},
		{account.RoleAdmin, account.RoleViewer, true},
		{account.RoleManager, account.RoleAgent, false},
		{account.RoleAgent, account.RoleAgent, false},
		{account.RoleViewer, account.RoleViewer, false},
	}
	for _, tt := range tests {
		if got := tt.actor.CanAssignRole(tt.target); got != tt.want {
			t.Errorf("%s.CanAssignRole(%s) = %v, want %v", tt.actor, tt.target, got, tt.want)
		}
	}
	for _, r := range account.Roles {
		if !r.Valid() {
			t.Errorf("%s not valid", r)
		}
		if got, want := r.SeesAllLeads(), r != account.RoleAgent; got != want {
			t.Errorf("%s.SeesAllLeads = %v", r, got)
		}
		if got, want := r.CanWriteLeads(), r != account.RoleViewer; got != want {
			t.Errorf("%s.CanWriteLeads = %v", r, got)
		}
		if got, want := r.CanReadAudit(), r == account.RoleOwner || r == account.RoleAdmin; got != want {
			t.Errorf("%s.CanReadAudit = %v", r, got)
		}
	}
	if account.Role("root").Valid() {
		t.Error("unknown role valid")
	}
}

func TestInviteRulesAndInvitationStatus(t *testing.T) {
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		role     account.Role
		verified bool
		want     bool
	}{
		{account.RoleOwner, true, true}, {account.RoleAdmin, true, true}, {account.RoleOwner, false, false},
		{account.RoleManager, true, false}, {account.RoleViewer, true, false},
	} {
		u := account.User{Role: tt.role}
		if tt.verified {
			u.EmailVerifiedAt = now
		}
		if got := u.CanInvite(); got != tt.want || u.EmailVerified() != tt.verified {
			t.Errorf("%s verified=%v: CanInvite = %v, want %v", tt.role, tt.verified, got, tt.want)
		}
	}
	inv := account.Invitation{Status: account.InvitationPending, ExpiresAt: now.Add(account.InvitationTTL)}
	if got := inv.StatusAt(now); got != account.InvitationPending {
		t.Errorf("fresh invitation %s", got)
	}
	if got := inv.StatusAt(inv.ExpiresAt); got != account.InvitationExpired {
		t.Errorf("at expiry %s", got)
	}
	inv.Status = account.InvitationAccepted
	if got := inv.StatusAt(inv.ExpiresAt.Add(time.Hour)); got != account.InvitationAccepted {
		t.Errorf("accepted, later %s", got)
	}
	if account.PurposePasswordReset.TTL() != time.Hour || account.PurposeInvite.TTL() != 7*24*time.Hour || account.PurposeVerifyEmail.TTL() != 7*24*time.Hour {
		t.Error("token lifetimes")
	}
}
