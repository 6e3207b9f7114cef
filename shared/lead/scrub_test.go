package lead_test

import (
	"reflect"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

// ScrubChanges removes the values of the corrected fields that are not
// the corrected ones, keeps what the correction confirmed, and leaves
// other fields alone.
func TestScrubChanges(t *testing.T) {
	old := lead.Lead{Name: "Rohan Mhta", Phone: "+919800000001", Tags: []string{"vip", "wrong"}, CustomFields: map[string]string{"city": "Pnue", "budget": "1 Cr"}}
	corrected := old
	corrected.Name, corrected.Tags, corrected.CustomFields = "Rohan Mehta", []string{"vip"}, map[string]string{"city": "Pune", "budget": "1 Cr"}
	fields := lead.CorrectedFields(old, corrected)
	if want := []string{"name", "tags", "custom_fields.city"}; !reflect.DeepEqual(fields, want) {
		t.Fatalf("corrected fields %v, want %v", fields, want)
	}
	a := lead.Activity{Changes: []lead.Change{
		{Field: "name", Old: "Rohan", New: "Rohan Mhta"},
		{Field: "phone", Old: "+919800000009", New: "+919800000001"},
		{Field: "tags", Added: []string{"vip", "wrong"}, Removed: []string{"hot"}},
		{Field: "custom_fields.city", Old: "Pnue", New: "Pune"},
		{Field: "custom_fields.budget", New: "1 Cr"},
	}}
	if !lead.ScrubChanges(&a, corrected, fields) {
		t.Fatal("nothing scrubbed")
	}
	want := []lead.Change{
		{Field: "name", Scrubbed: true},
		{Field: "phone", Old: "+919800000009", New: "+919800000001"},
		{Field: "tags", Added: []string{"vip"}, Scrubbed: true},
		{Field: "custom_fields.city", New: "Pune", Scrubbed: true},
		{Field: "custom_fields.budget", New: "1 Cr"},
	}
	if !reflect.DeepEqual(a.Changes, want) {
		t.Fatalf("scrubbed %+v\nwant     %+v", a.Changes, want)
	}
	if lead.ScrubChanges(&a, corrected, fields) {
		t.Fatal("a second scrub changed something")
	}
}
