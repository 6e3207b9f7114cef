package httpapi

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
)

// Kit is what the areas' handlers share: the audit trail, the logger, the
// clock and the cursor codec. Server.Kit returns it.
type Kit struct {
	audit audit.Recorder
	log   *slog.Logger
	now   func() time.Time
	// tokens derives the cursor key (when used: the token secret may be
	// loaded after the server is built, Config.Prepare).
	tokens *auth.Tokens
}

// Record appends to the audit trail, with a new id, the time and the
// request's client address and user agent. A failure to audit is logged,
// never hidden, but does not undo the action that already happened.
func (k *Kit) Record(ctx context.Context, r audit.Record) {
	c := clientOf(ctx)
	r.ID = ulid.Make().String()
	r.At = k.now().UTC()
	r.SourceIP, r.UserAgent = c.IP, c.UserAgent
	if r.Outcome == "" {
		r.Outcome = audit.OutcomeSuccess
	}
	if err := k.audit.AppendAudit(ctx, r); err != nil {
		k.log.ErrorContext(ctx, "append audit", "action", r.Action, "err", err)
	}
}

// Deny records that the caller was refused action on the target and
// returns the 403 problem saying why.
func (k *Kit) Deny(ctx context.Context, action, targetType, targetID, why string) error {
	p := Caller(ctx)
	k.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: audit.ActionPermissionDenied,
		TargetType: targetType, TargetID: targetID, Outcome: audit.OutcomeDenied,
		Details: map[string]string{"attempted": action, "role": string(p.User.Role)}})
	return Forbidden(why)
}

// Internal logs an unexpected error and returns a bland 500.
func (k *Kit) Internal(ctx context.Context, what string, err error) error {
	k.log.ErrorContext(ctx, what, "err", err)
	return internalProblem()
}

// Cursors is the codec of the API's list cursors.
func (k *Kit) Cursors() Cursors { return Cursors{key: k.tokens.Derive("cursor")} }

// Now is the clock.
func (k *Kit) Now() time.Time { return k.now() }

// Log is the logger.
func (k *Kit) Log() *slog.Logger { return k.log }

// Optional is nil for an empty string: absent values are JSON null.
func Optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ReadAudit records that the caller read personal data of leads: one
// record per request, never one per lead or field. leadID names the lead of
// a single-lead read; a list leaves it empty and says in details how many
// leads it returned and with which filter. details must hold no personal
// data (no names, phones, emails or message text).
func (k *Kit) ReadAudit(ctx context.Context, action, leadID string, details map[string]string) {
	p := Caller(ctx)
	k.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: action, TargetType: "lead", TargetID: leadID, Details: details})
}

// AuditFilter renders a list's filter for an audit record as
// "name=value,..." from name, value pairs, leaving out empty values; ""
// when none is set.
func AuditFilter(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			parts = append(parts, pairs[i]+"="+pairs[i+1])
		}
	}
	return strings.Join(parts, ",")
}
