package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
)

// UserIn creates a user in the caller's org.
type UserIn struct {
	Name     string `json:"name" minLength:"1" maxLength:"200"`
	Email    string `json:"email" format:"email" maxLength:"254"`
	Role     string `json:"role" enum:"owner,admin,manager,agent,viewer"`
	Password string `json:"password" minLength:"10" maxLength:"256"`
}

// UserPatch changes a user's name or role.
type UserPatch struct {
	Name *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Role *string `json:"role,omitempty" enum:"owner,admin,manager,agent,viewer"`
}

// UserList is every user of the org.
type UserList struct {
	Items []UserOut `json:"items"`
}

type userOutput struct{ Body UserOut }

type userPath struct {
	ID string `path:"id" maxLength:"64"`
}

func (s *Server) registerUsers() {
	huma.Register(s.api, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/v1/users", Tags: []string{"users"},
		Summary: "Add a user to the organisation (owner, admin)", DefaultStatus: http.StatusCreated,
		Security: bearerSecurity, MaxBodyBytes: maxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createUser)
	huma.Register(s.api, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/v1/users", Tags: []string{"users"},
		Summary: "List the organisation's users", Security: bearerSecurity,
	}, s.listUsers)
	huma.Register(s.api, huma.Operation{
		OperationID: "update-user", Method: http.MethodPatch, Path: "/v1/users/{id}", Tags: []string{"users"},
		Summary: "Change a user's name or role (owner, admin)", Security: bearerSecurity, MaxBodyBytes: maxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.updateUser)
	huma.Register(s.api, huma.Operation{
		OperationID: "deactivate-user", Method: http.MethodDelete, Path: "/v1/users/{id}", Tags: []string{"users"},
		Summary: "Deactivate a user and revoke their sessions (owner, admin)", DefaultStatus: http.StatusNoContent,
		Security: bearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deactivateUser)
}

func (s *Server) createUser(ctx context.Context, in *struct{ Body UserIn }) (*userOutput, error) {
	p := caller(ctx)
	role := account.Role(in.Body.Role)
	if !p.User.Role.CanAssignRole(role) {
		return nil, s.deny(ctx, audit.ActionUserCreate, "user", "", "your role cannot create a user with role "+string(role))
	}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, s.internal(ctx, "hash password", err)
	}
	now := s.deps.Now().UTC()
	u := account.User{ID: ulid.Make().String(), OrgID: p.User.OrgID, Name: strings.TrimSpace(in.Body.Name),
		Email: normalizeEmail(in.Body.Email), Role: role, Active: true, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.deps.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, account.ErrEmailTaken) {
			return nil, problem(http.StatusConflict, "email_taken", "an account with this email already exists")
		}
		return nil, s.internal(ctx, "create user", err)
	}
	s.record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserCreate, TargetType: "user",
		TargetID: u.ID, Details: map[string]string{"role": string(role)}})
	return &userOutput{Body: userOut(u)}, nil
}

func (s *Server) listUsers(ctx context.Context, _ *struct{}) (*struct{ Body UserList }, error) {
	users, err := s.deps.Store.ListUsers(ctx, caller(ctx).User.OrgID)
	if err != nil {
		return nil, s.internal(ctx, "list users", err)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	out := &struct{ Body UserList }{Body: UserList{Items: make([]UserOut, 0, len(users))}}
	for _, u := range users {
		out.Body.Items = append(out.Body.Items, userOut(u))
	}
	return out, nil
}

// target loads a user of the caller's org that the caller may manage.
func (s *Server) target(ctx context.Context, id, action string) (account.User, error) {
	p := caller(ctx)
	if !p.User.Role.CanManageUsers() {
		return account.User{}, s.deny(ctx, action, "user", id, "only an owner or admin can manage users")
	}
	u, err := s.deps.Store.GetUser(ctx, p.User.OrgID, id)
	if errors.Is(err, account.ErrNotFound) {
		return account.User{}, errNotFound("user")
	}
	if err != nil {
		return account.User{}, s.internal(ctx, "read user", err)
	}
	if !p.User.Role.CanAssignRole(u.Role) {
		return account.User{}, s.deny(ctx, action, "user", id, "only an owner can change an owner or admin")
	}
	return u, nil
}

func (s *Server) updateUser(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body UserPatch
}) (*userOutput, error) {
	p := caller(ctx)
	u, err := s.target(ctx, in.ID, audit.ActionUserUpdate)
	if err != nil {
		return nil, err
	}
	changed := []string{}
	if in.Body.Name != nil {
		u.Name = strings.TrimSpace(*in.Body.Name)
		changed = append(changed, "name")
	}
	if in.Body.Role != nil && account.Role(*in.Body.Role) != u.Role {
		role := account.Role(*in.Body.Role)
		if !p.User.Role.CanAssignRole(role) {
			return nil, s.deny(ctx, audit.ActionUserUpdate, "user", u.ID, "only an owner can make someone an owner or admin")
		}
		if u.ID == p.User.ID {
			return nil, problem(http.StatusConflict, "self_role_change", "you cannot change your own role; ask another owner")
		}
		u.Role = role
		changed = append(changed, "role")
	}
	u.UpdatedAt = s.deps.Now().UTC()
	if err := s.deps.Store.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			return nil, errNotFound("user")
		}
		return nil, s.internal(ctx, "update user", err)
	}
	s.record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserUpdate, TargetType: "user",
		TargetID: u.ID, Details: map[string]string{"fields": strings.Join(changed, ","), "role": string(u.Role)}})
	return &userOutput{Body: userOut(u)}, nil
}

func (s *Server) deactivateUser(ctx context.Context, in *userPath) (*struct{}, error) {
	p := caller(ctx)
	u, err := s.target(ctx, in.ID, audit.ActionUserDeactivate)
	if err != nil {
		return nil, err
	}
	if u.ID == p.User.ID {
		return nil, problem(http.StatusConflict, "self_deactivation", "you cannot deactivate yourself")
	}
	if u.Active {
		u.Active = false
		u.UpdatedAt = s.deps.Now().UTC()
		if err := s.deps.Store.UpdateUser(ctx, u); err != nil {
			return nil, s.internal(ctx, "deactivate user", err)
		}
	}
	if err := s.deps.Store.RevokeAllSessions(ctx, u.ID); err != nil {
		return nil, s.internal(ctx, "revoke sessions", err)
	}
	s.record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserDeactivate, TargetType: "user", TargetID: u.ID})
	return nil, nil
}
