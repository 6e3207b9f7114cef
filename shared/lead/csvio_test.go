package lead_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
)

func TestParseImportSample(t *testing.T) {
	raw, err := os.ReadFile("../../events/leads-import.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, bad, err := lead.ParseImport(string(raw), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || len(bad) != 0 {
		t.Fatalf("%d rows, %v", len(rows), bad)
	}
	a := rows[0]
	if a.Row != 2 || a.Lead.Name != "Asha Verma" || a.Lead.Phone != "98765 43210" || !slices.Equal(a.Lead.Tags, []string{"hot", "2bhk"}) ||
		a.Lead.CustomFields["city"] != "pune" || !slices.Equal(a.OptIns, []string{"whatsapp:marketing"}) || a.Evidence != "signed expo form #1042" {
		t.Fatalf("%+v", a)
	}
	if rows[2].Lead.Name != "Iyer, Priya" || rows[2].OptIns != nil {
		t.Fatalf("%+v", rows[2])
	}
	if g := rows[5].Lead; g.Phone != "+919811122233" || g.Email != "=cmd@example.com" {
		t.Fatalf("an export's quote is removed: %+v", g)
	}
}

func TestParseImportRefuses(t *testing.T) {
	for _, c := range []struct{ csv, field string }{
		{"", "header"},
		{"phone\n1\n", "name"},
		{"name,source\nx,y\n", "phone"},
		{"name,phone,colour\n", "colour"},
		{"name,phone,PHONE\n", "phone"},
		{"name,phone\na,1\nb,2\nc,3\n", "rows"},
		{"name,phone\n\"a,1\n", "csv"},
	} {
		_, _, err := lead.ParseImport(c.csv, 2)
		re, ok := err.(*lead.RowError)
		if !ok || re.Field != c.field {
			t.Errorf("%q: %v, want a RowError on %s", c.csv, err, c.field)
		}
	}
	rows, bad, err := lead.ParseImport("name,phone,whatsapp_marketing_opt_in,consent_evidence\na,1,true,\nb,2,perhaps,x\nc,3,4,5\n\n,,,\nd,4,yes,form\n", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Row != 7 || len(bad) != 3 || bad[0].Field != "consent_evidence" || bad[1].Field != "whatsapp_marketing_opt_in" || bad[2].Row != 4 {
		t.Fatalf("%+v %+v", rows, bad)
	}
}

func TestExportImportsBack(t *testing.T) {
	l := lead.Lead{ID: "01L", Name: "=HYPERLINK(\"x\")", Phone: "+919876543210", Email: "a@example.com", Status: lead.StatusWon,
		Tags: []string{"a", "b"}, Source: "@form", CustomFields: map[string]string{"city": "-pune"}, CreatedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(lead.ExportHeader([]string{"city", "floor"}))
	_ = w.Write(lead.ExportRecord(l, []string{"city", "floor"}))
	w.Flush()
	for _, cell := range []string{`"'=HYPERLINK(""x"")"`, "'+919876543210", "'@form", "'-pune"} {
		if !strings.Contains(buf.String(), cell) {
			t.Fatalf("%s lacks %s", buf.String(), cell)
		}
	}
	rows, bad, err := lead.ParseImport(buf.String(), 10)
	if err != nil || len(bad) > 0 || len(rows) != 1 {
		t.Fatal(err, bad, rows)
	}
	got := rows[0].Lead
	if got.Name != l.Name || got.Phone != l.Phone || got.Source != l.Source || got.CustomFields["city"] != "-pune" || !slices.Equal(got.Tags, l.Tags) || got.Status != l.Status {
		t.Fatalf("%+v", got)
	}
}

// fuzzMapping maps a file's own column names to lead fields, as a
// POST /v1/imports mapping does.
var fuzzMapping = map[string]string{"Full Name": "name", "Mobile": "phone", "E-mail": "email"}

// FuzzImportCSV reads lead CSV files (the body of POST /v1/leads/import,
// and with fuzzMapping that of POST /v1/imports):
// no panic; every row is within the file and keeps to the limit; a row
// with an opt-in carries its evidence; and what an export writes of a
// parsed row reads back the same.
func FuzzImportCSV(f *testing.F) {
	if raw, err := os.ReadFile("../../events/leads-import.csv"); err == nil {
		f.Add(string(raw))
	}
	f.Add("name,email\n=1+2,a@b.co\n")
	f.Add("Name,Phone,CF.Budget\n\"multi\nline\",'-1,\"\"\"\"\n")
	// The mapping form (POST /v1/imports): the file's own column names.
	f.Add("Full Name,Mobile,E-mail,Notes\nAsha,+919876543210,a@b.co,x\n,,,\n")
	f.Fuzz(func(t *testing.T, data string) {
		if rows, bad, err := lead.ParseImportMapped(data, fuzzMapping, 50); err == nil {
			if len(rows)+len(bad) > 50 {
				t.Fatalf("%d mapped rows over the limit", len(rows)+len(bad))
			}
			for _, r := range rows {
				if r.Row < 2 || len(r.OptIns) > 0 || r.Lead.Source != "" {
					t.Fatalf("mapped row %+v: a column the mapping does not name was read", r)
				}
			}
		}
		rows, bad, err := lead.ParseImport(data, 50)
		if err != nil {
			return
		}
		if len(rows)+len(bad) > 50 {
			t.Fatalf("%d rows over the limit", len(rows)+len(bad))
		}
		for _, r := range rows {
			if r.Row < 2 || (len(r.OptIns) > 0 && r.Evidence == "") {
				t.Fatalf("%+v", r)
			}
			keys := []string{}
			for k := range r.Lead.CustomFields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			_ = w.Write(lead.ExportHeader(keys))
			_ = w.Write(lead.ExportRecord(r.Lead, keys))
			w.Flush()
			back, bbad, err := lead.ParseImport(buf.String(), 1)
			if err != nil || len(bbad) > 0 {
				if err == nil && len(r.Lead.Name)+len(r.Lead.Phone)+len(r.Lead.Email) == 0 {
					continue
				}
				t.Fatalf("%+v exported as %q: %v %v", r.Lead, buf.String(), err, bbad)
			}
			if len(back) == 0 {
				continue // a row of only empty cells after the quote is removed
			}
			b := back[0].Lead
			if b.Name != r.Lead.Name || b.Phone != r.Lead.Phone || b.Email != r.Lead.Email || b.Source != r.Lead.Source || b.Status != r.Lead.Status {
				t.Fatalf("%+v came back as %+v via %q", r.Lead, b, buf.String())
			}
		}
	})
}

// A mapping reads the file's own column names: the columns it names fill
// their fields, the others are left out; a mapped column the header lacks,
// or a field that does not exist, is an error naming the column.
func TestParseImportMapped(t *testing.T) {
	m := map[string]string{"Full Name": "name", " Mobile ": "phone", "Budget": "cf.Budget", "WA": "whatsapp_marketing_opt_in", "Proof": "consent_evidence"}
	rows, bad, err := lead.ParseImportMapped("Full Name,Mobile,Budget,Notes,WA,Proof\nAsha,+919876543210,5000,private,yes,signed form\n", m, 10)
	if err != nil || len(bad) > 0 || len(rows) != 1 {
		t.Fatal(rows, bad, err)
	}
	r := rows[0]
	if r.Lead.Name != "Asha" || r.Lead.Phone != "+919876543210" || r.Lead.CustomFields["Budget"] != "5000" || r.Lead.Source != "" ||
		!slices.Equal(r.OptIns, []string{"whatsapp:marketing"}) || r.Evidence != "signed form" {
		t.Fatalf("%+v", r)
	}
	for _, c := range []struct {
		mapping map[string]string
		field   string
	}{
		{map[string]string{"Full Name": "name", "Phone": "phone"}, "Phone"},
		{map[string]string{"Full Name": "name", "Mobile": "mobile"}, "Mobile"},
		{map[string]string{"Mobile": "phone"}, "name"},
	} {
		_, _, err := lead.ParseImportMapped("Full Name,Mobile\nAsha,+919876543210\n", c.mapping, 10)
		var re *lead.RowError
		if !errors.As(err, &re) || re.Row != 1 || re.Field != c.field {
			t.Errorf("mapping %v: %v, want an error on column %s", c.mapping, err, c.field)
		}
	}
}
