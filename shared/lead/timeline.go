package lead

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/page"
)

// The lead's timeline: one activity per thing that happened to it, written
// in the same transaction as the change it records, so it never disagrees
// with the lead.

// Activity kinds.
const (
	// ActivityCreated: the lead was created (by a user, or by the system
	// from a Lead Ads submission or a WhatsApp message).
	ActivityCreated = "created"
	// ActivityUpdated: fields other than status and assignee changed.
	ActivityUpdated = "updated"
	// ActivityStatusChanged: the status changed.
	ActivityStatusChanged = "status_changed"
	// ActivityAssigned: the assignee changed (set, moved or cleared).
	ActivityAssigned = "assigned"
	// ActivityStageChanged: the lead moved to another stage (of its
	// pipeline, or of another pipeline).
	ActivityStageChanged = "stage_changed"
	// ActivityNoteAdded, ActivityNoteEdited and ActivityNoteDeleted: a
	// note of the lead (Details["note_id"]).
	ActivityNoteAdded   = "note_added"
	ActivityNoteEdited  = "note_edited"
	ActivityNoteDeleted = "note_deleted"
	// ActivityLeadAdsResubmission: the person submitted a Lead Ads form
	// again (written by intake).
	ActivityLeadAdsResubmission = "lead_ads_resubmission"
	// ActivityReferral: a WhatsApp message of the lead came from a
	// Click-to-WhatsApp ad or post (ReferralActivity; written by intake,
	// with the lead for its first message).
	ActivityReferral = "referral"
	// ActivityMessageIn and ActivityMessageOut are not written: they are a
	// message of the lead's conversation read onto the timeline (details:
	// message_id, channel, status, type; never the content).
	ActivityMessageIn  = "message_in"
	ActivityMessageOut = "message_out"
	// ActivityConsentChanged is not written either: it is an entry of the
	// consent ledger read onto the timeline (details: consent_id, channel,
	// purpose, action, source; the actor is the user of a staff entry).
	ActivityConsentChanged = "consent_changed"
	// ActivityMerged: another lead was merged into this one (details:
	// merge_id, other_lead_id; merge.go).
	ActivityMerged = "merged"
	// ActivityUnmerged: a merge into this lead was undone (details:
	// merge_id, other_lead_id).
	ActivityUnmerged = "unmerged"
)

// Change is one field's change in an activity.
type Change struct {
	// Field is name, phone, email, source, status, assignee_id, tags, or
	// custom_fields.<key> (one change per custom field key).
	Field string
	// Old and New are the values before and after ("" for none); for
	// tags, Added and Removed list the tags instead.
	Old, New       string
	Added, Removed []string
	// OldFromMeta means the old value came from Meta (the lead's
	// provenance): it is not kept, so purging the integration's data
	// leaves none of it here.
	OldFromMeta bool
	// OldCorrected means the change corrected the person's data at their
	// request: the inaccurate old value (or, for tags, the removed tags) is
	// not kept.
	OldCorrected bool
	// Scrubbed means a later data-subject correction of the field removed
	// the values this change recorded (Old, New, Added, Removed): the
	// person said they were wrong (ScrubChanges).
	Scrubbed bool
}

// CorrectedFields names the fields whose value differs between a lead
// before and after a correction, as activity changes name them: name,
// phone, email, tags and custom_fields.<key> (one per key).
func CorrectedFields(old, next Lead) []string {
	var out []string
	for _, f := range []struct{ name, o, n string }{{"name", old.Name, next.Name}, {"phone", old.Phone, next.Phone}, {"email", old.Email, next.Email}} {
		if f.o != f.n {
			out = append(out, f.name)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(old.Tags)), slices.Sorted(slices.Values(next.Tags))) {
		out = append(out, "tags")
	}
	keys := map[string]bool{}
	for k := range old.CustomFields {
		keys[k] = true
	}
	for k := range next.CustomFields {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if old.CustomFields[k] != next.CustomFields[k] {
			out = append(out, "custom_fields."+k)
		}
	}
	return out
}

// ScrubChanges removes from a's changes of the named fields every value
// that is not the field's value on corrected, the lead as a data-subject
// correction left it (Old and New; for tags, Added and Removed tags it
// does not carry), marking each such change Scrubbed, and reports whether
// it removed any: what the person said was wrong does not live on, and
// what they confirmed stays.
func ScrubChanges(a *Activity, corrected Lead, fields []string) bool {
	scrubbed := false
	for i := range a.Changes {
		c := &a.Changes[i]
		if !slices.Contains(fields, c.Field) {
			continue
		}
		before := len(c.Added) + len(c.Removed)
		if c.Field == "tags" {
			keep := func(tags []string) []string {
				out := slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return !slices.Contains(corrected.Tags, t) })
				if len(out) == 0 {
					return nil
				}
				return out
			}
			c.Added, c.Removed = keep(c.Added), keep(c.Removed)
		}
		right := fieldValue(corrected, c.Field)
		changed := len(c.Added)+len(c.Removed) != before
		if c.Old != "" && c.Old != right {
			c.Old, changed = "", true
		}
		if c.New != "" && c.New != right {
			c.New, changed = "", true
		}
		if changed {
			c.Scrubbed, scrubbed = true, true
		}
	}
	return scrubbed
}

// fieldValue is l's value of a field as activity changes name it.
func fieldValue(l Lead, field string) string {
	switch field {
	case "name":
		return l.Name
	case "phone":
		return l.Phone
	case "email":
		return l.Email
	}
	if k, ok := strings.CutPrefix(field, "custom_fields."); ok {
		return l.CustomFields[k]
	}
	return ""
}

// ActivityPage is a page of a lead's activities, newest first.
type ActivityPage struct {
	Items []Activity
	// Next is the store's position after the last item, zero at the end.
	Next page.Cursor
}

// CreatedActivity is the activity that records the creation of l, written
// by the store with the lead itself: its id carries the creation time, its
// actor is the creator (empty: the system), its details the source, status
// and assignee (no personal data).
func CreatedActivity(l Lead) Activity {
	id := ulid.Make()
	if !l.CreatedAt.IsZero() {
		if at, err := ulid.New(ulid.Timestamp(l.CreatedAt), ulid.DefaultEntropy()); err == nil {
			id = at
		}
	}
	d := map[string]string{"source": l.Source, "status": string(l.Status)}
	if l.AssigneeID != "" {
		d["assignee_id"] = l.AssigneeID
	}
	if l.StageID != "" {
		d["pipeline_id"], d["stage_id"] = l.PipelineID, l.StageID
	}
	return Activity{ID: id.String(), OrgID: l.OrgID, LeadID: l.ID, Kind: ActivityCreated, At: l.CreatedAt, ActorID: l.CreatedBy, Details: d}
}

// ReferralActivity is the activity that records the referral r of the
// WhatsApp message wamid, which the lead sent at at to the business
// number: Meta's data (FromMeta), so purging the number's data removes it.
func ReferralActivity(orgID, leadID string, r Attribution, number, wamid string, at time.Time) Activity {
	id := ulid.Make()
	if !at.IsZero() {
		if u, err := ulid.New(ulid.Timestamp(at), ulid.DefaultEntropy()); err == nil {
			id = u
		}
	}
	d := map[string]string{"source_type": r.SourceType, "source_id": r.SourceID, "source_url": r.SourceURL, "ctwa_clid": r.CtwaClid,
		"number": number, "wamid": wamid}
	maps.DeleteFunc(d, func(_, v string) bool { return v == "" })
	return Activity{ID: id.String(), OrgID: orgID, LeadID: leadID, Kind: ActivityReferral, At: at, FromMeta: true, Details: d}
}

// changeActivities returns the activities that record the change from old
// to next by actorID at at: a status change, an assignment, and the other
// fields' changes, each when there is one. A correction (Patch.Correction)
// keeps no old value of the fields it changes.
func changeActivities(old, next Lead, actorID string, at time.Time, correction bool) []Activity {
	fromMeta := func(field string) bool {
		return old.Provenance != nil && slices.Contains(old.Provenance.Fields, field)
	}
	scalar := func(field, o, n string) Change {
		c := Change{Field: field, Old: o, New: n}
		if fromMeta(field) {
			c.Old, c.OldFromMeta = "", true
		}
		return c
	}
	var acts []Activity
	add := func(kind string, changes []Change) {
		if len(changes) == 0 {
			return
		}
		acts = append(acts, Activity{ID: ulid.Make().String(), OrgID: old.OrgID, LeadID: old.ID, Kind: kind, At: at,
			ActorID: actorID, Changes: changes})
	}
	if old.Status != next.Status {
		add(ActivityStatusChanged, []Change{{Field: "status", Old: string(old.Status), New: string(next.Status)}})
	}
	if old.PipelineID != next.PipelineID || old.StageID != next.StageID {
		var ch []Change
		if old.PipelineID != next.PipelineID {
			ch = append(ch, Change{Field: "pipeline_id", Old: old.PipelineID, New: next.PipelineID})
		}
		add(ActivityStageChanged, append(ch, Change{Field: "stage_id", Old: old.StageID, New: next.StageID}))
	}
	if old.AssigneeID != next.AssigneeID {
		add(ActivityAssigned, []Change{{Field: "assignee_id", Old: old.AssigneeID, New: next.AssigneeID}})
	}
	var fields []Change
	for _, f := range []struct{ name, o, n string }{
		{"name", old.Name, next.Name}, {"phone", old.Phone, next.Phone}, {"email", old.Email, next.Email}, {"source", old.Source, next.Source},
	} {
		if f.o != f.n {
			fields = append(fields, scalar(f.name, f.o, f.n))
		}
	}
	var added, removed []string
	for _, t := range next.Tags {
		if !slices.Contains(old.Tags, t) {
			added = append(added, t)
		}
	}
	for _, t := range old.Tags {
		if !slices.Contains(next.Tags, t) {
			removed = append(removed, t)
		}
	}
	if len(added)+len(removed) > 0 {
		fields = append(fields, Change{Field: "tags", Added: added, Removed: removed})
	}
	keys := slices.Sorted(maps.Keys(old.CustomFields))
	for k := range next.CustomFields {
		if _, ok := old.CustomFields[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, n := old.CustomFields[k], next.CustomFields[k]
		if o == n {
			continue
		}
		c := Change{Field: "custom_fields." + k, Old: o, New: n}
		if fromMeta(k) || fromMeta("custom_fields."+k) {
			c.Old, c.OldFromMeta = "", true
		}
		fields = append(fields, c)
	}
	if correction {
		for i := range fields {
			fields[i].Old, fields[i].Removed, fields[i].OldFromMeta, fields[i].OldCorrected = "", nil, false, true
		}
	}
	add(ActivityUpdated, fields)
	return acts
}

// Timeline returns a page of the activities of a lead the actor may see,
// newest first, from the store position from (zero: the first).
func (s *Service) Timeline(ctx context.Context, a Actor, leadID string, limit int, from page.Cursor) (ActivityPage, error) {
	l, err := s.Get(ctx, a, leadID)
	if err != nil {
		return ActivityPage{}, err
	}
	p, err := s.Activities.ActivitiesPage(ctx, l.OrgID, l.ID, limit, from)
	if err != nil {
		return ActivityPage{}, fmt.Errorf("read timeline of lead %s: %w", l.ID, err)
	}
	return p, nil
}
