package lead_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// memNotes keeps notes in memory, with the activities of their writes.
type memNotes struct {
	notes map[string]lead.Note
	acts  []lead.Activity
}

func (m *memNotes) AddNote(_ context.Context, n lead.Note, act lead.Activity) error {
	m.notes[n.ID] = n
	m.acts = append(m.acts, act)
	return nil
}

func (m *memNotes) GetNote(_ context.Context, orgID, leadID, noteID string) (lead.Note, error) {
	n, ok := m.notes[noteID]
	if !ok || n.OrgID != orgID || n.LeadID != leadID {
		return lead.Note{}, lead.ErrNoteNotFound
	}
	return n, nil
}

func (m *memNotes) UpdateNote(_ context.Context, old, next lead.Note, act lead.Activity) error {
	if m.notes[old.ID].Version != old.Version {
		return lead.ErrNoteChanged
	}
	m.notes[next.ID] = next
	m.acts = append(m.acts, act)
	return nil
}

func (m *memNotes) DeleteNote(_ context.Context, n lead.Note, act lead.Activity) error {
	delete(m.notes, n.ID)
	m.acts = append(m.acts, act)
	return nil
}

func (m *memNotes) ListNotes(_ context.Context, orgID, leadID string, _ int, _ page.Cursor) (lead.NotePage, error) {
	var p lead.NotePage
	for _, n := range m.notes {
		if n.OrgID == orgID && n.LeadID == leadID {
			p.Items = append(p.Items, n)
		}
	}
	return p, nil
}

func (m *memNotes) Notes(ctx context.Context, orgID, leadID string) ([]lead.Note, error) {
	p, err := m.ListNotes(ctx, orgID, leadID, 0, page.Cursor{})
	return p.Items, err
}

// An update writes one activity per kind of change, with old and new
// values, and keeps no old value that came from Meta.
func TestUpdateActivities(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "Asha", Phone: "9876543210", Tags: []string{"a", "b"},
		CustomFields: map[string]string{"budget": "10", "city": "Pune"}})
	if err != nil {
		t.Fatal(err)
	}
	stored := f.store.leads[l.ID]
	stored.Provenance = &lead.Provenance{IntegrationKind: "facebook_page", IntegrationID: "1", Fields: []string{"phone", "budget"}}
	f.store.leads[l.ID] = stored

	name, ph, st, who := "Asha K", "9876500000", lead.StatusContacted, f.agent.ID
	tags := []string{"b", "c"}
	cf := map[string]string{"budget": "20", "size": "3"}
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Name: &name, Phone: &ph, Status: &st, AssigneeID: &who, Tags: &tags, CustomFields: &cf}); err != nil {
		t.Fatal(err)
	}
	acts := map[string]lead.Activity{}
	for _, a := range f.store.acts {
		if a.ActorID != f.owner.ID || a.LeadID != l.ID || a.OrgID != "o1" || a.ID == "" || a.At.IsZero() {
			t.Fatalf("activity %+v", a)
		}
		acts[a.Kind] = a
	}
	if len(f.store.acts) != 4 {
		t.Fatalf("%d activities, want status_changed, stage_changed, assigned, updated: %+v", len(f.store.acts), f.store.acts)
	}
	// In the default pipeline the stage follows the status.
	if c := acts[lead.ActivityStageChanged].Changes; len(c) != 1 || c[0].Field != "stage_id" || c[0].Old != "new" || c[0].New != "contacted" {
		t.Fatalf("stage change %+v", c)
	}
	if c := acts[lead.ActivityStatusChanged].Changes; len(c) != 1 || c[0].Field != "status" || c[0].Old != "new" || c[0].New != "contacted" {
		t.Fatalf("status change %+v", c)
	}
	if c := acts[lead.ActivityAssigned].Changes; len(c) != 1 || c[0].Old != "" || c[0].New != f.agent.ID {
		t.Fatalf("assignment %+v", c)
	}
	got := map[string]lead.Change{}
	for _, c := range acts[lead.ActivityUpdated].Changes {
		got[c.Field] = c
	}
	if c := got["name"]; c.Old != "Asha" || c.New != "Asha K" {
		t.Errorf("name change %+v", c)
	}
	if c := got["phone"]; c.Old != "" || !c.OldFromMeta || c.New != "+919876500000" {
		t.Errorf("phone change %+v (the old phone came from Meta)", c)
	}
	if c := got["tags"]; strings.Join(c.Added, ",") != "c" || strings.Join(c.Removed, ",") != "a" {
		t.Errorf("tags change %+v", c)
	}
	if c := got["custom_fields.budget"]; c.Old != "" || !c.OldFromMeta || c.New != "20" {
		t.Errorf("budget change %+v", c)
	}
	if c := got["custom_fields.city"]; c.Old != "Pune" || c.New != "" {
		t.Errorf("city change %+v", c)
	}
	if c := got["custom_fields.size"]; c.Old != "" || c.New != "3" || c.OldFromMeta {
		t.Errorf("size change %+v", c)
	}
	if len(got) != 6 {
		t.Errorf("changes %+v", got)
	}

	// Setting a field to what it is records nothing.
	f.store.acts = nil
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Name: &name}); err != nil || len(f.store.acts) != 0 {
		t.Fatalf("no-op update: %v, activities %+v", err, f.store.acts)
	}
}

// TestCorrectionKeepsNoOldValue checks that a data-subject correction
// records which fields changed and their new values, and none of the
// values the person said were wrong.
func TestCorrectionKeepsNoOldValue(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "Wrong Name", Email: "wrong@example.com", Tags: []string{"old"},
		CustomFields: map[string]string{"city": "Wrongtown"}})
	if err != nil {
		t.Fatal(err)
	}
	name, email, tags, cf := "Right Name", "right@example.com", []string{"new"}, map[string]string{"city": "Pune"}
	if _, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Name: &name, Email: &email, Tags: &tags, CustomFields: &cf,
		Correction: true}); err != nil {
		t.Fatal(err)
	}
	if len(f.store.acts) != 1 || f.store.acts[0].Kind != lead.ActivityUpdated {
		t.Fatalf("activities %+v, want one update", f.store.acts)
	}
	for _, c := range f.store.acts[0].Changes {
		if !c.OldCorrected || c.Old != "" || len(c.Removed) != 0 {
			t.Errorf("change %+v keeps an old value of a correction", c)
		}
		for _, wrong := range []string{"Wrong", "wrong@", "old"} {
			if strings.Contains(c.New, wrong) {
				t.Errorf("change %+v", c)
			}
		}
	}
	if got := f.store.acts[0].Changes; len(got) != 4 {
		t.Fatalf("changes %+v, want name, email, tags, city", got)
	}
}

func TestCreatedActivity(t *testing.T) {
	l := lead.Lead{ID: "L1", OrgID: "o1", Source: "whatsapp", Status: lead.StatusNew, CreatedBy: "", Name: "Secret Name", Phone: "+919876543210"}
	a := lead.CreatedActivity(l)
	if a.Kind != lead.ActivityCreated || a.ActorID != "" || a.Details["source"] != "whatsapp" || a.LeadID != "L1" {
		t.Fatalf("created activity %+v", a)
	}
	for _, v := range a.Details {
		if strings.Contains(v, "Secret") || strings.Contains(v, "+91") {
			t.Fatalf("created activity holds personal data: %+v", a.Details)
		}
	}
}

func TestNotes(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	notes := &memNotes{notes: map[string]lead.Note{}}
	f.svc.Notes = notes
	manager := account.User{ID: "u-manager", OrgID: "o1", Role: account.RoleManager, Active: true}
	agent2 := account.User{ID: "u-agent2", OrgID: "o1", Role: account.RoleAgent, Active: true}
	l, err := f.svc.Create(ctx, as(f.agent), lead.Lead{Name: "N", Phone: "9876543210"})
	if err != nil {
		t.Fatal(err)
	}

	var denied *lead.DeniedError
	if _, err := f.svc.AddNote(ctx, as(f.viewer), l.ID, "hi"); !errors.As(err, &denied) || denied.Action != audit.ActionNoteCreate {
		t.Fatalf("viewer adds a note: %v", err)
	}
	if _, err := f.svc.AddNote(ctx, as(agent2), l.ID, "hi"); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("agent adds a note to another's lead: %v, want ErrNotFound", err)
	}
	var fe *lead.FieldError
	for _, body := range []string{"  ", strings.Repeat("é", lead.MaxNoteLen+1)} {
		if _, err := f.svc.AddNote(ctx, as(f.agent), l.ID, body); !errors.As(err, &fe) || fe.Field != "body" {
			t.Fatalf("note of %d characters: %v, want a field error on body", len([]rune(body)), err)
		}
	}
	if _, err := f.svc.AddNote(ctx, as(f.agent), l.ID, strings.Repeat("é", lead.MaxNoteLen)); err != nil {
		t.Fatalf("a note of exactly %d characters: %v", lead.MaxNoteLen, err)
	}
	n, err := f.svc.AddNote(ctx, as(f.agent), l.ID, " Called, call back Friday ")
	if err != nil || n.Body != "Called, call back Friday" || n.AuthorID != f.agent.ID || n.Version != 1 {
		t.Fatalf("added %+v, %v", n, err)
	}
	if last := notes.acts[len(notes.acts)-1]; last.Kind != lead.ActivityNoteAdded || last.Details["note_id"] != n.ID || last.ActorID != f.agent.ID {
		t.Fatalf("note activity %+v", last)
	}
	if last := (*f.trail)[len(*f.trail)-1]; last.Action != audit.ActionNoteCreate || last.TargetID != l.ID || strings.Contains(last.Details["note_id"], "Called") {
		t.Fatalf("note audit %+v", last)
	}

	// The owner's note: the agent may not change it, a manager may.
	on, err := f.svc.AddNote(ctx, as(f.owner), l.ID, "Owner's note")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EditNote(ctx, as(f.agent), l.ID, on.ID, "mine now"); !errors.As(err, &denied) || denied.Action != audit.ActionNoteUpdate {
		t.Fatalf("agent edits the owner's note: %v, want a denial", err)
	}
	if err := f.svc.DeleteNote(ctx, as(f.agent), l.ID, on.ID); !errors.As(err, &denied) || denied.Action != audit.ActionNoteDelete {
		t.Fatalf("agent deletes the owner's note: %v, want a denial", err)
	}
	if _, err := f.svc.EditNote(ctx, as(f.viewer), l.ID, n.ID, "x"); !errors.As(err, &denied) {
		t.Fatalf("viewer edits: %v, want a denial", err)
	}
	e, err := f.svc.EditNote(ctx, as(manager), l.ID, n.ID, "Called, call back Monday")
	if err != nil || e.Body != "Called, call back Monday" || e.Version != 2 || e.AuthorID != f.agent.ID {
		t.Fatalf("manager edits the agent's note: %+v, %v", e, err)
	}
	if last := notes.acts[len(notes.acts)-1]; last.Kind != lead.ActivityNoteEdited || last.ActorID != manager.ID {
		t.Fatalf("edit activity %+v", last)
	}
	if _, err := f.svc.EditNote(ctx, as(f.agent), l.ID, "nope", "x"); !errors.Is(err, lead.ErrNoteNotFound) {
		t.Fatalf("edit of a missing note: %v", err)
	}
	if err := f.svc.DeleteNote(ctx, as(f.agent), l.ID, n.ID); err != nil {
		t.Fatalf("author deletes its note: %v", err)
	}
	if last := notes.acts[len(notes.acts)-1]; last.Kind != lead.ActivityNoteDeleted || last.Details["note_id"] != n.ID {
		t.Fatalf("delete activity %+v", last)
	}
	p, err := f.svc.ListNotes(ctx, as(f.viewer), l.ID, 50, page.Cursor{})
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("viewer lists notes: %+v, %v", p, err)
	}
	if _, err := f.svc.ListNotes(ctx, as(agent2), l.ID, 50, page.Cursor{}); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("another agent lists notes: %v, want ErrNotFound", err)
	}
}
