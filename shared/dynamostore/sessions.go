package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
)

// Sessions: refresh-token families under their user, each refresh token by
// its id, and the failed-login counters of the login throttle.

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
	// Tokens are the ids of the family's refresh tokens, so that purging
	// an org finds them (closed org purge, orgpurge.go).
	Tokens []string `dynamodbav:"tokens,stringset,omitempty"`
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
		Created: s.now(), TTL: familyExpires.Unix(), Tokens: []string{t.ID}})
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
// one transaction that also checks the family is neither revoked nor past
// its expiry. A token that was used already is account.ErrTokenReused, and
// so is a transaction conflict: only another write of the same token or
// family collides, in practice the same token presented twice at once, so
// the caller revokes the family. A revoked or expired family is
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
		{Update: &types.Update{
			TableName: &s.table, Key: key(familyPK(old.UserID), familySK(old.FamilyID)),
			UpdateExpression:         aws.String("ADD tokens :tok"),
			ConditionExpression:      aws.String("attribute_exists(PK) AND revoked = :f AND #ttl > :now"),
			ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false},
				":tok": &types.AttributeValueMemberSS{Value: []string{next.ID}},
				":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Unix(), 10)}},
		}},
		{Put: &types.Put{TableName: &s.table, Item: nextAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if transactionConflict(err) {
		return account.ErrTokenReused
	}
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

// RevokeSession revokes one refresh-token family. A revocation that meets
// a transaction in flight on the family (a rotation racing the reuse that
// asked for the revocation) is tried again, so it is not lost.
func (s *Store) RevokeSession(ctx context.Context, userID, familyID string) error {
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			if werr := backoff(ctx, attempt); werr != nil {
				return fmt.Errorf("revoke session: %w", werr)
			}
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(familyPK(userID), familySK(familyID)),
			UpdateExpression:          aws.String("SET revoked = :t"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
		})
		if err == nil || isConditionFailed(err) {
			return nil
		}
		if !transactionConflict(err) {
			break
		}
	}
	return fmt.Errorf("revoke session: %w", err)
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

// TakeLoginAttempt counts one password attempt for the email hash before
// the password is checked, provided fewer than limit were counted in the
// live window (which starts at its first attempt and lasts window). Each
// step is one conditional write, so parallel attempts are each counted
// once and none passes the limit: the count goes up only while it is below
// limit, and a window is started (or an ended one restarted) only where
// there is no live one. ok false means the limit is reached; since is when
// that window started.
func (s *Store) TakeLoginAttempt(ctx context.Context, emailHash string, limit int, window time.Duration) (bool, time.Time, error) {
	return s.takeAttempt(ctx, throttlePK(emailHash), limit, window)
}

// takeAttempt is TakeLoginAttempt on the counter in partition pk.
func (s *Store) takeAttempt(ctx context.Context, pk string, limit int, window time.Duration) (bool, time.Time, error) {
	k := key(pk, skThrottle)
	for range 8 {
		now := s.now()
		nowN := &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: k,
			UpdateExpression:         aws.String("ADD failures :one"),
			ConditionExpression:      aws.String("attribute_exists(PK) AND #ttl > :now AND failures < :limit"),
			ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": &types.AttributeValueMemberN{Value: "1"}, ":now": nowN,
				":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)},
			},
		})
		if err == nil {
			return true, time.Time{}, nil
		}
		if !isConditionFailed(err) {
			return false, time.Time{}, fmt.Errorf("count login attempt: %w", err)
		}
		// Either no live window (start one) or the limit is reached.
		av, err := marshal(throttleItem{PK: pk, SK: skThrottle, Failures: 1, WindowStart: now, TTL: now.Add(window).Unix()})
		if err != nil {
			return false, time.Time{}, err
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table, Item: av,
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR #ttl <= :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": nowN},
		})
		if err == nil {
			return true, time.Time{}, nil
		}
		if !isConditionFailed(err) {
			return false, time.Time{}, fmt.Errorf("start login attempt window: %w", err)
		}
		// A live window exists: full, or started by a parallel attempt
		// since the update above (then count again).
		var it throttleItem
		ok, err := s.get(ctx, pk, skThrottle, &it)
		if err != nil {
			return false, time.Time{}, fmt.Errorf("read login attempts: %w", err)
		}
		if ok && it.TTL > now.Unix() && it.Failures >= limit {
			return false, it.WindowStart, nil
		}
	}
	return false, time.Time{}, fmt.Errorf("count attempt for %s: too much contention", pk)
}

// ClearLoginFailures forgets failed logins after a successful one.
func (s *Store) ClearLoginFailures(ctx context.Context, emailHash string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(throttlePK(emailHash), skThrottle)}); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}
