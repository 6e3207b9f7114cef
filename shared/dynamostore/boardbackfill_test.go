package dynamostore_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// The board backfill files leads written before pipelines in their
// status's column, page by page, leaving placed leads, the version and
// every other field as they were; a second run files nothing.
func TestBackfillBoardFilesOldLeads(t *testing.T) {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := devstacktest.Fresh(t).TableName
	s := dynamostore.New(db, table)
	org := ulid.Make().String()
	statuses := []lead.Status{lead.StatusNew, lead.StatusContacted, lead.StatusWon, lead.StatusContacted}
	var ids []string
	for i, st := range statuses {
		l := newLead(org, "Old", "+91980000020"+string(rune('0'+i)), "")
		l.Status, l.PipelineID, l.StageID = st, lead.DefaultPipelineID, string(st)
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
		if i == 3 {
			continue // placed: stays where it is
		}
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
			Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ORG#" + org}, "SK": &types.AttributeValueMemberS{Value: "LEAD#" + l.ID}},
			UpdateExpression: aws.String("REMOVE pipeline_id, stage_id, GSI3PK, GSI3SK")}); err != nil {
			t.Fatal(err)
		}
	}
	column := func(stage string) int {
		p, err := s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID, StageID: stage}, 10, page.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	before, _ := s.GetLead(ctx, org, ids[1])
	if column("contacted") != 1 || column("new") != 0 {
		t.Fatal("old leads in the board before the backfill")
	}
	run := func() int {
		total := 0
		for cur := (page.Cursor{}); ; {
			n, next, err := s.BackfillBoard(ctx, 2, cur)
			if err != nil {
				t.Fatal(err)
			}
			total += n
			if next.IsZero() {
				return total
			}
			cur = next
		}
	}
	if n := run(); n < 3 {
		t.Fatalf("filed %d leads, want at least this org's 3", n)
	}
	if column("new") != 1 || column("contacted") != 2 || column("won") != 1 {
		t.Fatalf("columns after the backfill: new %d, contacted %d, won %d", column("new"), column("contacted"), column("won"))
	}
	after, _ := s.GetLead(ctx, org, ids[1])
	if after.Version != before.Version || after.StageID != "contacted" || after.PipelineID != lead.DefaultPipelineID || after.Name != before.Name {
		t.Fatalf("lead changed by the backfill: %+v, was %+v", after, before)
	}
	if n := run(); n != 0 {
		t.Fatalf("second run filed %d leads", n)
	}
	if c, err := s.CountStage(ctx, org, lead.DefaultPipelineID, "contacted", ""); err != nil || c != 2 {
		t.Fatalf("contacted count %d, %v", c, err)
	}
}
