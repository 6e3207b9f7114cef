package dynamostore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// Definitions are written only over the version read.
func TestFieldDefsAreWrittenOverTheVersionRead(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if d, err := s.FieldDefs(ctx, "org1"); err != nil || d.Version != 0 || len(d.Fields) != 0 {
		t.Fatalf("none yet: %+v %v", d, err)
	}
	one := lead.FieldDefs{Version: 1, Fields: []lead.FieldDef{{Key: "pan", Label: "PAN", Type: lead.FieldText, Unique: true}}}
	if err := s.PutFieldDefs(ctx, "org1", 0, one); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFieldDefs(ctx, "org1", 0, one); !errors.Is(err, lead.ErrFieldDefsChanged) {
		t.Fatalf("second first write: %v", err)
	}
	two := lead.FieldDefs{Version: 2, Fields: append(one.Fields, lead.FieldDef{Key: "city", Label: "City", Type: lead.FieldText})}
	if err := s.PutFieldDefs(ctx, "org1", 1, two); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFieldDefs(ctx, "org1", 1, two); !errors.Is(err, lead.ErrFieldDefsChanged) {
		t.Fatalf("stale write: %v", err)
	}
	if d, err := s.FieldDefs(ctx, "org1"); err != nil || d.Version != 2 || len(d.Fields) != 2 || d.Fields[1].Key != "city" {
		t.Fatalf("read back %+v %v", d, err)
	}
}

// A unique custom field value is claimed with the lead, moves with it,
// and is released by the lead's deletion (erasure too) and by dropping
// the field's guards.
func TestUniqueCustomFieldGuards(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	a := newLead("org1", "A", "+919876500101", "")
	a.CustomFields, a.UniqueFields = map[string]string{"pan": "ABC1"}, []string{"pan"}
	if err := s.CreateLead(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := newLead("org1", "B", "+919876500102", "")
	b.CustomFields, b.UniqueFields = map[string]string{"pan": "abc1"}, []string{"pan"}
	var dup *lead.DuplicateError
	if err := s.CreateLead(ctx, b); !errors.As(err, &dup) || dup.Field != "custom_fields.pan" || dup.ExistingID != a.ID {
		t.Fatalf("same value, other case: %v", err)
	}
	if held, err := s.LeadsHoldField(ctx, "org1", "pan"); err != nil || !held {
		t.Fatalf("held %v %v", held, err)
	}
	if held, err := s.LeadsHoldField(ctx, "org1", "other"); err != nil || held {
		t.Fatalf("other key held %v %v", held, err)
	}
	// A moves to another value: its old one is free for B.
	next := a
	next.Version, next.CustomFields = 2, map[string]string{"pan": "XYZ9"}
	if err := s.UpdateLead(ctx, a, next); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLead(ctx, b); err != nil {
		t.Fatalf("freed value: %v", err)
	}
	// Deleting A releases XYZ9.
	if _, err := s.DeleteLead(ctx, next); err != nil {
		t.Fatal(err)
	}
	c := newLead("org1", "C", "+919876500103", "")
	c.CustomFields, c.UniqueFields = map[string]string{"pan": "xyz9"}, []string{"pan"}
	if err := s.CreateLead(ctx, c); err != nil {
		t.Fatalf("after deletion: %v", err)
	}
	// Dropping the field's guards frees every value; the leads' later
	// writes without the guard go through.
	if n, err := s.DropFieldGuards(ctx, "org1", "pan"); err != nil || n != 2 {
		t.Fatalf("dropped %d %v", n, err)
	}
	cNext := c
	cNext.Version, cNext.UniqueFields, cNext.Name = 2, nil, "C2"
	if err := s.UpdateLead(ctx, c, cNext); err != nil {
		t.Fatalf("update after the drop: %v", err)
	}
	d := newLead("org1", "D", "+919876500104", "")
	d.CustomFields, d.UniqueFields = map[string]string{"pan": "ABC1"}, []string{"pan"}
	if err := s.CreateLead(ctx, d); err != nil {
		t.Fatalf("after the drop: %v", err)
	}
	listed, err := s.ListLeads(ctx, "org1", lead.Filter{CustomFields: []lead.FieldFilter{{Key: "pan", Value: "ABC1"}}}, 10, page.Cursor{})
	if err != nil || len(listed.Items) != 1 || listed.Items[0].ID != d.ID {
		t.Fatalf("filtered %+v %v", listed.Items, err)
	}
}
