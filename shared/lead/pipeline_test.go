package lead_test

import (
	"context"
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

// memPipelines keeps pipelines in memory, with the store's version rule.
type memPipelines map[string]lead.Pipeline

func (m memPipelines) Pipeline(_ context.Context, orgID, id string) (lead.Pipeline, error) {
	if p, ok := m[orgID+"/"+id]; ok {
		return p, nil
	}
	if id == lead.DefaultPipelineID {
		return lead.DefaultPipeline(orgID), nil
	}
	return lead.Pipeline{}, lead.ErrPipelineNotFound
}

func (m memPipelines) Pipelines(ctx context.Context, orgID string) ([]lead.Pipeline, error) {
	def, _ := m.Pipeline(ctx, orgID, lead.DefaultPipelineID)
	out := []lead.Pipeline{def}
	for _, p := range m {
		if p.OrgID == orgID && !p.Default() {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m memPipelines) PutPipeline(_ context.Context, p lead.Pipeline) error {
	if m[p.OrgID+"/"+p.ID].Version != p.Version-1 {
		return lead.ErrPipelineChanged
	}
	m[p.OrgID+"/"+p.ID] = p
	return nil
}

func (m memPipelines) DeletePipeline(_ context.Context, p lead.Pipeline) error {
	delete(m, p.OrgID+"/"+p.ID)
	return nil
}

// Status and stage move together: in the default pipeline a status names
// its stage; a won or lost stage sets the outcome; reopening a won lead
// makes it new.
func TestStatusAndStageMoveTogether(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	f.svc.Pipelines = memPipelines{}
	l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "Asha", Phone: "9876543210"})
	if err != nil {
		t.Fatal(err)
	}
	if l.PipelineID != lead.DefaultPipelineID || l.StageID != "new" || l.Status != lead.StatusNew {
		t.Fatalf("new lead at %s/%s %s, want default/new new", l.PipelineID, l.StageID, l.Status)
	}
	won := lead.StatusWon
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Status: &won}); err != nil || l.StageID != "won" {
		t.Fatalf("status won: %+v %v, want stage won", l, err)
	}
	qualified := "qualified"
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{StageID: &qualified}); err != nil || l.Status != lead.StatusQualified {
		t.Fatalf("stage qualified: %+v %v, want status qualified", l, err)
	}

	p, err := f.svc.CreatePipeline(ctx, as(f.owner), "Rentals", []lead.StageIn{{Name: "Enquiry"}, {Name: "Viewing"}, {Name: "Signed", Kind: lead.StageWon}})
	if err != nil {
		t.Fatal(err)
	}
	// Another pipeline without a stage: its first stage; the open status stays.
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{PipelineID: &p.ID}); err != nil || l.StageID != p.Stages[0].ID || l.Status != lead.StatusQualified {
		t.Fatalf("to pipeline: %+v %v", l, err)
	}
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{StageID: &p.Stages[2].ID}); err != nil || l.Status != lead.StatusWon {
		t.Fatalf("to the won stage: %+v %v, want status won", l, err)
	}
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{StageID: &p.Stages[1].ID}); err != nil || l.Status != lead.StatusNew {
		t.Fatalf("reopened: %+v %v, want status new", l, err)
	}
	// A status that does not fit the stage's kind, a stage of another pipeline.
	var fe *lead.FieldError
	lost := lead.StatusLost
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{StageID: &p.Stages[0].ID, Status: &lost}); !errors.As(err, &fe) || fe.Field != "status" {
		t.Fatalf("lost in an open stage: %v, want a field error on status", err)
	}
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{StageID: &qualified}); !errors.As(err, &fe) || fe.Field != "stage_id" {
		t.Fatalf("stage of another pipeline: %v, want a field error on stage_id", err)
	}
	nope := "nope"
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{PipelineID: &nope}); !errors.As(err, &fe) || fe.Field != "pipeline_id" {
		t.Fatalf("unknown pipeline: %v, want a field error on pipeline_id", err)
	}
	// A status without a stage of its kind in the pipeline leaves the lead where it is.
	if l, err = f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Status: &lost}); err != nil || l.StageID != p.Stages[1].ID {
		t.Fatalf("lost without a lost stage: %+v %v", l, err)
	}
}

// Deleting a stage that holds leads needs a target; the leads move there,
// each with its stage_changed activity.
func TestDeleteStageMovesLeads(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	f.svc.Pipelines = memPipelines{}
	var ids []string
	for _, ph := range []string{"9876543210", "9876543211"} {
		l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "A", Phone: ph, Status: lead.StatusContacted})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	var denied *lead.DeniedError
	if _, err := f.svc.DeleteStage(ctx, as(f.agent), lead.DefaultPipelineID, "contacted", "qualified"); !errors.As(err, &denied) {
		t.Fatalf("agent deletes a stage: %v, want a denial", err)
	}
	var ce *lead.ConflictError
	if _, err := f.svc.DeleteStage(ctx, as(f.owner), lead.DefaultPipelineID, "contacted", ""); !errors.As(err, &ce) || ce.Code != "stage_not_empty" {
		t.Fatalf("delete without move_to: %v, want stage_not_empty", err)
	}
	var fe *lead.FieldError
	if _, err := f.svc.DeleteStage(ctx, as(f.owner), lead.DefaultPipelineID, "contacted", "contacted"); !errors.As(err, &fe) || fe.Field != "move_to" {
		t.Fatalf("move to itself: %v, want a field error on move_to", err)
	}
	n, err := f.svc.DeleteStage(ctx, as(f.owner), lead.DefaultPipelineID, "contacted", "qualified")
	if err != nil || n != 2 {
		t.Fatalf("delete with move_to: %d %v, want 2 moved", n, err)
	}
	for _, id := range ids {
		if l := f.store.leads[id]; l.StageID != "qualified" || l.Status != lead.StatusQualified {
			t.Fatalf("moved lead %+v", l)
		}
	}
	moves := 0
	for _, a := range f.store.acts {
		if a.Kind == lead.ActivityStageChanged {
			moves++
		}
	}
	if moves != 2 {
		t.Fatalf("%d stage_changed activities, want 2", moves)
	}
	p, err := f.svc.GetPipeline(ctx, as(f.viewer), lead.DefaultPipelineID)
	if err != nil || len(p.Stages) != 5 || p.Version != 1 {
		t.Fatalf("default pipeline after the deletion: %+v %v", p, err)
	}
	// Setting the deleted stage's status now keeps an open lead where it is.
	contacted := lead.StatusContacted
	if l, err := f.svc.Update(ctx, as(f.owner), ids[0], 0, lead.Patch{Status: &contacted}); err != nil || l.StageID != "qualified" {
		t.Fatalf("status of a deleted stage: %+v %v", l, err)
	}
}

// Pipeline input limits name the field.
func TestPipelineLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	f.svc.Pipelines = memPipelines{}
	long := string(make([]rune, lead.MaxPipelineNameLen+1))
	for name, c := range map[string]struct {
		name   string
		stages []lead.StageIn
		field  string
	}{
		"no stages":        {"P", nil, "stages"},
		"long name":        {long, []lead.StageIn{{Name: "S"}}, "name"},
		"blank stage":      {"P", []lead.StageIn{{Name: " "}}, "stages[0].name"},
		"bad kind":         {"P", []lead.StageIn{{Name: "S", Kind: "maybe"}}, "stages[0].kind"},
		"status vs kind":   {"P", []lead.StageIn{{Name: "S", Kind: lead.StageWon, Status: lead.StatusLost}}, "stages[0].status"},
		"unknown stage id": {"P", []lead.StageIn{{ID: "x", Name: "S"}}, "stages[0].id"},
	} {
		var fe *lead.FieldError
		if _, err := f.svc.CreatePipeline(ctx, as(f.owner), c.name, c.stages); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v, want a field error on %s", name, err, c.field)
		}
	}
	many := make([]lead.StageIn, lead.MaxStages+1)
	for i := range many {
		many[i].Name = "S"
	}
	var fe *lead.FieldError
	if _, err := f.svc.CreatePipeline(ctx, as(f.owner), "P", many); !errors.As(err, &fe) || fe.Field != "stages" {
		t.Errorf("too many stages: %v", err)
	}
	// Every existing stage must stay listed on PATCH.
	stages := []lead.StageIn{{ID: "new", Name: "Fresh"}}
	if _, err := f.svc.UpdatePipeline(ctx, as(f.owner), lead.DefaultPipelineID, 0, lead.PipelinePatch{Stages: &stages}); !errors.As(err, &fe) || fe.Field != "stages" {
		t.Errorf("stage left out: %v", err)
	}
}
