package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Lead assignment by an org's rule: new leads nobody assigned (created
// through the API without an assignee, from a Lead Ads submission, from
// the first WhatsApp message of a new number) go to the next user of the
// rule, round robin, and the leads of a deactivated user are handed back
// to it. See docs/crm.md.

// Assignment rule types.
const (
	// RuleNone assigns nobody: new leads stay unassigned.
	RuleNone = "none"
	// RuleRoundRobin gives each new lead to the next of the rule's users.
	RuleRoundRobin = "round_robin"
)

// MaxRuleUsers bounds the users of a rule.
const MaxRuleUsers = 100

// AssignmentRule is how an org assigns the leads nobody assigned.
type AssignmentRule struct {
	// Type is RuleRoundRobin or RuleNone ("" reads as RuleNone).
	Type string
	// UserIDs are the users taking turns, in turn order; only those active
	// (and available, with OnlyAvailable) when a lead arrives take one.
	UserIDs []string
	// OnlyAvailable skips the users who marked themselves unavailable.
	OnlyAvailable bool
	UpdatedAt     time.Time
	UpdatedBy     string
}

// On reports whether the rule assigns leads.
func (r AssignmentRule) On() bool { return r.Type == RuleRoundRobin && len(r.UserIDs) > 0 }

// By names the rule in an assigned activity ("rule:round_robin").
func (r AssignmentRule) By() string { return "rule:" + r.Type }

// Eligible returns the rule's users who take turns now, in turn order:
// active users of the org (available ones, with OnlyAvailable).
func (r AssignmentRule) Eligible(users []account.User) []string {
	byID := make(map[string]account.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	var out []string
	for _, id := range r.UserIDs {
		u, ok := byID[id]
		if !ok || !u.Active || (r.OnlyAvailable && u.Unavailable) || !u.Role.CanWriteLeads() {
			continue
		}
		out = append(out, id)
	}
	return out
}

// RuleStore keeps each org's assignment rule and its turn counter
// (dynamostore.Store).
type RuleStore interface {
	// AssignmentRule returns the org's rule; an org that never set one has
	// the zero rule (none).
	AssignmentRule(ctx context.Context, orgID string) (AssignmentRule, error)
	// PutAssignmentRule replaces the org's rule, keeping its counter.
	PutAssignmentRule(ctx context.Context, orgID string, r AssignmentRule) error
	// TakeTurn advances the org's turn counter by one in one atomic write
	// and returns its new value (1 for the first turn), so that two leads
	// created at the same moment never get the same turn. With a key (the
	// intake event that makes the lead), the turn is remembered under it
	// until ForgetTurn: taking it again returns the same turn without
	// advancing the counter.
	TakeTurn(ctx context.Context, orgID, key string) (int64, error)
	// ForgetTurn drops the turn remembered under key, once its lead is
	// written (or will never be).
	ForgetTurn(ctx context.Context, orgID, key string) error
}

// UserLister lists an org's users (dynamostore.Store).
type UserLister interface {
	ListUsers(ctx context.Context, orgID string) ([]account.User, error)
}

// Assigner picks the assignees of new leads by their org's rule.
type Assigner struct {
	Rules RuleStore
	Users UserLister
}

// Pick is the assignee a rule picked for a lead.
type Pick struct {
	// UserID is the assignee; "" when the org has no rule or none of its
	// users may take a lead now.
	UserID string
	// By names the rule ("rule:round_robin").
	By string
}

// Pick returns the assignee the org's rule gives the next lead: the user
// at (turn-1) mod n of the rule's n eligible users, the turn taken from
// the org's atomic counter. key, when not empty, names what makes the
// lead (an intake event): a second Pick with it (a redelivery) reuses its
// turn; call Release with it once the lead is written. No turn is taken
// when the rule is off or nobody is eligible.
func (a *Assigner) Pick(ctx context.Context, orgID, key string) (Pick, error) {
	next, err := a.Turns(ctx, orgID)
	if err != nil || next == nil {
		return Pick{}, err
	}
	return next(ctx, key)
}

// Turns reads the org's rule and users once and returns what picks the
// assignee of each next lead (as Pick does, one turn a call), or nil when
// the rule assigns nobody now (off, or nobody eligible).
func (a *Assigner) Turns(ctx context.Context, orgID string) (func(ctx context.Context, key string) (Pick, error), error) {
	r, err := a.Rules.AssignmentRule(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("read assignment rule: %w", err)
	}
	if !r.On() {
		return nil, nil
	}
	users, err := a.Users.ListUsers(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	eligible := r.Eligible(users)
	if len(eligible) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, key string) (Pick, error) {
		turn, err := a.Rules.TakeTurn(ctx, orgID, key)
		if err != nil {
			return Pick{}, fmt.Errorf("take assignment turn: %w", err)
		}
		i := (turn - 1) % int64(len(eligible))
		if i < 0 {
			i += int64(len(eligible))
		}
		return Pick{UserID: eligible[i], By: r.By()}, nil
	}, nil
}

// Release forgets the turn remembered under key (see Pick); a failure
// leaves a small entry behind, never a wrong assignment.
func (a *Assigner) Release(ctx context.Context, orgID, key string) error {
	if key == "" {
		return nil
	}
	if err := a.Rules.ForgetTurn(ctx, orgID, key); err != nil {
		return fmt.Errorf("forget assignment turn: %w", err)
	}
	return nil
}

// RuleAssignedActivity is the assigned activity of a lead a rule assigned
// when it was created (l.AssignedBy names the rule): by the system, at the
// creation time, sorted just after created (the created activity's id).
func RuleAssignedActivity(l Lead, created string) Activity {
	return Activity{ID: nextID(created), OrgID: l.OrgID, LeadID: l.ID, Kind: ActivityAssigned, At: l.CreatedAt,
		Details: map[string]string{"by": l.AssignedBy}, Changes: []Change{{Field: "assignee_id", New: l.AssigneeID}}}
}

// nextID returns the ULID right after id (same time, entropy plus one), so
// that an activity written with another sorts after it; a malformed id
// gets a fresh ULID.
func nextID(id string) string {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return ulid.Make().String()
	}
	for i := len(u) - 1; i >= 6; i-- {
		u[i]++
		if u[i] != 0 {
			break
		}
	}
	return u.String()
}

// MaxHandBack bounds the leads one deactivation hands back in its request;
// calling it again goes on with the rest.
const MaxHandBack = 200

// HandBack is what handing back a user's open leads did.
type HandBack struct {
	// Reassigned went to another user by the rule; Unassigned to nobody
	// (no rule, or nobody eligible).
	Reassigned, Unassigned int
	// Tasks and Appointments count the open tasks and the booked
	// appointments still to come that went to another user.
	Tasks, Appointments int
	// More is true when the user still holds open leads, open tasks or
	// booked appointments (over MaxHandBack of each, or ones that changed
	// meanwhile): handing back again goes on.
	More bool
}

// Open reports whether a lead with status st is still being worked on
// (not won, lost or unqualified).
func Open(st Status) bool {
	return st != StatusWon && st != StatusLost && st != StatusUnqualified
}

// HandBackLeads hands the open leads of userID, a user the actor
// deactivated, back to the org's rule: each goes to the rule's next
// eligible user (userID no longer is one), or to nobody when there is no
// rule or nobody eligible, with an assigned activity by the actor naming
// the rule and the reason. At most MaxHandBack leads a call. Closed leads
// (won, lost, unqualified) stay with the user, as the record of who
// worked them. Then the user's open tasks and booked appointments still
// to come go to their lead's assignee, or to the actor (handBackWork).
func (s *Service) HandBackLeads(ctx context.Context, a Actor, userID string) (HandBack, error) {
	var res HandBack
	if !a.User.Role.CanManageUsers() {
		return res, &DeniedError{Action: audit.ActionUserDeactivate, Reason: "only an owner or admin can hand back a user's leads"}
	}
	next := func(context.Context, string) (Pick, error) { return Pick{}, nil }
	if s.Assign != nil {
		turns, err := s.Assign.Turns(ctx, a.User.OrgID)
		if err != nil {
			return res, err
		}
		if turns != nil {
			next = turns
		}
	}
	done := 0
	var from page.Cursor
	for {
		p, err := s.Store.ListLeads(ctx, a.User.OrgID, Filter{AssigneeID: userID}, 100, from)
		if err != nil {
			return res, fmt.Errorf("list leads of user %s: %w", userID, err)
		}
		for _, l := range p.Items {
			if !Open(l.Status) || l.AssigneeID != userID {
				continue
			}
			if done == MaxHandBack {
				res.More = true
				break
			}
			done++
			switch outcome, err := s.handBackOne(ctx, a, l, userID, next); {
			case errors.Is(err, errRetryUpdate):
				res.More = true
			case err != nil:
				return res, err
			case outcome == handedToRule:
				res.Reassigned++
			case outcome == handedToNobody:
				res.Unassigned++
			}
		}
		if p.Next.IsZero() || done == MaxHandBack {
			break
		}
		from = p.Next
	}
	// The leads first, so a task or appointment follows its lead's new
	// assignee.
	workErr := s.handBackWork(ctx, a, userID, &res)
	s.Audit.Record(ctx, audit.Record{OrgID: a.User.OrgID, ActorID: a.User.ID, Action: ActionHandBack, TargetType: "user", TargetID: userID,
		Details: map[string]string{"reassigned": strconv.Itoa(res.Reassigned), "unassigned": strconv.Itoa(res.Unassigned),
			"tasks": strconv.Itoa(res.Tasks), "appointments": strconv.Itoa(res.Appointments), "more": strconv.FormatBool(res.More)}})
	return res, workErr
}

// ActionHandBack is the audit action of handing back a deactivated user's
// leads.
const ActionHandBack = "lead.hand_back"

// What handBackOne did with a lead.
const (
	handedSkipped = iota
	handedToRule
	handedToNobody
)

// handBackOne moves one lead of userID to the rule's next pick, or to
// nobody; a lead that is gone or no longer the user's is skipped;
// errRetryUpdate when the lead kept changing meanwhile.
func (s *Service) handBackOne(ctx context.Context, a Actor, l Lead, userID string, pickNext func(context.Context, string) (Pick, error)) (int, error) {
	var pick Pick
	picked := false
	for range updateAttempts {
		if l.AssigneeID != userID {
			return handedSkipped, nil
		}
		if !picked {
			var err error
			if pick, err = pickNext(ctx, ""); err != nil {
				return handedSkipped, err
			}
			picked = true
		}
		next := l
		next.AssigneeID = pick.UserID
		next.Version = l.Version + 1
		next.UpdatedAt = s.now().UTC()
		details := map[string]string{"reason": ReasonUserDeactivated}
		if pick.By != "" {
			details["by"] = pick.By
		}
		act := Activity{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Kind: ActivityAssigned, At: next.UpdatedAt, ActorID: a.User.ID,
			Details: details, Changes: []Change{{Field: "assignee_id", Old: l.AssigneeID, New: next.AssigneeID}}}
		err := s.Store.UpdateLead(ctx, l, next, act)
		if err == nil {
			s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadUpdate, TargetType: "lead", TargetID: l.ID,
				Details: map[string]string{"fields": "assignee_id", "version": strconv.Itoa(next.Version), "reason": ReasonUserDeactivated}})
			if pick.UserID != "" {
				return handedToRule, nil
			}
			return handedToNobody, nil
		}
		if !errors.Is(err, ErrVersionMismatch) {
			return handedSkipped, fmt.Errorf("hand back lead %s: %w", l.ID, err)
		}
		if l, err = s.Store.GetLead(ctx, l.OrgID, l.ID); errors.Is(err, ErrNotFound) {
			return handedSkipped, nil
		} else if err != nil {
			return handedSkipped, fmt.Errorf("read lead %s: %w", l.ID, err)
		}
	}
	return handedSkipped, errRetryUpdate
}

// ValidateRule checks a rule a user sets: a known type, and for round
// robin 1 to MaxRuleUsers distinct users, each an active user of the org
// who may work leads (not a viewer). It returns the rule with ids trimmed.
func ValidateRule(r AssignmentRule, users []account.User) (AssignmentRule, error) {
	if r.Type == "" {
		r.Type = RuleNone
	}
	switch r.Type {
	case RuleNone:
		return AssignmentRule{Type: RuleNone, UserIDs: []string{}, OnlyAvailable: r.OnlyAvailable}, nil
	case RuleRoundRobin:
	default:
		return r, &FieldError{Field: "type", Message: "must be round_robin or none"}
	}
	if len(r.UserIDs) == 0 || len(r.UserIDs) > MaxRuleUsers {
		return r, &FieldError{Field: "user_ids", Message: fmt.Sprintf("a round robin needs 1 to %d users", MaxRuleUsers)}
	}
	byID := map[string]account.User{}
	for _, u := range users {
		byID[u.ID] = u
	}
	ids := make([]string, 0, len(r.UserIDs))
	for _, id := range r.UserIDs {
		id = strings.TrimSpace(id)
		u, ok := byID[id]
		if !ok || !u.Active {
			return r, &FieldError{Field: "user_ids", Message: "each must be an active user of this organisation"}
		}
		if !u.Role.CanWriteLeads() {
			return r, &FieldError{Field: "user_ids", Message: "a viewer cannot be assigned leads"}
		}
		if slices.Contains(ids, id) {
			return r, &FieldError{Field: "user_ids", Message: "each user at most once"}
		}
		ids = append(ids, id)
	}
	r.UserIDs = ids
	return r, nil
}

// Audit actions of the assignment rule.
const (
	ActionRuleRead   = "assignment_rule.read"
	ActionRuleUpdate = "assignment_rule.update"
)

// ErrNoRules means the service has no assignment rules (Service.Assign is
// nil).
var ErrNoRules = errors.New("assignment rules not configured")

// AssignmentRule returns the actor's org's assignment rule: for an owner,
// admin or manager (others *DeniedError).
func (s *Service) AssignmentRule(ctx context.Context, a Actor) (AssignmentRule, error) {
	if s.Assign == nil {
		return AssignmentRule{}, ErrNoRules
	}
	if !a.User.Role.SeesAllLeads() || !a.User.Role.CanWriteLeads() {
		return AssignmentRule{}, &DeniedError{Action: ActionRuleRead, Reason: "only an owner, admin or manager can see the assignment rule"}
	}
	r, err := s.Assign.Rules.AssignmentRule(ctx, a.User.OrgID)
	if err != nil {
		return AssignmentRule{}, fmt.Errorf("read assignment rule: %w", err)
	}
	if r.Type == "" {
		r.Type = RuleNone
	}
	return r, nil
}

// SetAssignmentRule replaces the actor's org's assignment rule: for an
// owner or admin (others *DeniedError); a rule ValidateRule refuses is a
// *FieldError. The change is audited.
func (s *Service) SetAssignmentRule(ctx context.Context, a Actor, r AssignmentRule) (AssignmentRule, error) {
	if s.Assign == nil {
		return AssignmentRule{}, ErrNoRules
	}
	if !a.User.Role.Privileged() {
		return AssignmentRule{}, &DeniedError{Action: ActionRuleUpdate, Reason: "only an owner or admin can change the assignment rule"}
	}
	users, err := s.Assign.Users.ListUsers(ctx, a.User.OrgID)
	if err != nil {
		return AssignmentRule{}, fmt.Errorf("list users: %w", err)
	}
	r, err = ValidateRule(r, users)
	if err != nil {
		return AssignmentRule{}, err
	}
	r.UpdatedAt, r.UpdatedBy = s.now().UTC(), a.User.ID
	if err := s.Assign.Rules.PutAssignmentRule(ctx, a.User.OrgID, r); err != nil {
		return AssignmentRule{}, fmt.Errorf("save assignment rule: %w", err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: a.User.OrgID, ActorID: a.User.ID, Action: ActionRuleUpdate, TargetType: "assignment_rule",
		Details: map[string]string{"type": r.Type, "users": strconv.Itoa(len(r.UserIDs)), "only_available": strconv.FormatBool(r.OnlyAvailable)}})
	return r, nil
}
