package leads

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// TimelineService is what the timeline and note routes need of
// lead.Service.
type TimelineService interface {
	Timeline(ctx context.Context, a lead.Actor, leadID string, limit int, from page.Cursor) (lead.ActivityPage, error)
	AddNote(ctx context.Context, a lead.Actor, leadID, body string) (lead.Note, error)
	ListNotes(ctx context.Context, a lead.Actor, leadID string, limit int, from page.Cursor) (lead.NotePage, error)
	EditNote(ctx context.Context, a lead.Actor, leadID, noteID, body string) (lead.Note, error)
	DeleteNote(ctx context.Context, a lead.Actor, leadID, noteID string) error
}

// ActorOut is who did something: a user, or the system.
type ActorOut struct {
	Type string  `json:"type" enum:"user,system" doc:"system: Leadluence itself (a Lead Ads submission, a WhatsApp message)."`
	ID   *string `json:"id" doc:"The user's id; null for the system."`
}

// ChangeOut is one field's change.
type ChangeOut struct {
	Field       string   `json:"field" doc:"name, phone, email, source, status, assignee_id, tags, or custom_fields.<key>; title, due_at, assignee_id, remind_before_minutes for task_updated; starts_at, ends_at for appointment_rescheduled; location, notes, assignee_id, remind_before_minutes for appointment_updated."`
	Old         *string  `json:"old,omitempty" doc:"The value before (null: none, or not kept because it came from Meta: see old_from_meta)."`
	New         *string  `json:"new,omitempty" doc:"The value after (null: none)."`
	Added       []string `json:"added,omitempty" doc:"Tags added (field tags)."`
	Removed     []string `json:"removed,omitempty" doc:"Tags removed (field tags)."`
	OldFromMeta bool     `json:"old_from_meta,omitempty" doc:"The old value came from Meta; it is not kept, so purging the integration's data leaves none of it."`
	// OldCorrected: lead.Change.OldCorrected.
	OldCorrected bool `json:"old_corrected,omitempty" doc:"A data-subject correction: the person said the old value was wrong, so it (or the removed tags) is not kept."`
	// Scrubbed: lead.Change.Scrubbed.
	Scrubbed bool `json:"scrubbed,omitempty" doc:"A later data-subject correction of the field removed the values this change recorded (old, new, added, removed)."`
}

// ActivityOut is one entry of a lead's timeline.
type ActivityOut struct {
	ID      string            `json:"id"`
	Kind    string            `json:"kind" doc:"created, updated, status_changed, assigned, note_added, note_edited, note_deleted, task_created, task_updated, task_completed, task_reopened, task_deleted, appointment_booked, appointment_rescheduled, appointment_updated, appointment_cancelled, lead_ads_resubmission, referral; message_in, message_out and consent_changed are the lead's messages and consent ledger entries shown on the timeline."`
	At      time.Time         `json:"at"`
	Actor   ActorOut          `json:"actor"`
	Details map[string]string `json:"details" doc:"Kind-specific facts: source, status and assignee_id of created; note_id of the note kinds; task_id of the task kinds (with due_at and assignee_id for task_created); appointment_id of the appointment kinds (with starts_at, ends_at and assignee_id for appointment_booked); the submission's leadgen_id, form_id, ad_id, page_id of lead_ads_resubmission; source_type, source_id, source_url, ctwa_clid, number and wamid of referral (a WhatsApp message from a Click-to-WhatsApp ad or post); message_id, channel, status and type of a message (never its content); consent_id, channel, purpose, action and source of consent_changed."`
	Changes []ChangeOut       `json:"changes" doc:"The fields changed (updated, status_changed, assigned); empty for other kinds."`
}

// ActivityList is one page of a lead's timeline, newest first.
type ActivityList struct {
	Items      []ActivityOut `json:"items"`
	NextCursor *string       `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

type historyListIn struct {
	ID     string `path:"id" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
}

func activityOut(a lead.Activity) ActivityOut {
	out := ActivityOut{ID: a.ID, Kind: a.Kind, At: a.At, Actor: ActorOut{Type: "system"}, Details: a.Details, Changes: make([]ChangeOut, 0, len(a.Changes))}
	if a.ActorID != "" {
		out.Actor = ActorOut{Type: "user", ID: httpapi.Optional(a.ActorID)}
	}
	if out.Details == nil {
		out.Details = map[string]string{}
	}
	for _, c := range a.Changes {
		out.Changes = append(out.Changes, ChangeOut{Field: c.Field, Old: httpapi.Optional(c.Old), New: httpapi.Optional(c.New),
			Added: c.Added, Removed: c.Removed, OldFromMeta: c.OldFromMeta, OldCorrected: c.OldCorrected, Scrubbed: c.Scrubbed})
	}
	return out
}

func (s *server) registerTimeline(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-lead-activities", Method: http.MethodGet, Path: "/v1/leads/{id}/activities", Tags: []string{"leads"},
		Summary: "List a lead's timeline, newest first", Security: httpapi.BearerSecurity,
		Description: "One entry per thing that happened to the lead, each with its actor and time, written in the same " +
			"transaction as the change it records.",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listActivities)
	s.registerNotes(api)
}

func (s *server) listActivities(ctx context.Context, in *historyListIn) (*struct{ Body ActivityList }, error) {
	items, next, err := historyPage(ctx, s, in, "activities", "read lead timeline", audit.ActionTimelineRead,
		func(a lead.Actor, from page.Cursor) ([]lead.Activity, page.Cursor, error) {
			p, err := s.deps.Timeline.Timeline(ctx, a, in.ID, in.Limit, from)
			return p.Items, p.Next, err
		})
	if err != nil {
		return nil, err
	}
	out := &struct{ Body ActivityList }{Body: ActivityList{Items: make([]ActivityOut, 0, len(items)), NextCursor: next}}
	for _, act := range items {
		out.Body.Items = append(out.Body.Items, activityOut(act))
	}
	return out, nil
}

// historyPage reads one page of a lead's history (its timeline or its
// notes) through read: the cursor is bound to the caller's org, the lead,
// the kind and the page size, and the read is audited once with what it
// returned (never the content).
func historyPage[T any](ctx context.Context, s *server, in *historyListIn, kind, what, action string,
	read func(a lead.Actor, from page.Cursor) ([]T, page.Cursor, error)) ([]T, *string, error) {
	a := actor(ctx)
	scope := kind + "|" + in.ID + "|" + strconv.Itoa(in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, a.User.OrgID, scope)
	if !ok {
		return nil, nil, httpapi.BadCursor()
	}
	items, next, err := read(a, from)
	if err != nil {
		return nil, nil, problem(ctx, s.Kit, what, err)
	}
	s.ReadAudit(ctx, action, in.ID, map[string]string{"count": strconv.Itoa(len(items)), "limit": strconv.Itoa(in.Limit),
		"next_page": strconv.FormatBool(in.Cursor != "")})
	return items, httpapi.Optional(s.Cursors().Encode(a.User.OrgID, scope, next)), nil
}
