package identity

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/plan"
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

// MePatch changes the caller's own settings.
type MePatch struct {
	Available *bool `json:"available,omitempty" doc:"False: away, an assignment rule with only_available skips the caller."`
}

// UserList is every user of the org.
type UserList struct {
	Items []UserOut `json:"items"`
}

type userOutput struct{ Body UserOut }

type userPath struct {
	ID string `path:"id" maxLength:"64"`
}

func (s *server) registerUsers(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/v1/users", Tags: []string{"users"},
		Summary: "Add a user to the organisation (owner, admin)", DefaultStatus: http.StatusCreated,
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createUser)
	huma.Register(api, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/v1/users", Tags: []string{"users"},
		Summary: "List the organisation's users", Security: httpapi.BearerSecurity,
	}, s.listUsers)
	huma.Register(api, huma.Operation{
		OperationID: "update-user", Method: http.MethodPatch, Path: "/v1/users/{id}", Tags: []string{"users"},
		Summary: "Change a user's name or role (owner, admin)", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.updateUser)
	huma.Register(api, huma.Operation{
		OperationID: "update-me", Method: http.MethodPatch, Path: "/v1/me", Tags: []string{"users"},
		Summary: "Change the caller's own availability", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "available false marks the caller away: an assignment rule with only_available gives it no new leads until it is true again.",
	}, s.updateMe)
	huma.Register(api, huma.Operation{
		OperationID: "deactivate-user", Method: http.MethodDelete, Path: "/v1/users/{id}", Tags: []string{"users"},
		Summary: "Deactivate a user and revoke their sessions (owner, admin)", DefaultStatus: http.StatusNoContent,
		Description: "The user's open leads (not won, lost or unqualified) go back to the assignment rule: each to the rule's next " +
			"user, or unassigned without a rule; at most " + strconv.Itoa(lead.MaxHandBack) + " a call, and calling again on the " +
			"deactivated user goes on with the rest (the audit record's details say more=true). Then its open tasks and booked " +
			"appointments still to come go to their lead's assignee, or to the caller when the lead stays with the user.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deactivateUser)
}

func (s *server) createUser(ctx context.Context, in *struct{ Body UserIn }) (*userOutput, error) {
	p := httpapi.Caller(ctx)
	role := account.Role(in.Body.Role)
	if !p.User.Role.CanAssignRole(role) {
		return nil, s.Deny(ctx, audit.ActionUserCreate, "user", "", "your role cannot create a user with role "+string(role))
	}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, s.Internal(ctx, "hash password", err)
	}
	now := s.Now().UTC()
	u := account.User{ID: ulid.Make().String(), OrgID: p.User.OrgID, Name: strings.TrimSpace(in.Body.Name),
		Email: normalizeEmail(in.Body.Email), Role: role, Active: true, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	// The plan's users: counted in the same write (exact under
	// concurrency), refused at the limit.
	bound, err := s.BindPlan(ctx, s.deps.Plans, u.OrgID, plan.Users)
	if err != nil {
		return nil, err
	}
	if err := s.deps.Store.CreateUser(bound, u); err != nil {
		if errors.Is(err, account.ErrEmailTaken) {
			return nil, httpapi.NewProblem(http.StatusConflict, "email_taken", "an account with this email already exists")
		}
		if perr := s.PlanRefused(err); perr != nil {
			return nil, perr
		}
		return nil, s.Internal(ctx, "create user", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserCreate, TargetType: "user",
		TargetID: u.ID, Details: map[string]string{"role": string(role)}})
	s.PlanAdded(ctx, s.deps.Plans, u.OrgID, plan.Users)
	// The new user proves the address by the link (a failure is logged;
	// the user asks for another link after logging in).
	_ = s.sendVerification(ctx, u)
	return &userOutput{Body: userOut(u)}, nil
}

func (s *server) listUsers(ctx context.Context, _ *struct{}) (*struct{ Body UserList }, error) {
	users, err := s.deps.Store.ListUsers(ctx, httpapi.Caller(ctx).User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "list users", err)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	out := &struct{ Body UserList }{Body: UserList{Items: make([]UserOut, 0, len(users))}}
	for _, u := range users {
		out.Body.Items = append(out.Body.Items, userOut(u))
	}
	return out, nil
}

// target loads a user of the caller's org that the caller may manage.
func (s *server) target(ctx context.Context, id, action string) (account.User, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.CanManageUsers() {
		return account.User{}, s.Deny(ctx, action, "user", id, "only an owner or admin can manage users")
	}
	u, err := s.deps.Store.GetUser(ctx, p.User.OrgID, id)
	if errors.Is(err, account.ErrNotFound) {
		return account.User{}, httpapi.NotFound("user")
	}
	if err != nil {
		return account.User{}, s.Internal(ctx, "read user", err)
	}
	if !p.User.Role.CanAssignRole(u.Role) {
		return account.User{}, s.Deny(ctx, action, "user", id, "only an owner can change an owner or admin")
	}
	return u, nil
}

func (s *server) updateUser(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body UserPatch
}) (*userOutput, error) {
	p := httpapi.Caller(ctx)
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
			return nil, s.Deny(ctx, audit.ActionUserUpdate, "user", u.ID, "only an owner can make someone an owner or admin")
		}
		if u.ID == p.User.ID {
			return nil, httpapi.NewProblem(http.StatusConflict, "self_role_change", "you cannot change your own role; ask another owner")
		}
		u.Role = role
		changed = append(changed, "role")
	}
	u.UpdatedAt = s.Now().UTC()
	if err := s.deps.Store.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			return nil, httpapi.NotFound("user")
		}
		if errors.Is(err, account.ErrLastOwner) {
			return nil, lastOwner()
		}
		return nil, s.Internal(ctx, "update user", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserUpdate, TargetType: "user",
		TargetID: u.ID, Details: map[string]string{"fields": strings.Join(changed, ","), "role": string(u.Role)}})
	return &userOutput{Body: userOut(u)}, nil
}

func (s *server) deactivateUser(ctx context.Context, in *userPath) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	u, err := s.target(ctx, in.ID, audit.ActionUserDeactivate)
	if err != nil {
		return nil, err
	}
	if u.ID == p.User.ID {
		return nil, httpapi.NewProblem(http.StatusConflict, "self_deactivation", "you cannot deactivate yourself")
	}
	if u.Active {
		u.Active = false
		u.UpdatedAt = s.Now().UTC()
		if err := s.deps.Store.UpdateUser(ctx, u); err != nil {
			if errors.Is(err, account.ErrNotFound) {
				return nil, httpapi.NotFound("user")
			}
			if errors.Is(err, account.ErrLastOwner) {
				return nil, lastOwner()
			}
			return nil, s.Internal(ctx, "deactivate user", err)
		}
	}
	if err := s.deps.Store.RevokeAllSessions(ctx, u.ID); err != nil {
		return nil, s.Internal(ctx, "revoke sessions", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: p.User.ID, Action: audit.ActionUserDeactivate, TargetType: "user", TargetID: u.ID})
	// The user's open leads go back to the assignment rule (bounded; a
	// second call goes on with the rest). Its sessions are revoked
	// already, so it works no lead meanwhile.
	if s.deps.HandBack != nil {
		if _, _, _, err := s.deps.HandBack(ctx, p.User, u.ID); err != nil {
			return nil, s.Internal(ctx, "hand back leads", err)
		}
	}
	return nil, nil
}

func (s *server) updateMe(ctx context.Context, in *struct{ Body MePatch }) (*userOutput, error) {
	p := httpapi.Caller(ctx)
	if in.Body.Available == nil {
		return &userOutput{Body: userOut(p.User)}, nil
	}
	u, err := s.deps.Store.SetUserAvailable(ctx, p.User.OrgID, p.User.ID, *in.Body.Available)
	if errors.Is(err, account.ErrNotFound) {
		return nil, httpapi.NotFound("user")
	}
	if err != nil {
		return nil, s.Internal(ctx, "set availability", err)
	}
	s.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionUserUpdate, TargetType: "user", TargetID: u.ID,
		Details: map[string]string{"fields": "available", "available": strconv.FormatBool(*in.Body.Available)}})
	return &userOutput{Body: userOut(u)}, nil
}

// lastOwner answers an update that would leave the org without an active
// owner (also when another owner is removed at the same moment).
func lastOwner() error {
	return httpapi.NewProblem(http.StatusConflict, "last_owner", "the organisation must keep at least one active owner")
}
