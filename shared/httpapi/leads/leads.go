// Package leads is the lead area of the HTTP API: create, read, list,
// change and delete leads, import and export them as CSV, read and set their communication preferences,
// read their timeline, keep their notes, tasks and appointments, and read the
// caller's notifications (reminders). The rules (roles, assignment, versions, audit) are
// lead.Service's and conversation.PreferenceService's; the handlers decode,
// call them and encode.
package leads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// Service is what the lead routes need of lead.Service.
type Service interface {
	Create(ctx context.Context, a lead.Actor, in lead.Lead) (lead.Lead, error)
	Get(ctx context.Context, a lead.Actor, id string) (lead.Lead, error)
	Scope(a lead.Actor, f lead.Filter) lead.Filter
	List(ctx context.Context, a lead.Actor, f lead.Filter, limit int, from page.Cursor) (lead.Page, error)
	Update(ctx context.Context, a lead.Actor, id string, version int, p lead.Patch) (lead.Lead, error)
	Delete(ctx context.Context, a lead.Actor, id string) error
	Duplicates(ctx context.Context, a lead.Actor, id string) ([]lead.Duplicate, error)
}

// Deps are the collaborators of the lead routes.
type Deps struct {
	Leads Service
	// Preferences reads and changes leads' communication preferences
	// (conversation.PreferenceService).
	Preferences PreferenceService
	// Timeline reads leads' timelines and keeps their notes (lead.Service).
	Timeline TimelineService
	// Pipelines keeps the org's pipelines (lead.Service).
	Pipelines PipelineService
	// Tasks keeps leads' tasks and users' notifications (lead.Service).
	Tasks TaskService
	// Appointments keeps leads' appointments (lead.Service).
	Appointments AppointmentService
	// Fields keeps the org's custom field definitions
	// (lead.FieldService); nil leaves their routes out.
	Fields FieldService
	// Assignment reads and sets the org's assignment rule (lead.Service);
	// nil leaves its routes out.
	Assignment AssignmentService
	// Plans counts the leads created against the org's plan
	// (plan.LeadsPerMonth); nil counts nothing.
	Plans httpapi.PlanUsage
	// Import creates (or checks) the leads of an import (lead.Service);
	// nil leaves the import and export routes out.
	Import ImportService
	// Consent records an import's opt-ins in the consent ledger
	// (dynamostore.Store).
	Consent ConsentRecorder
}

// LeadOut is a lead as the API shows it.
type LeadOut struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Phone        *string           `json:"phone" doc:"E.164, or null."`
	Email        *string           `json:"email" doc:"Lower-cased, or null."`
	Source       string            `json:"source"`
	Status       string            `json:"status" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tags         []string          `json:"tags"`
	CustomFields map[string]string `json:"custom_fields"`
	AssigneeID   *string           `json:"assignee_id"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	Version      int               `json:"version" doc:"Increases with every change; send it as If-Match to update safely."`
	PipelineID   string            `json:"pipeline_id" doc:"The pipeline the lead is in (\"default\": the org's default pipeline)."`
	StageID      string            `json:"stage_id" doc:"The lead's stage in that pipeline."`
	// CustomFieldIssues flags what does not fit the org's custom field
	// definitions now.
	CustomFieldIssues []FieldIssue `json:"custom_field_issues" doc:"What does not fit the custom field definitions now: values that came in through Lead Ads as received, required fields defined after the lead was written, values typed before their field was defined. Empty when all fits."`
}

// FieldIssue is one custom field that does not fit its definition.
type FieldIssue struct {
	Field   string `json:"field" doc:"custom_fields.<key>"`
	Message string `json:"message"`
}

// SourceAPI is the source of a lead an API key created without naming one.
const SourceAPI = "api"

// LeadIn creates a lead. At least one of phone and email is required.
type LeadIn struct {
	Name         string            `json:"name" minLength:"1" maxLength:"200"`
	Phone        string            `json:"phone,omitempty" maxLength:"40" doc:"Any common format; stored as E.164 using the org's default region."`
	Email        string            `json:"email,omitempty" maxLength:"254"`
	Source       string            `json:"source,omitempty" maxLength:"64" doc:"Where the lead came from (a form's name, say); manual when empty, or api for a lead an API key creates."`
	Status       string            `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tags         []string          `json:"tags,omitempty" maxItems:"50"`
	CustomFields map[string]string `json:"custom_fields,omitempty"`
	AssigneeID   string            `json:"assignee_id,omitempty" maxLength:"64"`
}

// LeadPatch changes some fields of a lead. An empty phone, email or
// assignee_id clears it; so does a null assignee_id.
type LeadPatch struct {
	Name         *string            `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Phone        *string            `json:"phone,omitempty" maxLength:"40"`
	Email        *string            `json:"email,omitempty" maxLength:"254"`
	Source       *string            `json:"source,omitempty" maxLength:"64"`
	Status       *string            `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tags         *[]string          `json:"tags,omitempty" maxItems:"50"`
	CustomFields *map[string]string `json:"custom_fields,omitempty" doc:"Replaces all custom fields."`
	AssigneeID   *string            `json:"assignee_id,omitempty" maxLength:"64" nullable:"true" doc:"A user id (an active user of the org; owner, admin, manager); null or \"\" unassigns."`
	PipelineID   *string            `json:"pipeline_id,omitempty" maxLength:"64" doc:"Moves the lead to this pipeline: to stage_id, else to the pipeline's stage for its status."`
	StageID      *string            `json:"stage_id,omitempty" maxLength:"64" doc:"A stage of pipeline_id, or of the lead's pipeline; the status follows the stage (docs/crm.md)."`
}

// LeadList is one page of leads.
type LeadList struct {
	Items      []LeadOut `json:"items"`
	NextCursor *string   `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

type leadOutput struct {
	ETag string `header:"ETag"`
	Body LeadOut
}

type leadPath struct {
	ID string `path:"id" maxLength:"64"`
}

type listLeadsIn struct {
	Limit      int      `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor     string   `query:"cursor" maxLength:"2048"`
	Status     string   `query:"status" enum:"new,contacted,qualified,unqualified,won,lost"`
	AssigneeID string   `query:"assignee_id" maxLength:"64" doc:"A user id, or \"me\"."`
	Tag        []string `query:"tag,explode" maxItems:"10" doc:"Repeat for several: leads carrying all of them."`
	Source     string   `query:"source" maxLength:"64"`
	Q          string   `query:"q" maxLength:"100" doc:"Search: a word of the name or the email starting with it (ignoring case), or a phone number holding it (any format)."`
	PipelineID string   `query:"pipeline_id" maxLength:"64" doc:"The leads of a pipeline; with stage_id, a board column (one Query)."`
	StageID    string   `query:"stage_id" maxLength:"64" doc:"Needs pipeline_id."`
	// cf are the cf.<key>=value parameters (Resolve).
	cf []lead.FieldFilter
}

// maxFieldFilters bounds the cf.<key> parameters of one listing.
const maxFieldFilters = 5

// Resolve reads the cf.<key>=value parameters, which the OpenAPI
// document cannot declare one by one.
func (in *listLeadsIn) Resolve(ctx huma.Context) []error {
	var errs []error
	u := ctx.URL()
	q := u.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		k, ok := strings.CutPrefix(name, "cf.")
		if !ok {
			continue
		}
		vals := q[name]
		switch {
		case k == "" || len(k) > lead.MaxCustomKeyLen:
			errs = append(errs, &huma.ErrorDetail{Message: "a custom field key is 1 to 64 characters", Location: "query." + name})
		case len(vals) != 1 || vals[0] == "" || len(vals[0]) > 200:
			errs = append(errs, &huma.ErrorDetail{Message: "give one value, 1 to 200 characters", Location: "query." + name})
		default:
			in.cf = append(in.cf, lead.FieldFilter{Key: k, Value: vals[0]})
		}
	}
	if len(in.cf) > maxFieldFilters {
		errs = append(errs, &huma.ErrorDetail{Message: fmt.Sprintf("at most %d cf. filters", maxFieldFilters), Location: "query.cf"})
	}
	for i, t := range in.Tag {
		if t == "" || len(t) > lead.MaxTagLen {
			errs = append(errs, &huma.ErrorDetail{Message: "a tag is 1 to 64 characters", Location: fmt.Sprintf("query.tag[%d]", i)})
		}
	}
	return errs
}

func leadOut(l lead.Lead, defs lead.FieldDefs) LeadOut {
	issues := []FieldIssue{}
	for _, fe := range lead.CustomFieldIssues(defs, l) {
		issues = append(issues, FieldIssue{Field: fe.Field, Message: fe.Message})
	}
	tags := l.Tags
	if tags == nil {
		tags = []string{}
	}
	cf := l.CustomFields
	if cf == nil {
		cf = map[string]string{}
	}
	return LeadOut{ID: l.ID, Name: l.Name, Phone: httpapi.Optional(l.Phone), Email: httpapi.Optional(l.Email), Source: l.Source,
		Status: string(l.Status), Tags: tags, CustomFields: cf, AssigneeID: httpapi.Optional(l.AssigneeID),
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, Version: l.Version, PipelineID: l.PipelineID, StageID: l.StageID, CustomFieldIssues: issues}
}

// fieldDefs reads the org's custom field definitions for the lead
// answers' custom_field_issues (none without a FieldService).
func (s *server) fieldDefs(ctx context.Context) (lead.FieldDefs, error) {
	if s.deps.Fields == nil {
		return lead.FieldDefs{}, nil
	}
	fields, err := s.deps.Fields.List(ctx, httpapi.Caller(ctx).User)
	if err != nil {
		return lead.FieldDefs{}, s.Internal(ctx, "read custom fields", err)
	}
	return lead.FieldDefs{Fields: fields}, nil
}

// leadResult is the answer of a lead, with its version as ETag. After a
// write (written) a failure to read the definitions is logged and the
// lead answered without issues: the write is done, and a 500 would invite
// a retry.
func (s *server) leadResult(ctx context.Context, l lead.Lead, written bool) (*leadOutput, error) {
	defs, err := s.fieldDefs(ctx)
	if err != nil && !written {
		return nil, err
	}
	return &leadOutput{ETag: strconv.Quote(strconv.Itoa(l.Version)), Body: leadOut(l, defs)}, nil
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the lead routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	huma.Register(api, huma.Operation{
		OperationID: "create-lead", Method: http.MethodPost, Path: "/v1/leads", Tags: []string{"leads"},
		Summary: "Create a lead", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createLead)
	huma.Register(api, huma.Operation{
		OperationID: "list-leads", Method: http.MethodGet, Path: "/v1/leads", Tags: []string{"leads"},
		Summary: "List leads, newest first", Security: httpapi.BearerSecurity, Errors: []int{http.StatusBadRequest},
	}, s.listLeads)
	huma.Register(api, huma.Operation{
		OperationID: "get-lead", Method: http.MethodGet, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Get a lead", Security: httpapi.BearerSecurity, Errors: []int{http.StatusNotFound},
	}, s.getLead)
	huma.Register(api, huma.Operation{
		OperationID: "update-lead", Method: http.MethodPatch, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Change some fields of a lead", Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, s.updateLead)
	huma.Register(api, huma.Operation{
		OperationID: "delete-lead", Method: http.MethodDelete, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Delete a lead", DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.deleteLead)
	if d.Fields != nil {
		s.registerFields(api)
	}
	s.registerDuplicates(api)
	s.registerPreferences(api)
	s.registerTimeline(api)
	s.registerPipelines(api)
	s.registerTasks(api)
	s.registerAppointments(api)
	if d.Assignment != nil {
		s.registerAssignment(api)
	}
	if d.Import != nil {
		s.registerCSV(api)
	}
}

// actor is the caller of the request as a lead.Actor.
func actor(ctx context.Context) lead.Actor {
	p := httpapi.Caller(ctx)
	return lead.Actor{User: p.User, Region: p.Region}
}

// problem maps an error of lead.Service to a problem: a denial is recorded
// (Kit.Deny) and answered 403, a lead the caller may not see 404, invalid
// fields 422, a duplicate phone or email 409, a stale version 412; any
// other error is logged as what and answered 500.
func problem(ctx context.Context, k *httpapi.Kit, what string, err error) error {
	var de *lead.DeniedError
	var fe *lead.FieldError
	var fes lead.FieldErrors
	var dup *lead.DuplicateError
	var overlap *lead.OverlapError
	switch {
	case errors.As(err, &fes) && len(fes) > 0:
		p := httpapi.FieldProblem(fes[0].Field, fes[0].Message)
		p.Detail = "validation failed: " + fes.Error()
		for _, e := range fes[1:] {
			p.Errors = append(p.Errors, &huma.ErrorDetail{Message: e.Message, Location: "body." + e.Field})
		}
		return p
	case errors.As(err, &de):
		return k.Deny(ctx, de.Action, "lead", de.LeadID, de.Reason)
	case errors.As(err, &fe):
		return httpapi.FieldProblem(fe.Field, fe.Message)
	case errors.As(err, &dup):
		p := httpapi.NewProblem(http.StatusConflict, "duplicate_lead", dup.Error())
		p.ExistingLeadID = dup.ExistingID
		return p
	case errors.Is(err, lead.ErrNotFound):
		return httpapi.NotFound("lead")
	case errors.Is(err, lead.ErrNoteNotFound):
		return httpapi.NotFound("note")
	case errors.Is(err, lead.ErrTaskNotFound):
		return httpapi.NotFound("task")
	case errors.Is(err, lead.ErrTaskChanged):
		return httpapi.NewProblem(http.StatusConflict, "task_changed", "the task changed or was deleted meanwhile; fetch it and retry")
	case errors.As(err, &overlap):
		return overlapProblem(overlap)
	case errors.Is(err, lead.ErrAppointmentNotFound):
		return httpapi.NotFound("appointment")
	case errors.Is(err, lead.ErrAppointmentChanged):
		return httpapi.NewProblem(http.StatusConflict, "appointment_changed", "the appointment changed meanwhile; fetch it and retry")
	case errors.Is(err, lead.ErrAppointmentCancelled):
		return httpapi.NewProblem(http.StatusConflict, "appointment_cancelled", "the appointment is cancelled; book a new one")
	case errors.Is(err, lead.ErrNotificationNotFound):
		return httpapi.NotFound("notification")
	case errors.Is(err, lead.ErrNoteChanged):
		return httpapi.NewProblem(http.StatusConflict, "note_changed", "the note changed or was deleted meanwhile; fetch it and retry")
	case errors.Is(err, conversation.ErrPersonOptedOut):
		return httpapi.NewProblem(http.StatusConflict, "opted_out_by_person",
			"the person opted out themselves (a STOP, an opt-out button, a bounce or a complaint); only they can opt back in, for example by sending START")
	case errors.Is(err, lead.ErrVersionMismatch):
		return httpapi.NewProblem(http.StatusPreconditionFailed, "version_mismatch", "the lead changed since you read it; fetch it and retry")
	}
	return k.Internal(ctx, what, err)
}

func (s *server) createLead(ctx context.Context, in *struct{ Body LeadIn }) (*leadOutput, error) {
	b := in.Body
	// A lead an API key creates (a web form, say) is from "api" unless
	// the body names its source (the form's name).
	if httpapi.Caller(ctx).APIKey != nil && strings.TrimSpace(b.Source) == "" {
		b.Source = SourceAPI
	}
	// The plan's leads of the month: taken first (atomically, so parallel
	// creates never pass it) and given back if the lead is not made.
	orgID := httpapi.Caller(ctx).User.OrgID
	if err := s.TakePlan(ctx, s.deps.Plans, orgID, plan.LeadsPerMonth); err != nil {
		return nil, err
	}
	l, err := s.deps.Leads.Create(ctx, actor(ctx), lead.Lead{Name: b.Name, Phone: b.Phone, Email: b.Email, Source: b.Source,
		Status: lead.Status(b.Status), Tags: b.Tags, CustomFields: b.CustomFields, AssigneeID: b.AssigneeID})
	if err != nil {
		s.ReleasePlan(ctx, s.deps.Plans, orgID, plan.LeadsPerMonth)
		return nil, problem(ctx, s.Kit, "create lead", err)
	}
	return s.leadResult(ctx, l, true)
}

func (s *server) getLead(ctx context.Context, in *leadPath) (*leadOutput, error) {
	l, err := s.deps.Leads.Get(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, problem(ctx, s.Kit, "read lead", err)
	}
	s.ReadAudit(ctx, audit.ActionLeadRead, l.ID, nil)
	return s.leadResult(ctx, l, false)
}

func (s *server) listLeads(ctx context.Context, in *listLeadsIn) (*struct{ Body LeadList }, error) {
	a := actor(ctx)
	if in.StageID != "" && in.PipelineID == "" {
		p := httpapi.NewProblem(http.StatusUnprocessableEntity, "validation_failed", "validation failed: stage_id needs pipeline_id")
		p.Errors = []*huma.ErrorDetail{{Message: "needs pipeline_id", Location: "query.stage_id"}}
		return nil, p
	}
	f := s.deps.Leads.Scope(a, lead.Filter{Status: lead.Status(in.Status), AssigneeID: in.AssigneeID, Tags: in.Tag, Source: in.Source,
		Query: in.Q, CustomFields: in.cf, PipelineID: in.PipelineID, StageID: in.StageID})
	scope := fmt.Sprintf("leads|%s|%s|%s|%s|%d|%s|%s", f.Status, f.AssigneeID, strings.Join(f.Tags, ","), f.Source, in.Limit, f.PipelineID, f.StageID)
	if f.Query != "" || len(f.CustomFields) > 0 {
		// The search and custom field filters by digest: a cursor stays short.
		h := sha256.New()
		fmt.Fprintf(h, "%q", f.Query)
		for _, ff := range f.CustomFields {
			fmt.Fprintf(h, "|%q=%q", ff.Key, ff.Value)
		}
		scope += "|" + hex.EncodeToString(h.Sum(nil)[:12])
	}
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	page, err := s.deps.Leads.List(ctx, a, f, in.Limit, from)
	var fe *lead.FieldError
	if errors.As(err, &fe) {
		return nil, &httpapi.Problem{Title: "Unprocessable Entity", Status: http.StatusUnprocessableEntity, Code: "validation_failed",
			Detail: "validation failed: " + fe.Error(), Errors: []*huma.ErrorDetail{{Message: fe.Message, Location: "query." + fe.Field}}}
	}
	if err != nil {
		return nil, s.Internal(ctx, "list leads", err)
	}
	defs, err := s.fieldDefs(ctx)
	if err != nil {
		return nil, err
	}
	out := &struct{ Body LeadList }{Body: LeadList{Items: make([]LeadOut, 0, len(page.Items))}}
	for _, l := range page.Items {
		out.Body.Items = append(out.Body.Items, leadOut(l, defs))
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(a.User.OrgID, scope, page.Next))
	s.ReadAudit(ctx, audit.ActionLeadList, "", map[string]string{"count": strconv.Itoa(len(page.Items)), "limit": strconv.Itoa(in.Limit),
		"filter": httpapi.AuditFilter("status", string(f.Status), "assignee_id", f.AssigneeID, "tag", strings.Join(f.Tags, "+"), "source", f.Source,
			"search", searchFlag(f.Query), "cf", fieldFilterKeys(f.CustomFields), "pipeline_id", f.PipelineID, "stage_id", f.StageID),
		"next_page": strconv.FormatBool(in.Cursor != "")})
	return out, nil
}

// searchFlag says whether a listing searched, never what for.
func searchFlag(q string) string {
	if q == "" {
		return ""
	}
	return "true"
}

// fieldFilterKeys names the custom fields a listing filters on (keys
// only: the values may be personal data).
func fieldFilterKeys(fs []lead.FieldFilter) string {
	keys := make([]string, 0, len(fs))
	for _, ff := range fs {
		keys = append(keys, ff.Key)
	}
	return strings.Join(keys, "+")
}

// parseIfMatch reads a version from If-Match: 3, "3" or W/"3"; 0 when
// there is none.
func parseIfMatch(h string) (int, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, nil
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.Atoi(h)
	if err != nil || v < 1 {
		return 0, errors.New("If-Match must be a lead version")
	}
	return v, nil
}

func (s *server) updateLead(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"The version you last read; a stale one is 412."`
	Body    LeadPatch
	RawBody []byte
}) (*leadOutput, error) {
	want, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, &httpapi.Problem{Title: "Bad Request", Status: http.StatusBadRequest, Code: "invalid_if_match", Detail: err.Error(),
			Errors: []*huma.ErrorDetail{{Message: err.Error(), Location: "header.If-Match"}}}
	}
	b := in.Body
	if b.AssigneeID == nil && nullField(in.RawBody, "assignee_id") {
		none := ""
		b.AssigneeID = &none
	}
	p := lead.Patch{Name: b.Name, Phone: b.Phone, Email: b.Email, Source: b.Source, Tags: b.Tags, CustomFields: b.CustomFields,
		AssigneeID: b.AssigneeID, PipelineID: b.PipelineID, StageID: b.StageID}
	if b.Status != nil {
		st := lead.Status(*b.Status)
		p.Status = &st
	}
	l, err := s.deps.Leads.Update(ctx, actor(ctx), in.ID, want, p)
	if err != nil {
		return nil, problem(ctx, s.Kit, "update lead", err)
	}
	return s.leadResult(ctx, l, true)
}

// nullField reports whether the JSON object raw sets field to null (a
// pointer field decodes null and absence alike).
func nullField(raw []byte, field string) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return false
	}
	v, ok := fields[field]
	return ok && string(bytes.TrimSpace(v)) == "null"
}

func (s *server) deleteLead(ctx context.Context, in *leadPath) (*struct{}, error) {
	if err := s.deps.Leads.Delete(ctx, actor(ctx), in.ID); err != nil {
		return nil, problem(ctx, s.Kit, "delete lead", err)
	}
	return nil, nil
}
