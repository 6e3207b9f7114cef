package lead

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/page"
)

// Users reads the users a lead may be assigned to.
type Users interface {
	GetUser(ctx context.Context, orgID, userID string) (account.User, error)
}

// Auditor appends to the audit trail, completing the record (id, time,
// where the request came from) and logging a failure rather than
// returning it: the action already happened.
type Auditor interface {
	Record(ctx context.Context, r audit.Record)
}

// Actor is the user acting on leads.
type Actor struct {
	User account.User
	// Region reads phone numbers without a country code (the org's default
	// region); empty falls back to Service.DefaultRegion.
	Region string
}

// DeniedError means the actor's role may not do Action to the lead
// (LeadID, empty on create); Reason says why, for the actor.
type DeniedError struct {
	Action string
	LeadID string
	Reason string
}

// Error implements error.
func (e *DeniedError) Error() string { return e.Action + " denied: " + e.Reason }

// Patch changes some fields of a lead; nil fields stay. An empty phone,
// email or assignee clears it.
type Patch struct {
	Name         *string
	Phone        *string
	Email        *string
	Source       *string
	Status       *Status
	Tags         *[]string
	CustomFields *map[string]string
	AssigneeID   *string
	// Correction marks a data-subject correction (shared/privacy): the
	// person said the data was wrong, so the timeline records which
	// fields changed and their new values but keeps none of the old ones
	// (see Change.OldCorrected).
	Correction bool
	// PipelineID and StageID move the lead on the boards: a stage of the
	// pipeline (the lead's own without PipelineID), or with PipelineID
	// alone the pipeline's stage for the lead's status (placeAfter).
	PipelineID *string
	StageID    *string
}

// Apply returns old with the patch applied and the names of the fields the
// patch set.
func (p Patch) Apply(old Lead) (Lead, []string) {
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
	set("name", &next.Name, p.Name)
	set("phone", &next.Phone, p.Phone)
	set("email", &next.Email, p.Email)
	set("source", &next.Source, p.Source)
	set("assignee_id", &next.AssigneeID, p.AssigneeID)
	if p.Status != nil {
		next.Status = *p.Status
		changed = append(changed, "status")
	}
	if p.Tags != nil {
		next.Tags = *p.Tags
		changed = append(changed, "tags")
	}
	if p.CustomFields != nil {
		next.CustomFields = *p.CustomFields
		changed = append(changed, "custom_fields")
	}
	set("pipeline_id", &next.PipelineID, p.PipelineID)
	set("stage_id", &next.StageID, p.StageID)
	return next, changed
}

// Service is what users do with leads, under the rules of their role:
// viewers read, others write; an agent sees and creates only leads assigned
// to itself and cannot assign leads to others; an assignee is an active
// user of the org; changes are audited and recorded on the lead's
// timeline (timeline.go); notes follow notes.go, tasks tasks.go. Errors are ErrNotFound (also for a
// lead the actor may not see, so nobody learns it exists),
// ErrVersionMismatch, *DeniedError, *FieldError, *DuplicateError, or a
// failure of the store.
type Service struct {
	Store Store
	Users Users
	Audit Auditor
	// Phones brings phone numbers to E.164 (phone.Normalize).
	Phones PhoneNormalizer
	// PhoneVariants gives the other E.164 numbers a number may be of the
	// same person, in a region (phone.Variants), for Duplicates; nil
	// finds duplicates by email only.
	PhoneVariants func(e164, region string) []string
	// DefaultRegion reads phones without a country code when the actor has
	// no region (default "IN").
	DefaultRegion string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// StartPurge, when set, starts at once the purge of a deleted lead's
	// history left for later (a job on the purges queue).
	StartPurge func(ctx context.Context, orgID, leadID string) error
	// Activities reads leads' timelines (Timeline).
	Activities ActivityStore
	// Notes keeps leads' notes (AddNote, ListNotes, EditNote, DeleteNote).
	Notes NoteStore
	// Pipelines keeps the orgs' pipelines (pipelines.go); nil: every org
	// has only its default pipeline as DefaultPipeline reads.
	Pipelines PipelineStore
	// Tasks keeps leads' tasks (tasks.go).
	Tasks TaskStore
	// Notifications keeps users' notifications (reminders.go).
	Notifications NotificationStore
	// Appointments keeps leads' appointments (appointments.go).
	Appointments AppointmentStore
	// Counts counts the leads of a board column (StageCounts); nil
	// counts none.
	Counts StageCounter
	// Fields reads the org's custom field definitions, which every write
	// is checked against (CheckCustomFields); nil checks none.
	Fields FieldDefReader
	// Assign, when set, assigns the leads created without an assignee by
	// the org's rule (assign.go); nil leaves them unassigned.
	Assign *Assigner
	// Merges keeps lead merges (merge.go); nil refuses to merge.
	Merges MergeStore
	// CanonicalEmails finds leads by the canonical form of their email
	// for Duplicates; nil matches emails one way only.
	CanonicalEmails CanonicalEmailIndex
}

// FieldDefReader reads an org's custom field definitions.
type FieldDefReader interface {
	FieldDefs(ctx context.Context, orgID string) (FieldDefs, error)
}

// checkFields checks next's custom fields against the org's definitions
// (old is nil on create).
func (s *Service) checkFields(ctx context.Context, old, next *Lead) error {
	if s.Fields == nil {
		return nil
	}
	defs, err := ReadFieldDefs(ctx, s.Fields, next.OrgID)
	if err != nil {
		return fmt.Errorf("read custom fields: %w", err)
	}
	return CheckCustomFields(defs, old, next)
}

// updateAttempts bounds the re-reads of an update without a version.
const updateAttempts = 3

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) region(a Actor) string { return a.RegionOr(s.DefaultRegion) }

// RegionOr is the region the actor's phone numbers without a country code
// are read in: its own, else def, else "IN".
func (a Actor) RegionOr(def string) string {
	switch {
	case a.Region != "":
		return a.Region
	case def != "":
		return def
	}
	return "IN"
}

const readOnlyRole = "your role can read leads but not change them"

// checkAssignee verifies an assignee is an active user of the actor's org.
func (s *Service) checkAssignee(ctx context.Context, a Actor, id string) error {
	if id == "" {
		return nil
	}
	u, err := s.Users.GetUser(ctx, a.User.OrgID, id)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !u.Active) {
		return &FieldError{Field: "assignee_id", Message: "is not an active user of this organisation"}
	}
	if err != nil {
		return fmt.Errorf("read assignee %s: %w", id, err)
	}
	return nil
}

// Create stores a new lead with the fields of in the actor may set (name,
// phone, email, source, status, tags, custom fields, assignee); the
// service sets its id, org, creator, times and version. An agent's lead is
// always assigned to itself.
func (s *Service) Create(ctx context.Context, a Actor, in Lead) (Lead, error) {
	return s.CreateWithID(ctx, a, ulid.Make().String(), in)
}

// CreateWithID is Create of a lead whose id the caller chose (a ULID), for
// a write that may be repeated (a row of an import, keyed by the import and
// the row): the repeat meets the first write's guards, a *DuplicateError
// whose ExistingID is id.
func (s *Service) CreateWithID(ctx context.Context, a Actor, id string, in Lead) (Lead, error) {
	if !a.User.Role.CanWriteLeads() {
		return Lead{}, &DeniedError{Action: audit.ActionLeadCreate, Reason: readOnlyRole}
	}
	assignee := in.AssigneeID
	if a.User.Role == account.RoleAgent {
		if assignee != "" && assignee != a.User.ID {
			return Lead{}, &DeniedError{Action: audit.ActionLeadCreate, Reason: "an agent can only create leads assigned to itself"}
		}
		assignee = a.User.ID
	} else if err := s.checkAssignee(ctx, a, assignee); err != nil {
		return Lead{}, err
	}
	now := s.now().UTC()
	l := Lead{ID: id, OrgID: a.User.OrgID, Name: in.Name, Phone: in.Phone, Email: in.Email,
		Source: in.Source, Status: in.Status, Tags: in.Tags, CustomFields: in.CustomFields,
		AssigneeID: assignee, CreatedBy: a.User.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if l.Status == "" || l.Status.Valid() {
		def, err := s.pipeline(ctx, l.OrgID, DefaultPipelineID)
		if err != nil {
			return Lead{}, err
		}
		def.Place(&l, l.Status != "")
	}
	if err := Normalize(&l, s.region(a), s.Phones); err != nil {
		return Lead{}, err
	}
	if err := s.checkFields(ctx, nil, &l); err != nil {
		return Lead{}, err
	}
	if l.AssigneeID == "" && s.Assign != nil {
		// The org's rule picks the assignee (no turn when it is off); the
		// turn is taken just before the write: a write that fails (a
		// duplicate phone) leaves it unused, so the next lead skips that
		// user once.
		pick, err := s.Assign.Pick(ctx, l.OrgID, "")
		if err != nil {
			return Lead{}, err
		}
		l.AssigneeID, l.AssignedBy = pick.UserID, pick.By
	}
	if err := s.Store.CreateLead(ctx, l); err != nil {
		return Lead{}, fmt.Errorf("create lead: %w", s.visibleDuplicate(ctx, a, err))
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadCreate, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"source": l.Source}})
	return l, nil
}

// visibleDuplicate keeps the existing lead's id in a *DuplicateError only
// for an actor who may see that lead (Get): an agent learns that the phone
// or email is taken, not the id of another agent's lead. Other errors are
// returned as they are.
func (s *Service) visibleDuplicate(ctx context.Context, a Actor, err error) error {
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.ExistingID == "" || a.User.Role.SeesAllLeads() {
		return err
	}
	if _, gerr := s.Get(ctx, a, dup.ExistingID); gerr != nil {
		return &DuplicateError{Field: dup.Field}
	}
	return err
}

// Get returns a lead the actor may see; any other is ErrNotFound.
func (s *Service) Get(ctx context.Context, a Actor, id string) (Lead, error) {
	l, err := s.Store.GetLead(ctx, a.User.OrgID, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !a.User.Role.SeesAllLeads() && l.AssigneeID != a.User.ID) {
		return Lead{}, ErrNotFound
	}
	if err != nil {
		return Lead{}, fmt.Errorf("read lead %s: %w", id, err)
	}
	return l, nil
}

// Scope returns the filter a listing of the actor uses: the tags and the
// search normalised (the search also read as a phone number, in the
// actor's region), assignee "me" as the actor, and an agent's listing
// always its own leads. List applies it too; callers use it to name the listing (its
// cursor scope).
func (s *Service) Scope(a Actor, f Filter) Filter {
	f.Tag = strings.ToLower(strings.TrimSpace(f.Tag))
	f.Tags = normalizeTags(f.Tags)
	f.SourceID = strings.TrimSpace(f.SourceID)
	f.Query = strings.ToLower(strings.Join(strings.Fields(f.Query), " "))
	f.QueryPhone = ""
	if f.Query != "" {
		f.QueryPhone = queryPhone(f.Query, s.region(a), s.Phones)
	}
	if f.AssigneeID == "me" {
		f.AssigneeID = a.User.ID
	}
	if !a.User.Role.SeesAllLeads() {
		f.AssigneeID = a.User.ID
	}
	return f
}

// List returns a page of the leads the actor may see that match f (see
// Scope), newest first, from the store position from (zero: the first).
func (s *Service) List(ctx context.Context, a Actor, f Filter, limit int, from page.Cursor) (Page, error) {
	f = s.Scope(a, f)
	if len(f.CustomFields) > 0 && s.Fields != nil {
		defs, err := ReadFieldDefs(ctx, s.Fields, a.User.OrgID)
		if err != nil {
			return Page{}, fmt.Errorf("read custom fields: %w", err)
		}
		if f.CustomFields, err = canonicalFilters(defs, f.CustomFields); err != nil {
			return Page{}, err
		}
	}
	p, err := s.Store.ListLeads(ctx, a.User.OrgID, f, limit, from)
	if err != nil {
		return Page{}, fmt.Errorf("list leads: %w", err)
	}
	return p, nil
}

// errRetryUpdate: the lead changed between the read and the write.
var errRetryUpdate = errors.New("lead changed during update")

// Update applies a patch to a lead the actor may see. With version (>0)
// the lead must still be at that version (else ErrVersionMismatch).
// Without, the actor asked for "apply to the current lead": when the lead
// changes between the read and the write (a message arriving, say), it is
// read again and the patch re-applied, a few times.
func (s *Service) Update(ctx context.Context, a Actor, id string, version int, p Patch) (Lead, error) {
	for attempt := 1; ; attempt++ {
		l, err := s.updateOnce(ctx, a, id, version, p)
		if !errors.Is(err, errRetryUpdate) {
			return l, err
		}
		if version > 0 || attempt == updateAttempts {
			return Lead{}, ErrVersionMismatch
		}
	}
}

func (s *Service) updateOnce(ctx context.Context, a Actor, id string, version int, p Patch) (Lead, error) {
	old, err := s.Get(ctx, a, id)
	if err != nil {
		return Lead{}, err
	}
	if !a.User.Role.CanWriteLeads() {
		return Lead{}, &DeniedError{Action: audit.ActionLeadUpdate, LeadID: old.ID, Reason: readOnlyRole}
	}
	if version > 0 && version != old.Version {
		return Lead{}, ErrVersionMismatch
	}
	next, changed := p.Apply(old)
	if p.AssigneeID != nil && next.AssigneeID != old.AssigneeID {
		if a.User.Role == account.RoleAgent && next.AssigneeID != a.User.ID {
			return Lead{}, &DeniedError{Action: audit.ActionLeadUpdate, LeadID: old.ID, Reason: "an agent cannot assign leads to others"}
		}
		if err := s.checkAssignee(ctx, a, next.AssigneeID); err != nil {
			return Lead{}, err
		}
	}
	if p.Status != nil || p.PipelineID != nil || p.StageID != nil {
		if err := s.placeAfter(ctx, old, &next, p); err != nil {
			return Lead{}, err
		}
	}
	if len(changed) == 0 {
		return old, nil
	}
	if err := Normalize(&next, s.region(a), s.Phones); err != nil {
		return Lead{}, err
	}
	if err := s.checkFields(ctx, &old, &next); err != nil {
		return Lead{}, err
	}
	next.Version = old.Version + 1
	next.UpdatedAt = s.now().UTC()
	next.EditedAt = next.UpdatedAt
	next.Provenance = ownFields(old.Provenance, changed)
	if err := s.Store.UpdateLead(ctx, old, next, changeActivities(old, next, a.User.ID, next.UpdatedAt, p.Correction)...); err != nil {
		if errors.Is(err, ErrVersionMismatch) {
			return Lead{}, errRetryUpdate
		}
		return Lead{}, fmt.Errorf("update lead %s: %w", old.ID, s.visibleDuplicate(ctx, a, err))
	}
	s.Audit.Record(ctx, audit.Record{OrgID: old.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadUpdate, TargetType: "lead", TargetID: old.ID,
		Details: map[string]string{"fields": strings.Join(changed, ","), "version": strconv.Itoa(next.Version)}})
	return next, nil
}

// Delete deletes a lead the actor may see, with its history (messages,
// consent ledger, activities, provider ids and statuses); its opt-outs
// stay behind under keyed hashes of its phone and email (lead.Store). The
// audit record counts what was removed, by item kind.
func (s *Service) Delete(ctx context.Context, a Actor, id string) error {
	l, err := s.Get(ctx, a, id)
	if err != nil {
		return err
	}
	if !a.User.Role.CanWriteLeads() {
		return &DeniedError{Action: audit.ActionLeadDelete, LeadID: l.ID, Reason: readOnlyRole}
	}
	d, err := s.Store.DeleteLead(ctx, l)
	if err != nil {
		return fmt.Errorf("delete lead %s: %w", l.ID, err)
	}
	// Counts by item kind only: the audit trail outlives the lead and must
	// not keep what was deleted.
	details := map[string]string{}
	for kind, n := range d.Counts {
		details["deleted_"+kind] = strconv.Itoa(n)
	}
	if d.Pending {
		details["purge"] = "pending"
		// The rest of the history goes at once, in a purge job; the
		// retention function's hourly run is the safety net.
		if s.StartPurge != nil && s.StartPurge(ctx, l.OrgID, l.ID) == nil {
			details["purge"] = "started"
		}
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadDelete, TargetType: "lead", TargetID: l.ID,
		Details: details})
	return nil
}

// ownFields returns p without the fields a user set (they are the
// business's data now, not Meta's), or p itself when none of them came
// from Meta.
func ownFields(p *Provenance, changed []string) *Provenance {
	if p == nil || len(p.Fields) == 0 {
		return p
	}
	out := *p
	out.Fields = slices.DeleteFunc(slices.Clone(p.Fields), func(f string) bool { return slices.Contains(changed, f) })
	return &out
}

// canonicalFilters brings custom field filter values to their field's
// canonical form; a value the field can never hold is a *FieldError named
// "cf.<key>". A filter on a multi-select field matches leads that picked
// that one option.
func canonicalFilters(defs FieldDefs, in []FieldFilter) ([]FieldFilter, error) {
	out := make([]FieldFilter, 0, len(in))
	for _, ff := range in {
		def, ok := defs.Get(ff.Key)
		if !ok {
			out = append(out, ff)
			continue
		}
		if def.Type == FieldMultiSelect {
			v, ok := def.option(strings.TrimSpace(ff.Value))
			if !ok {
				return nil, &FieldError{Field: "cf." + ff.Key, Message: "must be one of the field's options"}
			}
			out = append(out, FieldFilter{Key: ff.Key, Value: v, Multi: true})
			continue
		}
		v, msg := def.CanonicalValue(ff.Value)
		if msg != "" {
			return nil, &FieldError{Field: "cf." + ff.Key, Message: msg}
		}
		out = append(out, FieldFilter{Key: ff.Key, Value: v})
	}
	return out, nil
}

// queryPhone reads a search as a phone number: the E.164 form when it is
// a whole number, else its digits without a leading trunk 0, when it has
// only phone characters and at least 3 digits; "" otherwise.
func queryPhone(q, region string, normalize PhoneNormalizer) string {
	var digits strings.Builder
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune(" +-().", r):
		default:
			return ""
		}
	}
	if normalize != nil {
		if e, err := normalize(q, region); err == nil && e != "" && digits.Len() >= 8 {
			return e
		}
	}
	d := strings.TrimLeft(digits.String(), "0")
	if len(d) < 3 {
		return ""
	}
	return d
}
