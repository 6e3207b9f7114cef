package lead_test

import (
	"context"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

// countingDefs is a FieldDefStore that counts its reads.
type countingDefs struct {
	reads int
	defs  lead.FieldDefs
}

func (c *countingDefs) FieldDefs(context.Context, string) (lead.FieldDefs, error) {
	c.reads++
	return c.defs, nil
}
func (c *countingDefs) PutFieldDefs(context.Context, string, int, lead.FieldDefs) error { return nil }
func (c *countingDefs) LeadsHoldField(context.Context, string, string) (bool, error) {
	return false, nil
}
func (c *countingDefs) DropFieldGuards(context.Context, string, string) (int, error) { return 0, nil }

// A lead write and its answer read the org's definitions once in one
// request (WithFieldDefsMemo); without the memo each reads them.
func TestLeadWriteReadsFieldDefsOnce(t *testing.T) {
	f := newFixture()
	defs := &countingDefs{defs: lead.FieldDefs{Fields: []lead.FieldDef{{Key: "city", Label: "City", Type: lead.FieldText}}, Version: 1}}
	f.svc.Fields = defs
	fields := &lead.FieldService{Store: defs}
	write := func(ctx context.Context, phone string) {
		t.Helper()
		l, err := f.svc.Create(ctx, as(f.owner), lead.Lead{Name: "A", Phone: phone, CustomFields: map[string]string{"city": "Pune"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Update(ctx, as(f.owner), l.ID, l.Version, lead.Patch{CustomFields: &map[string]string{"city": "Goa"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := fields.List(ctx, f.owner); err != nil {
			t.Fatal(err)
		}
	}
	write(lead.WithFieldDefsMemo(context.Background()), "9876500001")
	if defs.reads != 1 {
		t.Fatalf("%d reads of the definitions in one request, want 1", defs.reads)
	}
	defs.reads = 0
	write(context.Background(), "9876500002")
	if defs.reads != 3 {
		t.Fatalf("%d reads without the memo, want 3", defs.reads)
	}
	// The memo holds one org's definitions: another org reads its own.
	ctx := lead.WithFieldDefsMemo(context.Background())
	defs.reads = 0
	for _, org := range []string{"o1", "o2", "o2"} {
		if _, err := lead.ReadFieldDefs(ctx, defs, org); err != nil {
			t.Fatal(err)
		}
	}
	if defs.reads != 2 {
		t.Fatalf("%d reads for two orgs, want 2", defs.reads)
	}
}
