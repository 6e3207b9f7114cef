package dynamostore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/policy"
)

// Privacy policy versions in the POLICY partition, each org's
// acknowledgements in its own partition, and the owners index (GSI1
// OWNERS, kept on user items by accounts.go).

var (
	_ policy.Store  = (*Store)(nil)
	_ policy.Owners = (*Store)(nil)
)

type policyVersionItem struct {
	PK          string    `dynamodbav:"PK"`
	SK          string    `dynamodbav:"SK"`
	Type        string    `dynamodbav:"type"`
	ID          string    `dynamodbav:"id"`
	Effective   time.Time `dynamodbav:"effective"`
	Summary     string    `dynamodbav:"summary"`
	PublishedAt time.Time `dynamodbav:"published_at"`
}

type policyAckItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"org_id"`
	VersionID string    `dynamodbav:"version_id"`
	UserID    string    `dynamodbav:"user_id"`
	At        time.Time `dynamodbav:"at"`
}

// PutPolicyVersion stores a new version; a taken id is policy.ErrExists.
func (s *Store) PutPolicyVersion(ctx context.Context, v policy.Version) error {
	av, err := marshal(policyVersionItem{PK: pkPolicy, SK: policyVersionSK(v.ID), Type: "policy_version", ID: v.ID,
		Effective: v.Effective.UTC(), Summary: v.Summary, PublishedAt: v.PublishedAt.UTC()})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return policy.ErrExists
	}
	if err != nil {
		return fmt.Errorf("put policy version %s: %w", v.ID, err)
	}
	return nil
}

// PolicyVersions returns every version, oldest effective date first.
func (s *Store) PolicyVersions(ctx context.Context) ([]policy.Version, error) {
	items, err := s.queryPrefix(ctx, pkPolicy, prefixPolicyVersion)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Version, 0, len(items))
	for _, item := range items {
		var it policyVersionItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, policy.Version{ID: it.ID, Effective: it.Effective, Summary: it.Summary, PublishedAt: it.PublishedAt})
	}
	// Few versions: order them here rather than keying them by date.
	slices.SortStableFunc(out, func(a, b policy.Version) int { return a.Effective.Compare(b.Effective) })
	return out, nil
}

// AcknowledgePolicy records an org's acknowledgement of a version once (a
// second acknowledgement keeps the first).
func (s *Store) AcknowledgePolicy(ctx context.Context, a policy.Acknowledgement) error {
	av, err := marshal(policyAckItem{PK: orgPK(a.OrgID), SK: policyAckSK(a.VersionID), Type: "policy_ack", OrgID: a.OrgID,
		VersionID: a.VersionID, UserID: a.UserID, At: a.At.UTC()})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("put policy acknowledgement %s: %w", a.VersionID, err)
	}
	return nil
}

// PolicyAcknowledged reports whether an org acknowledged a version.
func (s *Store) PolicyAcknowledged(ctx context.Context, orgID, versionID string) (bool, error) {
	var it policyAckItem
	ok, err := s.get(ctx, orgPK(orgID), policyAckSK(versionID), &it)
	if err != nil {
		return false, fmt.Errorf("read policy acknowledgement %s: %w", versionID, err)
	}
	return ok, nil
}

// OrgOwners reads one page of up to limit active org owners after from,
// from GSI1's OWNERS partition (ordered by org), and the position after
// the last (zero when there are no more).
func (s *Store) OrgOwners(ctx context.Context, limit int, from page.Cursor) ([]account.User, page.Cursor, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: ownersPK}},
		Limit:                     aws.Int32(pageLimit(limit)), ExclusiveStartKey: encodeKey(from),
	})
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("list org owners: %w", err)
	}
	list := make([]account.User, 0, len(out.Items))
	for _, item := range out.Items {
		var it userItem
		if err := unmarshal(item, &it); err != nil {
			return nil, page.Cursor{}, err
		}
		list = append(list, it.user())
	}
	return list, decodeKey(out.LastEvaluatedKey), nil
}
