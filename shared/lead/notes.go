package lead

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Note is a free-text note staff wrote on a lead. Its body is personal
// data of the lead: it lives in the lead's history and goes with it.
type Note struct {
	ID        string
	OrgID     string
	LeadID    string
	AuthorID  string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases with every edit.
	Version int
}

// NotePage is a page of a lead's notes, newest first.
type NotePage struct {
	Items []Note
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// MaxNoteLen is the longest note body, in characters.
const MaxNoteLen = 10000

// ErrNoteNotFound means the lead has no note with that id.
var ErrNoteNotFound = errors.New("note not found")

// ErrNoteChanged means the note changed (or went) between the read and
// the write.
var ErrNoteChanged = errors.New("note changed meanwhile")

// NoteStore keeps leads' notes (dynamostore.Store). Every write carries
// the activity that records it, written in the same transaction, and
// requires the lead to exist (else ErrNotFound); an edit or delete of a
// note no longer at old.Version is ErrNoteChanged.
type NoteStore interface {
	AddNote(ctx context.Context, n Note, act Activity) error
	GetNote(ctx context.Context, orgID, leadID, noteID string) (Note, error)
	UpdateNote(ctx context.Context, old, next Note, act Activity) error
	DeleteNote(ctx context.Context, n Note, act Activity) error
	// ListNotes returns up to limit of a lead's notes, newest first, after
	// the position from.
	ListNotes(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (NotePage, error)
	// Notes returns all of a lead's notes, oldest first (the export).
	Notes(ctx context.Context, orgID, leadID string) ([]Note, error)
}

// noteBody trims a note's body and checks its length.
func noteBody(body string) (string, error) {
	body = strings.TrimSpace(body)
	if n := utf8.RuneCountInString(body); n == 0 || n > MaxNoteLen {
		return "", &FieldError{Field: "body", Message: fmt.Sprintf("must be 1 to %d characters", MaxNoteLen)}
	}
	return body, nil
}

// moderatesNotes: managers and above may edit and delete anyone's notes.
func moderatesNotes(r account.Role) bool { return r == account.RoleManager || r.Privileged() }

func noteActivity(n Note, kind, actorID string, at time.Time) Activity {
	return Activity{ID: ulid.Make().String(), OrgID: n.OrgID, LeadID: n.LeadID, Kind: kind, At: at, ActorID: actorID,
		Details: map[string]string{"note_id": n.ID}}
}

// writableLead returns the lead the actor may see and write to, for
// action.
func (s *Service) writableLead(ctx context.Context, a Actor, leadID, action string) (Lead, error) {
	l, err := s.Get(ctx, a, leadID)
	if err != nil {
		return Lead{}, err
	}
	if !a.User.Role.CanWriteLeads() {
		return Lead{}, &DeniedError{Action: action, LeadID: l.ID, Reason: readOnlyRole}
	}
	return l, nil
}

// AddNote adds a note by the actor to a lead it may see and write to.
func (s *Service) AddNote(ctx context.Context, a Actor, leadID, body string) (Note, error) {
	l, err := s.writableLead(ctx, a, leadID, audit.ActionNoteCreate)
	if err != nil {
		return Note{}, err
	}
	body, err = noteBody(body)
	if err != nil {
		return Note{}, err
	}
	now := s.now().UTC()
	n := Note{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, AuthorID: a.User.ID, Body: body, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.Notes.AddNote(ctx, n, noteActivity(n, ActivityNoteAdded, a.User.ID, now)); err != nil {
		return Note{}, fmt.Errorf("add note to lead %s: %w", l.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionNoteCreate, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"note_id": n.ID}})
	return n, nil
}

// ListNotes returns a page of the notes of a lead the actor may see,
// newest first.
func (s *Service) ListNotes(ctx context.Context, a Actor, leadID string, limit int, from page.Cursor) (NotePage, error) {
	l, err := s.Get(ctx, a, leadID)
	if err != nil {
		return NotePage{}, err
	}
	p, err := s.Notes.ListNotes(ctx, l.OrgID, l.ID, limit, from)
	if err != nil {
		return NotePage{}, fmt.Errorf("list notes of lead %s: %w", l.ID, err)
	}
	return p, nil
}

// editableNote returns a note the actor may change: on a lead it may see
// and write to, and its own or the actor a manager or above.
func (s *Service) editableNote(ctx context.Context, a Actor, leadID, noteID, action string) (Note, error) {
	l, err := s.writableLead(ctx, a, leadID, action)
	if err != nil {
		return Note{}, err
	}
	n, err := s.Notes.GetNote(ctx, l.OrgID, l.ID, noteID)
	if err != nil {
		if errors.Is(err, ErrNoteNotFound) {
			return Note{}, err
		}
		return Note{}, fmt.Errorf("read note %s: %w", noteID, err)
	}
	if n.AuthorID != a.User.ID && !moderatesNotes(a.User.Role) {
		return Note{}, &DeniedError{Action: action, LeadID: l.ID, Reason: "only the note's author or a manager and above may change it"}
	}
	return n, nil
}

// EditNote replaces the body of a note (see editableNote for who may).
func (s *Service) EditNote(ctx context.Context, a Actor, leadID, noteID, body string) (Note, error) {
	old, err := s.editableNote(ctx, a, leadID, noteID, audit.ActionNoteUpdate)
	if err != nil {
		return Note{}, err
	}
	body, err = noteBody(body)
	if err != nil {
		return Note{}, err
	}
	if body == old.Body {
		return old, nil
	}
	next := old
	next.Body, next.UpdatedAt, next.Version = body, s.now().UTC(), old.Version+1
	if err := s.Notes.UpdateNote(ctx, old, next, noteActivity(next, ActivityNoteEdited, a.User.ID, next.UpdatedAt)); err != nil {
		return Note{}, fmt.Errorf("edit note %s: %w", old.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: old.OrgID, ActorID: a.User.ID, Action: audit.ActionNoteUpdate, TargetType: "lead", TargetID: old.LeadID,
		Details: map[string]string{"note_id": old.ID, "author_id": old.AuthorID, "version": fmt.Sprint(next.Version)}})
	return next, nil
}

// DeleteNote deletes a note (see editableNote for who may); the timeline
// keeps that it existed, not its body.
func (s *Service) DeleteNote(ctx context.Context, a Actor, leadID, noteID string) error {
	n, err := s.editableNote(ctx, a, leadID, noteID, audit.ActionNoteDelete)
	if err != nil {
		return err
	}
	if err := s.Notes.DeleteNote(ctx, n, noteActivity(n, ActivityNoteDeleted, a.User.ID, s.now().UTC())); err != nil {
		return fmt.Errorf("delete note %s: %w", n.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: n.OrgID, ActorID: a.User.ID, Action: audit.ActionNoteDelete, TargetType: "lead", TargetID: n.LeadID,
		Details: map[string]string{"note_id": n.ID, "author_id": n.AuthorID}})
	return nil
}
