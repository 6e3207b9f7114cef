package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// What users do with pipelines: everyone of the org reads them; owners and
// admins create, change and delete them. Moving a lead between stages is
// a change of the lead (Update, placeAfter).

// Audit actions of pipeline writes.
const (
	ActionPipelineCreate      = "pipeline.create"
	ActionPipelineUpdate      = "pipeline.update"
	ActionPipelineDelete      = "pipeline.delete"
	ActionPipelineStageDelete = "pipeline.stage_delete"
)

const pipelineWriteRole = "only an owner or admin can change pipelines"

// PipelinePatch changes a pipeline; nil fields stay. Stages is the whole
// ordered list: every existing stage by id (renamed, reordered) and new
// ones without an id.
type PipelinePatch struct {
	Name   *string
	Stages *[]StageIn
}

// pipeline reads one pipeline of the org (the default one as
// DefaultPipeline reads while it is not stored).
func (s *Service) pipeline(ctx context.Context, orgID, id string) (Pipeline, error) {
	if s.Pipelines == nil {
		if id == DefaultPipelineID {
			return DefaultPipeline(orgID), nil
		}
		return Pipeline{}, ErrPipelineNotFound
	}
	p, err := s.Pipelines.Pipeline(ctx, orgID, id)
	if err != nil && !errors.Is(err, ErrPipelineNotFound) {
		return Pipeline{}, fmt.Errorf("read pipeline %s: %w", id, err)
	}
	return p, err
}

// placeAfter settles next's pipeline, stage and status after patch p (see
// pipeline.go for the rules): a stage named must be one of the pipeline,
// and a status sent with it must fit the stage's kind.
func (s *Service) placeAfter(ctx context.Context, old Lead, next *Lead, p Patch) error {
	if p.Status != nil && !next.Status.Valid() {
		return nil // Normalize names the field
	}
	pl, err := s.pipeline(ctx, old.OrgID, next.PipelineID)
	if errors.Is(err, ErrPipelineNotFound) {
		return &FieldError{Field: "pipeline_id", Message: "is not a pipeline of this organisation"}
	}
	if err != nil {
		return err
	}
	switch {
	case p.StageID != nil:
		st, ok := pl.Stage(next.StageID)
		if !ok {
			return &FieldError{Field: "stage_id", Message: "is not a stage of pipeline " + pl.ID}
		}
		if p.Status == nil {
			next.Status = StatusIn(st, old.Status)
		} else if next.Status.Kind() != st.Kind {
			return &FieldError{Field: "status", Message: fmt.Sprintf("a lead in a stage of kind %s cannot have status %s", st.Kind, next.Status)}
		}
	case next.PipelineID != old.PipelineID:
		if p.Status != nil {
			next.StageID = pl.StageFor(next.Status, "").ID
			break
		}
		first := pl.Stages[0]
		next.StageID, next.Status = first.ID, StatusIn(first, old.Status)
	case p.Status != nil:
		next.StageID = pl.StageFor(next.Status, old.StageID).ID
	}
	return nil
}

// ListPipelines returns the org's pipelines, the default first.
func (s *Service) ListPipelines(ctx context.Context, a Actor) ([]Pipeline, error) {
	if s.Pipelines == nil {
		return []Pipeline{DefaultPipeline(a.User.OrgID)}, nil
	}
	ps, err := s.Pipelines.Pipelines(ctx, a.User.OrgID)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// GetPipeline returns one pipeline of the actor's org.
func (s *Service) GetPipeline(ctx context.Context, a Actor, id string) (Pipeline, error) {
	return s.pipeline(ctx, a.User.OrgID, id)
}

// StageCounter counts the leads of a board column (dynamostore.Store).
type StageCounter interface {
	// CountStage returns how many leads of the org are in the stage of the
	// pipeline (only those assigned to assigneeID when it is not empty).
	CountStage(ctx context.Context, orgID, pipelineID, stageID, assigneeID string) (int, error)
}

// StageCounts returns one pipeline of the actor's org with the number of
// leads in each of its stages, by stage id: the leads the actor may see
// (an agent its own). Without a StageCounter the counts are nil.
func (s *Service) StageCounts(ctx context.Context, a Actor, id string) (Pipeline, map[string]int, error) {
	p, err := s.pipeline(ctx, a.User.OrgID, id)
	if err != nil || s.Counts == nil {
		return p, nil, err
	}
	assignee := ""
	if !a.User.Role.SeesAllLeads() {
		assignee = a.User.ID
	}
	counts := make(map[string]int, len(p.Stages))
	for _, st := range p.Stages {
		n, err := s.Counts.CountStage(ctx, a.User.OrgID, p.ID, st.ID, assignee)
		if err != nil {
			return Pipeline{}, nil, fmt.Errorf("count stage %s of pipeline %s: %w", st.ID, p.ID, err)
		}
		counts[st.ID] = n
	}
	return p, counts, nil
}

// CreatePipeline adds a pipeline with the ordered stages (owner, admin).
func (s *Service) CreatePipeline(ctx context.Context, a Actor, name string, stages []StageIn) (Pipeline, error) {
	if !a.User.Role.Privileged() {
		return Pipeline{}, &DeniedError{Action: ActionPipelineCreate, Reason: pipelineWriteRole}
	}
	name, err := validName("name", name, MaxPipelineNameLen)
	if err != nil {
		return Pipeline{}, err
	}
	st, err := buildStages(nil, stages, newStageID)
	if err != nil {
		return Pipeline{}, err
	}
	all, err := s.ListPipelines(ctx, a)
	if err != nil {
		return Pipeline{}, err
	}
	if len(all) >= MaxPipelines {
		return Pipeline{}, &ConflictError{Code: "too_many_pipelines", Message: fmt.Sprintf("an organisation has at most %d pipelines", MaxPipelines)}
	}
	now := s.now().UTC()
	p := Pipeline{ID: ulid.Make().String(), OrgID: a.User.OrgID, Name: name, Stages: st, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.Pipelines.PutPipeline(ctx, p); err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline: %w", err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: p.OrgID, ActorID: a.User.ID, Action: ActionPipelineCreate, TargetType: "pipeline", TargetID: p.ID,
		Details: map[string]string{"stages": strconv.Itoa(len(p.Stages))}})
	return p, nil
}

func newStageID() string { return ulid.Make().String() }

// UpdatePipeline renames a pipeline and renames, reorders and adds its
// stages (owner, admin). With version (>0) the pipeline must still be at
// that version (else ErrPipelineChanged).
func (s *Service) UpdatePipeline(ctx context.Context, a Actor, id string, version int, patch PipelinePatch) (Pipeline, error) {
	if !a.User.Role.Privileged() {
		return Pipeline{}, &DeniedError{Action: ActionPipelineUpdate, LeadID: id, Reason: pipelineWriteRole}
	}
	old, err := s.pipeline(ctx, a.User.OrgID, id)
	if err != nil {
		return Pipeline{}, err
	}
	if version > 0 && version != old.Version {
		return Pipeline{}, ErrPipelineChanged
	}
	next := old
	var fields []string
	if patch.Name != nil {
		if next.Name, err = validName("name", *patch.Name, MaxPipelineNameLen); err != nil {
			return Pipeline{}, err
		}
		fields = append(fields, "name")
	}
	if patch.Stages != nil {
		if next.Stages, err = buildStages(old.Stages, *patch.Stages, newStageID); err != nil {
			return Pipeline{}, err
		}
		fields = append(fields, "stages")
	}
	if len(fields) == 0 {
		return old, nil
	}
	if err := s.putPipeline(ctx, &next); err != nil {
		return Pipeline{}, err
	}
	s.Audit.Record(ctx, audit.Record{OrgID: next.OrgID, ActorID: a.User.ID, Action: ActionPipelineUpdate, TargetType: "pipeline", TargetID: next.ID,
		Details: map[string]string{"fields": fmt.Sprint(fields), "stages": strconv.Itoa(len(next.Stages)), "version": strconv.Itoa(next.Version)}})
	return next, nil
}

// putPipeline writes p as the next version of what was read.
func (s *Service) putPipeline(ctx context.Context, p *Pipeline) error {
	now := s.now().UTC()
	if p.Version == 0 {
		p.CreatedAt = now
	}
	p.Version++
	p.UpdatedAt = now
	if s.Pipelines == nil {
		return errors.New("no pipeline store")
	}
	if err := s.Pipelines.PutPipeline(ctx, *p); err != nil {
		if errors.Is(err, ErrPipelineChanged) {
			return err
		}
		return fmt.Errorf("write pipeline %s: %w", p.ID, err)
	}
	return nil
}

// DeleteStage deletes a stage of a pipeline (owner, admin). A stage that
// holds leads needs moveTo, another stage of the pipeline: each of its
// leads moves there first (Update: one stage_changed activity each, and
// status_changed when the status follows), else it is a *ConflictError. It
// returns how many leads moved.
func (s *Service) DeleteStage(ctx context.Context, a Actor, pipelineID, stageID, moveTo string) (int, error) {
	if !a.User.Role.Privileged() {
		return 0, &DeniedError{Action: ActionPipelineStageDelete, LeadID: pipelineID, Reason: pipelineWriteRole}
	}
	p, err := s.pipeline(ctx, a.User.OrgID, pipelineID)
	if err != nil {
		return 0, err
	}
	if _, ok := p.Stage(stageID); !ok {
		return 0, ErrStageNotFound
	}
	if len(p.Stages) == 1 {
		return 0, &ConflictError{Code: "last_stage", Message: "a pipeline keeps at least one stage"}
	}
	if moveTo != "" {
		if _, ok := p.Stage(moveTo); !ok || moveTo == stageID {
			return 0, &FieldError{Field: "move_to", Message: "must be another stage of this pipeline"}
		}
	}
	moved := 0
	var from page.Cursor
	for {
		pg, err := s.Store.ListLeads(ctx, a.User.OrgID, Filter{PipelineID: pipelineID, StageID: stageID}, 100, from)
		if err != nil {
			return moved, fmt.Errorf("list leads of stage %s: %w", stageID, err)
		}
		if len(pg.Items) > 0 && moveTo == "" {
			return 0, &ConflictError{Code: "stage_not_empty", Message: "the stage holds leads; pass move_to=<stage_id> to move them to another stage"}
		}
		for _, l := range pg.Items {
			if moved >= MaxStageMoves {
				return moved, &ConflictError{Code: "stage_not_empty",
					Message: fmt.Sprintf("moved %d leads; the stage still holds leads: repeat the request", moved)}
			}
			if l.PipelineID != pipelineID || l.StageID != stageID {
				continue
			}
			_, err := s.Update(ctx, a, l.ID, 0, Patch{PipelineID: &pipelineID, StageID: &moveTo})
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return moved, fmt.Errorf("move lead %s: %w", l.ID, err)
			}
			moved++
		}
		if pg.Next.IsZero() {
			break
		}
		from = pg.Next
	}
	next := p
	next.Stages = slices.DeleteFunc(slices.Clone(p.Stages), func(st Stage) bool { return st.ID == stageID })
	if err := s.putPipeline(ctx, &next); err != nil {
		return moved, err
	}
	s.Audit.Record(ctx, audit.Record{OrgID: p.OrgID, ActorID: a.User.ID, Action: ActionPipelineStageDelete, TargetType: "pipeline", TargetID: p.ID,
		Details: map[string]string{"stage_id": stageID, "move_to": moveTo, "moved": strconv.Itoa(moved), "version": strconv.Itoa(next.Version)}})
	return moved, nil
}

// DeletePipeline deletes a pipeline that holds no leads (owner, admin);
// the default pipeline stays.
func (s *Service) DeletePipeline(ctx context.Context, a Actor, id string) error {
	if !a.User.Role.Privileged() {
		return &DeniedError{Action: ActionPipelineDelete, LeadID: id, Reason: pipelineWriteRole}
	}
	p, err := s.pipeline(ctx, a.User.OrgID, id)
	if err != nil {
		return err
	}
	if p.Default() {
		return &ConflictError{Code: "default_pipeline", Message: "the default pipeline cannot be deleted"}
	}
	for _, st := range p.Stages {
		pg, err := s.Store.ListLeads(ctx, a.User.OrgID, Filter{PipelineID: id, StageID: st.ID}, 1, page.Cursor{})
		if err != nil {
			return fmt.Errorf("list leads of stage %s: %w", st.ID, err)
		}
		if len(pg.Items) > 0 {
			return &ConflictError{Code: "pipeline_not_empty", Message: "the pipeline holds leads; move them to another pipeline first"}
		}
	}
	if err := s.Pipelines.DeletePipeline(ctx, p); err != nil {
		if errors.Is(err, ErrPipelineChanged) {
			return err
		}
		return fmt.Errorf("delete pipeline %s: %w", id, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: p.OrgID, ActorID: a.User.ID, Action: ActionPipelineDelete, TargetType: "pipeline", TargetID: p.ID})
	return nil
}
