// Package privacy is the data-subject request area of the HTTP API: an
// org's owners and admins file a person's request to access, export,
// correct or erase their data (POST /v1/privacy-requests), follow the
// requests (list, read; overdue ones flagged) and download an access or
// export request's document (GET /v1/privacy-requests/{id}/export). The
// rules are package shared/privacy's; the handlers decode, check the role,
// call it and encode.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/privacy"
)

// Service is what the routes need of privacy.Service.
type Service interface {
	Submit(ctx context.Context, a lead.Actor, in privacy.Input) (privacy.Request, error)
	Get(ctx context.Context, a lead.Actor, id string) (privacy.Request, error)
	List(ctx context.Context, a lead.Actor, status privacy.Status, limit int, from page.Cursor) ([]privacy.Request, page.Cursor, error)
	OpenExport(ctx context.Context, a lead.Actor, id string) (privacy.Request, error)
	StreamExport(ctx context.Context, r privacy.Request, w io.Writer, compressed bool) error
}

// Deps are the collaborators of the privacy routes.
type Deps struct {
	// Requests files and carries out requests (privacy.Service).
	Requests Service
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the privacy request routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	huma.Register(api, huma.Operation{
		OperationID: "create-privacy-request", Method: http.MethodPost, Path: "/v1/privacy-requests", Tags: []string{"privacy"},
		Summary: "File and carry out a data-subject request (owner, admin)",
		Description: "The person is named by phone (any format, read with the org's default region), email or lead id; every lead " +
			"of the organisation that matches is included. access and export make the person's document (downloadable by you for " +
			"7 days), correction changes the matched lead (exactly one must match), erasure deletes the matched leads with their " +
			"history and pseudonymizes earlier requests about the person. The request is due 30 days after it is filed. " +
			"A request that cannot be carried out as asked is answered 201 with status failed and a reason.",
		DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, s.create)
	huma.Register(api, huma.Operation{
		OperationID: "list-privacy-requests", Method: http.MethodGet, Path: "/v1/privacy-requests", Tags: []string{"privacy"},
		Summary:  "List data-subject requests, newest first (owner, admin)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.list)
	huma.Register(api, huma.Operation{
		OperationID: "get-privacy-request", Method: http.MethodGet, Path: "/v1/privacy-requests/{id}", Tags: []string{"privacy"},
		Summary:  "Get a data-subject request (owner, admin)",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.get)
	doc := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(privacy.Document{}), true, "")
	huma.Register(api, huma.Operation{
		OperationID: "download-privacy-export", Method: http.MethodGet, Path: "/v1/privacy-requests/{id}/export", Tags: []string{"privacy"},
		Summary: "Download an access or export request's document (the user who filed it)",
		Description: "The person's data as one JSON document (schema: docs/privacy-export.md), streamed from its stored chunks; " +
			"gzip-encoded when the client accepts it. Only the user who filed the request can download it (others: 404), " +
			"for 7 days (then 410).",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusGone},
		Responses: map[string]*huma.Response{"200": {Description: "The export document",
			Content: map[string]*huma.MediaType{"application/json": {Schema: doc}}}},
	}, s.download)
}

// SubjectIn names the person.
type SubjectIn struct {
	Phone  string `json:"phone,omitempty" maxLength:"40" doc:"Any common format; read with the org's default region."`
	Email  string `json:"email,omitempty" maxLength:"254"`
	LeadID string `json:"lead_id,omitempty" maxLength:"64"`
}

// ChangesIn are a correction's changes; absent fields stay.
type ChangesIn struct {
	Name         *string            `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Phone        *string            `json:"phone,omitempty" maxLength:"40" doc:"Empty clears it."`
	Email        *string            `json:"email,omitempty" maxLength:"254" doc:"Empty clears it."`
	CustomFields *map[string]string `json:"custom_fields,omitempty" doc:"Replaces all custom fields."`
	Tags         *[]string          `json:"tags,omitempty" maxItems:"50"`
}

// RequestIn files a request.
type RequestIn struct {
	Type        string     `json:"type" enum:"access,export,correction,erasure"`
	Subject     SubjectIn  `json:"subject"`
	Note        string     `json:"note,omitempty" maxLength:"2000" doc:"Free text for staff (how the request arrived, say)."`
	Changes     *ChangesIn `json:"changes,omitempty" doc:"Only for a correction."`
	LeadVersion int        `json:"lead_version,omitempty" minimum:"0" doc:"Only for a correction: the lead version the changes were made against; a stale one fails the request (reason version_mismatch)."`
}

// SubjectOut is the person as the request names them.
type SubjectOut struct {
	Phone         *string `json:"phone" doc:"E.164; null when not given or pseudonymized."`
	Email         *string `json:"email" doc:"Null when not given or pseudonymized."`
	LeadID        *string `json:"lead_id"`
	Pseudonymized bool    `json:"pseudonymized" doc:"The person's erasure is done: only keyed references remain."`
}

// EventOut is a step of a request's history.
type EventOut struct {
	At      time.Time         `json:"at"`
	ActorID string            `json:"actor_id"`
	Action  string            `json:"action" doc:"received, matched, exported, corrected, erased, failed, downloaded, pseudonymized."`
	Details map[string]string `json:"details"`
}

// ExportOut describes a request's export document.
type ExportOut struct {
	SchemaVersion int       `json:"schema_version"`
	Bytes         int64     `json:"bytes" doc:"Size of the JSON document."`
	StoredBytes   int64     `json:"stored_bytes" doc:"Size as stored, gzip-compressed."`
	ExpiresAt     time.Time `json:"expires_at"`
	Expired       bool      `json:"expired"`
	URL           string    `json:"url" doc:"Where the user who filed the request downloads it."`
}

// RequestOut is a data-subject request.
type RequestOut struct {
	ID            string         `json:"id"`
	Type          string         `json:"type" enum:"access,export,correction,erasure"`
	Status        string         `json:"status" enum:"open,completed,failed"`
	Reason        *string        `json:"reason" doc:"Why it failed, as a code."`
	Subject       SubjectOut     `json:"subject"`
	Refs          []string       `json:"refs" doc:"Keyed pseudonymous references of the person's phones and emails."`
	LeadIDs       []string       `json:"lead_ids" doc:"The leads the subject matched."`
	Note          *string        `json:"note"`
	FieldsChanged []string       `json:"fields_changed" doc:"For a correction, the fields it changes."`
	ActorID       string         `json:"actor_id" doc:"The user who filed it."`
	CreatedAt     time.Time      `json:"created_at"`
	DueAt         time.Time      `json:"due_at" doc:"30 days after it was filed."`
	CompletedAt   *time.Time     `json:"completed_at"`
	Overdue       bool           `json:"overdue" doc:"Still open past its due date."`
	History       []EventOut     `json:"history"`
	Receipt       map[string]int `json:"receipt" doc:"For an erasure, what was removed, counts by item kind."`
	Export        *ExportOut     `json:"export" doc:"For access and export, the document."`
}

// RequestList is one page of requests.
type RequestList struct {
	Items      []RequestOut `json:"items"`
	NextCursor *string      `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

func (s *server) out(r privacy.Request) RequestOut {
	now := s.Now()
	o := RequestOut{ID: r.ID, Type: string(r.Type), Status: string(r.Status), Reason: httpapi.Optional(r.Reason),
		Subject: SubjectOut{Phone: httpapi.Optional(r.Subject.Phone), Email: httpapi.Optional(r.Subject.Email),
			LeadID: httpapi.Optional(r.Subject.LeadID), Pseudonymized: !r.PseudonymizedAt.IsZero()},
		Refs: orEmpty(r.Refs), LeadIDs: orEmpty(r.LeadIDs), Note: httpapi.Optional(r.Note), FieldsChanged: orEmpty(r.FieldsChanged),
		ActorID: r.ActorID, CreatedAt: r.CreatedAt, DueAt: r.DueAt, Overdue: r.Overdue(now), History: make([]EventOut, 0, len(r.History)),
		Receipt: r.Receipt}
	if o.Receipt == nil {
		o.Receipt = map[string]int{}
	}
	if !r.CompletedAt.IsZero() {
		t := r.CompletedAt
		o.CompletedAt = &t
	}
	for _, e := range r.History {
		d := e.Details
		if d == nil {
			d = map[string]string{}
		}
		o.History = append(o.History, EventOut{At: e.At, ActorID: e.ActorID, Action: e.Action, Details: d})
	}
	if e := r.Export; e != nil {
		o.Export = &ExportOut{SchemaVersion: e.SchemaVersion, Bytes: e.Bytes, StoredBytes: e.Stored, ExpiresAt: e.ExpiresAt,
			Expired: r.ExportExpired(now), URL: "/v1/privacy-requests/" + r.ID + "/export"}
	}
	return o
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// actor is the caller as a lead.Actor (the org's region reads phones).
func actor(ctx context.Context) lead.Actor {
	p := httpapi.Caller(ctx)
	return lead.Actor{User: p.User, Region: p.Region}
}

// allowed refuses (and records) callers who are not an owner or admin.
func (s *server) allowed(ctx context.Context, action, id string) error {
	if httpapi.Caller(ctx).User.Role.Privileged() {
		return nil
	}
	return s.Deny(ctx, action, "privacy_request", id, "only an owner or admin can handle data-subject requests")
}

func (s *server) problem(ctx context.Context, what string, err error) error {
	var fe *privacy.FieldError
	var lfe *lead.FieldError
	switch {
	case errors.As(err, &fe):
		return httpapi.FieldProblem(fe.Field, fe.Message)
	case errors.As(err, &lfe):
		return httpapi.FieldProblem(lfe.Field, lfe.Message)
	case errors.Is(err, privacy.ErrNotFound):
		return httpapi.NotFound("privacy request")
	case errors.Is(err, privacy.ErrNoExport):
		return httpapi.NotFound("export")
	case errors.Is(err, privacy.ErrExportExpired):
		return httpapi.NewProblem(http.StatusGone, "export_expired",
			fmt.Sprintf("the export was available for %d days and is gone; file a new request", int(privacy.ExportAvailable/(24*time.Hour))))
	}
	return s.Internal(ctx, what, err)
}

func (s *server) create(ctx context.Context, in *struct{ Body RequestIn }) (*struct{ Body RequestOut }, error) {
	if err := s.allowed(ctx, privacy.ActionFiled, ""); err != nil {
		return nil, err
	}
	b := in.Body
	pin := privacy.Input{Type: privacy.Type(b.Type), Subject: privacy.Subject{Phone: b.Subject.Phone, Email: b.Subject.Email,
		LeadID: strings.TrimSpace(b.Subject.LeadID)}, Note: b.Note, LeadVersion: b.LeadVersion}
	if c := b.Changes; c != nil {
		pin.Changes = privacy.Changes{Name: c.Name, Phone: c.Phone, Email: c.Email, CustomFields: c.CustomFields, Tags: c.Tags}
	}
	r, err := s.deps.Requests.Submit(ctx, actor(ctx), pin)
	if err != nil {
		return nil, s.problem(ctx, "file privacy request", err)
	}
	return &struct{ Body RequestOut }{Body: s.out(r)}, nil
}

func (s *server) list(ctx context.Context, in *struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
	Status string `query:"status" enum:"open,completed,failed"`
}) (*struct{ Body RequestList }, error) {
	if err := s.allowed(ctx, "privacy.list", ""); err != nil {
		return nil, err
	}
	a := actor(ctx)
	scope := fmt.Sprintf("privacy|%s|%d", in.Status, in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	list, next, err := s.deps.Requests.List(ctx, a, privacy.Status(in.Status), in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "list privacy requests", err)
	}
	out := &struct{ Body RequestList }{Body: RequestList{Items: make([]RequestOut, 0, len(list))}}
	for _, r := range list {
		out.Body.Items = append(out.Body.Items, s.out(r))
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(a.User.OrgID, scope, next))
	return out, nil
}

type idPath struct {
	ID string `path:"id" maxLength:"64"`
}

func (s *server) get(ctx context.Context, in *idPath) (*struct{ Body RequestOut }, error) {
	if err := s.allowed(ctx, "privacy.read", in.ID); err != nil {
		return nil, err
	}
	r, err := s.deps.Requests.Get(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, s.problem(ctx, "read privacy request", err)
	}
	return &struct{ Body RequestOut }{Body: s.out(r)}, nil
}

func (s *server) download(ctx context.Context, in *struct {
	ID             string `path:"id" maxLength:"64"`
	AcceptEncoding string `header:"Accept-Encoding"`
}) (*huma.StreamResponse, error) {
	if err := s.allowed(ctx, privacy.ActionDownload, in.ID); err != nil {
		return nil, err
	}
	r, err := s.deps.Requests.OpenExport(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, s.problem(ctx, "open privacy export", err)
	}
	gz := acceptsGzip(in.AcceptEncoding)
	return &huma.StreamResponse{Body: func(hc huma.Context) {
		hc.SetHeader("Content-Type", "application/json")
		hc.SetHeader("Content-Disposition", `attachment; filename="privacy-export-`+r.ID+`.json"`)
		hc.SetHeader("Cache-Control", "no-store")
		hc.SetHeader("Vary", "Accept-Encoding")
		if gz {
			hc.SetHeader("Content-Encoding", "gzip")
		}
		hc.SetStatus(http.StatusOK)
		if err := s.deps.Requests.StreamExport(ctx, r, hc.BodyWriter(), gz); err != nil {
			// The status is sent; a cut document fails to parse (and a
			// cut gzip stream to decompress), and the error is logged.
			s.Log().ErrorContext(ctx, "stream privacy export", "request", r.ID, "err", err)
		}
	}}, nil
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip (named,
// and not with q=0).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(q, 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}
