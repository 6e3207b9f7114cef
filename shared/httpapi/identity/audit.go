package identity

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
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

func (s *server) registerAudit(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: "/v1/audit", Tags: []string{"audit"},
		Summary: "Read the organisation's audit trail (owner, admin)", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.listAudit)
}

func (s *server) listAudit(ctx context.Context, in *struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
	Action string `query:"action" maxLength:"64" doc:"Only records of this action (e.g. lead.read). A filtered page may hold fewer than limit records (even none) while next_cursor is set: follow it until it is null."`
}) (*struct{ Body AuditList }, error) {
	p := httpapi.Caller(ctx)
	if !p.User.Role.CanReadAudit() {
		return nil, s.Deny(ctx, "audit.read", "audit", "", "only an owner or admin can read the audit trail")
	}
	scope := fmt.Sprintf("audit|%d", in.Limit)
	if in.Action != "" {
		scope = fmt.Sprintf("audit|%d|%s", in.Limit, in.Action)
	}
	from, ok := s.Cursors().Decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	recs, next, err := s.deps.Store.ListAudit(ctx, p.User.OrgID, in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "list audit", err)
	}
	out := &struct{ Body AuditList }{Body: AuditList{Items: make([]AuditOut, 0, len(recs))}}
	for _, r := range recs {
		if in.Action != "" && r.Action != in.Action {
			continue
		}
		d := r.Details
		if d == nil {
			d = map[string]string{}
		}
		out.Body.Items = append(out.Body.Items, AuditOut{ID: r.ID, ActorID: httpapi.Optional(r.ActorID), Action: r.Action,
			TargetType: httpapi.Optional(r.TargetType), TargetID: httpapi.Optional(r.TargetID), Outcome: r.Outcome, SourceIP: r.SourceIP,
			UserAgent: r.UserAgent, At: r.At, Details: d})
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(p.User.OrgID, scope, next))
	return out, nil
}
