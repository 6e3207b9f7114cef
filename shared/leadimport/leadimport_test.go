package leadimport

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
)

// A row's ids are the same on every delivery and differ between rows,
// imports and purposes.
func TestKeyedID(t *testing.T) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	a := keyedID("01IMPORT", at, 2, "lead")
	if a != keyedID("01IMPORT", at, 2, "lead") {
		t.Fatal("not deterministic")
	}
	for _, b := range []string{keyedID("01IMPORT", at, 3, "lead"), keyedID("01OTHER", at, 2, "lead"), keyedID("01IMPORT", at, 2, "consent:whatsapp:marketing")} {
		if a == b {
			t.Fatalf("%s repeats", b)
		}
	}
}

// Chunks keep the file's row order, stay under the SQS limit, and every
// row (read or rejected) is in exactly one.
func TestSplit(t *testing.T) {
	var rows []lead.ImportRow
	for i := range 1200 {
		rows = append(rows, lead.ImportRow{Row: i + 2, Lead: lead.Lead{Name: strings.Repeat("n", 300), Phone: fmt.Sprint(i)}})
	}
	rows[10].Lead.Name = strings.Repeat("x", MaxRowBytes+1)
	bad := []lead.RowError{{Row: 1300, Field: "email"}, {Row: 1250, Field: "consent_evidence"}}
	chunks := split(rows, bad)
	seen := map[int]bool{}
	last := 0
	for _, c := range chunks {
		c.V, c.OrgID, c.ImportID = 1, "o", "i"
		if n := len(c.Encode()); n > MaxChunkBytes+2048 || len(c.Rows)+len(c.Rejects) > MaxChunkRows {
			t.Fatalf("chunk of %d bytes, %d rows", n, len(c.Rows)+len(c.Rejects))
		}
		if c.First <= last {
			t.Fatalf("chunk from row %d after row %d", c.First, last)
		}
		last = c.Last
		for _, r := range c.Rows {
			seen[r.Row] = true
		}
		for _, r := range c.Rejects {
			seen[r.Row] = true
			if r.Outcome != Rejected || r.Reason == "" {
				t.Fatalf("reject %+v", r)
			}
		}
	}
	if len(seen) != 1202 {
		t.Fatalf("%d rows in chunks", len(seen))
	}
	var tooLarge []RowOutcome
	for _, c := range chunks {
		for _, r := range c.Rejects {
			if r.Reason == ReasonTooLarge {
				tooLarge = append(tooLarge, r)
			}
		}
	}
	if len(tooLarge) != 1 || tooLarge[0].Row != 12 {
		t.Fatalf("too large %+v", tooLarge)
	}
	b, _ := json.Marshal(chunks[0])
	if back, err := DecodeChunk(string(b)); err == nil {
		t.Fatalf("a chunk without its import decoded: %+v", back)
	}
}

// A merge fills empty fields and adds tags and custom fields, never
// overwriting.
func TestFill(t *testing.T) {
	old := lead.Lead{Name: "Typed", Phone: "+919876543210", Tags: []string{"vip"}, Source: "walk-in", CustomFields: map[string]string{"city": "pune"}}
	in := lead.Lead{Name: "Row", Email: "a@b.co", Phone: "+919876543211", Tags: []string{"VIP", "new"}, Source: "import",
		CustomFields: map[string]string{"city": "goa", "floor": "2"}}
	p, changed := fill(old, in, true)
	if !changed || p.Name != nil || p.Phone != nil || p.Source != nil || p.Email == nil || *p.Email != "a@b.co" ||
		!slices.Equal(*p.Tags, []string{"vip", "new"}) || (*p.CustomFields)["city"] != "pune" || (*p.CustomFields)["floor"] != "2" {
		t.Fatalf("%+v", p)
	}
	if p, _ := fill(old, in, false); p.Email != nil {
		t.Fatal("filled a contact without contacts")
	}
	if _, changed := fill(old, lead.Lead{Name: "x", Tags: []string{"VIP"}, CustomFields: map[string]string{"city": "x"}}, true); changed {
		t.Fatal("nothing to fill, yet changed")
	}
	if FileKey("a", nil) == FileKey("a", map[string]string{"x": "name"}) || FileKey("a", nil) != FileKey("a", map[string]string{}) {
		t.Fatal("file keys")
	}
}

// A row whose unique custom field another lead holds is rejected as a
// conflict naming the column, not retried for ever.
func TestUniqueFieldTakenIsAConflict(t *testing.T) {
	o, ok := invalid(7, fmt.Errorf("update lead: %w", &lead.DuplicateError{Field: "custom_fields.pan", ExistingID: "other"}))
	if !ok || o.Row != 7 || o.Outcome != Rejected || o.Reason != ReasonConflict || o.Field != "cf.pan" {
		t.Fatalf("outcome %+v %v, want row 7 rejected as conflict on cf.pan", o, ok)
	}
}
