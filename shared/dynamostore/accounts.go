package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/retention"
)

// Orgs and their users: the org item and its users in the org's partition,
// and the platform-wide guard of each login email.

type orgItem struct {
	PK            string    `dynamodbav:"PK"`
	SK            string    `dynamodbav:"SK"`
	Type          string    `dynamodbav:"type"`
	ID            string    `dynamodbav:"id"`
	Name          string    `dynamodbav:"name"`
	DefaultRegion string    `dynamodbav:"default_region"`
	CreatedAt     time.Time `dynamodbav:"created_at"`
	// Timezone, BusinessHours and UpdatedAt are the settings of
	// PATCH /v1/org (orgsettings.go); absent until set.
	Timezone      string                     `dynamodbav:"timezone,omitempty"`
	BusinessHours map[string][]timeRangeItem `dynamodbav:"business_hours,omitempty"`
	UpdatedAt     *time.Time                 `dynamodbav:"updated_at,omitempty"`
	// ClosedAt is set while the account is closed, and GSI1PK/GSI1SK file
	// the org under closedOrgsPK then (closure.go).
	ClosedAt *time.Time `dynamodbav:"closed_at,omitempty"`
	GSI1PK   string     `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK   string     `dynamodbav:"GSI1SK,omitempty"`
	// MFARequiredForAdmins is set by PUT /v1/org/security (mfa.go).
	MFARequiredForAdmins bool `dynamodbav:"mfa_required_for_admins,omitempty"`
	// Plan is the org's plan, set by tools/plan (plans.go); absent is free.
	Plan string `dynamodbav:"plan,omitempty"`
}

type userItem struct {
	PK           string    `dynamodbav:"PK"`
	SK           string    `dynamodbav:"SK"`
	Type         string    `dynamodbav:"type"`
	ID           string    `dynamodbav:"id"`
	OrgID        string    `dynamodbav:"org_id"`
	Name         string    `dynamodbav:"name"`
	Email        string    `dynamodbav:"email"`
	Role         string    `dynamodbav:"role"`
	Active       bool      `dynamodbav:"active"`
	PasswordHash string    `dynamodbav:"password_hash"`
	CreatedAt    time.Time `dynamodbav:"created_at"`
	UpdatedAt    time.Time `dynamodbav:"updated_at"`
	// OrgClosedAt mirrors the org's closed_at (closure.go).
	OrgClosedAt *time.Time `dynamodbav:"org_closed_at,omitempty"`
	// AccessRevokedAt refuses access tokens issued until then (closure.go).
	AccessRevokedAt *time.Time `dynamodbav:"access_revoked_at,omitempty"`
	// EmailVerifiedAt is when the user proved the email (accounttokens.go).
	EmailVerifiedAt *time.Time `dynamodbav:"email_verified_at,omitempty"`
	// MFAEnabledAt is when the user turned two-factor sign-in on (mfa.go).
	MFAEnabledAt *time.Time `dynamodbav:"mfa_enabled_at,omitempty"`
	// GSI1PK/GSI1SK file an active owner in the OWNERS index (policy.go).
	GSI1PK string `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK string `dynamodbav:"GSI1SK,omitempty"`
	// Unavailable: the user marked itself away (assignment.go).
	Unavailable bool `dynamodbav:"unavailable,omitempty"`
}

type emailItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	UserID string `dynamodbav:"user_id"`
	OrgID  string `dynamodbav:"org_id"`
}

func toOrgItem(o account.Org) orgItem {
	return orgItem{PK: orgPK(o.ID), SK: skOrg, Type: "org", ID: o.ID, Name: o.Name, DefaultRegion: o.DefaultRegion, CreatedAt: o.CreatedAt}
}

func (i orgItem) org() account.Org {
	o := account.Org{ID: i.ID, Name: i.Name, DefaultRegion: i.DefaultRegion, CreatedAt: i.CreatedAt,
		Timezone: i.Timezone, BusinessHours: fromHoursItem(i.BusinessHours), MFARequiredForAdmins: i.MFARequiredForAdmins, Plan: i.Plan}
	if i.UpdatedAt != nil {
		o.UpdatedAt = *i.UpdatedAt
	}
	if i.ClosedAt != nil {
		o.ClosedAt = *i.ClosedAt
	}
	return o
}

func toUserItem(u account.User) userItem {
	it := userItem{PK: orgPK(u.OrgID), SK: userSK(u.ID), Type: "user", ID: u.ID, OrgID: u.OrgID, Name: u.Name, Email: u.Email,
		Role: string(u.Role), Active: u.Active, PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		Unavailable: u.Unavailable}
	if !u.EmailVerifiedAt.IsZero() {
		at := u.EmailVerifiedAt
		it.EmailVerifiedAt = &at
	}
	if listedOwner(u) {
		it.GSI1PK, it.GSI1SK = ownersPK, ownerSK(u.OrgID, u.ID)
	}
	return it
}

// listedOwner reports whether u belongs in the OWNERS index.
func listedOwner(u account.User) bool { return u.Role == account.RoleOwner && u.Active }

func (i userItem) user() account.User {
	u := account.User{ID: i.ID, OrgID: i.OrgID, Name: i.Name, Email: i.Email, Role: account.Role(i.Role), Active: i.Active,
		PasswordHash: i.PasswordHash, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, Unavailable: i.Unavailable}
	if i.OrgClosedAt != nil {
		u.OrgClosedAt = *i.OrgClosedAt
	}
	if i.AccessRevokedAt != nil {
		u.AccessRevokedAt = *i.AccessRevokedAt
	}
	if i.EmailVerifiedAt != nil {
		u.EmailVerifiedAt = *i.EmailVerifiedAt
	}
	if i.MFAEnabledAt != nil {
		u.MFAEnabledAt = *i.MFAEnabledAt
	}
	return u
}

// CreateOrg writes a new org with its first user (the owner) and claims the
// owner's email, all or nothing. A taken email is account.ErrEmailTaken.
func (s *Store) CreateOrg(ctx context.Context, o account.Org, owner account.User) error {
	orgAV, err := marshal(toOrgItem(o))
	if err != nil {
		return err
	}
	items, err := s.userWrites(owner)
	if err != nil {
		return err
	}
	// The org's retention settings (the defaults) file it for the
	// scheduled retention runs (retention.go).
	retentionPut, err := s.retentionSettingsPut(o.ID, retention.Settings{})
	if err != nil {
		return err
	}
	// The owner is the org's first active user (plangauges.go).
	items = append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: orgAV, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}, retentionPut, s.gaugeAdd(context.Background(), o.ID, plan.Users)}, items...)
	return s.writeUser(ctx, items, "create org "+o.ID)
}

// CreateUser adds a user to its org and claims its email. An active user
// counts in the org's users gauge in the same transaction: at the limit
// ctx carries (plan.WithLimit) it is a *plan.LimitError and nothing is
// written.
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	items, err := s.userWrites(u)
	if err != nil {
		return err
	}
	if !u.Active {
		return s.writeUser(ctx, items, "create user "+u.ID)
	}
	items = append([]types.TransactWriteItem{s.gaugeAdd(ctx, u.OrgID, plan.Users)}, items...)
	if err := s.writeUser(ctx, items, "create user "+u.ID); err != nil {
		if errors.Is(err, account.ErrConflict) && itemFailed(err, 0) {
			return gaugeLimit(ctx, plan.Users)
		}
		return err
	}
	return nil
}

func (s *Store) userWrites(u account.User) ([]types.TransactWriteItem, error) {
	userAV, err := marshal(toUserItem(u))
	if err != nil {
		return nil, err
	}
	emailAV, err := marshal(emailItem{PK: emailPK(u.Email), SK: skEmail, Type: "email", UserID: u.ID, OrgID: u.OrgID})
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: userAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: emailAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}, nil
}

func (s *Store) writeUser(ctx context.Context, items []types.TransactWriteItem, what string) error {
	err := s.transact(ctx, items)
	if reasons := cancelReasons(err); reasons != nil {
		// The email guard is always the last item.
		if conditionFailed(reasons[len(reasons)-1]) {
			return account.ErrEmailTaken
		}
		return fmt.Errorf("%s: %w (%w)", what, account.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// GetOrg returns an org.
func (s *Store) GetOrg(ctx context.Context, orgID string) (account.Org, error) {
	var it orgItem
	ok, err := s.get(ctx, orgPK(orgID), skOrg, &it)
	if err != nil {
		return account.Org{}, err
	}
	if !ok {
		return account.Org{}, account.ErrNotFound
	}
	return it.org(), nil
}

// GetUser returns a user of an org.
func (s *Store) GetUser(ctx context.Context, orgID, userID string) (account.User, error) {
	var it userItem
	ok, err := s.get(ctx, orgPK(orgID), userSK(userID), &it)
	if err != nil {
		return account.User{}, err
	}
	if !ok {
		return account.User{}, account.ErrNotFound
	}
	return it.user(), nil
}

// GetUserByEmail finds the user who logs in with email (lower-cased).
func (s *Store) GetUserByEmail(ctx context.Context, email string) (account.User, error) {
	var guard emailItem
	ok, err := s.get(ctx, emailPK(email), skEmail, &guard)
	if err != nil {
		return account.User{}, err
	}
	if !ok {
		return account.User{}, account.ErrNotFound
	}
	return s.GetUser(ctx, guard.OrgID, guard.UserID)
}

// ListUsers returns every user of an org, oldest first. Orgs hold tens of
// users, so this reads all pages of one Query.
func (s *Store) ListUsers(ctx context.Context, orgID string) ([]account.User, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixUser)
	if err != nil {
		return nil, fmt.Errorf("list users of %s: %w", orgID, err)
	}
	var out []account.User
	for _, item := range items {
		var it userItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.user())
	}
	return out, nil
}

// UpdateUser replaces a user's mutable fields (name, role, active). An
// update that takes an active owner out of that state is one transaction
// with a check that another user of the org is an active owner at that
// moment; as every such update is, owners demoting or deactivating each
// other at once cannot leave the org without one (account.ErrLastOwner).
func (s *Store) UpdateUser(ctx context.Context, u account.User) error {
	updatedAt, err := attributevalue.Marshal(u.UpdatedAt)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	update := "SET #name = :name, #role = :role, #active = :active, #at = :at"
	values := map[string]types.AttributeValue{
		":name": &types.AttributeValueMemberS{Value: u.Name}, ":role": &types.AttributeValueMemberS{Value: string(u.Role)},
		":active": &types.AttributeValueMemberBOOL{Value: u.Active}, ":at": updatedAt,
	}
	// The OWNERS index follows the role and the active flag.
	if listedOwner(u) {
		update += ", GSI1PK = :opk, GSI1SK = :osk"
		values[":opk"] = &types.AttributeValueMemberS{Value: ownersPK}
		values[":osk"] = &types.AttributeValueMemberS{Value: ownerSK(u.OrgID, u.ID)}
	} else {
		update += " REMOVE GSI1PK, GSI1SK"
	}
	names := map[string]string{"#name": "name", "#role": "role", "#active": "active", "#at": "updated_at"}
	cond := "attribute_exists(PK)"
	if !listedOwner(u) {
		// A plain write only where the user is not an active owner now.
		cond += " AND NOT (#role = :owner AND #active = :true)"
		values[":owner"] = &types.AttributeValueMemberS{Value: string(account.RoleOwner)}
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if u.Active {
		// An update never activates a user: a rename or role change read
		// before a deactivation must not undo it (nor miss the users
		// gauge); it is refused and, after the retries, a conflict.
		cond += " AND #active = :true"
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	upd := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(u.OrgID), userSK(u.ID)),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
	if !u.Active {
		// Deactivating a user that is active (and not an owner: see
		// removeOwner) takes it out of the users gauge in the same
		// transaction; when it is not active the writes below apply.
		err := s.transactSub(ctx, []types.TransactWriteItem{{Update: &types.Update{
			TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression,
			ConditionExpression:      aws.String(cond + " AND #active = :true"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}}}, u.OrgID, plan.Users)
		if err == nil {
			return nil
		}
		if !itemFailed(err, 0) {
			// A conflict that outlasted the retries too: the plain write
			// below would deactivate without taking the user out of the
			// gauge.
			return fmt.Errorf("deactivate user %s: %w", u.ID, err)
		}
	}
	for attempt := range 8 {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("update user %s: %w", u.ID, err)
			}
		}
		_, err = s.db.UpdateItem(ctx, upd)
		if err == nil {
			return nil
		}
		if transactionConflict(err) {
			continue
		}
		if !isConditionFailed(err) {
			return fmt.Errorf("update user %s: %w", u.ID, err)
		}
		if listedOwner(u) {
			return account.ErrNotFound
		}
		// Gone, or an active owner this update would remove: only with
		// another active owner checked in the same transaction.
		done, err := s.removeOwner(ctx, u, upd)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("update user %s: %w", u.ID, account.ErrConflict)
}

// removeOwner writes upd, which takes the active owner u out of that
// state, together with a check that another user of its org is an active
// owner. done false means try again: the user or the other owner changed
// meanwhile.
func (s *Store) removeOwner(ctx context.Context, u account.User, upd *dynamodb.UpdateItemInput) (done bool, err error) {
	// A strongly consistent listing: a stale one would name an owner
	// demoted a moment ago again and again.
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(u.OrgID)}, ":p": &types.AttributeValueMemberS{Value: prefixUser},
		},
		ConsistentRead: aws.Bool(true),
	})
	var users []account.User
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("list users of %s: %w", u.OrgID, err)
		}
		for _, item := range pg.Items {
			var it userItem
			if err := unmarshal(item, &it); err != nil {
				return false, err
			}
			users = append(users, it.user())
		}
	}
	var other, self *account.User
	for i, o := range users {
		switch {
		case o.ID == u.ID:
			self = &users[i]
		case listedOwner(o) && other == nil:
			other = &users[i]
		}
	}
	if self == nil {
		return true, account.ErrNotFound
	}
	if u.Active && !self.Active {
		// Deactivated meanwhile: an update never activates a user.
		return true, fmt.Errorf("update user %s: deactivated meanwhile: %w", u.ID, account.ErrConflict)
	}
	if other == nil {
		if !listedOwner(*self) {
			return false, nil // no longer an owner: the plain write again
		}
		return true, account.ErrLastOwner
	}
	self0 := &types.Update{
		TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression,
		ConditionExpression:      aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: upd.ExpressionAttributeNames, ExpressionAttributeValues: withoutOwnerValues(upd.ExpressionAttributeValues),
	}
	items := []types.TransactWriteItem{
		{Update: self0},
		{ConditionCheck: &types.ConditionCheck{
			TableName: &s.table, Key: key(orgPK(u.OrgID), userSK(other.ID)),
			ConditionExpression:      aws.String("#role = :owner AND #active = :true"),
			ExpressionAttributeNames: map[string]string{"#role": "role", "#active": "active"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":owner": &types.AttributeValueMemberS{Value: string(account.RoleOwner)}, ":true": &types.AttributeValueMemberBOOL{Value: true},
			},
		}},
	}
	if u.Active {
		// Still active, as read: an update never activates a user.
		self0.ConditionExpression = aws.String("attribute_exists(PK) AND #active = :true")
		self0.ExpressionAttributeValues[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	} else {
		// A deactivation: only of the active user, which leaves the users
		// gauge in the same transaction.
		self0.ConditionExpression = aws.String("attribute_exists(PK) AND #active = :true")
		self0.ExpressionAttributeValues[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		err = s.transactSub(ctx, items, u.OrgID, plan.Users)
	}
	if err == nil {
		return true, nil
	}
	if transactionConflict(err) {
		return false, nil
	}
	if reasons := cancelReasons(err); len(reasons) >= 2 {
		if conditionFailed(reasons[0]) {
			// Deleted or deactivated meanwhile: the plain write again,
			// whose failure reads the user afresh (404, or 409 for an
			// update of a user deactivated meanwhile).
			return false, nil
		}
		if conditionFailed(reasons[1]) {
			return false, nil // the other owner is one no longer: look again
		}
	}
	return false, fmt.Errorf("update owner %s: %w", u.ID, err)
}

// withoutOwnerValues drops the values only the plain write's condition
// uses (DynamoDB refuses unused expression values).
func withoutOwnerValues(v map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(v))
	for k, av := range v {
		if k != ":owner" && k != ":true" {
			out[k] = av
		}
	}
	return out
}
