package app

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/integration"
)

// ownerTable reads owner items with one DynamoDB GetItem each. The
// webhook does not link shared/dynamostore (tools/links_test.go: it would
// bring the use cases' packages and their start-up cost), so the key is
// written here: the owner item of shared/dynamostore (keys.go metaOwnerPK:
// PK "META#<kind>#<external id>", SK "OWNER", attributes org_id and
// status), which ingest resolves a page or number by. The webhook's tests
// write that item through dynamostore, so a change of the key fails them.
type ownerTable struct {
	db    *dynamodb.Client
	table string
}

var _ Owners = (*ownerTable)(nil)

// newOwnerTable reads owner items of table through db.
func newOwnerTable(db *dynamodb.Client, table string) *ownerTable {
	return &ownerTable{db: db, table: table}
}

// IntegrationOwner returns the org a page or number belongs to
// (integration.ErrNotFound when none does).
func (o *ownerTable) IntegrationOwner(ctx context.Context, kind integration.Kind, externalID string) (integration.Owner, error) {
	out, err := o.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &o.table,
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "META#" + string(kind) + "#" + externalID},
			"SK": &types.AttributeValueMemberS{Value: "OWNER"},
		},
		ProjectionExpression:     aws.String("org_id, #s"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
	})
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: %w", kind, err)
	}
	org, _ := out.Item["org_id"].(*types.AttributeValueMemberS)
	if org == nil || org.Value == "" {
		return integration.Owner{}, integration.ErrNotFound
	}
	owner := integration.Owner{OrgID: org.Value}
	if st, ok := out.Item["status"].(*types.AttributeValueMemberS); ok {
		owner.Status = integration.Status(st.Value)
	}
	return owner, nil
}
