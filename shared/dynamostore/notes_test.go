package dynamostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// A lead's timeline holds its creation and every change written with it,
// newest first, one Query a page; notes are written with their activity
// only while the lead exists, and go with the lead.
func TestTimelineAndNotes(t *testing.T) {
	ctx := context.Background()
	s, calls := newStore(t)
	s.UseSuppression(testHasher(t))
	l := newLead("org1", "Meera", "+919876511111", "")
	l.CreatedBy = "u1"
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	p, err := s.ActivitiesPage(ctx, "org1", l.ID, 10, page.Cursor{})
	if err != nil || len(p.Items) != 1 || p.Items[0].Kind != lead.ActivityCreated || p.Items[0].ActorID != "u1" || !p.Next.IsZero() {
		t.Fatalf("timeline after create %+v, %v", p, err)
	}

	// Three changes, each with its activity in the update's transaction.
	cur := l
	for i, name := range []string{"Meera K", "Meera Kapoor", "Meera K."} {
		next := cur
		next.Name, next.Version = name, cur.Version+1
		act := lead.Activity{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Kind: lead.ActivityUpdated, At: time.Now().UTC(), ActorID: "u1",
			Changes: []lead.Change{{Field: "name", Old: cur.Name, New: name}}}
		if err := s.UpdateLead(ctx, cur, next, act); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		cur = next
	}
	// A stale update writes neither the lead nor its activity.
	stale := l
	stale.Name, stale.Version = "Stale", 2
	if err := s.UpdateLead(ctx, l, stale, lead.Activity{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Kind: lead.ActivityUpdated,
		At: time.Now()}); !errors.Is(err, lead.ErrVersionMismatch) {
		t.Fatalf("stale update: %v", err)
	}

	// Paged two at a time, newest first.
	before := calls.get("Query")
	var all []lead.Activity
	var from page.Cursor
	for range 5 {
		p, err := s.ActivitiesPage(ctx, "org1", l.ID, 2, from)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if from = p.Next; from.IsZero() {
			break
		}
	}
	// Three Queries a page: activities, messages, consent entries.
	if q := calls.get("Query") - before; q != 6 {
		t.Errorf("%d Queries for two pages", q)
	}
	if len(all) != 4 || all[0].Changes[0].New != "Meera K." || all[2].Changes[0].Old != "Meera" || all[3].Kind != lead.ActivityCreated {
		t.Fatalf("timeline %+v", all)
	}

	// Notes.
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := lead.Note{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, AuthorID: "u1", Body: "Wants a 2BHK", CreatedAt: now, UpdatedAt: now, Version: 1}
	noteAct := func(kind string) lead.Activity {
		return lead.Activity{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Kind: kind, At: time.Now(), ActorID: "u1",
			Details: map[string]string{"note_id": n.ID}}
	}
	if err := s.AddNote(ctx, n, noteAct(lead.ActivityNoteAdded)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNote(ctx, lead.Note{ID: ulid.Make().String(), OrgID: "org1", LeadID: "no-such-lead", AuthorID: "u1", Body: "x", Version: 1},
		lead.Activity{ID: ulid.Make().String(), OrgID: "org1", LeadID: "no-such-lead", Kind: lead.ActivityNoteAdded}); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("note on a missing lead: %v, want ErrNotFound", err)
	}
	edited := n
	edited.Body, edited.Version = "Wants a 3BHK", 2
	if err := s.UpdateNote(ctx, n, edited, noteAct(lead.ActivityNoteEdited)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateNote(ctx, n, edited, noteAct(lead.ActivityNoteEdited)); !errors.Is(err, lead.ErrNoteChanged) {
		t.Fatalf("stale note edit: %v, want ErrNoteChanged", err)
	}
	if got, err := s.GetNote(ctx, "org1", l.ID, n.ID); err != nil || got.Body != "Wants a 3BHK" || got.Version != 2 || got.AuthorID != "u1" {
		t.Fatalf("note %+v, %v", got, err)
	}
	second := lead.Note{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, AuthorID: "u2", Body: "Second", CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.AddNote(ctx, second, noteAct(lead.ActivityNoteAdded)); err != nil {
		t.Fatal(err)
	}
	np, err := s.ListNotes(ctx, "org1", l.ID, 1, page.Cursor{})
	if err != nil || len(np.Items) != 1 || np.Items[0].ID != second.ID || np.Next.IsZero() {
		t.Fatalf("first notes page %+v, %v", np, err)
	}
	np, err = s.ListNotes(ctx, "org1", l.ID, 1, np.Next)
	if err != nil || len(np.Items) != 1 || np.Items[0].ID != n.ID || !np.Next.IsZero() {
		t.Fatalf("second notes page %+v, %v", np, err)
	}
	if err := s.DeleteNote(ctx, second, noteAct(lead.ActivityNoteDeleted)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetNote(ctx, "org1", l.ID, second.ID); !errors.Is(err, lead.ErrNoteNotFound) {
		t.Fatalf("deleted note read: %v", err)
	}
	acts, err := s.Activities(ctx, "org1", l.ID)
	if err != nil || len(acts) != 8 {
		t.Fatalf("%d activities (%v), want created, 3 updates, 2 adds, edit, delete", len(acts), err)
	}

	// The lead's deletion takes its notes and timeline.
	cur, err = s.GetLead(ctx, "org1", l.ID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.DeleteLead(ctx, cur)
	if err != nil || d.Pending || d.Counts["note"] != 1 || d.Counts["activity"] != 8 {
		t.Fatalf("deletion %+v, %v", d, err)
	}
	if notes, err := s.Notes(ctx, "org1", l.ID); err != nil || len(notes) != 0 {
		t.Fatalf("notes left %+v, %v", notes, err)
	}
	if acts, err := s.Activities(ctx, "org1", l.ID); err != nil || len(acts) != 0 {
		t.Fatalf("activities left %+v, %v", acts, err)
	}
}
