package leads

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// noteBodyBytes bounds a note request: 10,000 characters, escaped.
const noteBodyBytes = 192 << 10

// NoteOut is a note on a lead.
type NoteOut struct {
	ID        string    `json:"id"`
	LeadID    string    `json:"lead_id"`
	AuthorID  string    `json:"author_id"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int       `json:"version" doc:"Increases with every edit."`
}

// NoteIn is a note's body, new or edited.
type NoteIn struct {
	Body string `json:"body" minLength:"1" maxLength:"10000" doc:"Plain text, 1 to 10,000 characters (trimmed)."`
}

// NoteList is one page of a lead's notes, newest first.
type NoteList struct {
	Items      []NoteOut `json:"items"`
	NextCursor *string   `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

type notePath struct {
	ID     string `path:"id" maxLength:"64"`
	NoteID string `path:"note_id" maxLength:"64"`
}

func noteOut(n lead.Note) NoteOut {
	return NoteOut{ID: n.ID, LeadID: n.LeadID, AuthorID: n.AuthorID, Body: n.Body, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt, Version: n.Version}
}

func (s *server) registerNotes(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-lead-note", Method: http.MethodPost, Path: "/v1/leads/{id}/notes", Tags: []string{"leads"},
		Summary: "Add a note to a lead", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: noteBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.createNote)
	huma.Register(api, huma.Operation{
		OperationID: "list-lead-notes", Method: http.MethodGet, Path: "/v1/leads/{id}/notes", Tags: []string{"leads"},
		Summary: "List a lead's notes, newest first", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listNotes)
	huma.Register(api, huma.Operation{
		OperationID: "update-lead-note", Method: http.MethodPatch, Path: "/v1/leads/{id}/notes/{note_id}", Tags: []string{"leads"},
		Summary: "Edit a note (its author, or a manager and above)", Security: httpapi.BearerSecurity, MaxBodyBytes: noteBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.updateNote)
	huma.Register(api, huma.Operation{
		OperationID: "delete-lead-note", Method: http.MethodDelete, Path: "/v1/leads/{id}/notes/{note_id}", Tags: []string{"leads"},
		Summary: "Delete a note (its author, or a manager and above)", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.deleteNote)
}

func (s *server) createNote(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body NoteIn
}) (*struct{ Body NoteOut }, error) {
	n, err := s.deps.Timeline.AddNote(ctx, actor(ctx), in.ID, in.Body.Body)
	if err != nil {
		return nil, problem(ctx, s.Kit, "add note", err)
	}
	return &struct{ Body NoteOut }{Body: noteOut(n)}, nil
}

func (s *server) listNotes(ctx context.Context, in *historyListIn) (*struct{ Body NoteList }, error) {
	items, next, err := historyPage(ctx, s, in, "notes", "list notes", audit.ActionNotesRead,
		func(a lead.Actor, from page.Cursor) ([]lead.Note, page.Cursor, error) {
			p, err := s.deps.Timeline.ListNotes(ctx, a, in.ID, in.Limit, from)
			return p.Items, p.Next, err
		})
	if err != nil {
		return nil, err
	}
	out := &struct{ Body NoteList }{Body: NoteList{Items: make([]NoteOut, 0, len(items)), NextCursor: next}}
	for _, n := range items {
		out.Body.Items = append(out.Body.Items, noteOut(n))
	}
	return out, nil
}

func (s *server) updateNote(ctx context.Context, in *struct {
	ID     string `path:"id" maxLength:"64"`
	NoteID string `path:"note_id" maxLength:"64"`
	Body   NoteIn
}) (*struct{ Body NoteOut }, error) {
	n, err := s.deps.Timeline.EditNote(ctx, actor(ctx), in.ID, in.NoteID, in.Body.Body)
	if err != nil {
		return nil, problem(ctx, s.Kit, "edit note", err)
	}
	return &struct{ Body NoteOut }{Body: noteOut(n)}, nil
}

func (s *server) deleteNote(ctx context.Context, in *notePath) (*struct{}, error) {
	if err := s.deps.Timeline.DeleteNote(ctx, actor(ctx), in.ID, in.NoteID); err != nil {
		return nil, problem(ctx, s.Kit, "delete note", err)
	}
	return nil, nil
}
