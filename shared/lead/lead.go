// Package lead holds the lead record and the rules every lead obeys: phone
// numbers in E.164, lower-cased emails, a known status, one lead per phone
// and per email inside an org.
package lead

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/page"
)

// Status is a lead's pipeline status.
type Status string

// Statuses.
const (
	StatusNew         Status = "new"
	StatusContacted   Status = "contacted"
	StatusQualified   Status = "qualified"
	StatusUnqualified Status = "unqualified"
	StatusWon         Status = "won"
	StatusLost        Status = "lost"
)

// Statuses lists every status in pipeline order.
var Statuses = []Status{StatusNew, StatusContacted, StatusQualified, StatusUnqualified, StatusWon, StatusLost}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Lead is a person a client business may do business with.
type Lead struct {
	ID           string
	OrgID        string
	Name         string
	Phone        string // E.164, or empty
	Email        string // lower-cased, or empty
	Source       string
	Status       Status
	Tags         []string
	CustomFields map[string]string
	AssigneeID   string
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int
	// LastInboundAt is the time of the lead's latest inbound WhatsApp
	// message: the 24-hour customer-service window starts there.
	LastInboundAt time.Time
	// Consent is the lead's current consent per "channel:purpose", as
	// "opt_out@<time>" or "opt_in@<time>"; the ledger has the history.
	Consent map[string]string
	// Provenance records what came from Meta, for purges on disconnect.
	Provenance *Provenance
	// Attribution is the Click-to-WhatsApp ad or post the lead's first
	// message came from (nil: none). Later referrals are activities
	// (ActivityReferral); they never replace it.
	Attribution *Attribution
	// EditedAt is when a user of the business last changed the lead (zero:
	// never). A lead nobody created or edited, with nothing but what Meta
	// brought, is deleted whole when its integration's data is purged.
	EditedAt time.Time
	// PipelineID and StageID place the lead on a pipeline's board
	// (pipeline.go); a lead stored before pipelines existed reads as in
	// the default pipeline at the stage of its status.
	PipelineID string
	StageID    string
	// UniqueFields are the unique custom fields (FieldDef.Unique) whose
	// value the lead holds a guard for, so no other lead of the org has it.
	UniqueFields []string
	// AssignedBy names the rule that picked AssigneeID when the lead was
	// created ("rule:round_robin"; assign.go), so that the store writes
	// the assigned activity naming it with the lead; it is not stored on
	// the lead.
	AssignedBy string
	// Phones and Emails are the lead's secondary phones (E.164) and
	// emails (lower-cased): those of leads merged into it (merge.go). The
	// lead holds their guards as it holds its primary phone's and email's.
	Phones []string
	Emails []string
}

// Provenance says which integration a lead (and which of its fields) came from.
type Provenance struct {
	IntegrationKind string
	IntegrationID   string
	LeadgenID       string
	FormID          string
	AdID            string
	// AdsetID and CampaignID are the ad set and campaign of AdID, as the
	// Graph API's lead fetch gives them.
	AdsetID    string
	CampaignID string
	// Fields are the lead fields and custom-field keys filled from Meta data.
	Fields []string
}

// Attribution is the referral of a Click-to-WhatsApp message: the ad or
// post the person tapped before writing. It came from Meta.
type Attribution struct {
	// SourceType is "ad" or "post".
	SourceType string
	// SourceID is the ad's (or post's) id.
	SourceID  string
	SourceURL string
	// CtwaClid is Meta's click id of the tap.
	CtwaClid string
}

// AdID is the ad a lead came from: its Click-to-WhatsApp ad (the
// attribution's source id) or its Lead Ads ad, or "".
func (l Lead) AdID() string {
	if l.Attribution != nil && l.Attribution.SourceID != "" {
		return l.Attribution.SourceID
	}
	if l.Provenance != nil {
		return l.Provenance.AdID
	}
	return ""
}

// Filter narrows a lead listing. Empty fields do not filter.
type Filter struct {
	Status     Status
	AssigneeID string
	Tag        string
	Source     string
	// SourceID keeps the leads that came from this ad (Lead.AdID).
	SourceID string
	// PipelineID and StageID list a board column (StageID needs
	// PipelineID); PipelineID alone lists the pipeline's leads.
	PipelineID string
	StageID    string
	// Tags are tags a lead must all carry (besides Tag).
	Tags []string
	// CustomFields are custom field values a lead must have.
	CustomFields []FieldFilter
	// Query is a search: a lead whose name has a word starting with it
	// (lower-cased), whose email starts with it, or whose phone holds
	// QueryPhone.
	Query string
	// QueryPhone is Query as phone digits: an E.164 number when Query is
	// one, else its digits (empty when Query has too few to be a phone).
	QueryPhone string
}

// FieldFilter matches leads whose custom field Key has Value (canonical),
// or, with Multi, whose multi-select value includes it.
type FieldFilter struct {
	Key   string
	Value string
	Multi bool
}

// Page is a page of leads with the opaque position of the next one.
type Page struct {
	Items []Lead
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// Sentinel errors.
var (
	ErrNotFound = errors.New("lead not found")
	// ErrVersionMismatch means an If-Match version is stale.
	ErrVersionMismatch = errors.New("lead version mismatch")
)

// DuplicateError means another lead of the org already has the phone or email.
type DuplicateError struct {
	Field string // "phone", "email" or "custom_fields.<key>" (a unique field)
	// ExistingID is the lead holding it; lead.Service leaves it empty for
	// an actor who may not see that lead.
	ExistingID string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("a lead with this %s already exists", e.Field)
}

// FieldError is a validation failure on one input field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Limits on free-form input.
const (
	MaxNameLen        = 200
	MaxTags           = 50
	MaxTagLen         = 64
	MaxCustomFields   = 100
	MaxCustomKeyLen   = 64
	MaxCustomValueLen = 2000
)

// PhoneNormalizer brings a phone number to E.164, reading numbers without
// a country code in region (an ISO 3166 code such as "IN"): a blank raw
// gives "" and no error, and an error's text says what is wrong with the
// number. phone.Normalize (package shared/phone) is the one to pass;
// package lead does not parse numbers itself, so what only handles leads
// does not link the numbering plans.
type PhoneNormalizer func(raw, region string) (string, error)

// NormalizeEmail returns raw trimmed and lower-cased if it is a plain
// address ("name@example.com", no display name).
func NormalizeEmail(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Address != raw || !strings.Contains(raw[strings.LastIndexByte(raw, '@'):], ".") || len(raw) > 254 {
		return "", &FieldError{Field: "email", Message: "not a valid email address"}
	}
	return strings.ToLower(raw), nil
}

// Normalize checks l and brings its phone (with normalizePhone), email,
// tags and status into canonical form. region reads phones without a
// country code.
func Normalize(l *Lead, region string, normalizePhone PhoneNormalizer) error {
	l.Name = strings.TrimSpace(l.Name)
	if l.Name == "" || len(l.Name) > MaxNameLen {
		return &FieldError{Field: "name", Message: fmt.Sprintf("must be 1 to %d characters", MaxNameLen)}
	}
	// A field that fails keeps what was entered, so the caller can still
	// keep or report it.
	p, err := normalizePhone(l.Phone, region)
	if err != nil {
		return &FieldError{Field: "phone", Message: err.Error()}
	}
	l.Phone = p
	e, err := NormalizeEmail(l.Email)
	if err != nil {
		return err
	}
	l.Email = e
	if l.Phone == "" && l.Email == "" {
		return &FieldError{Field: "phone", Message: "a lead needs a phone or an email"}
	}
	if l.Status == "" {
		l.Status = StatusNew
	}
	if !l.Status.Valid() {
		return &FieldError{Field: "status", Message: "must be one of new, contacted, qualified, unqualified, won, lost"}
	}
	l.Tags = normalizeTags(l.Tags)
	if len(l.Tags) > MaxTags {
		return &FieldError{Field: "tags", Message: fmt.Sprintf("at most %d tags", MaxTags)}
	}
	for _, t := range l.Tags {
		if len(t) > MaxTagLen {
			return &FieldError{Field: "tags", Message: fmt.Sprintf("each tag at most %d characters", MaxTagLen)}
		}
	}
	if len(l.CustomFields) > MaxCustomFields {
		return &FieldError{Field: "custom_fields", Message: fmt.Sprintf("at most %d fields", MaxCustomFields)}
	}
	for k, v := range l.CustomFields {
		if k == "" || len(k) > MaxCustomKeyLen || len(v) > MaxCustomValueLen {
			return &FieldError{Field: "custom_fields", Message: fmt.Sprintf("keys 1 to %d characters, values at most %d", MaxCustomKeyLen, MaxCustomValueLen)}
		}
	}
	l.Source = strings.TrimSpace(l.Source)
	if l.Source == "" {
		l.Source = "manual"
	}
	return nil
}

// normalizeTags trims, lower-cases and de-duplicates tags, keeping order.
func normalizeTags(in []string) []string {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}
