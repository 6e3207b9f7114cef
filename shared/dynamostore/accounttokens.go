package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/plan"
)

// One-time account tokens (invitations, password resets, email
// verifications), each under the SHA-256 of the token and filed in GSI1
// under its org, and invitations in the org's partition. A token is used
// by deleting it, on condition that it is there and unexpired, in the same
// transaction as what it does: it works once, also when presented twice at
// once.

var _ account.TokenStore = (*Store)(nil)

type accountTokenItem struct {
	PK           string    `dynamodbav:"PK"`
	SK           string    `dynamodbav:"SK"`
	Type         string    `dynamodbav:"type"`
	Purpose      string    `dynamodbav:"purpose"`
	OrgID        string    `dynamodbav:"org_id"`
	UserID       string    `dynamodbav:"user_id,omitempty"`
	InvitationID string    `dynamodbav:"invitation_id,omitempty"`
	CreatedAt    time.Time `dynamodbav:"created_at"`
	TTL          int64     `dynamodbav:"ttl"`
	GSI1PK       string    `dynamodbav:"GSI1PK"`
	GSI1SK       string    `dynamodbav:"GSI1SK"`
}

type invitationItem struct {
	PK         string     `dynamodbav:"PK"`
	SK         string     `dynamodbav:"SK"`
	Type       string     `dynamodbav:"type"`
	ID         string     `dynamodbav:"id"`
	OrgID      string     `dynamodbav:"org_id"`
	Email      string     `dynamodbav:"email"`
	Role       string     `dynamodbav:"role"`
	InvitedBy  string     `dynamodbav:"invited_by"`
	Status     string     `dynamodbav:"status"`
	CreatedAt  time.Time  `dynamodbav:"created_at"`
	ExpiresAt  time.Time  `dynamodbav:"expires_at"`
	AcceptedBy string     `dynamodbav:"accepted_by,omitempty"`
	RevokedBy  string     `dynamodbav:"revoked_by,omitempty"`
	ClosedAt   *time.Time `dynamodbav:"closed_at,omitempty"`
	TokenHash  string     `dynamodbav:"token_hash"`
	TTL        int64      `dynamodbav:"ttl"`
}

// invitationKept is how long an invitation stays listed after it expires
// (accepted and revoked ones too): then its ttl removes it, with the
// invitee's email.
const invitationKept = 30 * 24 * time.Hour

func toAccountTokenItem(t account.OneTimeToken) accountTokenItem {
	return accountTokenItem{PK: accountTokenPK(t.Hash), SK: skAccountToken, Type: "account_token", Purpose: string(t.Purpose),
		OrgID: t.OrgID, UserID: t.UserID, InvitationID: t.InvitationID, CreatedAt: t.CreatedAt.UTC(), TTL: t.ExpiresAt.Unix(),
		GSI1PK: accountTokensPK(t.OrgID), GSI1SK: t.Hash}
}

func toInvitationItem(i account.Invitation) invitationItem {
	return invitationItem{PK: orgPK(i.OrgID), SK: invitationSK(i.ID), Type: "invitation", ID: i.ID, OrgID: i.OrgID, Email: i.Email,
		Role: string(i.Role), InvitedBy: i.InvitedBy, Status: string(i.Status), CreatedAt: i.CreatedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC(),
		AcceptedBy: i.AcceptedBy, RevokedBy: i.RevokedBy, TokenHash: i.TokenHash, TTL: i.ExpiresAt.Add(invitationKept).Unix()}
}

func (i invitationItem) invitation() account.Invitation {
	return account.Invitation{ID: i.ID, OrgID: i.OrgID, Email: i.Email, Role: account.Role(i.Role), InvitedBy: i.InvitedBy,
		Status: account.InvitationStatus(i.Status), CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt, AcceptedBy: i.AcceptedBy,
		RevokedBy: i.RevokedBy, TokenHash: i.TokenHash}
}

// PutAccountToken stores a reset or verification token.
func (s *Store) PutAccountToken(ctx context.Context, t account.OneTimeToken) error {
	av, err := marshal(toAccountTokenItem(t))
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}); err != nil {
		return fmt.Errorf("put %s token: %w", t.Purpose, err)
	}
	return nil
}

// GetAccountToken returns a live token by hash.
func (s *Store) GetAccountToken(ctx context.Context, hash string) (account.OneTimeToken, error) {
	var it accountTokenItem
	ok, err := s.get(ctx, accountTokenPK(hash), skAccountToken, &it)
	if err != nil {
		return account.OneTimeToken{}, err
	}
	if !ok {
		return account.OneTimeToken{}, account.ErrTokenInvalid
	}
	return account.OneTimeToken{Hash: hash, Purpose: account.TokenPurpose(it.Purpose), OrgID: it.OrgID, UserID: it.UserID,
		InvitationID: it.InvitationID, CreatedAt: it.CreatedAt, ExpiresAt: time.Unix(it.TTL, 0)}, nil
}

// consumeToken is the transaction step that uses a token: it deletes it
// provided it is there, of its purpose and unexpired.
func (s *Store) consumeToken(t account.OneTimeToken) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName: &s.table, Key: key(accountTokenPK(t.Hash), skAccountToken),
		ConditionExpression:      aws.String("attribute_exists(PK) AND purpose = :p AND #ttl > :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p":   &types.AttributeValueMemberS{Value: string(t.Purpose)},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Unix(), 10)},
		},
	}}
}

// CreateInvitation stores an invitation with its token.
func (s *Store) CreateInvitation(ctx context.Context, inv account.Invitation, t account.OneTimeToken) error {
	invAV, err := marshal(toInvitationItem(inv))
	if err != nil {
		return err
	}
	tokAV, err := marshal(toAccountTokenItem(t))
	if err != nil {
		return err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: invAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: tokAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}); err != nil {
		return fmt.Errorf("create invitation %s: %w", inv.ID, err)
	}
	return nil
}

// GetInvitation returns an invitation of an org.
func (s *Store) GetInvitation(ctx context.Context, orgID, id string) (account.Invitation, error) {
	return getAs(ctx, s, orgPK(orgID), invitationSK(id), invitationItem.invitation, account.ErrNotFound)
}

// ListInvitations returns the org's invitations, newest first. Orgs send
// tens of invitations a month, kept 30 days past their expiry, so this
// reads all pages of one Query.
func (s *Store) ListInvitations(ctx context.Context, orgID string) ([]account.Invitation, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixInvitation)
	if err != nil {
		return nil, fmt.Errorf("list invitations of %s: %w", orgID, err)
	}
	now := s.now()
	out := make([]account.Invitation, 0, len(items))
	for _, item := range items {
		if expired(item, now) {
			continue
		}
		var it invitationItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.invitation())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// closeInvitation is the transaction step that moves a pending
// invitation to status.
func (s *Store) closeInvitation(orgID, id string, status account.InvitationStatus, byAttr, by string, at time.Time) (types.TransactWriteItem, error) {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal time: %w", err)
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(orgPK(orgID), invitationSK(id)),
		UpdateExpression:         aws.String("SET #s = :s, #by = :by, closed_at = :at"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #s = :pending"),
		ExpressionAttributeNames: map[string]string{"#s": "status", "#by": byAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: string(status)}, ":by": &types.AttributeValueMemberS{Value: by}, ":at": atAV,
			":pending": &types.AttributeValueMemberS{Value: string(account.InvitationPending)},
		},
	}}, nil
}

// RevokeInvitation marks a pending invitation revoked and removes its
// token.
func (s *Store) RevokeInvitation(ctx context.Context, inv account.Invitation, by string, at time.Time) error {
	upd, err := s.closeInvitation(inv.OrgID, inv.ID, account.InvitationRevoked, "revoked_by", by, at)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{upd}
	if inv.TokenHash != "" {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(accountTokenPK(inv.TokenHash), skAccountToken)}})
	}
	err = s.transact(ctx, items)
	if reasons := cancelReasons(err); reasons != nil && conditionFailed(reasons[0]) {
		return account.ErrInvitationClosed
	}
	if err != nil {
		return fmt.Errorf("revoke invitation %s: %w", inv.ID, err)
	}
	return nil
}

// AcceptInvitation consumes the token, marks the invitation accepted and
// creates u with its email guard, all or nothing. The user counts in the
// org's users gauge: at the limit ctx carries (plan.WithLimit) it is a
// *plan.LimitError and nothing is written.
func (s *Store) AcceptInvitation(ctx context.Context, t account.OneTimeToken, u account.User) error {
	upd, err := s.closeInvitation(t.OrgID, t.InvitationID, account.InvitationAccepted, "accepted_by", u.ID, u.CreatedAt)
	if err != nil {
		return err
	}
	users, err := s.userWrites(u)
	if err != nil {
		return err
	}
	// The email guard is last, as writeUser expects; the new active user
	// counts in the users gauge (plangauges.go), at the limit ctx carries.
	items := append([]types.TransactWriteItem{s.consumeToken(t), upd, s.gaugeAdd(ctx, u.OrgID, plan.Users)}, users...)
	err = s.transact(ctx, items)
	if reasons := cancelReasons(err); reasons != nil {
		switch {
		case conditionFailed(reasons[0]):
			return account.ErrTokenInvalid
		case conditionFailed(reasons[1]):
			return account.ErrInvitationClosed
		case conditionFailed(reasons[2]):
			return gaugeLimit(ctx, plan.Users)
		case conditionFailed(reasons[len(reasons)-1]):
			return account.ErrEmailTaken
		}
		return fmt.Errorf("accept invitation %s: %w", t.InvitationID, account.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("accept invitation %s: %w", t.InvitationID, err)
	}
	return nil
}

// ResetPassword consumes the token and sets the user's password hash.
func (s *Store) ResetPassword(ctx context.Context, t account.OneTimeToken, passwordHash string, at, revokeBefore time.Time) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	revAV, err := attributevalue.Marshal(revokeBefore.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	return s.useUserToken(ctx, t, &types.Update{
		TableName: &s.table, Key: key(orgPK(t.OrgID), userSK(t.UserID)),
		UpdateExpression: aws.String("SET password_hash = :h, updated_at = :at, access_revoked_at = :rev, " +
			"email_verified_at = if_not_exists(email_verified_at, :at)"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":h": &types.AttributeValueMemberS{Value: passwordHash}, ":at": atAV, ":rev": revAV,
		},
	})
}

// VerifyEmail consumes the token and marks the user's email verified.
func (s *Store) VerifyEmail(ctx context.Context, t account.OneTimeToken, at time.Time) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	return s.useUserToken(ctx, t, &types.Update{
		TableName: &s.table, Key: key(orgPK(t.OrgID), userSK(t.UserID)),
		UpdateExpression:          aws.String("SET email_verified_at = if_not_exists(email_verified_at, :at)"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": atAV},
	})
}

// useUserToken consumes t together with upd of its user.
func (s *Store) useUserToken(ctx context.Context, t account.OneTimeToken, upd *types.Update) error {
	err := s.transact(ctx, []types.TransactWriteItem{s.consumeToken(t), {Update: upd}})
	if reasons := cancelReasons(err); len(reasons) == 2 {
		switch {
		case conditionFailed(reasons[0]):
			return account.ErrTokenInvalid
		case conditionFailed(reasons[1]):
			return account.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("use %s token: %w", t.Purpose, err)
	}
	return nil
}

// TakeAccountAttempt counts one request under key in a window that starts
// at its first request, as TakeLoginAttempt does for logins.
func (s *Store) TakeAccountAttempt(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	ok, _, err := s.takeAttempt(ctx, throttleAccountPK(key), limit, window)
	return ok, err
}

// TakeClientAttempt counts one request of a client address under key (a
// hash, never the address) as TakeAccountAttempt does, and also says when
// a full window started.
func (s *Store) TakeClientAttempt(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Time, error) {
	return s.takeAttempt(ctx, throttleAccountPK(key), limit, window)
}
