package leads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
)

// ImportJobs starts lead imports (leadimport.Submitter).
type ImportJobs interface {
	Submit(ctx context.Context, a lead.Actor, file string, mapping map[string]string) (leadimport.Import, bool, error)
}

// ImportReader reads lead imports (dynamostore.Store).
type ImportReader interface {
	GetImport(ctx context.Context, orgID, id string) (leadimport.Import, error)
	ListImports(ctx context.Context, orgID string, limit int) ([]leadimport.Import, error)
	Rejections(ctx context.Context, orgID, importID string, limit int) ([]leadimport.RowOutcome, error)
}

// ImportDeps are the collaborators of the import job routes.
type ImportDeps struct {
	// Jobs starts import jobs (leadimport.Submitter).
	Jobs ImportJobs
	// Imports reads them (dynamostore.Store).
	Imports ImportReader
}

// importServer serves the import job routes.
type importServer struct {
	*httpapi.Kit
	deps ImportDeps
}

// RegisterImports registers the import job routes: POST /v1/imports,
// GET /v1/imports and GET /v1/imports/{id}.
func RegisterImports(api huma.API, k *httpapi.Kit, d ImportDeps) {
	(&importServer{Kit: k, deps: d}).register(api)
}

// maxMappingColumns bounds an import's column mapping.
const maxMappingColumns = 200

// mapQueryPrefix starts the query parameters of a text/csv import's
// mapping: ?map.<column>=<field>.
const mapQueryPrefix = "map."

// ImportJobIn is a file to import as a job, as JSON.
type ImportJobIn struct {
	CSV     string            `json:"csv" minLength:"1" maxLength:"4194304" doc:"The file: a header row, then one lead a row (docs/crm.md, Import jobs)."`
	Mapping map[string]string `json:"mapping,omitempty" doc:"The file's columns (as its header writes them) and the lead field each fills: name, phone, email, status, tags, source, cf.<key>, consent_evidence or a consent column; the columns it does not name are not imported. Without it the header names the fields."`
}

// RejectedRowOut is one rejected row of an import.
type RejectedRowOut struct {
	Row    int    `json:"row" doc:"The line of the file the row starts on, the header being line 1."`
	Reason string `json:"reason" enum:"invalid,plan_limit,conflict,too_large,denied" doc:"invalid: a field is not valid (field names it); plan_limit: the plan allows no more leads this month; conflict: the lead to merge into changed or went away each time it was tried, or another lead holds the value of a unique field (field names it); too_large: the row is too long."`
	Field  string `json:"field,omitempty" doc:"The field or column at fault (phone, cf.budget, ...)."`
}

// ImportJobOut is an import as the API shows it.
type ImportJobOut struct {
	ID         string            `json:"id"`
	Status     string            `json:"status" enum:"running,done" doc:"running until every row is counted, then done. A submission that failed before queueing every chunk leaves it running: the same file submitted again queues its chunks again."`
	Rows       int               `json:"rows" doc:"Data rows in the file (blank rows skipped)."`
	Processed  int               `json:"processed" doc:"Rows counted so far: created + merged + rejected, updated chunk by chunk."`
	Created    int               `json:"created" doc:"Rows that created a lead."`
	Merged     int               `json:"merged" doc:"Rows merged into the lead that has their phone or email: its empty fields filled, tags and missing custom fields added, nothing overwritten."`
	Rejected   int               `json:"rejected" doc:"Rows not imported, each with a reason."`
	Chunks     int               `json:"chunks" doc:"The parts the rows travel in."`
	ChunksDone int               `json:"chunks_done"`
	Mapping    map[string]string `json:"mapping" doc:"The column mapping it was submitted with (empty: the header named the fields)."`
	CreatedBy  string            `json:"created_by" doc:"The user who submitted it."`
	CreatedAt  time.Time         `json:"created_at"`
	FinishedAt *time.Time        `json:"finished_at" doc:"When it was done; null before."`
}

// ImportJobDetail is an import with its rejected rows.
type ImportJobDetail struct {
	ImportJobOut
	RejectedRows          []RejectedRowOut `json:"rejected_rows" doc:"The first 1,000 rejected rows, by row: the row number and a reason code, never the row's values."`
	RejectedRowsTruncated bool             `json:"rejected_rows_truncated" doc:"More rows were rejected than rejected_rows lists (rejected has the count)."`
}

// ImportJobList is the latest imports.
type ImportJobList struct {
	Items []ImportJobOut `json:"items"`
}

type submitImportIn struct {
	ContentType string `header:"Content-Type"`
	RawBody     []byte `contentType:"text/csv"`
	mapping     map[string]string
	mapErr      error
}

// Resolve reads a text/csv import's mapping from the query: map.<column>.
func (in *submitImportIn) Resolve(ctx huma.Context) []error {
	u := ctx.URL()
	for k, vs := range u.Query() {
		col, ok := strings.CutPrefix(k, mapQueryPrefix)
		if !ok || len(vs) == 0 {
			continue
		}
		if in.mapping == nil {
			in.mapping = map[string]string{}
		}
		if len(vs) > 1 {
			in.mapErr = fmt.Errorf("%s given %d times", k, len(vs))
		}
		in.mapping[col] = vs[0]
	}
	return nil
}

type submitImportOut struct {
	Status   int
	Location string `header:"Location"`
	Body     ImportJobOut
}

type importPath struct {
	ID string `path:"id" maxLength:"64"`
}

type listImportsIn struct {
	Limit int `query:"limit" minimum:"1" maximum:"100" default:"20"`
}

func (s *importServer) register(api huma.API) {
	schema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ImportJobIn](), true, "ImportJobIn")
	huma.Register(api, huma.Operation{
		OperationID: "submit-import", Method: http.MethodPost, Path: "/v1/imports", Tags: []string{"leads"},
		Summary: "Import leads from a CSV file, as a job",
		Description: "The file as JSON `{csv, mapping}`, or as the body with `Content-Type: text/csv` and the mapping in the query, one " +
			"`map.<column>=<field>` parameter a column (`?map.Phone=phone&map.Full%20Name=name`). Up to 10,000 rows. The header and the mapping " +
			"are checked now (422 naming the column); the rows are imported in the background: poll `GET /v1/imports/{id}`. The same file " +
			"with the same mapping submitted again answers 200 with the import it started.",
		DefaultStatus: http.StatusAccepted, Security: httpapi.BearerSecurity, MaxBodyBytes: 3 * leadimport.MaxFileBytes / 2,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}, s.submitImport)
	// The handler reads either body itself (huma would parse and check a
	// JSON schema given to the operation against a text/csv body too):
	// the JSON form is added to the document only.
	if p := api.OpenAPI().Paths["/v1/imports"]; p != nil && p.Post != nil && p.Post.RequestBody != nil {
		p.Post.RequestBody.Content["application/json"] = &huma.MediaType{Schema: schema}
	}
	huma.Register(api, huma.Operation{
		OperationID: "list-imports", Method: http.MethodGet, Path: "/v1/imports", Tags: []string{"leads"},
		Summary: "List the latest imports, newest first", Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden},
	}, s.listImports)
	huma.Register(api, huma.Operation{
		OperationID: "get-import", Method: http.MethodGet, Path: "/v1/imports/{id}", Tags: []string{"leads"},
		Summary: "Get an import: its status, counts and rejected rows", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.getImport)
}

func (s *importServer) submitImport(ctx context.Context, in *submitImportIn) (*submitImportOut, error) {
	a := actor(ctx)
	if !bulkRole(a.User.Role) {
		return nil, s.Deny(ctx, audit.ActionLeadImport, "import", "", "only an owner, admin or manager imports leads")
	}
	file, mapping, err := importBody(in)
	if err != nil {
		return nil, err
	}
	imp, existing, err := s.deps.Jobs.Submit(ctx, a, file, mapping)
	var re *lead.RowError
	if errors.As(err, &re) {
		p := httpapi.NewProblem(http.StatusUnprocessableEntity, "invalid_csv", fmt.Sprintf("row %d: %s: %s", re.Row, re.Field, re.Message))
		p.Errors = []*huma.ErrorDetail{{Message: re.Message, Location: "body.csv", Value: re.Field}}
		return nil, p
	}
	if err != nil {
		return nil, s.Internal(ctx, "submit import", err)
	}
	status := http.StatusAccepted
	if existing {
		status = http.StatusOK
	}
	s.Record(ctx, audit.Record{OrgID: a.User.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadImport, TargetType: "import", TargetID: imp.ID,
		Details: map[string]string{"rows": strconv.Itoa(imp.Rows), "chunks": strconv.Itoa(imp.Chunks), "mapped": strconv.FormatBool(mapping != nil),
			"again": strconv.FormatBool(existing)}})
	return &submitImportOut{Status: status, Location: "/v1/imports/" + imp.ID, Body: importOut(imp)}, nil
}

// importBody is the file and mapping of a submission, as JSON or text/csv.
func importBody(in *submitImportIn) (string, map[string]string, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(in.ContentType, ";")[0]))
	var file string
	mapping := in.mapping
	switch ct {
	case "text/csv":
		if in.mapErr != nil {
			return "", nil, httpapi.NewProblem(http.StatusBadRequest, "invalid_mapping", in.mapErr.Error())
		}
		file = string(in.RawBody)
	case "application/json", "":
		if len(in.mapping) > 0 {
			return "", nil, httpapi.NewProblem(http.StatusBadRequest, "invalid_mapping", "with a JSON body the mapping is its mapping, not the query")
		}
		var body ImportJobIn
		if err := json.Unmarshal(in.RawBody, &body); err != nil {
			p := httpapi.NewProblem(http.StatusBadRequest, "invalid_body", "the body is not the JSON of an import: "+err.Error())
			p.Errors = []*huma.ErrorDetail{{Message: "not valid JSON", Location: "body"}}
			return "", nil, p
		}
		file, mapping = body.CSV, body.Mapping
	default:
		return "", nil, httpapi.NewProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json or text/csv")
	}
	switch {
	case strings.TrimSpace(file) == "":
		return "", nil, importProblem("body.csv", "the file is empty")
	case len(file) > leadimport.MaxFileBytes:
		return "", nil, importProblem("body.csv", fmt.Sprintf("at most %d bytes a file", leadimport.MaxFileBytes))
	case len(mapping) > maxMappingColumns:
		return "", nil, importProblem("body.mapping", fmt.Sprintf("at most %d columns", maxMappingColumns))
	}
	return file, mapping, nil
}

func importProblem(loc, msg string) error {
	p := httpapi.NewProblem(http.StatusUnprocessableEntity, "validation_failed", "validation failed: "+msg)
	p.Errors = []*huma.ErrorDetail{{Message: msg, Location: loc}}
	return p
}

func importOut(imp leadimport.Import) ImportJobOut {
	out := ImportJobOut{ID: imp.ID, Status: string(imp.Status), Rows: imp.Rows, Processed: imp.Processed(), Created: imp.Created,
		Merged: imp.Merged, Rejected: imp.Rejected, Chunks: imp.Chunks, ChunksDone: imp.ChunksDone, Mapping: imp.Mapping,
		CreatedBy: imp.ActorID, CreatedAt: imp.CreatedAt}
	if out.Mapping == nil {
		out.Mapping = map[string]string{}
	}
	if !imp.FinishedAt.IsZero() {
		t := imp.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

func (s *importServer) listImports(ctx context.Context, in *listImportsIn) (*struct{ Body ImportJobList }, error) {
	a := actor(ctx)
	if !bulkRole(a.User.Role) {
		return nil, s.Deny(ctx, audit.ActionLeadImport, "import", "", "only an owner, admin or manager sees imports")
	}
	imps, err := s.deps.Imports.ListImports(ctx, a.User.OrgID, in.Limit)
	if err != nil {
		return nil, s.Internal(ctx, "list imports", err)
	}
	out := ImportJobList{Items: make([]ImportJobOut, 0, len(imps))}
	for _, imp := range imps {
		out.Items = append(out.Items, importOut(imp))
	}
	return &struct{ Body ImportJobList }{Body: out}, nil
}

func (s *importServer) getImport(ctx context.Context, in *importPath) (*struct{ Body ImportJobDetail }, error) {
	a := actor(ctx)
	if !bulkRole(a.User.Role) {
		return nil, s.Deny(ctx, audit.ActionLeadImport, "import", in.ID, "only an owner, admin or manager sees imports")
	}
	imp, err := s.deps.Imports.GetImport(ctx, a.User.OrgID, in.ID)
	if errors.Is(err, leadimport.ErrNotFound) {
		return nil, httpapi.NotFound("import")
	}
	if err != nil {
		return nil, s.Internal(ctx, "read import", err)
	}
	out := ImportJobDetail{ImportJobOut: importOut(imp), RejectedRows: []RejectedRowOut{}}
	if imp.Rejected > 0 {
		rows, err := s.deps.Imports.Rejections(ctx, a.User.OrgID, imp.ID, leadimport.MaxRejections)
		if err != nil {
			return nil, s.Internal(ctx, "read rejected rows", err)
		}
		for _, r := range rows {
			out.RejectedRows = append(out.RejectedRows, RejectedRowOut{Row: r.Row, Reason: r.Reason, Field: r.Field})
		}
		out.RejectedRowsTruncated = imp.Rejected > len(rows)
	}
	return &struct{ Body ImportJobDetail }{Body: out}, nil
}
