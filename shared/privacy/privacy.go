// Package privacy is data-subject requests: a person whose data a client
// business holds (a lead) asks the business to give them access to it, to
// export it in a portable format, to correct it or to erase it, and the
// privacy policy promises an answer within 30 days. A request is tracked
// from the moment it is filed (who filed it, when it is due, what was done,
// in its history); access and export produce one JSON document (Document,
// schema in docs/privacy-export.md) downloadable by the filer for a limited
// time; correction changes the matched lead through the lead rules;
// erasure deletes the matched leads with their history and leaves behind
// only keyed pseudonymous references of the person's phone and email.
//
// The rules (due date, overdue, validation, matching) and the Service that
// carries requests out live here; storage is dynamostore's (privacy.go).
package privacy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Type is what the person asks for.
type Type string

// The request types.
const (
	// TypeAccess: a copy of everything held about the person.
	TypeAccess Type = "access"
	// TypeExport: the same, as a portable document (the two produce the
	// same Document; the type records what the person asked for).
	TypeExport Type = "export"
	// TypeCorrection: changes to the person's lead (name, phone, email,
	// custom fields, tags).
	TypeCorrection Type = "correction"
	// TypeErasure: deletion of everything held about the person.
	TypeErasure Type = "erasure"
)

// Types lists every type.
var Types = []Type{TypeAccess, TypeExport, TypeCorrection, TypeErasure}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Documented reports whether requests of type t produce an export document.
func (t Type) Documented() bool { return t == TypeAccess || t == TypeExport }

// Status is where a request stands.
type Status string

// The statuses.
const (
	// StatusOpen: filed and not (yet) carried out, for instance when
	// carrying it out was interrupted.
	StatusOpen Status = "open"
	// StatusCompleted: carried out; the history says how.
	StatusCompleted Status = "completed"
	// StatusFailed: it could not be carried out as asked (Reason says
	// why: no lead matched, several did, a field was refused, ...); a new
	// request can be filed.
	StatusFailed Status = "failed"
)

// Statuses lists every status.
var Statuses = []Status{StatusOpen, StatusCompleted, StatusFailed}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Periods of the rules.
const (
	// AnswerWithin is how long the business has to answer a request (the
	// privacy policy: "We will respond within 30 days").
	AnswerWithin = 30 * 24 * time.Hour
	// ExportAvailable is how long an export document can be downloaded
	// after it is made; after that it is gone (410).
	ExportAvailable = 7 * 24 * time.Hour
	// KeepRequests is how long a request record is kept, as the business's
	// record that it answered (accountability): three years after it was
	// filed. Erasure pseudonymizes the records about the erased person
	// at once (Request.Pseudonymize).
	KeepRequests = 3 * 365 * 24 * time.Hour
)

// Limits on free-form input.
const (
	MaxNoteLen = 2000
)

// Subject names the person: any of their phone, email or a lead id. The
// phone is stored in E.164 and the email lower-cased; both are blanked
// when the person's erasure is done (Refs then name them).
type Subject struct {
	Phone  string
	Email  string
	LeadID string
}

// Empty reports whether s names nobody.
func (s Subject) Empty() bool { return s.Phone == "" && s.Email == "" && s.LeadID == "" }

// Changes are the corrections of a correction request; nil fields stay.
type Changes struct {
	Name         *string
	Phone        *string
	Email        *string
	CustomFields *map[string]string
	Tags         *[]string
}

// fieldKeys names the fields c sets as activity changes name them: name,
// phone, email, tags and custom_fields.<key> for each key it gives.
func (c Changes) fieldKeys() []string {
	var out []string
	for _, f := range c.Fields() {
		if f != "custom_fields" {
			out = append(out, f)
		}
	}
	if c.CustomFields != nil {
		for _, k := range slices.Sorted(maps.Keys(*c.CustomFields)) {
			out = append(out, "custom_fields."+k)
		}
	}
	return out
}

// Empty reports whether c changes nothing.
func (c Changes) Empty() bool {
	return c.Name == nil && c.Phone == nil && c.Email == nil && c.CustomFields == nil && c.Tags == nil
}

// Fields names the fields c changes, in a fixed order.
func (c Changes) Fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", c.Name != nil}, {"phone", c.Phone != nil}, {"email", c.Email != nil},
		{"custom_fields", c.CustomFields != nil}, {"tags", c.Tags != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// Event is one step of a request's history. Details never hold a phone,
// email or field value: only names, counts, versions and references.
type Event struct {
	At      time.Time
	ActorID string
	// Action names the step: received, matched, exported, corrected,
	// erased, failed, downloaded, pseudonymized.
	Action  string
	Details map[string]string
}

// The history's actions.
const (
	EventReceived      = "received"
	EventMatched       = "matched"
	EventExported      = "exported"
	EventCorrected     = "corrected"
	EventErased        = "erased"
	EventFailed        = "failed"
	EventDownloaded    = "downloaded"
	EventPseudonymized = "pseudonymized"
)

// Export describes a request's export document.
type Export struct {
	SchemaVersion int
	// Bytes is the JSON document's size; Stored is what is kept (gzip).
	Bytes  int64
	Stored int64
	Chunks int
	// ExpiresAt is when it can no longer be downloaded.
	ExpiresAt time.Time
}

// Request is one data-subject request of an org.
type Request struct {
	ID      string
	OrgID   string
	Type    Type
	Subject Subject
	// Refs are the keyed pseudonymous references ("phone:<hmac>",
	// "email:<hmac>") of the subject's and the matched leads' phones and
	// emails: the same keyed HMAC as the lead suppression entries, so
	// they name the person without revealing them.
	Refs []string
	// LeadIDs are the leads the subject matched.
	LeadIDs []string
	Note    string
	// FieldsChanged names the fields a correction asked to change (never
	// their values).
	FieldsChanged []string
	Status        Status
	// Reason says why a request failed, as a stable code.
	Reason      string
	ActorID     string
	CreatedAt   time.Time
	DueAt       time.Time
	CompletedAt time.Time
	History     []Event
	// Receipt counts what an erasure removed, by item kind.
	Receipt map[string]int
	Export  *Export
	// PseudonymizedAt is when the person's erasure blanked the subject's
	// phone, email and the note; zero before.
	PseudonymizedAt time.Time
	// Version increases with every write (optimistic locking).
	Version int
}

// DueDate is when a request filed at created must be answered.
func DueDate(created time.Time) time.Time { return created.Add(AnswerWithin).UTC() }

// Overdue reports whether r is still open past its due date at now.
func (r Request) Overdue(now time.Time) bool {
	return r.Status == StatusOpen && now.After(r.DueAt)
}

// ExportExpired reports whether r's export can no longer be downloaded.
func (r Request) ExportExpired(now time.Time) bool {
	return r.Export != nil && !now.Before(r.Export.ExpiresAt)
}

// Concerns reports whether r is about the person named by any of refs or
// leadIDs.
func (r Request) Concerns(refs, leadIDs []string) bool {
	for _, x := range r.Refs {
		if slices.Contains(refs, x) {
			return true
		}
	}
	for _, id := range r.LeadIDs {
		if slices.Contains(leadIDs, id) {
			return true
		}
	}
	return r.Subject.LeadID != "" && slices.Contains(leadIDs, r.Subject.LeadID)
}

// Pseudonymize blanks what names the person in clear (the subject's phone
// and email, and the free-text note), keeping the keyed references, the
// lead ids and the history, and records it.
func (r *Request) Pseudonymize(at time.Time, actorID string) {
	r.Subject.Phone, r.Subject.Email, r.Note = "", "", ""
	r.PseudonymizedAt = at.UTC()
	r.History = append(r.History, Event{At: at.UTC(), ActorID: actorID, Action: EventPseudonymized})
}

// FieldError is a validation failure on one input field.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Sentinel errors.
var (
	// ErrNotFound: no such request in the org (or not the caller's export).
	ErrNotFound = errors.New("privacy request not found")
	// ErrExportExpired: the export document is past its download period.
	ErrExportExpired = errors.New("privacy export expired")
	// ErrNoExport: the request has no export document.
	ErrNoExport = errors.New("privacy request has no export")
	// ErrVersionMismatch: the request changed since it was read.
	ErrVersionMismatch = errors.New("privacy request version mismatch")
)

// Input is a request as filed.
type Input struct {
	Type    Type
	Subject Subject
	Note    string
	// Changes are a correction's changes (only for TypeCorrection).
	Changes Changes
	// LeadVersion, for a correction, is the lead version the changes were
	// made against (0: the current one); a stale one fails the request.
	LeadVersion int
}

// Validate checks in before anything is stored.
func (in Input) Validate() error {
	if !in.Type.Valid() {
		return &FieldError{Field: "type", Message: "must be one of access, export, correction, erasure"}
	}
	if in.Subject.Empty() {
		return &FieldError{Field: "subject", Message: "needs a phone, an email or a lead_id"}
	}
	if len(in.Note) > MaxNoteLen {
		return &FieldError{Field: "note", Message: fmt.Sprintf("at most %d characters", MaxNoteLen)}
	}
	if in.Type == TypeCorrection && in.Changes.Empty() {
		return &FieldError{Field: "changes", Message: "a correction needs at least one change (name, phone, email, custom_fields, tags)"}
	}
	if in.Type != TypeCorrection && !in.Changes.Empty() {
		return &FieldError{Field: "changes", Message: "only a correction carries changes"}
	}
	if in.Type != TypeCorrection && in.LeadVersion != 0 {
		return &FieldError{Field: "lead_version", Message: "only a correction carries a lead version"}
	}
	return nil
}

// refs lists "kind:hash" references without duplicates, sorted.
func addRef(refs []string, kind, hash string) []string {
	r := kind + ":" + hash
	if hash == "" || slices.Contains(refs, r) {
		return refs
	}
	refs = append(refs, r)
	slices.Sort(refs)
	return refs
}

// RefsText joins references for an audit record.
func RefsText(refs []string) string { return strings.Join(refs, ",") }
