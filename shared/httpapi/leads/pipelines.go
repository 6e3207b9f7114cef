package leads

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
)

// PipelineService is what the pipeline routes need of lead.Service.
type PipelineService interface {
	ListPipelines(ctx context.Context, a lead.Actor) ([]lead.Pipeline, error)
	GetPipeline(ctx context.Context, a lead.Actor, id string) (lead.Pipeline, error)
	StageCounts(ctx context.Context, a lead.Actor, id string) (lead.Pipeline, map[string]int, error)
	CreatePipeline(ctx context.Context, a lead.Actor, name string, stages []lead.StageIn) (lead.Pipeline, error)
	UpdatePipeline(ctx context.Context, a lead.Actor, id string, version int, p lead.PipelinePatch) (lead.Pipeline, error)
	DeleteStage(ctx context.Context, a lead.Actor, pipelineID, stageID, moveTo string) (int, error)
	DeletePipeline(ctx context.Context, a lead.Actor, id string) error
}

// StageOut is a stage of a pipeline.
type StageOut struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Kind   string  `json:"kind" enum:"open,won,lost"`
	Status *string `json:"status" doc:"The status a lead takes in this stage; null: a won or lost stage sets won or lost, an open one keeps an open status (a won or lost lead becomes new)."`
	// LeadCount is set when the request asks for counts.
	LeadCount *int `json:"lead_count,omitempty" doc:"With counts=true: the leads in the stage the caller may see (an agent its own)."`
}

// PipelineOut is a pipeline with its ordered stages.
type PipelineOut struct {
	ID        string     `json:"id" doc:"\"default\" for the org's default pipeline."`
	Name      string     `json:"name"`
	Default   bool       `json:"default"`
	Stages    []StageOut `json:"stages"`
	CreatedAt *time.Time `json:"created_at" doc:"Null for the default pipeline never changed."`
	UpdatedAt *time.Time `json:"updated_at"`
	Version   int        `json:"version" doc:"Increases with every change (0: the default pipeline never changed); send it as If-Match to update safely."`
}

// StageIn is a stage in a request: an existing one by id (renamed or
// moved), or a new one without an id.
type StageIn struct {
	ID     string `json:"id,omitempty" maxLength:"64" doc:"An existing stage; omit for a new one."`
	Name   string `json:"name" minLength:"1" maxLength:"100"`
	Kind   string `json:"kind,omitempty" enum:"open,won,lost" doc:"Default open; an existing stage's kind cannot change."`
	Status string `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost" doc:"The status leads take in this stage (new stages only); it must fit the kind."`
}

// PipelineIn creates a pipeline.
type PipelineIn struct {
	Name   string    `json:"name" minLength:"1" maxLength:"100"`
	Stages []StageIn `json:"stages" minItems:"1" maxItems:"50" doc:"In board order."`
}

// PipelinePatchIn changes a pipeline.
type PipelinePatchIn struct {
	Name   *string    `json:"name,omitempty" minLength:"1" maxLength:"100"`
	Stages *[]StageIn `json:"stages,omitempty" minItems:"1" maxItems:"50" doc:"The whole ordered list: every existing stage by id, new ones without; a missing existing stage is 422 (delete it with DELETE /v1/pipelines/{id}/stages/{stage_id})."`
}

// PipelineList is every pipeline of the org, the default first.
type PipelineList struct {
	Items []PipelineOut `json:"items"`
}

type pipelineOutput struct {
	ETag string `header:"ETag"`
	Body PipelineOut
}

type pipelinePath struct {
	ID string `path:"id" maxLength:"64"`
}

func pipelineOut(p lead.Pipeline) PipelineOut {
	out := PipelineOut{ID: p.ID, Name: p.Name, Default: p.Default(), Stages: make([]StageOut, 0, len(p.Stages)), Version: p.Version}
	if !p.CreatedAt.IsZero() {
		out.CreatedAt, out.UpdatedAt = &p.CreatedAt, &p.UpdatedAt
	}
	for _, s := range p.Stages {
		out.Stages = append(out.Stages, StageOut{ID: s.ID, Name: s.Name, Kind: string(s.Kind), Status: httpapi.Optional(string(s.Status))})
	}
	return out
}

func pipelineResult(p lead.Pipeline) *pipelineOutput {
	return &pipelineOutput{ETag: strconv.Quote(strconv.Itoa(p.Version)), Body: pipelineOut(p)}
}

func stagesIn(in []StageIn) []lead.StageIn {
	out := make([]lead.StageIn, 0, len(in))
	for _, s := range in {
		out = append(out, lead.StageIn{ID: s.ID, Name: s.Name, Kind: lead.StageKind(s.Kind), Status: lead.Status(s.Status)})
	}
	return out
}

func (s *server) registerPipelines(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-pipelines", Method: http.MethodGet, Path: "/v1/pipelines", Tags: []string{"pipelines"},
		Summary: "List the org's pipelines, the default first", Security: httpapi.BearerSecurity,
	}, s.listPipelines)
	huma.Register(api, huma.Operation{
		OperationID: "create-pipeline", Method: http.MethodPost, Path: "/v1/pipelines", Tags: []string{"pipelines"},
		Summary: "Create a pipeline (owner, admin)", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createPipeline)
	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline", Method: http.MethodGet, Path: "/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary: "Get a pipeline", Security: httpapi.BearerSecurity, Errors: []int{http.StatusNotFound},
	}, s.getPipeline)
	huma.Register(api, huma.Operation{
		OperationID: "update-pipeline", Method: http.MethodPatch, Path: "/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary: "Rename a pipeline, rename, reorder and add stages (owner, admin)", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, s.updatePipeline)
	huma.Register(api, huma.Operation{
		OperationID: "delete-pipeline", Method: http.MethodDelete, Path: "/v1/pipelines/{id}", Tags: []string{"pipelines"},
		Summary: "Delete a pipeline without leads (owner, admin; not the default)", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deletePipeline)
	huma.Register(api, huma.Operation{
		OperationID: "delete-pipeline-stage", Method: http.MethodDelete, Path: "/v1/pipelines/{id}/stages/{stage_id}", Tags: []string{"pipelines"},
		Summary:       "Delete a stage, moving its leads to move_to (owner, admin)",
		Description:   "A stage that holds leads needs move_to, another stage of the pipeline: each lead moves there (a stage_changed activity each) before the stage goes; without it the answer is 409 stage_not_empty.",
		DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.deleteStage)
}

// pipelineProblem maps an error of the pipeline rules to a problem, as
// problem does for leads; a denial names the pipeline id.
func pipelineProblem(ctx context.Context, k *httpapi.Kit, what string, err error) error {
	var de *lead.DeniedError
	var ce *lead.ConflictError
	var fe *lead.FieldError
	switch {
	case errors.As(err, &de):
		return k.Deny(ctx, de.Action, "pipeline", de.LeadID, de.Reason)
	case errors.As(err, &ce):
		return httpapi.NewProblem(http.StatusConflict, ce.Code, ce.Message)
	case errors.As(err, &fe) && fe.Field == "move_to":
		p := httpapi.NewProblem(http.StatusUnprocessableEntity, "validation_failed", "validation failed: move_to "+fe.Message)
		p.Errors = []*huma.ErrorDetail{{Message: fe.Message, Location: "query.move_to"}}
		return p
	case errors.Is(err, lead.ErrPipelineNotFound):
		return httpapi.NotFound("pipeline")
	case errors.Is(err, lead.ErrStageNotFound):
		return httpapi.NotFound("stage")
	case errors.Is(err, lead.ErrPipelineChanged):
		return httpapi.NewProblem(http.StatusPreconditionFailed, "version_mismatch", "the pipeline changed since you read it; fetch it and retry")
	}
	return problem(ctx, k, what, err)
}

func (s *server) listPipelines(ctx context.Context, _ *struct{}) (*struct{ Body PipelineList }, error) {
	ps, err := s.deps.Pipelines.ListPipelines(ctx, actor(ctx))
	if err != nil {
		return nil, s.Internal(ctx, "list pipelines", err)
	}
	out := &struct{ Body PipelineList }{Body: PipelineList{Items: make([]PipelineOut, 0, len(ps))}}
	for _, p := range ps {
		out.Body.Items = append(out.Body.Items, pipelineOut(p))
	}
	return out, nil
}

func (s *server) getPipeline(ctx context.Context, in *struct {
	ID     string `path:"id" maxLength:"64"`
	Counts bool   `query:"counts" doc:"Adds each stage's lead_count (one COUNT Query per stage; docs/crm.md)."`
}) (*pipelineOutput, error) {
	if !in.Counts {
		p, err := s.deps.Pipelines.GetPipeline(ctx, actor(ctx), in.ID)
		if err != nil {
			return nil, pipelineProblem(ctx, s.Kit, "read pipeline", err)
		}
		return pipelineResult(p), nil
	}
	p, counts, err := s.deps.Pipelines.StageCounts(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, pipelineProblem(ctx, s.Kit, "count pipeline's leads", err)
	}
	out := pipelineResult(p)
	if counts != nil {
		for i := range out.Body.Stages {
			n := counts[out.Body.Stages[i].ID]
			out.Body.Stages[i].LeadCount = &n
		}
	}
	return out, nil
}

func (s *server) createPipeline(ctx context.Context, in *struct{ Body PipelineIn }) (*pipelineOutput, error) {
	p, err := s.deps.Pipelines.CreatePipeline(ctx, actor(ctx), in.Body.Name, stagesIn(in.Body.Stages))
	if err != nil {
		return nil, pipelineProblem(ctx, s.Kit, "create pipeline", err)
	}
	return pipelineResult(p), nil
}

func (s *server) updatePipeline(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"The version you last read; a stale one is 412."`
	Body    PipelinePatchIn
}) (*pipelineOutput, error) {
	want, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, &httpapi.Problem{Title: "Bad Request", Status: http.StatusBadRequest, Code: "invalid_if_match", Detail: err.Error(),
			Errors: []*huma.ErrorDetail{{Message: err.Error(), Location: "header.If-Match"}}}
	}
	patch := lead.PipelinePatch{Name: in.Body.Name}
	if in.Body.Stages != nil {
		st := stagesIn(*in.Body.Stages)
		patch.Stages = &st
	}
	p, err := s.deps.Pipelines.UpdatePipeline(ctx, actor(ctx), in.ID, want, patch)
	if err != nil {
		return nil, pipelineProblem(ctx, s.Kit, "update pipeline", err)
	}
	return pipelineResult(p), nil
}

func (s *server) deletePipeline(ctx context.Context, in *pipelinePath) (*struct{}, error) {
	if err := s.deps.Pipelines.DeletePipeline(ctx, actor(ctx), in.ID); err != nil {
		return nil, pipelineProblem(ctx, s.Kit, "delete pipeline", err)
	}
	return nil, nil
}

func (s *server) deleteStage(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"64"`
	StageID string `path:"stage_id" maxLength:"64"`
	MoveTo  string `query:"move_to" maxLength:"64" doc:"The stage the stage's leads move to; needed when it holds leads."`
}) (*struct{}, error) {
	if _, err := s.deps.Pipelines.DeleteStage(ctx, actor(ctx), in.ID, in.StageID, in.MoveTo); err != nil {
		return nil, pipelineProblem(ctx, s.Kit, "delete stage", err)
	}
	return nil, nil
}
