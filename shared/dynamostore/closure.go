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

// Account closure: closed_at on the org item, mirrored as org_closed_at on
// each user item so that the user read of every request and login tells
// that the org is closed without another read.

var _ account.ClosureStore = (*Store)(nil)

// SetOrgClosed sets closed_at on the org and org_closed_at (with
// access_revoked_at, which stays) on each of users, or removes closed_at
// and org_closed_at when at is zero. The org item is written first:
// login and refresh read it, so they are refused from then on.
func (s *Store) SetOrgClosed(ctx context.Context, orgID string, users []account.User, at time.Time) error {
	mark := func(pk, sk, attr string) error {
		in := &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(pk, sk),
			ConditionExpression: aws.String("attribute_exists(PK)"), ExpressionAttributeNames: map[string]string{"#c": attr}}
		if at.IsZero() {
			in.UpdateExpression = aws.String("REMOVE #c")
		} else {
			av, err := attributevalue.Marshal(at.UTC())
			if err != nil {
				return err
			}
			in.UpdateExpression = aws.String("SET #c = :at")
			if attr == "org_closed_at" {
				// Access tokens issued until closing stay refused after a reopen.
				in.UpdateExpression = aws.String("SET #c = :at, access_revoked_at = :at")
			}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":at": av}
		}
		_, err := s.db.UpdateItem(ctx, in)
		if isConditionFailed(err) {
			return account.ErrNotFound
		}
		return err
	}
	if err := mark(orgPK(orgID), skOrg, "closed_at"); err != nil {
		return fmt.Errorf("mark org %s closed: %w", orgID, err)
	}
	for _, u := range users {
		if err := mark(orgPK(orgID), userSK(u.ID), "org_closed_at"); err != nil {
			return fmt.Errorf("mark user %s of closed org: %w", u.ID, err)
		}
	}
	return nil
}
