package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
)

// Two-factor enrolments: one item per user in the org's partition, with
// the TOTP secret sealed by the envelope key, the last time step accepted
// and the hashes of the unused recovery codes (a string set, so using one
// removes it in one conditional write). The user item mirrors whether it
// is on (mfa_enabled_at), so logins and refreshes know without a read.
// Login challenges are one-time account tokens (accounttokens.go).

var _ account.MFAStore = (*Store)(nil)

type mfaItem struct {
	PK             string     `dynamodbav:"PK"`
	SK             string     `dynamodbav:"SK"`
	Type           string     `dynamodbav:"type"`
	OrgID          string     `dynamodbav:"org_id"`
	UserID         string     `dynamodbav:"user_id"`
	SealedSecret   []byte     `dynamodbav:"sealed_secret"`
	Enabled        bool       `dynamodbav:"enabled"`
	CreatedAt      time.Time  `dynamodbav:"created_at"`
	EnabledAt      *time.Time `dynamodbav:"enabled_at,omitempty"`
	LastStep       int64      `dynamodbav:"last_step"`
	RecoveryHashes []string   `dynamodbav:"recovery_codes,stringset,omitempty"`
}

func (i mfaItem) mfa() account.MFA {
	m := account.MFA{OrgID: i.OrgID, UserID: i.UserID, SealedSecret: i.SealedSecret, Enabled: i.Enabled, CreatedAt: i.CreatedAt,
		LastStep: i.LastStep, RecoveryHashes: i.RecoveryHashes}
	if i.EnabledAt != nil {
		m.EnabledAt = *i.EnabledAt
	}
	return m
}

// PutMFAEnrolment stores a new unconfirmed enrolment, replacing an
// unconfirmed one.
func (s *Store) PutMFAEnrolment(ctx context.Context, m account.MFA) error {
	av, err := marshal(mfaItem{PK: orgPK(m.OrgID), SK: mfaSK(m.UserID), Type: "mfa", OrgID: m.OrgID, UserID: m.UserID,
		SealedSecret: m.SealedSecret, CreatedAt: m.CreatedAt.UTC(), RecoveryHashes: m.RecoveryHashes})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR enabled = :off"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":off": &types.AttributeValueMemberBOOL{Value: false}}})
	if isConditionFailed(err) {
		return account.ErrMFAEnabled
	}
	if err != nil {
		return fmt.Errorf("put mfa enrolment of user %s: %w", m.UserID, err)
	}
	return nil
}

// GetMFA returns the user's enrolment.
func (s *Store) GetMFA(ctx context.Context, orgID, userID string) (account.MFA, error) {
	return getAs(ctx, s, orgPK(orgID), mfaSK(userID), mfaItem.mfa, account.ErrNotFound)
}

// ConfirmMFA turns an unconfirmed enrolment on and marks the user.
func (s *Store) ConfirmMFA(ctx context.Context, orgID, userID string, step int64, at time.Time) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key(orgPK(orgID), mfaSK(userID)),
			UpdateExpression:    aws.String("SET enabled = :on, enabled_at = :at, last_step = :s"),
			ConditionExpression: aws.String("attribute_exists(PK) AND enabled = :off AND last_step < :s"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":on": &types.AttributeValueMemberBOOL{Value: true},
				":off": &types.AttributeValueMemberBOOL{Value: false}, ":at": atAV, ":s": num(step)}}},
		{Update: &types.Update{TableName: &s.table, Key: key(orgPK(orgID), userSK(userID)),
			UpdateExpression: aws.String("SET mfa_enabled_at = :at"), ConditionExpression: aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": atAV}}},
	})
	if reasons := cancelReasons(err); reasons != nil {
		if conditionFailed(reasons[0]) {
			return account.ErrCodeUsed
		}
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("confirm mfa of user %s: %w", userID, err)
	}
	return nil
}

// proofUpdate is the condition (and, for a step, the update) that uses
// proof p on an enabled enrolment: a step after the last one accepted, or
// a recovery code still in the set (which it removes).
func proofUpdate(p account.MFAProof) (update, cond string, values map[string]types.AttributeValue) {
	values = map[string]types.AttributeValue{":on": &types.AttributeValueMemberBOOL{Value: true}}
	if p.RecoveryHash != "" {
		values[":h"] = &types.AttributeValueMemberS{Value: p.RecoveryHash}
		values[":hs"] = &types.AttributeValueMemberSS{Value: []string{p.RecoveryHash}}
		return "DELETE recovery_codes :hs", "enabled = :on AND contains(recovery_codes, :h)", values
	}
	values[":s"] = num(p.Step)
	return "SET last_step = :s", "enabled = :on AND last_step < :s", values
}

// DisableMFA removes an enabled enrolment proved by p and unmarks the user.
func (s *Store) DisableMFA(ctx context.Context, orgID, userID string, p account.MFAProof) error {
	_, cond, values := proofUpdate(p)
	delete(values, ":hs")
	err := s.transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(orgID), mfaSK(userID)),
			ConditionExpression: aws.String(cond), ExpressionAttributeValues: values}},
		{Update: &types.Update{TableName: &s.table, Key: key(orgPK(orgID), userSK(userID)),
			UpdateExpression: aws.String("REMOVE mfa_enabled_at"), ConditionExpression: aws.String("attribute_exists(PK)")}},
	})
	if reasons := cancelReasons(err); reasons != nil {
		if conditionFailed(reasons[0]) {
			return account.ErrCodeUsed
		}
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("disable mfa of user %s: %w", userID, err)
	}
	return nil
}

// CompleteMFAChallenge consumes the login challenge t and records p.
func (s *Store) CompleteMFAChallenge(ctx context.Context, t account.OneTimeToken, p account.MFAProof) error {
	update, cond, values := proofUpdate(p)
	err := s.transact(ctx, []types.TransactWriteItem{s.consumeToken(t),
		{Update: &types.Update{TableName: &s.table, Key: key(orgPK(t.OrgID), mfaSK(t.UserID)),
			UpdateExpression: aws.String(update), ConditionExpression: aws.String("attribute_exists(PK) AND " + cond),
			ExpressionAttributeValues: values}},
	})
	if reasons := cancelReasons(err); len(reasons) == 2 {
		switch {
		case conditionFailed(reasons[0]):
			return account.ErrTokenInvalid
		case conditionFailed(reasons[1]):
			return account.ErrCodeUsed
		}
	}
	if err != nil {
		return fmt.Errorf("complete mfa challenge of user %s: %w", t.UserID, err)
	}
	return nil
}

// SetOrgSecurity sets whether the org requires two-factor sign-in of its
// owners and admins.
func (s *Store) SetOrgSecurity(ctx context.Context, orgID string, mfaRequiredForAdmins bool) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(orgPK(orgID), skOrg),
		UpdateExpression: aws.String("SET mfa_required_for_admins = :v"), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberBOOL{Value: mfaRequiredForAdmins}}})
	if isConditionFailed(err) {
		return account.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set security of org %s: %w", orgID, err)
	}
	return nil
}
