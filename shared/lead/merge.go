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
)

// Merging two leads that are the same person (identity resolution): the
// surviving lead takes the other's contacts, fields it lacks and history;
// the other is gone until the merge is undone (within MergeUndoWindow).
// The conflict rule is MergeLeads; the store (MergeStore) does the writes
// crash-safe: a merge record with both leads' snapshots first, the history
// moved in batches tagged with the merge id, then the lead writes.

// MergeUndoWindow is how long a merge can be undone; its record (with
// both leads' snapshots) expires then.
const MergeUndoWindow = 30 * 24 * time.Hour

// MergeState is where a merge stands.
type MergeState string

// Merge states.
const (
	// MergePending: the record is written, the history may be partly
	// moved, the leads are not written yet (a merge that stopped midway
	// is resumed by the same merge or rolled back by undo).
	MergePending MergeState = "pending"
	// MergeDone: the survivor holds the merged lead, the other is gone.
	MergeDone MergeState = "done"
	// MergeUndoing: an undo has started (a retried undo finishes it).
	MergeUndoing MergeState = "undoing"
	// MergeUndone: both leads are back as they were.
	MergeUndone MergeState = "undone"
)

// Merge is one merge of lead OtherID into lead SurvivorID.
type Merge struct {
	ID         string
	OrgID      string
	SurvivorID string
	OtherID    string
	State      MergeState
	// Survivor and Other are the leads as they were before the merge;
	// Merged is what the survivor becomes.
	Survivor Lead
	Other    Lead
	Merged   Lead
	// By is the user who merged, At when; ExpiresAt ends the undo window.
	By        string
	At        time.Time
	ExpiresAt time.Time
	// UndoneBy and UndoneAt: who undid it and when (zero until then).
	UndoneBy string
	UndoneAt time.Time
	// Moved counts the history items moved (by the merge, or back by the
	// undo).
	Moved int
}

// Merge errors.
var (
	// ErrMergeNotFound: no such merge in the org (or its record expired).
	ErrMergeNotFound = errors.New("merge not found")
	// ErrMergeClosed: the merge cannot be undone (already undone, past
	// its undo window, or a later merge into the survivor, or a merge of
	// the survivor into another lead, is still in force).
	ErrMergeClosed = errors.New("merge cannot be undone")
	// ErrMergeBusy: another merge of one of the leads is under way.
	ErrMergeBusy = errors.New("another merge of this lead is under way")
)

// MergeStore keeps merges (dynamostore.Store). RunMerge and UndoMerge are
// idempotent and resumable: RunMerge with a pending merge of the same two
// leads finishes that one (its snapshots, its id) instead of m; UndoMerge
// of a merge stopped midway (pending) or an undo stopped midway
// (undoing) finishes the undo. A lead changed between the record and the
// lead writes rolls the merge back and is ErrVersionMismatch.
type MergeStore interface {
	RunMerge(ctx context.Context, m Merge) (Merge, error)
	UndoMerge(ctx context.Context, orgID, mergeID, by string, at time.Time) (Merge, error)
	GetMerge(ctx context.Context, orgID, mergeID string) (Merge, error)
	// DoneMerge returns the merge of otherID into survivorID that stands
	// (state done), or ErrMergeNotFound.
	DoneMerge(ctx context.Context, orgID, survivorID, otherID string) (Merge, error)
}

// CanMerge reports whether role r may merge leads and undo merges
// (managers and above).
func CanMerge(r account.Role) bool {
	return r == account.RoleOwner || r == account.RoleAdmin || r == account.RoleManager
}

// MergeLeads is the conflict rule of a merge of other into survivor (see
// docs/crm.md, Merging leads): the survivor keeps its id, name, primary
// phone and email, source, status, pipeline stage and assignee, taking the
// other's where its own is empty; tags are the union; a custom field
// keeps the survivor's value, the other's fills the keys the survivor
// lacks; consent per channel:purpose is the most protective (an opt-out
// on either side wins, else the later opt-in); the other's phones and
// emails that differ from the merged primary ones become secondary ones;
// the latest inbound time of either counts. Version, UpdatedAt and
// EditedAt are the caller's.
func MergeLeads(survivor, other Lead) Lead {
	m := survivor
	m.Tags = slices.Clone(survivor.Tags)
	m.CustomFields = maps.Clone(survivor.CustomFields)
	m.Consent = maps.Clone(survivor.Consent)
	m.UniqueFields = slices.Clone(survivor.UniqueFields)
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&m.Name, other.Name)
	fill(&m.Phone, other.Phone)
	fill(&m.Email, other.Email)
	fill(&m.Source, other.Source)
	fill(&m.AssigneeID, other.AssigneeID)
	if m.Status == "" {
		m.Status = other.Status
	}
	if m.StageID == "" {
		m.PipelineID, m.StageID = other.PipelineID, other.StageID
	}
	if m.Provenance == nil {
		m.Provenance = other.Provenance
	}
	m.Phones = secondaries(m.Phone, []string{survivor.Phone}, survivor.Phones, []string{other.Phone}, other.Phones)
	m.Emails = secondaries(m.Email, []string{survivor.Email}, survivor.Emails, []string{other.Email}, other.Emails)
	for _, t := range other.Tags {
		if !slices.Contains(m.Tags, t) {
			m.Tags = append(m.Tags, t)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(other.CustomFields)) {
		if _, ok := m.CustomFields[k]; ok {
			continue
		}
		if m.CustomFields == nil {
			m.CustomFields = map[string]string{}
		}
		m.CustomFields[k] = other.CustomFields[k]
		if slices.Contains(other.UniqueFields, k) && !slices.Contains(m.UniqueFields, k) {
			m.UniqueFields = append(m.UniqueFields, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(other.Consent)) {
		if m.Consent == nil {
			m.Consent = map[string]string{}
		}
		m.Consent[k] = protective(m.Consent[k], other.Consent[k])
	}
	if other.LastInboundAt.After(m.LastInboundAt) {
		m.LastInboundAt = other.LastInboundAt
	}
	m.AssignedBy = ""
	return m
}

// secondaries lists, in order and once each, the contacts of both leads
// other than the merged primary one.
func secondaries(primary string, lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			if v != "" && v != primary && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// protective returns the more protective of two consent values
// ("opt_out@<time>", "opt_in@<time>", or ""): an opt-out over an opt-in,
// and of two of a kind the later.
func protective(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	aOut, bOut := strings.HasPrefix(a, "opt_out@"), strings.HasPrefix(b, "opt_out@")
	switch {
	case aOut && !bOut:
		return a
	case bOut && !aOut:
		return b
	}
	if consentTime(b).After(consentTime(a)) {
		return b
	}
	return a
}

func consentTime(v string) time.Time {
	_, at, _ := strings.Cut(v, "@")
	t, _ := time.Parse(time.RFC3339Nano, at)
	return t
}

// MergeActivity is the merged activity of merge m on the survivor's
// timeline; its id is the merge's, so a resumed merge writes it once.
func MergeActivity(m Merge) Activity {
	return Activity{ID: m.ID, OrgID: m.OrgID, LeadID: m.SurvivorID, Kind: ActivityMerged, At: m.At, ActorID: m.By,
		Details: map[string]string{"merge_id": m.ID, "other_lead_id": m.OtherID}}
}

// UnmergeActivity is the unmerged activity of the undo of m on the
// survivor's timeline.
func UnmergeActivity(m Merge, id string) Activity {
	return Activity{ID: id, OrgID: m.OrgID, LeadID: m.SurvivorID, Kind: ActivityUnmerged, At: m.UndoneAt, ActorID: m.UndoneBy,
		Details: map[string]string{"merge_id": m.ID, "other_lead_id": m.OtherID}}
}

// Merge merges lead otherID into lead survivorID (both of the actor's
// org, else ErrNotFound) under MergeLeads, moving the other's history to
// the survivor, and audits it. Only managers and above may merge.
func (s *Service) Merge(ctx context.Context, a Actor, survivorID, otherID string) (Merge, error) {
	if !CanMerge(a.User.Role) {
		return Merge{}, &DeniedError{Action: audit.ActionLeadMerge, LeadID: survivorID, Reason: "only managers, admins and owners may merge leads"}
	}
	if survivorID == otherID {
		return Merge{}, &FieldError{Field: "other_lead_id", Message: "must be another lead"}
	}
	if s.Merges == nil {
		return Merge{}, errors.New("merge leads: no merge store")
	}
	survivor, err := s.Get(ctx, a, survivorID)
	if err != nil {
		return Merge{}, err
	}
	other, err := s.Get(ctx, a, otherID)
	if errors.Is(err, ErrNotFound) {
		// Asked again after it was done (the answer was lost): the same
		// merge, not a 404.
		if done, derr := s.Merges.DoneMerge(ctx, survivor.OrgID, survivorID, otherID); derr == nil {
			return done, nil
		}
	}
	if err != nil {
		return Merge{}, err
	}
	now := s.now().UTC()
	merged := MergeLeads(survivor, other)
	merged.Version = survivor.Version + 1
	merged.UpdatedAt, merged.EditedAt = now, now
	m := Merge{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: survivor.OrgID,
		SurvivorID: survivor.ID, OtherID: other.ID, State: MergePending, Survivor: survivor, Other: other, Merged: merged,
		By: a.User.ID, At: now, ExpiresAt: now.Add(MergeUndoWindow)}
	done, err := s.Merges.RunMerge(ctx, m)
	if err != nil {
		return Merge{}, fmt.Errorf("merge lead %s into %s: %w", otherID, survivorID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: done.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadMerge, TargetType: "lead",
		TargetID: done.SurvivorID, Details: map[string]string{"merge_id": done.ID, "other_lead_id": done.OtherID, "moved": strconv.Itoa(done.Moved)}})
	return done, nil
}

// UndoMerge undoes merge id of the actor's org (ErrMergeNotFound for
// another org's) within its undo window: both leads come back as they
// were before it (the survivor with a higher version), the moved history
// goes back to the other lead and so do its phone and email guards. A
// merge undone already, expired, or followed by a merge still in force
// on its survivor is ErrMergeClosed. Only managers and above may undo.
func (s *Service) UndoMerge(ctx context.Context, a Actor, id string) (Merge, error) {
	if !CanMerge(a.User.Role) {
		return Merge{}, &DeniedError{Action: audit.ActionMergeUndo, Reason: "only managers, admins and owners may undo merges"}
	}
	if s.Merges == nil {
		return Merge{}, errors.New("undo merge: no merge store")
	}
	m, err := s.Merges.UndoMerge(ctx, a.User.OrgID, id, a.User.ID, s.now().UTC())
	if err != nil {
		return Merge{}, fmt.Errorf("undo merge %s: %w", id, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: m.OrgID, ActorID: a.User.ID, Action: audit.ActionMergeUndo, TargetType: "lead",
		TargetID: m.SurvivorID, Details: map[string]string{"merge_id": m.ID, "other_lead_id": m.OtherID, "moved": strconv.Itoa(m.Moved)}})
	return m, nil
}
