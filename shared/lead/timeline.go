package lead

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
