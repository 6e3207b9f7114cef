package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/phone"
)

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
}

// LeadIn creates a lead. At least one of phone and email is required.
type LeadIn struct {
	Name         string            `json:"name" minLength:"1" maxLength:"200"`
	Phone        string            `json:"phone,omitempty" maxLength:"40" doc:"Any common format; stored as E.164 using the org's default region."`
	Email        string            `json:"email,omitempty" maxLength:"254"`
	Source       string            `json:"source,omitempty" maxLength:"64"`
	Status       string            `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tags         []string          `json:"tags,omitempty" maxItems:"50"`
	CustomFields map[string]string `json:"custom_fields,omitempty"`
	AssigneeID   string            `json:"assignee_id,omitempty" maxLength:"64"`
}

// LeadPatch changes some fields of a lead. An empty phone, email or
// assignee_id clears it.
type LeadPatch struct {
	Name         *string            `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Phone        *string            `json:"phone,omitempty" maxLength:"40"`
	Email        *string            `json:"email,omitempty" maxLength:"254"`
	Source       *string            `json:"source,omitempty" maxLength:"64"`
	Status       *string            `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tags         *[]string          `json:"tags,omitempty" maxItems:"50"`
	CustomFields *map[string]string `json:"custom_fields,omitempty" doc:"Replaces all custom fields."`
	AssigneeID   *string            `json:"assignee_id,omitempty" maxLength:"64"`
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
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor     string `query:"cursor" maxLength:"2048"`
	Status     string `query:"status" enum:"new,contacted,qualified,unqualified,won,lost"`
	AssigneeID string `query:"assignee_id" maxLength:"64" doc:"A user id, or \"me\"."`
	Tag        string `query:"tag" maxLength:"64"`
	Source     string `query:"source" maxLength:"64"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func leadOut(l lead.Lead) LeadOut {
	tags := l.Tags
	if tags == nil {
		tags = []string{}
	}
	cf := l.CustomFields
	if cf == nil {
		cf = map[string]string{}
	}
	return LeadOut{ID: l.ID, Name: l.Name, Phone: optional(l.Phone), Email: optional(l.Email), Source: l.Source,
		Status: string(l.Status), Tags: tags, CustomFields: cf, AssigneeID: optional(l.AssigneeID),
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, Version: l.Version}
}

func leadResult(l lead.Lead) *leadOutput {
	return &leadOutput{ETag: strconv.Quote(strconv.Itoa(l.Version)), Body: leadOut(l)}
}

func (s *Server) registerLeads() {
	huma.Register(s.api, huma.Operation{
		OperationID: "create-lead", Method: http.MethodPost, Path: "/v1/leads", Tags: []string{"leads"},
		Summary: "Create a lead", DefaultStatus: http.StatusCreated, Security: bearerSecurity, MaxBodyBytes: maxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.createLead)
	huma.Register(s.api, huma.Operation{
		OperationID: "list-leads", Method: http.MethodGet, Path: "/v1/leads", Tags: []string{"leads"},
		Summary: "List leads, newest first", Security: bearerSecurity, Errors: []int{http.StatusBadRequest},
	}, s.listLeads)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-lead", Method: http.MethodGet, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Get a lead", Security: bearerSecurity, Errors: []int{http.StatusNotFound},
	}, s.getLead)
	huma.Register(s.api, huma.Operation{
		OperationID: "update-lead", Method: http.MethodPatch, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Change some fields of a lead", Security: bearerSecurity, MaxBodyBytes: maxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, s.updateLead)
	huma.Register(s.api, huma.Operation{
		OperationID: "delete-lead", Method: http.MethodDelete, Path: "/v1/leads/{id}", Tags: []string{"leads"},
		Summary: "Delete a lead", DefaultStatus: http.StatusNoContent, Security: bearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.deleteLead)
}

// leadError maps domain errors of a lead write to problems.
func (s *Server) leadError(ctx context.Context, err error) error {
	var fe *lead.FieldError
	var dup *lead.DuplicateError
	switch {
	case errors.As(err, &fe):
		return fieldProblem(fe.Field, fe.Message)
	case errors.As(err, &dup):
		p := problem(http.StatusConflict, "duplicate_lead", dup.Error())
		p.ExistingLeadID = dup.ExistingID
		return p
	case errors.Is(err, lead.ErrNotFound):
		return errNotFound("lead")
	case errors.Is(err, lead.ErrVersionMismatch):
		return problem(http.StatusPreconditionFailed, "version_mismatch", "the lead changed since you read it; fetch it and retry")
	}
	return s.internal(ctx, "lead write", err)
}

// checkAssignee verifies an assignee is an active user of the caller's org.
func (s *Server) checkAssignee(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	u, err := s.deps.Store.GetUser(ctx, caller(ctx).User.OrgID, id)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !u.Active) {
		return fieldProblem("assignee_id", "is not an active user of this organisation")
	}
	if err != nil {
		return s.internal(ctx, "read assignee", err)
	}
	return nil
}

func (s *Server) createLead(ctx context.Context, in *struct{ Body LeadIn }) (*leadOutput, error) {
	p := caller(ctx)
	if !p.User.Role.CanWriteLeads() {
		return nil, s.deny(ctx, audit.ActionLeadCreate, "lead", "", "your role can read leads but not change them")
	}
	b := in.Body
	assignee := b.AssigneeID
	if p.User.Role == account.RoleAgent {
		if assignee != "" && assignee != p.User.ID {
			return nil, s.deny(ctx, audit.ActionLeadCreate, "lead", "", "an agent can only create leads assigned to itself")
		}
		assignee = p.User.ID
	} else if err := s.checkAssignee(ctx, assignee); err != nil {
		return nil, err
	}
	now := s.deps.Now().UTC()
	l := lead.Lead{ID: ulid.Make().String(), OrgID: p.User.OrgID, Name: b.Name, Phone: b.Phone, Email: b.Email,
		Source: b.Source, Status: lead.Status(b.Status), Tags: b.Tags, CustomFields: b.CustomFields,
		AssigneeID: assignee, CreatedBy: p.User.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := lead.Normalize(&l, p.region(s.deps.DefaultRegion), phone.Normalize); err != nil {
		return nil, s.leadError(ctx, err)
	}
	if err := s.deps.Store.CreateLead(ctx, l); err != nil {
		return nil, s.leadError(ctx, err)
	}
	s.record(ctx, audit.Record{OrgID: l.OrgID, ActorID: p.User.ID, Action: audit.ActionLeadCreate, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"source": l.Source}})
	return leadResult(l), nil
}

func (p principal) region(fallback string) string {
	if p.Region != "" {
		return p.Region
	}
	return fallback
}

// visibleLead loads a lead the caller may see; others are "not found", so
// nobody learns that a lead they may not see exists.
func (s *Server) visibleLead(ctx context.Context, id string) (lead.Lead, error) {
	p := caller(ctx)
	l, err := s.deps.Store.GetLead(ctx, p.User.OrgID, id)
	if errors.Is(err, lead.ErrNotFound) || (err == nil && !p.User.Role.SeesAllLeads() && l.AssigneeID != p.User.ID) {
		return lead.Lead{}, errNotFound("lead")
	}
	if err != nil {
		return lead.Lead{}, s.internal(ctx, "read lead", err)
	}
	return l, nil
}

func (s *Server) getLead(ctx context.Context, in *leadPath) (*leadOutput, error) {
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return leadResult(l), nil
}

func (s *Server) listLeads(ctx context.Context, in *listLeadsIn) (*struct{ Body LeadList }, error) {
	p := caller(ctx)
	f := lead.Filter{Status: lead.Status(in.Status), AssigneeID: in.AssigneeID, Tag: strings.ToLower(strings.TrimSpace(in.Tag)), Source: in.Source}
	if f.AssigneeID == "me" {
		f.AssigneeID = p.User.ID
	}
	if !p.User.Role.SeesAllLeads() {
		// An agent's listing is always its own leads.
		f.AssigneeID = p.User.ID
	}
	scope := fmt.Sprintf("leads|%s|%s|%s|%s|%d", f.Status, f.AssigneeID, f.Tag, f.Source, in.Limit)
	from, ok := s.cursors.decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, errBadCursor()
	}
	page, err := s.deps.Store.ListLeads(ctx, p.User.OrgID, f, in.Limit, from)
	if err != nil {
		return nil, s.internal(ctx, "list leads", err)
	}
	out := &struct{ Body LeadList }{Body: LeadList{Items: make([]LeadOut, 0, len(page.Items))}}
	for _, l := range page.Items {
		out.Body.Items = append(out.Body.Items, leadOut(l))
	}
	out.Body.NextCursor = optional(s.cursors.encode(p.User.OrgID, scope, page.Next))
	return out, nil
}

// parseIfMatch reads a version from If-Match: 3, "3" or W/"3".
func parseIfMatch(h string) (int, bool, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false, nil
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.Atoi(h)
	if err != nil || v < 1 {
		return 0, false, errors.New("If-Match must be a lead version")
	}
	return v, true, nil
}

func (s *Server) updateLead(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"The version you last read; a stale one is 412."`
	Body    LeadPatch
}) (*leadOutput, error) {
	want, hasWant, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, &Problem{Title: "Bad Request", Status: http.StatusBadRequest, Code: "invalid_if_match", Detail: err.Error(),
			Errors: []*huma.ErrorDetail{{Message: err.Error(), Location: "header.If-Match"}}}
	}
	// Without If-Match the caller asked for "apply to the current lead":
	// when the lead changes between our read and write (a message arriving,
	// say), read again and re-apply, a few times.
	for attempt := 0; ; attempt++ {
		out, err := s.updateLeadOnce(ctx, in.ID, want, hasWant, in.Body)
		if hasWant || attempt == 2 || !errors.Is(err, errRetryUpdate) {
			if errors.Is(err, errRetryUpdate) {
				return nil, s.leadError(ctx, lead.ErrVersionMismatch)
			}
			return out, err
		}
	}
}

var errRetryUpdate = errors.New("lead changed during update")

func (s *Server) updateLeadOnce(ctx context.Context, id string, want int, hasWant bool, patch LeadPatch) (*leadOutput, error) {
	p := caller(ctx)
	in := struct{ Body LeadPatch }{Body: patch}
	old, err := s.visibleLead(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.CanWriteLeads() {
		return nil, s.deny(ctx, audit.ActionLeadUpdate, "lead", old.ID, "your role can read leads but not change them")
	}
	if hasWant && want != old.Version {
		return nil, s.leadError(ctx, lead.ErrVersionMismatch)
	}
	next, changed := applyPatch(old, in.Body)
	if in.Body.AssigneeID != nil && next.AssigneeID != old.AssigneeID {
		if p.User.Role == account.RoleAgent && next.AssigneeID != p.User.ID {
			return nil, s.deny(ctx, audit.ActionLeadUpdate, "lead", old.ID, "an agent cannot assign leads to others")
		}
		if err := s.checkAssignee(ctx, next.AssigneeID); err != nil {
			return nil, err
		}
	}
	if len(changed) == 0 {
		return leadResult(old), nil
	}
	if err := lead.Normalize(&next, p.region(s.deps.DefaultRegion), phone.Normalize); err != nil {
		return nil, s.leadError(ctx, err)
	}
	next.Version = old.Version + 1
	next.UpdatedAt = s.deps.Now().UTC()
	if err := s.deps.Store.UpdateLead(ctx, old, next); err != nil {
		if errors.Is(err, lead.ErrVersionMismatch) {
			return nil, errRetryUpdate
		}
		return nil, s.leadError(ctx, err)
	}
	s.record(ctx, audit.Record{OrgID: old.OrgID, ActorID: p.User.ID, Action: audit.ActionLeadUpdate, TargetType: "lead", TargetID: old.ID,
		Details: map[string]string{"fields": strings.Join(changed, ","), "version": strconv.Itoa(next.Version)}})
	return leadResult(next), nil
}

// applyPatch returns old with the patch applied and the names of the
// fields the patch set.
func applyPatch(old lead.Lead, b LeadPatch) (lead.Lead, []string) {
	next := old
	next.Tags = slices.Clone(old.Tags)
	next.CustomFields = maps.Clone(old.CustomFields)
	var changed []string
	set := func(name string, dst *string, v *string) {
		if v != nil {
			*dst = *v
			changed = append(changed, name)
		}
	}
	set("name", &next.Name, b.Name)
	set("phone", &next.Phone, b.Phone)
	set("email", &next.Email, b.Email)
	set("source", &next.Source, b.Source)
	set("assignee_id", &next.AssigneeID, b.AssigneeID)
	if b.Status != nil {
		next.Status = lead.Status(*b.Status)
		changed = append(changed, "status")
	}
	if b.Tags != nil {
		next.Tags = *b.Tags
		changed = append(changed, "tags")
	}
	if b.CustomFields != nil {
		next.CustomFields = *b.CustomFields
		changed = append(changed, "custom_fields")
	}
	return next, changed
}

func (s *Server) deleteLead(ctx context.Context, in *leadPath) (*struct{}, error) {
	p := caller(ctx)
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.CanWriteLeads() {
		return nil, s.deny(ctx, audit.ActionLeadDelete, "lead", l.ID, "your role can read leads but not change them")
	}
	if err := s.deps.Store.DeleteLead(ctx, l); err != nil {
		return nil, s.leadError(ctx, err)
	}
	s.record(ctx, audit.Record{OrgID: l.OrgID, ActorID: p.User.ID, Action: audit.ActionLeadDelete, TargetType: "lead", TargetID: l.ID})
	return nil, nil
}
