package devstacktest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ScanTable returns every item of table (a consistent Scan), for tests
// that must prove what a table holds, or does not hold, as a whole.
func ScanTable(t testing.TB, db *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		pg, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, pg.Items...)
	}
	return items
}

// AttrStrings returns every string and binary value inside av, nested ones
// and map keys too.
func AttrStrings(av types.AttributeValue) []string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return []string{v.Value}
	case *types.AttributeValueMemberB:
		return []string{string(v.Value)}
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberBS:
		out := make([]string, 0, len(v.Value))
		for _, b := range v.Value {
			out = append(out, string(b))
		}
		return out
	case *types.AttributeValueMemberL:
		var out []string
		for _, x := range v.Value {
			out = append(out, AttrStrings(x)...)
		}
		return out
	case *types.AttributeValueMemberM:
		var out []string
		for k, x := range v.Value {
			out = append(out, k)
			out = append(out, AttrStrings(x)...)
		}
		return out
	}
	return nil
}
