package account_test

import (
	"testing"

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
