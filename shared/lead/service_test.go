package lead_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/phone"
)

// memStore keeps leads in memory; mismatches makes that many updates fail
// with ErrVersionMismatch first, as if the lead changed meanwhile.
type memStore struct {
	leads      map[string]lead.Lead
	mismatches int
	updates    int
	// pending makes deletes leave their history to the purge job.
	pending bool
	// acts are the activities written with updates.
	acts []lead.Activity
}

func (m *memStore) CreateLead(_ context.Context, l lead.Lead) error {
	m.leads[l.ID] = l
	return nil
}

func (m *memStore) GetLead(_ context.Context, orgID, id string) (lead.Lead, error) {
	l, ok := m.leads[id]
	if !ok || l.OrgID != orgID {
		return lead.Lead{}, lead.ErrNotFound
	}
	return l, nil
}

func (m *memStore) UpdateLead(_ context.Context, old, next lead.Lead, acts ...lead.Activity) error {
	m.updates++
	if m.mismatches > 0 {
		m.mismatches--
		return lead.ErrVersionMismatch
	}
	if m.leads[old.ID].Version != old.Version {
		return lead.ErrVersionMismatch
	}
	m.leads[next.ID] = next
	m.acts = append(m.acts, acts...)
	return nil
}

func (m *memStore) DeleteLead(_ context.Context, l lead.Lead) (lead.Deletion, error) {
	delete(m.leads, l.ID)
	return lead.Deletion{Counts: map[string]int{"lead": 1}, Pending: m.pending}, nil
}

func (m *memStore) ListLeads(_ context.Context, orgID string, f lead.Filter, _ int, _ page.Cursor) (lead.Page, error) {
	var p lead.Page
	for _, l := range m.leads {
		if l.OrgID == orgID && (f.AssigneeID == "" || l.AssigneeID == f.AssigneeID) && (f.StageID == "" || l.PipelineID == f.PipelineID && l.StageID == f.StageID) {
			p.Items = append(p.Items, l)
		}
	}
	return p, nil
}

func (m *memStore) LeadIDByPhone(context.Context, string, string) (string, error) {
	return "", lead.ErrNotFound
}

func (m *memStore) LeadIDByEmail(context.Context, string, string) (string, error) {
	return "", lead.ErrNotFound
}

func (m *memStore) TouchLastInbound(context.Context, string, string, time.Time) error { return nil }

type users map[string]account.User

func (u users) GetUser(_ context.Context, orgID, id string) (account.User, error) {
	x, ok := u[id]
	if !ok || x.OrgID != orgID {
		return account.User{}, account.ErrNotFound
	}
	return x, nil
}

type trail []audit.Record

func (t *trail) Record(_ context.Context, r audit.Record) { *t = append(*t, r) }

type fixture struct {
	svc                            *lead.Service
	store                          *memStore
	trail                          *trail
	owner, agent, viewer, inactive account.User
}

func newFixture() *fixture {
	f := &fixture{store: &memStore{leads: map[string]lead.Lead{}}, trail: &trail{},
		owner:    account.User{ID: "u-owner", OrgID: "o1", Role: account.RoleOwner, Active: true},
		agent:    account.User{ID: "u-agent", OrgID: "o1", Role: account.RoleAgent, Active: true},
		viewer:   account.User{ID: "u-viewer", OrgID: "o1", Role: account.RoleViewer, Active: true},
		inactive: account.User{ID: "u-gone", OrgID: "o1", Role: account.RoleAgent}}
	us := users{}
	for _, u := range []account.User{f.owner, f.agent, f.viewer, f.inactive} {
		us[u.ID] = u
	}
	f.svc = &lead.Service{Store: f.store, Users: us, Audit: f.trail, Phones: phone.Normalize}
	return f
}

func as(u account.User) lead.Actor { return lead.Actor{User: u} }

func TestServiceCreate(t *testing.T) {
	ctx := context.Background()
	f := newFixture()

	var denied *lead.DeniedError
	if _, err := f.svc.Create(ctx, as(f.viewer), lead.Lead{Name: "A", Phone: "9876543210"}); !errors.As(err, &denied) || denied.Action != audit.ActionLeadCreate {
		t.Fatalf("viewer create: %v, want a denial of %s", err, audit.ActionLeadCreate)
	}
	if _, err := f.svc.Create(ctx, as(f.agent), lead.Lead{Name: "A", Phone: "9876543210", AssigneeID: f.owner.ID}); !errors.As(err, &denied) {
		t.Fatalf("agent create for another: %v, want a denial", err)
	}
	var fe *lead.FieldError
	if _, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "A", Phone: "9876543210", AssigneeID: f.inactive.ID}); !errors.As(err, &fe) || fe.Field != "assignee_id" {
		t.Fatalf("inactive assignee: %v, want a field error on assignee_id", err)
	}
	if len(*f.trail) != 0 {
		t.Fatalf("refused creates were audited: %+v", *f.trail)
	}

	l, err := f.svc.Create(ctx, as(f.agent), lead.Lead{Name: " Asha ", Phone: "98765 43210"})
	if err != nil {
		t.Fatal(err)
	}
	if l.AssigneeID != f.agent.ID || l.Phone != "+919876543210" || l.Name != "Asha" || l.Version != 1 || l.OrgID != "o1" || l.CreatedBy != f.agent.ID {
		t.Fatalf("created %+v", l)
	}
	if len(*f.trail) != 1 || (*f.trail)[0].Action != audit.ActionLeadCreate || (*f.trail)[0].TargetID != l.ID {
		t.Fatalf("trail %+v", *f.trail)
	}
}

func TestServiceVisibility(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "B", Email: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, as(f.agent), l.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("agent reads another's lead: %v, want ErrNotFound", err)
	}
	if err := f.svc.Delete(ctx, as(f.agent), l.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("agent deletes another's lead: %v, want ErrNotFound", err)
	}
	if got := f.svc.Scope(as(f.agent), lead.Filter{AssigneeID: f.owner.ID, Tag: " VIP "}); got.AssigneeID != f.agent.ID || got.Tag != "vip" {
		t.Fatalf("agent scope %+v", got)
	}
	if got := f.svc.Scope(as(f.owner), lead.Filter{AssigneeID: "me"}); got.AssigneeID != f.owner.ID {
		t.Fatalf("owner scope of me %+v", got)
	}
	page, err := f.svc.List(ctx, as(f.agent), lead.Filter{}, 50, page.Cursor{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("agent list %+v, %v", page, err)
	}
	var denied *lead.DeniedError
	if err := f.svc.Delete(ctx, as(f.viewer), l.ID); !errors.As(err, &denied) || denied.LeadID != l.ID || denied.Action != audit.ActionLeadDelete {
		t.Fatalf("viewer delete: %v", err)
	}
	if err := f.svc.Delete(ctx, as(f.owner), l.ID); err != nil {
		t.Fatal(err)
	}
	if last := (*f.trail)[len(*f.trail)-1]; last.Action != audit.ActionLeadDelete || last.TargetID != l.ID {
		t.Fatalf("trail %+v", *f.trail)
	}
}

func TestServiceUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	l, err := f.svc.Create(ctx, as(f.agent), lead.Lead{Name: "C", Phone: "9876543210"})
	if err != nil {
		t.Fatal(err)
	}
	name := "Chitra"
	status := lead.StatusWon
	other := f.owner.ID

	var denied *lead.DeniedError
	if _, err := f.svc.Update(ctx, as(f.agent), l.ID, 0, lead.Patch{AssigneeID: &other}); !errors.As(err, &denied) || denied.LeadID != l.ID {
		t.Fatalf("agent assigns to another: %v, want a denial", err)
	}
	if _, err := f.svc.Update(ctx, as(f.agent), l.ID, 7, lead.Patch{Name: &name}); !errors.Is(err, lead.ErrVersionMismatch) {
		t.Fatalf("stale version: %v, want ErrVersionMismatch", err)
	}
	same, err := f.svc.Update(ctx, as(f.agent), l.ID, 0, lead.Patch{})
	if err != nil || same.Version != 1 {
		t.Fatalf("empty patch: %+v, %v", same, err)
	}

	// Without a version the update is re-applied after a concurrent change.
	f.store.mismatches = 2
	next, err := f.svc.Update(ctx, as(f.agent), l.ID, 0, lead.Patch{Name: &name, Status: &status})
	if err != nil || next.Name != name || next.Status != status || next.Version != 2 {
		t.Fatalf("update after two conflicts: %+v, %v", next, err)
	}
	last := (*f.trail)[len(*f.trail)-1]
	if last.Action != audit.ActionLeadUpdate || last.Details["fields"] != "name,status" || last.Details["version"] != "2" {
		t.Fatalf("update audit %+v", last)
	}

	// Three conflicts in a row give up; with a version, one does.
	f.store.mismatches, f.store.updates = 3, 0
	if _, err := f.svc.Update(ctx, as(f.agent), l.ID, 0, lead.Patch{Name: &name}); !errors.Is(err, lead.ErrVersionMismatch) || f.store.updates != 3 {
		t.Fatalf("three conflicts: %v after %d writes", err, f.store.updates)
	}
	f.store.mismatches, f.store.updates = 1, 0
	if _, err := f.svc.Update(ctx, as(f.agent), l.ID, 2, lead.Patch{Name: &name}); !errors.Is(err, lead.ErrVersionMismatch) || f.store.updates != 1 {
		t.Fatalf("conflict with a version: %v after %d writes", err, f.store.updates)
	}
}

// An edit marks the lead as worked on and takes the fields the user set
// out of its Meta provenance; a delete that leaves history starts the
// purge job at once.
func TestServiceEditOwnershipAndPurgeStart(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "Meta Name", Phone: "9876543210"})
	if err != nil {
		t.Fatal(err)
	}
	stored := f.store.leads[l.ID]
	stored.Provenance = &lead.Provenance{IntegrationKind: "facebook_page", IntegrationID: "1", Fields: []string{"name", "phone", "budget"}}
	f.store.leads[l.ID] = stored
	name := "Own Name"
	next, err := f.svc.Update(ctx, as(f.owner), l.ID, 0, lead.Patch{Name: &name})
	if err != nil || next.EditedAt.IsZero() || len(next.Provenance.Fields) != 2 || next.Provenance.Fields[0] != "phone" {
		t.Fatalf("after an edit: %+v, %v", next.Provenance, err)
	}
	if len(stored.Provenance.Fields) != 3 {
		t.Fatal("the edit changed the old lead's provenance")
	}
	var started []string
	f.svc.StartPurge = func(_ context.Context, orgID, leadID string) error {
		started = append(started, orgID+"/"+leadID)
		return nil
	}
	f.store.pending = true
	if err := f.svc.Delete(ctx, as(f.owner), l.ID); err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0] != "o1/"+l.ID {
		t.Fatalf("purges started %v", started)
	}
	if last := (*f.trail)[len(*f.trail)-1]; last.Details["purge"] != "started" {
		t.Fatalf("delete audit %+v", last)
	}
}
