package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// AuditOut is one audit record.
type AuditOut struct {
	ID         string            `json:"id"`
	ActorID    *string           `json:"actor_id"`
	Action     string            `json:"action"`
	TargetType *string           `json:"target_type"`
	TargetID   *string           `json:"target_id"`
	Outcome    string            `json:"outcome" enum:"success,denied,failure"`
	SourceIP   string            `json:"source_ip"`
	UserAgent  string            `json:"user_agent"`
	At         time.Time         `json:"at"`
	Details    map[string]string `json:"details"`
}

// AuditList is one page of the audit trail, newest first.
type AuditList struct {
	Items      []AuditOut `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

func (s *Server) registerAudit() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: "/v1/audit", Tags: []string{"audit"},
		Summary: "Read the organisation's audit trail (owner, admin)", Security: bearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.listAudit)
}

func (s *Server) listAudit(ctx context.Context, in *struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body AuditList }, error) {
	p := caller(ctx)
	if !p.User.Role.CanReadAudit() {
		return nil, s.deny(ctx, "audit.read", "audit", "", "only an owner or admin can read the audit trail")
	}
	scope := fmt.Sprintf("audit|%d", in.Limit)
	from, ok := s.cursors.decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, errBadCursor()
	}
	recs, next, err := s.deps.Store.ListAudit(ctx, p.User.OrgID, in.Limit, from)
	if err != nil {
		return nil, s.internal(ctx, "list audit", err)
	}
	out := &struct{ Body AuditList }{Body: AuditList{Items: make([]AuditOut, 0, len(recs))}}
	for _, r := range recs {
		d := r.Details
		if d == nil {
			d = map[string]string{}
		}
		out.Body.Items = append(out.Body.Items, AuditOut{ID: r.ID, ActorID: optional(r.ActorID), Action: r.Action,
			TargetType: optional(r.TargetType), TargetID: optional(r.TargetID), Outcome: r.Outcome, SourceIP: r.SourceIP,
			UserAgent: r.UserAgent, At: r.At, Details: d})
	}
	out.Body.NextCursor = optional(s.cursors.encode(p.User.OrgID, scope, next))
	return out, nil
}
