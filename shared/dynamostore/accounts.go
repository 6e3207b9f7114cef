package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
)

type orgItem struct {
	PK            string    `dynamodbav:"PK"`
	SK            string    `dynamodbav:"SK"`
	Type          string    `dynamodbav:"type"`
	ID            string    `dynamodbav:"id"`
	Name          string    `dynamodbav:"name"`
	DefaultRegion string    `dynamodbav:"default_region"`
	CreatedAt     time.Time `dynamodbav:"created_at"`
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
	return account.Org{ID: i.ID, Name: i.Name, DefaultRegion: i.DefaultRegion, CreatedAt: i.CreatedAt}
}

func toUserItem(u account.User) userItem {
	return userItem{PK: orgPK(u.OrgID), SK: userSK(u.ID), Type: "user", ID: u.ID, OrgID: u.OrgID, Name: u.Name, Email: u.Email,
		Role: string(u.Role), Active: u.Active, PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func (i userItem) user() account.User {
	return account.User{ID: i.ID, OrgID: i.OrgID, Name: i.Name, Email: i.Email, Role: account.Role(i.Role), Active: i.Active,
		PasswordHash: i.PasswordHash, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
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
	items = append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: orgAV, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}}, items...)
	return s.writeUser(ctx, items, "create org "+o.ID)
}

// CreateUser adds a user to its org and claims its email.
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	items, err := s.userWrites(u)
	if err != nil {
		return err
	}
	return s.writeUser(ctx, items, "create user "+u.ID)
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
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if reasons := cancelReasons(err); reasons != nil {
		// The email guard is always the last item.
		if conditionFailed(reasons[len(reasons)-1]) {
			return account.ErrEmailTaken
		}
		return fmt.Errorf("%s: %w", what, account.ErrConflict)
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
	keyCond := expression.Key(attrPK).Equal(expression.Value(orgPK(orgID))).
		And(expression.Key(attrSK).BeginsWith(prefixUser))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var out []account.User
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list users of %s: %w", orgID, err)
		}
		for _, item := range page.Items {
			var it userItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			out = append(out, it.user())
		}
	}
	return out, nil
}

// UpdateUser replaces a user's mutable fields (name, role, active).
func (s *Store) UpdateUser(ctx context.Context, u account.User) error {
	upd := expression.Set(expression.Name("name"), expression.Value(u.Name)).
		Set(expression.Name("role"), expression.Value(string(u.Role))).
		Set(expression.Name("active"), expression.Value(u.Active)).
		Set(expression.Name("updated_at"), expression.Value(u.UpdatedAt))
	expr, err := expression.NewBuilder().WithUpdate(upd).
		WithCondition(expression.AttributeExists(expression.Name(attrPK))).Build()
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(u.OrgID), userSK(u.ID)),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if isConditionFailed(err) {
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return nil
}

type refreshItem struct {
	PK         string `dynamodbav:"PK"`
	SK         string `dynamodbav:"SK"`
	Type       string `dynamodbav:"type"`
	FamilyID   string `dynamodbav:"family_id"`
	UserID     string `dynamodbav:"user_id"`
	OrgID      string `dynamodbav:"org_id"`
	SecretHash []byte `dynamodbav:"secret_hash"`
	Used       bool   `dynamodbav:"used"`
	TTL        int64  `dynamodbav:"ttl"`
}

type familyItem struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	Type    string    `dynamodbav:"type"`
	ID      string    `dynamodbav:"id"`
	Revoked bool      `dynamodbav:"revoked"`
	Created time.Time `dynamodbav:"created_at"`
	TTL     int64     `dynamodbav:"ttl"`
}

func toRefreshItem(t account.RefreshToken) refreshItem {
	return refreshItem{PK: refreshPK(t.ID), SK: skRefresh, Type: "refresh", FamilyID: t.FamilyID, UserID: t.UserID,
		OrgID: t.OrgID, SecretHash: t.SecretHash, TTL: t.ExpiresAt.Unix()}
}

// StartSession stores the first refresh token of a new family.
func (s *Store) StartSession(ctx context.Context, t account.RefreshToken, familyExpires time.Time) error {
	tokAV, err := marshal(toRefreshItem(t))
	if err != nil {
		return err
	}
	famAV, err := marshal(familyItem{PK: familyPK(t.UserID), SK: familySK(t.FamilyID), Type: "session", ID: t.FamilyID,
		Created: s.now(), TTL: familyExpires.Unix()})
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: famAV}},
		{Put: &types.Put{TableName: &s.table, Item: tokAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	return nil
}

// GetRefreshToken returns a stored refresh token and whether it was used.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (account.RefreshToken, bool, error) {
	var it refreshItem
	ok, err := s.get(ctx, refreshPK(id), skRefresh, &it)
	if err != nil {
		return account.RefreshToken{}, false, err
	}
	if !ok {
		return account.RefreshToken{}, false, account.ErrTokenInvalid
	}
	return account.RefreshToken{ID: id, FamilyID: it.FamilyID, UserID: it.UserID, OrgID: it.OrgID,
		SecretHash: it.SecretHash, ExpiresAt: time.Unix(it.TTL, 0)}, it.Used, nil
}

// RotateRefreshToken marks old used and stores next in the same family, in
// one transaction that also checks the family is not revoked. A token that
// was used already is account.ErrTokenReused; a revoked family is
// account.ErrTokenInvalid.
func (s *Store) RotateRefreshToken(ctx context.Context, old, next account.RefreshToken) error {
	nextAV, err := marshal(toRefreshItem(next))
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: key(refreshPK(old.ID), skRefresh),
			UpdateExpression:          aws.String("SET used = :t"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND used = :f"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":f": &types.AttributeValueMemberBOOL{Value: false}},
		}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: &s.table, Key: key(familyPK(old.UserID), familySK(old.FamilyID)),
			ConditionExpression:       aws.String("attribute_exists(PK) AND revoked = :f"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}},
		}},
		{Put: &types.Put{TableName: &s.table, Item: nextAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if reasons := cancelReasons(err); reasons != nil {
		if conditionFailed(reasons[0]) {
			return account.ErrTokenReused
		}
		return account.ErrTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// SessionActive reports whether a refresh-token family is still valid.
func (s *Store) SessionActive(ctx context.Context, userID, familyID string) (bool, error) {
	var it familyItem
	ok, err := s.get(ctx, familyPK(userID), familySK(familyID), &it)
	if err != nil {
		return false, err
	}
	return ok && !it.Revoked, nil
}

// RevokeSession revokes one refresh-token family.
func (s *Store) RevokeSession(ctx context.Context, userID, familyID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(familyPK(userID), familySK(familyID)),
		UpdateExpression:          aws.String("SET revoked = :t"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeAllSessions revokes every refresh-token family of a user.
func (s *Store) RevokeAllSessions(ctx context.Context, userID string) error {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :fam)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: familyPK(userID)}, ":fam": &types.AttributeValueMemberS{Value: prefixFamily},
		},
		ProjectionExpression: aws.String("id"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list sessions: %w", err)
		}
		for _, item := range page.Items {
			var it familyItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			if err := s.RevokeSession(ctx, userID, it.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

type throttleItem struct {
	PK          string    `dynamodbav:"PK"`
	SK          string    `dynamodbav:"SK"`
	Failures    int       `dynamodbav:"failures"`
	WindowStart time.Time `dynamodbav:"window_start"`
	TTL         int64     `dynamodbav:"ttl"`
}

// LoginFailures returns the failed-login count in the current window for
// the email hash, and when that window started.
func (s *Store) LoginFailures(ctx context.Context, emailHash string) (int, time.Time, error) {
	var it throttleItem
	ok, err := s.get(ctx, throttlePK(emailHash), skThrottle, &it)
	if err != nil || !ok {
		return 0, time.Time{}, err
	}
	return it.Failures, it.WindowStart, nil
}

// RecordLoginFailure counts one failed login inside a window that starts at
// the first failure and lasts window.
func (s *Store) RecordLoginFailure(ctx context.Context, emailHash string, window time.Duration) error {
	now := s.now()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(throttlePK(emailHash), skThrottle),
		UpdateExpression:         aws.String("ADD failures :one"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #ttl > :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
			":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.Unix())},
		},
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("count login failure: %w", err)
	}
	// No live window: start one.
	av, err := marshal(throttleItem{PK: throttlePK(emailHash), SK: skThrottle, Failures: 1, WindowStart: now, TTL: now.Add(window).Unix()})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("start login failure window: %w", err)
	}
	return nil
}

// ClearLoginFailures forgets failed logins after a successful one.
func (s *Store) ClearLoginFailures(ctx context.Context, emailHash string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(throttlePK(emailHash), skThrottle)}); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

type secretItem struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	Sealed  []byte    `dynamodbav:"sealed"`
	Created time.Time `dynamodbav:"created_at"`
}

// ErrSecretExists means PutSecret lost a race: another writer stored the
// secret first, and the caller should read that one.
var ErrSecretExists = errors.New("secret already exists")

// GetSecret returns a sealed platform secret, or account.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var it secretItem
	ok, err := s.get(ctx, secretPK(name), skSecret, &it)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, account.ErrNotFound
	}
	return it.Sealed, nil
}

// PutSecret stores a sealed platform secret unless one exists already.
func (s *Store) PutSecret(ctx context.Context, name string, sealed []byte) error {
	av, err := marshal(secretItem{PK: secretPK(name), SK: skSecret, Sealed: sealed, Created: s.now()})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return ErrSecretExists
	}
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	return nil
}
