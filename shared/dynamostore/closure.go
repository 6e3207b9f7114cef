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
		org := attr == "closed_at"
		in := &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(pk, sk),
			ConditionExpression: aws.String("attribute_exists(PK)"), ExpressionAttributeNames: map[string]string{"#c": attr}}
		if at.IsZero() {
			in.UpdateExpression = aws.String("REMOVE #c")
			if org {
				in.UpdateExpression = aws.String("REMOVE #c, GSI1PK, GSI1SK")
			}
		} else {
			av, err := attributevalue.Marshal(at.UTC())
			if err != nil {
				return fmt.Errorf("marshal closure time: %w", err)
			}
			in.UpdateExpression = aws.String("SET #c = :at")
			if attr == "org_closed_at" {
				// Access tokens issued until closing stay refused after a reopen.
				in.UpdateExpression = aws.String("SET #c = :at, access_revoked_at = :at")
			}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":at": av}
			if org {
				// The closed orgs index, for the purge after the reopen window.
				in.UpdateExpression = aws.String("SET #c = :at, GSI1PK = :cpk, GSI1SK = :csk")
				in.ExpressionAttributeValues[":cpk"] = &types.AttributeValueMemberS{Value: closedOrgsPK}
				in.ExpressionAttributeValues[":csk"] = &types.AttributeValueMemberS{Value: closedOrgSK(at, orgID)}
			}
		}
		_, err := s.db.UpdateItem(ctx, in)
		if isConditionFailed(err) {
			return account.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", attr, err)
		}
		return nil
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

// ClosedOrgs lists up to limit orgs closed before cutoff, oldest closure
// first, after the position after ("" from the start; the last org's
// Position), and whether more may follow.
func (s *Store) ClosedOrgs(ctx context.Context, cutoff time.Time, after string, limit int) ([]account.Org, bool, error) {
	vals := map[string]types.AttributeValue{
		":pk": &types.AttributeValueMemberS{Value: closedOrgsPK},
		":to": &types.AttributeValueMemberS{Value: cutoff.UTC().Format(dueTimeLayout)},
	}
	cond := "GSI1PK = :pk AND GSI1SK < :to"
	if after != "" {
		cond = "GSI1PK = :pk AND GSI1SK BETWEEN :after AND :to"
		vals[":after"] = &types.AttributeValueMemberS{Value: after + "\x00"}
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
		Limit: aws.Int32(pageLimit(limit)),
	})
	if err != nil {
		return nil, false, fmt.Errorf("list closed orgs: %w", err)
	}
	orgs := make([]account.Org, 0, len(out.Items))
	for _, item := range out.Items {
		var it orgItem
		if err := unmarshal(item, &it); err != nil {
			return nil, false, err
		}
		orgs = append(orgs, it.org())
	}
	return orgs, out.LastEvaluatedKey != nil, nil
}

// ClosedOrgPosition is the position of a listed closed org, for
// ClosedOrgs' after.
func ClosedOrgPosition(o account.Org) string { return closedOrgSK(o.ClosedAt, o.ID) }
