package dynamostore_test

import (
	"context"
	"errors"
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

// The default pipeline reads before it is stored; writes are optimistic.
func TestPipelineVersions(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	org := ulid.Make().String()
	def, err := s.Pipeline(ctx, org, lead.DefaultPipelineID)
	if err != nil || def.Version != 0 || len(def.Stages) != len(lead.Statuses) {
		t.Fatalf("default pipeline never written: %+v %v", def, err)
	}
	if _, err := s.Pipeline(ctx, org, ulid.Make().String()); !errors.Is(err, lead.ErrPipelineNotFound) {
		t.Fatalf("missing pipeline: %v", err)
	}
	def.Name, def.Version = "Funnel", 1
	if err := s.PutPipeline(ctx, def); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPipeline(ctx, def); !errors.Is(err, lead.ErrPipelineChanged) {
		t.Fatalf("second first write: %v, want ErrPipelineChanged", err)
	}
	other := lead.Pipeline{ID: ulid.Make().String(), OrgID: org, Name: "Rentals", Version: 1, Stages: []lead.Stage{{ID: "s1", Name: "One", Kind: lead.StageOpen}}}
	if err := s.PutPipeline(ctx, other); err != nil {
		t.Fatal(err)
	}
	before := c.get("Query")
	all, err := s.Pipelines(ctx, org)
	if err != nil || len(all) != 2 || all[0].Name != "Funnel" || all[1].ID != other.ID || c.get("Query")-before != 1 {
		t.Fatalf("pipelines %+v %v (%d queries)", all, err, c.get("Query")-before)
	}
	if err := s.DeletePipeline(ctx, lead.Pipeline{ID: other.ID, OrgID: org, Version: 2}); !errors.Is(err, lead.ErrPipelineChanged) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := s.DeletePipeline(ctx, other); err != nil {
		t.Fatal(err)
	}
}

// A board column is one Query on GSI3; a lead written before pipelines
// reads as in the default pipeline at its status's stage and enters the
// index at its next write.
func TestBoardColumnIsOneQuery(t *testing.T) {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := devstacktest.Fresh(t).TableName
	s := dynamostore.New(db, table)
	org := ulid.Make().String()
	var ids []string
	for i, ph := range []string{"+919800000101", "+919800000102", "+919800000103"} {
		l := newLead(org, "Board", ph, "")
		l.Status, l.PipelineID, l.StageID = lead.StatusContacted, "", ""
		if i == 2 {
			l.PipelineID, l.StageID = lead.DefaultPipelineID, "qualified"
		}
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	// Created without a stage: the default pipeline's first stage.
	got, err := s.GetLead(ctx, org, ids[0])
	if err != nil || got.PipelineID != lead.DefaultPipelineID || got.StageID != "new" || got.Status != lead.StatusNew {
		t.Fatalf("lead placed by the store: %+v %v", got, err)
	}
	p, err := s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID, StageID: "new"}, 1, page.Cursor{})
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != ids[1] || p.Next.IsZero() {
		t.Fatalf("first page of the new column: %+v %v", p, err)
	}
	p, err = s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID, StageID: "new"}, 1, p.Next)
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != ids[0] {
		t.Fatalf("second page of the new column: %+v %v", p, err)
	}

	// A lead as stored before pipelines: no stage, no GSI3 entry.
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ORG#" + org}, "SK": &types.AttributeValueMemberS{Value: "LEAD#" + ids[2]}},
		UpdateExpression: aws.String("REMOVE pipeline_id, stage_id, GSI3PK, GSI3SK")}); err != nil {
		t.Fatal(err)
	}
	old, err := s.GetLead(ctx, org, ids[2])
	if err != nil || old.PipelineID != lead.DefaultPipelineID || old.StageID != "contacted" {
		t.Fatalf("lead from before pipelines: %+v %v", old, err)
	}
	if p, _ := s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID, StageID: "contacted"}, 10, page.Cursor{}); len(p.Items) != 0 {
		t.Fatalf("unindexed lead in a column: %+v", p.Items)
	}
	next := old
	next.Version++
	if err := s.UpdateLead(ctx, old, next); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID, StageID: "contacted"}, 10, page.Cursor{}); len(p.Items) != 1 || p.Items[0].ID != ids[2] {
		t.Fatalf("contacted column after the lead's next write: %+v", p.Items)
	}
	// The pipeline filter alone counts the unindexed lead in the default pipeline.
	if p, err := s.ListLeads(ctx, org, lead.Filter{PipelineID: lead.DefaultPipelineID}, 10, page.Cursor{}); err != nil || len(p.Items) != 3 {
		t.Fatalf("default pipeline's leads: %d %v, want 3", len(p.Items), err)
	}
}
