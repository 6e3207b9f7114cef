package app_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// importCSV posts a lead CSV file.
func (e *testEnv) importCSV(t *testing.T, s session, query, data string) response {
	t.Helper()
	return e.do(t, "POST", "/v1/leads/import"+query, s.Access, map[string]any{"csv": data})
}

// rowErrors lists an import's errors as "row field".
func rowErrors(r response) []string {
	list, _ := r.Body["errors"].([]any)
	var out []string
	for _, e := range list {
		m := e.(map[string]any)
		out = append(out, fmt.Sprintf("%v %v", m["row"], m["field"]))
	}
	return out
}

func importCounts(r response) string {
	return fmt.Sprintf("rows=%v created=%v duplicates=%v invalid=%v unprocessed=%v", r.Body["rows"], r.Body["created"], r.Body["duplicates"], r.Body["invalid"], r.Body["unprocessed"])
}

func TestLeadImport(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Import Realty")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	expect(t, e.do(t, "POST", "/v1/custom-fields", owner.Access, map[string]any{"key": "city", "type": "single_select",
		"options": []map[string]string{{"value": "pune"}, {"value": "goa"}}}), 201)
	sample, err := os.ReadFile("../../../events/leads-import.csv")
	if err != nil {
		t.Fatal(err)
	}

	problemCode(t, e.importCSV(t, agent, "", string(sample)), 403, "forbidden")
	problemCode(t, e.importCSV(t, viewer, "", string(sample)), 403, "forbidden")
	problemCode(t, e.importCSV(t, owner, "", "name,colour\nx,red\n"), 422, "invalid_csv")

	// A dry run checks every row and writes nothing.
	r := e.importCSV(t, manager, "?dry_run=true", string(sample))
	expect(t, r, 200)
	if got := importCounts(r); got != "rows=6 created=4 duplicates=1 invalid=1 unprocessed=0" {
		t.Fatalf("dry run %s: %s", got, r.Raw)
	}
	if got := strings.Join(rowErrors(r), ","); got != "5 phone,6 phone" {
		t.Fatalf("dry run errors %s: %s", got, r.Raw)
	}
	if n := len(e.do(t, "GET", "/v1/leads", owner.Access, nil).items()); n != 0 {
		t.Fatalf("a dry run created %d leads", n)
	}

	r = e.importCSV(t, manager, "", string(sample))
	expect(t, r, 200)
	if got := importCounts(r); got != "rows=6 created=4 duplicates=1 invalid=1 unprocessed=0" {
		t.Fatalf("import %s: %s", got, r.Raw)
	}
	if got := strings.Join(rowErrors(r), ","); got != "5 phone,6 phone" {
		t.Fatalf("import errors %s: %s", got, r.Raw)
	}
	list := e.do(t, "GET", "/v1/leads?q=asha", owner.Access, nil)
	if len(list.items()) != 1 {
		t.Fatalf("asha: %s", list.Raw)
	}
	asha := list.items()[0]
	if asha["phone"] != "+919876543210" || asha["source"] != "expo-2026" || fmt.Sprint(asha["tags"]) != "[hot 2bhk]" ||
		fmt.Sprint(asha["custom_fields"]) != "map[city:pune]" {
		t.Fatalf("asha %v", asha)
	}
	prefsR := e.do(t, "GET", "/v1/leads/"+asha["id"].(string)+"/preferences", owner.Access, nil)
	if !strings.Contains(prefsR.Raw, `"source":"import"`) || !strings.Contains(prefsR.Raw, "signed expo form #1042") {
		t.Fatalf("the opt-in with its evidence: %s", prefsR.Raw)
	}
	if states, _ := prefs(t, prefsR); states["whatsapp:marketing"] != "opted_in" {
		t.Fatalf("the opt-in with its evidence: %s", prefsR.Raw)
	}

	// Importing again creates nothing: every row is a duplicate.
	r = e.importCSV(t, owner, "", string(sample))
	if got := importCounts(r); got != "rows=6 created=0 duplicates=5 invalid=1 unprocessed=0" {
		t.Fatalf("again %s: %s", got, r.Raw)
	}

	// A custom field value the definition refuses is invalid, named by its column.
	r = e.importCSV(t, owner, "", "name,email,cf.city\nX,x@example.com,paris\n")
	if got := strings.Join(rowErrors(r), ","); got != "2 cf.city" {
		t.Fatalf("%s: %s", got, r.Raw)
	}

	audit := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	if !strings.Contains(audit.Raw, `"lead.import"`) {
		t.Fatalf("no lead.import in the audit trail: %s", audit.Raw)
	}
}

func TestLeadExport(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Export Realty")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	e.createLead(t, owner, map[string]any{"name": "=HYPERLINK(\"http://x\")", "phone": "+919876500101", "tags": []string{"hot"},
		"custom_fields": map[string]string{"floor": "-2"}})
	e.createLead(t, agent, map[string]any{"name": "Agent's lead", "email": "agent.lead@example.com"})

	r := e.do(t, "GET", "/v1/leads/export?format=csv", owner.Access, nil)
	expect(t, r, 200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(r.Raw)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("%v: %q", err, r.Raw)
	}
	if got := strings.Join(recs[0], ","); got != "id,name,phone,email,status,tags,source,cf.floor,assignee_id,pipeline_id,stage_id,created_at,updated_at" {
		t.Fatalf("header %s", got)
	}
	if !strings.Contains(r.Raw, `'=HYPERLINK`) || !strings.Contains(r.Raw, "'+919876500101") || !strings.Contains(r.Raw, ",'-2,") {
		t.Fatalf("cells not protected against formulas: %s", r.Raw)
	}

	// An agent exports its own leads only; a viewer nothing.
	r = e.do(t, "GET", "/v1/leads/export", agent.Access, nil)
	expect(t, r, 200)
	if !strings.Contains(r.Raw, "Agent's lead") || strings.Contains(r.Raw, "HYPERLINK") {
		t.Fatalf("agent export: %s", r.Raw)
	}
	problemCode(t, e.do(t, "GET", "/v1/leads/export", viewer.Access, nil), 403, "forbidden")

	// An export imports back as duplicates.
	all := e.do(t, "GET", "/v1/leads/export?format=csv", owner.Access, nil)
	back := e.importCSV(t, owner, "", all.Raw)
	if got := importCounts(back); got != "rows=2 created=0 duplicates=2 invalid=0 unprocessed=0" {
		t.Fatalf("re-import %s: %s", got, back.Raw)
	}

	audit := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	if !strings.Contains(audit.Raw, `"lead.export"`) {
		t.Fatalf("no lead.export in the audit trail: %s", audit.Raw)
	}
}

// TestLeadImportTiming measures an import against the local stack (the
// time is logged): every row is created or, past the import's time
// budget, counted unprocessed.
func TestLeadImportTiming(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Bulk Realty")
	var b strings.Builder
	b.WriteString("name,phone,tags\n")
	const n = 300
	for i := range n {
		fmt.Fprintf(&b, "Lead %d,+9198%08d,bulk\n", i, i)
	}
	start := time.Now()
	r := e.importCSV(t, owner, "", b.String())
	took := time.Since(start)
	expect(t, r, 200)
	t.Logf("%d rows in %s: %s", n, took, importCounts(r))
	created, unprocessed := r.Body["created"].(float64), r.Body["unprocessed"].(float64)
	if int(created+unprocessed) != n {
		t.Fatalf("%s in %s: %s", importCounts(r), took, r.Raw)
	}
}
