// Package audit defines the audit trail: who did what to which record, when,
// from where, and whether it was allowed. Records never hold passwords,
// tokens or other secrets.
package audit

import (
	"context"
	"time"

	"github.com/leadluence/backend/shared/page"
)

// Actions recorded in the trail.
const (
	ActionLogin            = "auth.login"
	ActionLoginFailed      = "auth.login_failed"
	ActionLoginThrottled   = "auth.login_throttled"
	ActionSignup           = "auth.signup"
	ActionLogout           = "auth.logout"
	ActionRefreshReuse     = "auth.refresh_reuse"
	ActionUserCreate       = "user.create"
	ActionUserUpdate       = "user.update"
	ActionUserDeactivate   = "user.deactivate"
	ActionLeadCreate       = "lead.create"
	ActionLeadUpdate       = "lead.update"
	ActionLeadDelete       = "lead.delete"
	ActionLeadPreferences  = "lead.preferences"
	ActionPermissionDenied = "permission.denied"
)

// Actions of invitations, password resets and email verification.
const (
	ActionInvitationCreate       = "invitation.create"
	ActionInvitationRevoke       = "invitation.revoke"
	ActionInvitationAccept       = "invitation.accept"
	ActionPasswordResetRequest   = "auth.password_reset_request"
	ActionPasswordResetThrottled = "auth.password_reset_throttled"
	ActionPasswordReset          = "auth.password_reset"
	ActionEmailVerificationSent  = "auth.email_verification_sent"
	ActionEmailVerified          = "auth.email_verified"
)

// Actions of two-factor sign-in and of the org's security settings.
const (
	ActionMFAEnrol        = "mfa.enrol"
	ActionMFAConfirm      = "mfa.confirm"
	ActionMFADisable      = "mfa.disable"
	ActionMFARecoveryUsed = "mfa.recovery_code_used"
	// ActionMFAChallenge: a right password of a user with two-factor
	// sign-in; the login completes with a code (ActionLogin).
	ActionMFAChallenge = "auth.mfa_challenge"
	// ActionMFAFailed: a wrong or replayed code.
	ActionMFAFailed = "auth.mfa_failed"
	// ActionMFAThrottled: a code refused unchecked, after too many.
	ActionMFAThrottled   = "auth.mfa_throttled"
	ActionOrgSecuritySet = "org.security_set"
)

// Actions of API keys.
const (
	ActionAPIKeyCreate = "api_key.create"
	ActionAPIKeyRevoke = "api_key.revoke" //nolint:gosec // an audit action name, not a credential
)

// ActionPolicyAcknowledge records an org owner's acknowledgement of a
// privacy policy version.
const ActionPolicyAcknowledge = "policy.acknowledge"

// Record is one audit entry.
type Record struct {
	ID      string
	OrgID   string
	ActorID string
	Action  string
	// TargetType and TargetID name the record acted on ("lead", "01J...").
	TargetType string
	TargetID   string
	// Outcome is "success" or "denied" or "failure".
	Outcome   string
	SourceIP  string
	UserAgent string
	At        time.Time
	// Details holds non-sensitive facts, e.g. the changed field names.
	Details map[string]string
}

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailure = "failure"
)

// Recorder appends records to the trail.
type Recorder interface {
	AppendAudit(ctx context.Context, r Record) error
}

// Store keeps the trail (dynamostore.Store).
type Store interface {
	Recorder
	// ListAudit returns up to limit records of an org's trail, newest
	// first, after the position from, and the position after the last.
	ListAudit(ctx context.Context, orgID string, limit int, from page.Cursor) ([]Record, page.Cursor, error)
}

// Reads of a lead's personal data, one record per request (a list is one
// record with the count and the filter, never the leads' data).
const (
	ActionLeadRead          = "lead.read"
	ActionLeadList          = "lead.list"
	ActionMessagesRead      = "messages.read"
	ActionConversationsList = "conversations.list"
	ActionPreferencesRead   = "preferences.read"
	ActionTimelineRead      = "timeline.read"
	ActionDuplicatesRead    = "duplicates.read"
	ActionNotesRead         = "notes.read"
	ActionTasksRead         = "tasks.read"
	ActionAppointmentsRead  = "appointments.read"
)

// Changes to a lead's notes (the target is the lead, details name the note).
const (
	ActionNoteCreate = "note.create"
	ActionNoteUpdate = "note.update"
	ActionNoteDelete = "note.delete"
)

// Changes to a lead's tasks (the target is the lead, details name the
// task), and a user's notifications (the target is the notification).
const (
	ActionTaskCreate       = "task.create"
	ActionTaskUpdate       = "task.update"
	ActionTaskDelete       = "task.delete"
	ActionNotificationRead = "notification.read"
	// Appointments of a lead (the target is the lead).
	ActionAppointmentCreate = "appointment.create"
	ActionAppointmentUpdate = "appointment.update"
)

// Bulk moves of leads: an import (its counts; each lead created is its own
// lead.create) and an export (personal data leaving the system: the count
// and the filter, never the leads' data).
const (
	ActionLeadImport = "lead.import"
	ActionLeadExport = "lead.export"
)

// Merges of leads (the target is the surviving lead; details name the
// merge and the other lead) and their undoing.
const (
	ActionLeadMerge = "lead.merge"
	ActionMergeUndo = "lead.merge_undo"
)
