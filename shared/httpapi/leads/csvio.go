package leads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// ImportService is what a lead import needs of lead.Service.
type ImportService interface {
	Create(ctx context.Context, a lead.Actor, in lead.Lead) (lead.Lead, error)
	CheckCreate(ctx context.Context, a lead.Actor, in lead.Lead) error
	Contact(a lead.Actor, in lead.Lead) (phone, email string)
}

// ConsentRecorder appends to leads' consent ledgers (dynamostore.Store).
type ConsentRecorder interface {
	AppendConsent(ctx context.Context, c conversation.ConsentEntry) error
}

// Limits of one import (docs/crm.md): the file travels in a JSON body to a
// Lambda function (6 MB at most) behind API Gateway (29 s), and every row
// is a lead.Service.Create.
const (
	MaxImportBytes = 2 << 20
	MaxImportRows  = 2000
	// importWorkers create rows in parallel.
	importWorkers = 8
	// importBudget is the time an import spends on rows; the rows it does
	// not reach are counted as unprocessed, to send again.
	importBudget = 20 * time.Second
	// maxRowErrors bounds the errors an import answers.
	maxRowErrors = 100
	// maxExportRows bounds one export file; a longer export continues
	// with the Next-Cursor header.
	maxExportRows = 5000
	// exportPage is the page size an export reads.
	exportPage = 100
)

// ImportIn is a lead CSV file to import.
type ImportIn struct {
	CSV string `json:"csv" minLength:"1" maxLength:"2097152" doc:"The file: a header row, then one lead a row (docs/crm.md, Import and export)."`
}

// RowErrorOut is what is wrong with one row of an import.
type RowErrorOut struct {
	Row     int    `json:"row" doc:"The line of the file the row starts on, the header being line 1."`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ImportOut is the outcome of an import.
type ImportOut struct {
	DryRun      bool          `json:"dry_run" doc:"Only checked: nothing was written."`
	Rows        int           `json:"rows" doc:"Data rows read (blank rows skipped)."`
	Created     int           `json:"created" doc:"Leads created (with dry_run: rows that would be, duplicates of existing leads aside)."`
	Duplicates  int           `json:"duplicates" doc:"Rows whose phone or email another lead (or an earlier row) holds: skipped."`
	Invalid     int           `json:"invalid" doc:"Rows with invalid fields: skipped."`
	Unprocessed int           `json:"unprocessed" doc:"Rows not reached within the request's time budget: send them again (the rows already created come back as duplicates)."`
	Errors      []RowErrorOut `json:"errors" doc:"The first 100 row errors (duplicates and invalid rows), by row."`
}

type importInput struct {
	DryRun bool `query:"dry_run" doc:"Check every row, create none."`
	Body   ImportIn
}

type exportInput struct {
	listLeadsIn
	Format string `query:"format" enum:"csv,jsonl" default:"csv" doc:"csv: a CSV file that imports back as it is; jsonl: one JSON object a line (application/x-ndjson), the same fields."`
}

type exportOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	NextCursor         string `header:"Next-Cursor" doc:"Pass as cursor for the rest of the export; absent on the last part."`
	Body               []byte
}

func (s *server) registerCSV(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "import-leads", Method: http.MethodPost, Path: "/v1/leads/import", Tags: []string{"leads"},
		Summary: "Import leads from a CSV file", Security: httpapi.BearerSecurity, MaxBodyBytes: 3 * MaxImportBytes / 2,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.importLeads)
	huma.Register(api, huma.Operation{
		OperationID: "export-leads", Method: http.MethodGet, Path: "/v1/leads/export", Tags: []string{"leads"},
		Summary: "Export leads as a CSV or JSON Lines file", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.exportLeads)
}

// bulkRole says whether the caller may import or export the org's leads
// as a whole: owner, admin, manager.
func bulkRole(r account.Role) bool { return r.SeesAllLeads() && r.CanWriteLeads() }

func (s *server) importLeads(ctx context.Context, in *importInput) (*struct{ Body ImportOut }, error) {
	a := actor(ctx)
	if !bulkRole(a.User.Role) {
		return nil, s.Deny(ctx, audit.ActionLeadImport, "lead", "", "only an owner, admin or manager imports leads")
	}
	rows, bad, err := lead.ParseImport(in.Body.CSV, MaxImportRows)
	var re *lead.RowError
	if errors.As(err, &re) {
		p := httpapi.NewProblem(http.StatusUnprocessableEntity, "invalid_csv", fmt.Sprintf("row %d: %s: %s", re.Row, re.Field, re.Message))
		p.Errors = []*huma.ErrorDetail{{Message: re.Message, Location: "body.csv", Value: re.Row}}
		return nil, p
	}
	if err != nil {
		return nil, s.Internal(ctx, "read import", err)
	}
	out := ImportOut{DryRun: in.DryRun, Rows: len(rows) + len(bad), Invalid: len(bad), Errors: []RowErrorOut{}}
	errs := make([]RowErrorOut, 0, len(bad))
	for _, b := range bad {
		errs = append(errs, RowErrorOut(b))
	}
	results := s.runImport(ctx, a, rows, in.DryRun)
	for _, r := range results {
		switch r.kind {
		case rowCreated:
			out.Created++
		case rowDuplicate:
			out.Duplicates++
		case rowInvalid:
			out.Invalid++
		case rowUnprocessed:
			out.Unprocessed++
			continue
		}
		if r.err != nil {
			errs = append(errs, *r.err)
		}
	}
	slices.SortStableFunc(errs, func(x, y RowErrorOut) int { return x.Row - y.Row })
	out.Errors = append(out.Errors, errs[:min(len(errs), maxRowErrors)]...)
	if !in.DryRun {
		s.Record(ctx, audit.Record{OrgID: a.User.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadImport, TargetType: "lead",
			Details: map[string]string{"rows": strconv.Itoa(out.Rows), "created": strconv.Itoa(out.Created), "duplicates": strconv.Itoa(out.Duplicates),
				"invalid": strconv.Itoa(out.Invalid), "unprocessed": strconv.Itoa(out.Unprocessed)}})
	}
	return &struct{ Body ImportOut }{Body: out}, nil
}

type rowKind int

const (
	rowUnprocessed rowKind = iota
	rowCreated
	rowDuplicate
	rowInvalid
)

type rowResult struct {
	kind rowKind
	err  *RowErrorOut
}

// runImport creates (or, dryRun, checks) the rows with importWorkers in
// parallel until importBudget is spent.
func (s *server) runImport(ctx context.Context, a lead.Actor, rows []lead.ImportRow, dryRun bool) []rowResult {
	results := make([]rowResult, len(rows))
	// Rows naming a phone or email an earlier row names are duplicates
	// before any is written: the first row wins, whatever the workers'
	// order.
	first := map[string]int{}
	done := make([]bool, len(rows))
	for i, row := range rows {
		phone, email := s.deps.Import.Contact(a, row.Lead)
		for _, k := range []struct{ field, value string }{{lead.ColPhone, phone}, {lead.ColEmail, email}} {
			if k.value == "" || done[i] {
				continue
			}
			if j, ok := first[k.field+"|"+k.value]; ok {
				done[i] = true
				results[i] = rowResult{kind: rowDuplicate, err: &RowErrorOut{Row: row.Row, Field: k.field,
					Message: fmt.Sprintf("row %d has this %s; skipped", rows[j].Row, k.field)}}
			}
		}
		if !done[i] {
			for _, k := range []string{lead.ColPhone + "|" + phone, lead.ColEmail + "|" + email} {
				if !strings.HasSuffix(k, "|") {
					first[k] = i
				}
			}
		}
	}
	deadline := time.Now().Add(importBudget)
	next := make(chan int)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Go(func() {
			for i := range next {
				results[i] = s.importRow(ctx, a, rows[i], dryRun)
			}
		})
	}
	for i := range rows {
		if done[i] {
			continue
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (s *server) importRow(ctx context.Context, a lead.Actor, row lead.ImportRow, dryRun bool) rowResult {
	l := row.Lead
	if l.Source == "" {
		l.Source = "import"
	}
	fail := func(kind rowKind, field, msg string) rowResult {
		return rowResult{kind: kind, err: &RowErrorOut{Row: row.Row, Field: field, Message: msg}}
	}
	var err error
	if dryRun {
		err = s.deps.Import.CheckCreate(ctx, a, l)
	} else {
		l, err = s.deps.Import.Create(ctx, a, l)
	}
	var fe *lead.FieldError
	var fes lead.FieldErrors
	var dup *lead.DuplicateError
	switch {
	case errors.As(err, &fes) && len(fes) > 0:
		return fail(rowInvalid, csvField(fes[0].Field), fes[0].Message)
	case errors.As(err, &fe):
		return fail(rowInvalid, csvField(fe.Field), fe.Message)
	case errors.As(err, &dup):
		return fail(rowDuplicate, dup.Field, "another lead has this "+dup.Field+"; skipped")
	case err != nil:
		s.Log().ErrorContext(ctx, "import lead row", "row", row.Row, "err", err)
		return fail(rowInvalid, "row", "could not be imported; try again")
	}
	if dryRun {
		return rowResult{kind: rowCreated}
	}
	for _, key := range row.OptIns {
		ch, purpose, _ := strings.Cut(key, ":")
		at := time.Now().UTC()
		e := conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
			Channel: conversation.Channel(ch), Purpose: purpose, Action: conversation.OptIn, At: at, Evidence: row.Evidence,
			Source: conversation.SourceImport, By: a.User.ID, Reason: "import"}
		if err := s.deps.Consent.AppendConsent(ctx, e); err != nil {
			s.Log().ErrorContext(ctx, "record import opt-in", "lead_id", l.ID, "err", err)
			return fail(rowCreated, lead.ColConsentEvidence, "the lead was created ("+l.ID+") but its opt-in was not recorded; set it on the lead's preferences")
		}
	}
	return rowResult{kind: rowCreated}
}

// csvField names a lead field as the file's column does.
func csvField(f string) string {
	if k, ok := strings.CutPrefix(f, "custom_fields."); ok {
		return lead.ColCustomPrefix + k
	}
	return f
}

// listScope is the cursor scope of a listing or export of f.
func listScope(kind string, f lead.Filter, limit int) string {
	scope := fmt.Sprintf("%s|%s|%s|%s|%s|%d|%s|%s", kind, f.Status, f.AssigneeID, strings.Join(f.Tags, ","), f.Source, limit, f.PipelineID, f.StageID)
	if f.Query != "" || len(f.CustomFields) > 0 {
		scope += "|" + filterDigest(f)
	}
	return scope
}

func (s *server) exportLeads(ctx context.Context, in *exportInput) (*exportOutput, error) {
	a := actor(ctx)
	if !a.User.Role.CanWriteLeads() {
		return nil, s.Deny(ctx, audit.ActionLeadExport, "lead", "", "a viewer cannot export leads")
	}
	if in.StageID != "" && in.PipelineID == "" {
		p := httpapi.NewProblem(http.StatusUnprocessableEntity, "validation_failed", "validation failed: stage_id needs pipeline_id")
		p.Errors = []*huma.ErrorDetail{{Message: "needs pipeline_id", Location: "query.stage_id"}}
		return nil, p
	}
	f := s.deps.Leads.Scope(a, lead.Filter{Status: lead.Status(in.Status), AssigneeID: in.AssigneeID, Tags: in.Tag, Source: in.Source,
		Query: in.Q, CustomFields: in.cf, PipelineID: in.PipelineID, StageID: in.StageID})
	scope := listScope("export", f, 0)
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	var leads []lead.Lead
	var next page.Cursor
	for {
		pg, err := s.deps.Leads.List(ctx, a, f, exportPage, from)
		var fe *lead.FieldError
		if errors.As(err, &fe) {
			return nil, &httpapi.Problem{Title: "Unprocessable Entity", Status: http.StatusUnprocessableEntity, Code: "validation_failed",
				Detail: "validation failed: " + fe.Error(), Errors: []*huma.ErrorDetail{{Message: fe.Message, Location: "query." + fe.Field}}}
		}
		if err != nil {
			return nil, s.Internal(ctx, "export leads", err)
		}
		leads = append(leads, pg.Items...)
		next = pg.Next
		if next.IsZero() || len(leads) >= maxExportRows {
			break
		}
		from = next
	}
	keys := map[string]bool{}
	defs, err := s.fieldDefs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range defs.Fields {
		keys[d.Key] = true
	}
	for _, l := range leads {
		for k := range l.CustomFields {
			keys[k] = true
		}
	}
	cfKeys := slices.Sorted(maps.Keys(keys))
	var buf bytes.Buffer
	contentType, name := "text/csv; charset=utf-8", "leads.csv"
	if in.Format == "jsonl" {
		contentType, name = "application/x-ndjson", "leads.jsonl"
		if err := writeJSONL(&buf, leads); err != nil {
			return nil, s.Internal(ctx, "write export", err)
		}
	} else {
		w := csv.NewWriter(&buf)
		_ = w.Write(lead.ExportHeader(cfKeys))
		for _, l := range leads {
			_ = w.Write(lead.ExportRecord(l, cfKeys))
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, s.Internal(ctx, "write export", err)
		}
	}
	s.ReadAudit(ctx, audit.ActionLeadExport, "", map[string]string{"count": strconv.Itoa(len(leads)), "format": in.Format,
		"filter": httpapi.AuditFilter("status", string(f.Status), "assignee_id", f.AssigneeID, "tag", strings.Join(f.Tags, "+"), "source", f.Source,
			"search", searchFlag(f.Query), "cf", fieldFilterKeys(f.CustomFields), "pipeline_id", f.PipelineID, "stage_id", f.StageID),
		"next_page": strconv.FormatBool(in.Cursor != "")})
	return &exportOutput{ContentType: contentType, ContentDisposition: `attachment; filename="` + name + `"`,
		NextCursor: s.Cursors().Encode(a.User.OrgID, scope, next), Body: buf.Bytes()}, nil
}

// filterDigest stands for a filter's search and custom field values in a
// cursor scope (a cursor stays short and carries no personal data).
func filterDigest(f lead.Filter) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q", f.Query)
	for _, ff := range f.CustomFields {
		fmt.Fprintf(h, "|%q=%q", ff.Key, ff.Value)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ExportLine is one lead of a JSON Lines export: the columns of a CSV
// export, as JSON (no formula quoting).
type ExportLine struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Phone        string            `json:"phone"`
	Email        string            `json:"email"`
	Status       string            `json:"status"`
	Tags         []string          `json:"tags"`
	Source       string            `json:"source"`
	CustomFields map[string]string `json:"custom_fields"`
	AssigneeID   string            `json:"assignee_id"`
	PipelineID   string            `json:"pipeline_id"`
	StageID      string            `json:"stage_id"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// writeJSONL writes one ExportLine a line.
func writeJSONL(buf *bytes.Buffer, leads []lead.Lead) error {
	enc := json.NewEncoder(buf)
	for _, l := range leads {
		line := ExportLine{ID: l.ID, Name: l.Name, Phone: l.Phone, Email: l.Email, Status: string(l.Status), Tags: l.Tags, Source: l.Source,
			CustomFields: l.CustomFields, AssigneeID: l.AssigneeID, PipelineID: l.PipelineID, StageID: l.StageID,
			CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC()}
		if line.Tags == nil {
			line.Tags = []string{}
		}
		if line.CustomFields == nil {
			line.CustomFields = map[string]string{}
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("encode lead %s: %w", l.ID, err)
		}
	}
	return nil
}
