package lead

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Pipelines and stages: a lead sits in one stage of one pipeline of its
// org. Every org has a default pipeline (id "default") whose first six
// stages mirror the statuses (their ids are the status names), so that
// status and stage move together for clients that only know the status.
//
// How status and stage relate: a stage has a kind (open, won or lost) and
// may name the status a lead takes in it (Stage.Status). Moving a lead to a
// stage sets its status to the stage's status; a stage without one sets
// "won" or "lost" for its kind, and on an open stage keeps an open status
// (a won or lost lead reopened becomes "new"). Changing only the status
// moves the lead, inside its pipeline, to the first stage naming that
// status, else keeps it where it is when the stage's kind fits the status,
// else to the first stage of the status's kind (Place, MoveTo).

// StageKind is what reaching a stage means for the deal.
type StageKind string

// Stage kinds.
const (
	StageOpen StageKind = "open"
	StageWon  StageKind = "won"
	StageLost StageKind = "lost"
)

// Valid reports whether k is a known kind.
func (k StageKind) Valid() bool { return k == StageOpen || k == StageWon || k == StageLost }

// Kind is the stage kind a status belongs to: won, lost, or open for the
// others.
func (s Status) Kind() StageKind {
	switch s {
	case StatusWon:
		return StageWon
	case StatusLost:
		return StageLost
	}
	return StageOpen
}

// DefaultPipelineID is the id of every org's default pipeline.
const DefaultPipelineID = "default"

// Limits of pipelines.
const (
	MaxStages          = 50
	MaxPipelines       = 50
	MaxPipelineNameLen = 100
	MaxStageNameLen    = 100
	// MaxStageMoves bounds the leads one stage deletion moves; a stage
	// with more is emptied by repeating the request.
	MaxStageMoves = 1000
)

// Stage is a step of a pipeline.
type Stage struct {
	ID   string
	Name string
	Kind StageKind
	// Status is the status a lead takes in this stage; empty: see Place.
	Status Status
}

// Pipeline is an org's ordered list of stages a lead goes through.
type Pipeline struct {
	ID        string
	OrgID     string
	Name      string
	Stages    []Stage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases with every write; 0 is the default pipeline not
	// yet written (DefaultPipeline).
	Version int
}

// Default reports whether p is its org's default pipeline.
func (p Pipeline) Default() bool { return p.ID == DefaultPipelineID }

// DefaultPipeline is the default pipeline of an org as it reads until an
// owner or admin first changes it: one stage per status, in the statuses'
// order, each with the status as its id.
func DefaultPipeline(orgID string) Pipeline {
	p := Pipeline{ID: DefaultPipelineID, OrgID: orgID, Name: "Sales"}
	for _, st := range Statuses {
		p.Stages = append(p.Stages, Stage{ID: string(st), Name: strings.ToUpper(string(st[:1])) + string(st[1:]), Kind: st.Kind(), Status: st})
	}
	return p
}

// Stage returns the stage of p with the id.
func (p Pipeline) Stage(id string) (Stage, bool) {
	for _, s := range p.Stages {
		if s.ID == id {
			return s, true
		}
	}
	return Stage{}, false
}

// StatusIn is the status a lead of status cur has once in stage st.
func StatusIn(st Stage, cur Status) Status {
	switch {
	case st.Status != "":
		return st.Status
	case st.Kind == StageWon:
		return StatusWon
	case st.Kind == StageLost:
		return StatusLost
	case cur.Kind() == StageOpen && cur != "":
		return cur
	}
	return StatusNew
}

// StageFor is the stage of p a lead in stage cur (any id, possibly not of
// p) goes to when its status becomes status: the first stage naming the
// status, else cur when its kind fits, else the first stage of the
// status's kind, else cur if it is a stage of p, else the first stage.
func (p Pipeline) StageFor(status Status, cur string) Stage {
	for _, s := range p.Stages {
		if s.Status == status {
			return s
		}
	}
	c, ok := p.Stage(cur)
	if ok && c.Kind == status.Kind() {
		return c
	}
	for _, s := range p.Stages {
		if s.Kind == status.Kind() {
			return s
		}
	}
	if ok {
		return c
	}
	return p.Stages[0]
}

// Place puts a new lead in p: with a status given, in the stage for it
// (StageFor); without, in the first stage with that stage's status.
func (p Pipeline) Place(l *Lead, statusGiven bool) {
	l.PipelineID = p.ID
	if statusGiven && l.Status != "" {
		l.StageID = p.StageFor(l.Status, "").ID
		return
	}
	first := p.Stages[0]
	l.StageID, l.Status = first.ID, StatusIn(first, "")
}

// Pipeline errors.
var (
	ErrPipelineNotFound = errors.New("pipeline not found")
	ErrStageNotFound    = errors.New("stage not found")
	// ErrPipelineChanged means the pipeline was written meanwhile.
	ErrPipelineChanged = errors.New("pipeline changed meanwhile")
)

// ConflictError is a pipeline change refused by the state of the data
// (a stage that holds leads, a pipeline's last stage); Code names it.
type ConflictError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *ConflictError) Error() string { return e.Message }

// StageIn is a stage as a caller describes it: an existing one by id (its
// name may change, not its kind), or a new one without.
type StageIn struct {
	ID     string
	Name   string
	Kind   StageKind
	Status Status
}

// validName trims a name and checks its length in characters.
func validName(field, name string, max int) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > max {
		return "", &FieldError{Field: field, Message: fmt.Sprintf("must be 1 to %d characters", max)}
	}
	return name, nil
}

// buildStages turns the caller's ordered stages into p's stages: existing
// ones (by id) keep their kind and status, new ones get ids from newID.
// Every stage of old must be listed (deleting one is DeleteStage).
func buildStages(old []Stage, in []StageIn, newID func() string) ([]Stage, error) {
	if len(in) == 0 || len(in) > MaxStages {
		return nil, &FieldError{Field: "stages", Message: fmt.Sprintf("must be 1 to %d stages", MaxStages)}
	}
	byID := map[string]Stage{}
	for _, s := range old {
		byID[s.ID] = s
	}
	seen := map[string]bool{}
	out := make([]Stage, 0, len(in))
	for i, s := range in {
		field := fmt.Sprintf("stages[%d]", i)
		name, err := validName(field+".name", s.Name, MaxStageNameLen)
		if err != nil {
			return nil, err
		}
		if s.ID != "" {
			cur, ok := byID[s.ID]
			if !ok || seen[s.ID] {
				return nil, &FieldError{Field: field + ".id", Message: "is not a stage of this pipeline, or is listed twice"}
			}
			if (s.Kind != "" && s.Kind != cur.Kind) || (s.Status != "" && s.Status != cur.Status) {
				return nil, &FieldError{Field: field + ".kind", Message: "the kind and status of an existing stage cannot change; add a new stage and delete this one"}
			}
			seen[s.ID] = true
			cur.Name = name
			out = append(out, cur)
			continue
		}
		kind := s.Kind
		if kind == "" {
			kind = StageOpen
		}
		if !kind.Valid() {
			return nil, &FieldError{Field: field + ".kind", Message: "must be one of open, won, lost"}
		}
		if s.Status != "" && (!s.Status.Valid() || s.Status.Kind() != kind) {
			return nil, &FieldError{Field: field + ".status", Message: "must be a status of the stage's kind (open: new, contacted, qualified, unqualified; won: won; lost: lost)"}
		}
		out = append(out, Stage{ID: newID(), Name: name, Kind: kind, Status: s.Status})
	}
	if len(seen) != len(old) {
		return nil, &FieldError{Field: "stages", Message: "must list every existing stage (by id); delete a stage with DELETE /v1/pipelines/{id}/stages/{stage_id}"}
	}
	return out, nil
}
