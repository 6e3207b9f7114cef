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

// An org's own sender address is one item in the org's partition,
// ORG#o / EMAIL_SENDER, read with one GetItem when an email is prepared.
// The guard item SENDER#<email> / OWNER names the org that claims the
// address and whether its claim is verified: SES identities belong to the
// whole AWS account, so without it a second org could send as an address
// the first one verified. A pending claim can be taken over by another org
// (so nobody can squat on an address they cannot verify); a verified one
// cannot.

type emailSenderItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"org_id"`
	Email     string    `dynamodbav:"email"`
	Status    string    `dynamodbav:"status"`
	CheckedAt time.Time `dynamodbav:"checked_at,unixtime"`
	SetBy     string    `dynamodbav:"set_by"`
	SetAt     time.Time `dynamodbav:"set_at"`
}

type senderOwnerItem struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	Type     string `dynamodbav:"type"`
	OrgID    string `dynamodbav:"org_id"`
	Verified bool   `dynamodbav:"verified"`
}

func (i emailSenderItem) sender() account.EmailSender {
	return account.EmailSender{OrgID: i.OrgID, Email: i.Email, Status: account.SenderStatus(i.Status),
		CheckedAt: i.CheckedAt, SetBy: i.SetBy, SetAt: i.SetAt}
}

// GetEmailSender returns the org's sender address, or account.ErrNotFound
// when it set none.
func (s *Store) GetEmailSender(ctx context.Context, orgID string) (account.EmailSender, error) {
	var it emailSenderItem
	ok, err := s.get(ctx, orgPK(orgID), skEmailSender, &it)
	if err != nil {
		return account.EmailSender{}, err
	}
	if !ok {
		return account.EmailSender{}, account.ErrNotFound
	}
	return it.sender(), nil
}

// EmailSenderOwner returns the org that claims a sender address ("" when
// none does) and whether that claim is verified.
func (s *Store) EmailSenderOwner(ctx context.Context, email string) (orgID string, verified bool, err error) {
	var it senderOwnerItem
	ok, err := s.get(ctx, senderOwnerPK(email), skOwner, &it)
	if err != nil || !ok {
		return "", false, err
	}
	return it.OrgID, it.Verified, nil
}

// PutEmailSender sets the org's sender address in one transaction: it
// claims the address for the org (account.ErrSenderTaken when another org
// holds a verified claim on it), writes the sender item, provided the org's
// address is still previous ("" for none; else account.ErrConflict: set
// concurrently), and releases previous when that was another address.
func (s *Store) PutEmailSender(ctx context.Context, snd account.EmailSender, previous string) error {
	item, err := marshal(emailSenderItem{PK: orgPK(snd.OrgID), SK: skEmailSender, Type: "email_sender", OrgID: snd.OrgID,
		Email: snd.Email, Status: string(snd.Status), CheckedAt: snd.CheckedAt, SetBy: snd.SetBy, SetAt: snd.SetAt})
	if err != nil {
		return err
	}
	owner, err := marshal(senderOwnerItem{PK: senderOwnerPK(snd.Email), SK: skOwner, Type: "sender_owner", OrgID: snd.OrgID,
		Verified: snd.Status == account.SenderVerified})
	if err != nil {
		return err
	}
	org := map[string]types.AttributeValue{":org": &types.AttributeValueMemberS{Value: snd.OrgID}}
	senderPut := &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if previous != "" {
		senderPut.ConditionExpression = aws.String("email = :prev")
		senderPut.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: previous}}
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: owner,
			ConditionExpression: aws.String("attribute_not_exists(PK) OR org_id = :org OR verified = :no"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":org": org[":org"], ":no": &types.AttributeValueMemberBOOL{Value: false},
			}}},
		{Put: senderPut},
	}
	if previous != "" && previous != snd.Email {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(senderOwnerPK(previous), skOwner),
			ConditionExpression: aws.String("attribute_not_exists(PK) OR org_id = :org"), ExpressionAttributeValues: org}})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	reasons := cancelReasons(err)
	if len(reasons) == 3 && !conditionFailed(reasons[0]) && !conditionFailed(reasons[1]) && conditionFailed(reasons[2]) {
		// Another org took the previous address's claim over: it is that
		// org's now, leave it.
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items[:2]})
		reasons = cancelReasons(err)
	}
	switch {
	case reasons != nil && conditionFailed(reasons[0]):
		return account.ErrSenderTaken
	case reasons != nil:
		// The org's address changed, or another request wrote the same
		// items at the same moment.
		return fmt.Errorf("put email sender of org %s: %w", snd.OrgID, account.ErrConflict)
	case err != nil:
		return fmt.Errorf("put email sender of org %s: %w", snd.OrgID, err)
	}
	return nil
}

// DeleteEmailSender forgets the org's sender address email, as read just
// before, and releases the org's claim on it in the same transaction (a
// claim another org has taken over is left to that org).
// account.ErrConflict: the org's address is no longer email.
func (s *Store) DeleteEmailSender(ctx context.Context, orgID, email string) error {
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(orgID), skEmailSender),
			ConditionExpression:       aws.String("email = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: email}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(senderOwnerPK(email), skOwner),
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR org_id = :org"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":org": &types.AttributeValueMemberS{Value: orgID}}}},
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	reasons := cancelReasons(err)
	if reasons != nil && !conditionFailed(reasons[0]) && conditionFailed(reasons[1]) {
		// Another org holds the claim now: only forget the address.
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items[:1]})
		reasons = cancelReasons(err)
	}
	if reasons != nil {
		return fmt.Errorf("delete email sender of org %s: %w", orgID, account.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete email sender of org %s: %w", orgID, err)
	}
	return nil
}

// ClaimEmailSenderCheck records that SES is being asked about the org's
// sender address email now, provided it was last asked before notAfter. It
// reports false when another check was more recent (or the address
// changed), so that SES is asked at most once per interval per org however
// many requests arrive at once.
func (s *Store) ClaimEmailSenderCheck(ctx context.Context, orgID, email string, notAfter, now time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skEmailSender),
		UpdateExpression:    aws.String("SET checked_at = :now"),
		ConditionExpression: aws.String("email = :e AND (attribute_not_exists(checked_at) OR checked_at <= :before)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":    &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
			":before": &types.AttributeValueMemberN{Value: strconv.FormatInt(notAfter.Unix(), 10)},
			":e":      &types.AttributeValueMemberS{Value: email},
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim sender check of org %s: %w", orgID, err)
	}
	return true, nil
}

// SetEmailSenderStatus records what SES said about the org's sender address
// email, on the org's item and on its claim of the address, in one
// transaction; it does nothing when the org has meanwhile set another
// address. When another org has taken the claim over, the org's address is
// marked superseded instead and the result is account.ErrSenderTaken: a link
// followed now verifies the other org's claim, not this one.
func (s *Store) SetEmailSenderStatus(ctx context.Context, orgID, email string, st account.SenderStatus) error {
	senderUpdate := func(st account.SenderStatus) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: key(orgPK(orgID), skEmailSender),
			UpdateExpression:         aws.String("SET #st = :st"),
			ConditionExpression:      aws.String("email = :e"),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":st": &types.AttributeValueMemberS{Value: string(st)},
				":e":  &types.AttributeValueMemberS{Value: email},
			},
		}}
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		senderUpdate(st),
		{Update: &types.Update{
			TableName: &s.table, Key: key(senderOwnerPK(email), skOwner),
			UpdateExpression:    aws.String("SET verified = :v"),
			ConditionExpression: aws.String("org_id = :org"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": &types.AttributeValueMemberBOOL{Value: st == account.SenderVerified}, ":org": &types.AttributeValueMemberS{Value: orgID},
			},
		}},
	}})
	reasons := cancelReasons(err)
	switch {
	case reasons != nil && conditionFailed(reasons[0]):
		return nil // the org set another address meanwhile
	case reasons != nil && conditionFailed(reasons[1]):
		if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			senderUpdate(account.SenderSuperseded)}}); err != nil && cancelReasons(err) == nil {
			return fmt.Errorf("set sender status of org %s: %w", orgID, err)
		}
		return account.ErrSenderTaken
	case err != nil:
		return fmt.Errorf("set sender status of org %s: %w", orgID, err)
	}
	return nil
}
