package leads

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
)

// MergeService is what the merge routes need of lead.Service.
type MergeService interface {
	Merge(ctx context.Context, a lead.Actor, survivorID, otherID string) (lead.Merge, error)
	UndoMerge(ctx context.Context, a lead.Actor, id string) (lead.Merge, error)
}

// MergeIn names the lead to merge into the one of the path.
type MergeIn struct {
	OtherLeadID string `json:"other_lead_id" minLength:"1" maxLength:"64" doc:"The lead merged into this one; it is gone afterwards (GET answers 404) until the merge is undone."`
}

// MergeOut is a merge of two leads.
type MergeOut struct {
	ID          string     `json:"id" doc:"The merge's id: POST /v1/merges/{merge_id}/undo undoes it."`
	SurvivorID  string     `json:"survivor_id" doc:"The lead that stays."`
	OtherLeadID string     `json:"other_lead_id" doc:"The lead merged into it."`
	State       string     `json:"state" enum:"pending,done,undoing,undone"`
	MergedAt    time.Time  `json:"merged_at"`
	UndoUntil   time.Time  `json:"undo_until" doc:"The merge can be undone until then (30 days)."`
	UndoneAt    *time.Time `json:"undone_at" doc:"When it was undone; null while it stands."`
	Moved       int        `json:"moved" doc:"History items (notes, tasks, appointments, activities, messages, consent entries) moved: to the survivor by the merge, back by the undo."`
	// Lead is the survivor as it is now.
	Lead LeadOut `json:"lead" doc:"The surviving lead after the merge, or after the undo as it was before the merge."`
}

type mergePath struct {
	MergeID string `path:"merge_id" maxLength:"64"`
}

func (s *server) registerMerges(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "merge-leads", Method: http.MethodPost, Path: "/v1/leads/{id}/merge", Tags: []string{"leads"},
		Summary: "Merge another lead into this one", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Description: "Managers and above. This lead keeps its name, primary phone and email, status, stage and assignee (taking the other's where empty); " +
			"tags are joined, custom fields filled, consent is the most protective per channel and purpose; the other's phone and email become " +
			"this lead's secondary phones and emails and its history moves here (docs/crm.md, Merging leads). Asked again after a failure, it finishes the same merge; asked again once done, it answers that merge.",
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.mergeLeads)
	huma.Register(api, huma.Operation{
		OperationID: "undo-merge", Method: http.MethodPost, Path: "/v1/merges/{merge_id}/undo", Tags: []string{"leads"},
		Summary: "Undo a merge of leads", Security: httpapi.BearerSecurity,
		Description: "Managers and above, within 30 days: both leads come back as they were before the merge, with their history and their " +
			"phones and emails. 409 when it was undone already, is too old, or a later merge into the surviving lead stands (undo that first).",
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.undoMerge)
}

type mergeLeadsIn struct {
	ID   string `path:"id" maxLength:"64"`
	Body MergeIn
}

func (s *server) mergeLeads(ctx context.Context, in *mergeLeadsIn) (*struct{ Body MergeOut }, error) {
	m, err := s.deps.Merges.Merge(ctx, actor(ctx), in.ID, in.Body.OtherLeadID)
	if err != nil {
		return nil, mergeProblem(ctx, s, "merge leads", err)
	}
	return s.mergeResult(ctx, m.Merged, m)
}

func (s *server) undoMerge(ctx context.Context, in *mergePath) (*struct{ Body MergeOut }, error) {
	m, err := s.deps.Merges.UndoMerge(ctx, actor(ctx), in.MergeID)
	if err != nil {
		return nil, mergeProblem(ctx, s, "undo merge", err)
	}
	l, err := s.deps.Leads.Get(ctx, actor(ctx), m.SurvivorID)
	if err != nil {
		l = m.Survivor
	}
	return s.mergeResult(ctx, l, m)
}

func (s *server) mergeResult(ctx context.Context, survivor lead.Lead, m lead.Merge) (*struct{ Body MergeOut }, error) {
	defs, _ := s.fieldDefs(ctx) // the merge is done: answer it even without the definitions
	out := MergeOut{ID: m.ID, SurvivorID: m.SurvivorID, OtherLeadID: m.OtherID, State: string(m.State), MergedAt: m.At,
		UndoUntil: m.ExpiresAt, Moved: m.Moved, Lead: leadOut(survivor, defs)}
	if !m.UndoneAt.IsZero() {
		t := m.UndoneAt
		out.UndoneAt = &t
	}
	return &struct{ Body MergeOut }{Body: out}, nil
}

// mergeProblem maps the merge errors, then lead.Service's (problem).
func mergeProblem(ctx context.Context, s *server, what string, err error) error {
	switch {
	case errors.Is(err, lead.ErrMergeNotFound):
		return httpapi.NotFound("merge")
	case errors.Is(err, lead.ErrMergeClosed):
		return httpapi.NewProblem(http.StatusConflict, "merge_closed",
			"the merge cannot be undone: it was undone already, its 30 days are over, or a later merge into the surviving lead stands")
	case errors.Is(err, lead.ErrMergeBusy):
		return httpapi.NewProblem(http.StatusConflict, "merge_busy", "another merge of one of these leads is under way; retry it, or undo it")
	case errors.Is(err, lead.ErrVersionMismatch):
		return httpapi.NewProblem(http.StatusConflict, "lead_changed", "a lead changed during the merge, which was rolled back; retry")
	}
	return problem(ctx, s.Kit, what, err)
}

// nonNilList is l, or an empty list for nil (JSON [] rather than null).
func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
