package lead

import (
	"context"
	"time"

	"github.com/leadluence/backend/shared/page"
)

// Store keeps an org's leads (dynamostore.Store). Its writes keep one lead
// per phone and per email in an org: a taken phone or email is a
// *DuplicateError naming the lead that holds it, a stale version is
// ErrVersionMismatch, and a lead that is not there is ErrNotFound.
type Store interface {
	CreateLead(ctx context.Context, l Lead) error
	GetLead(ctx context.Context, orgID, leadID string) (Lead, error)
	// UpdateLead replaces old with next (next.Version is old.Version+1)
	// and writes acts, the activities recording the change, in the same
	// transaction. CreateLead writes the lead's CreatedActivity with it.
	UpdateLead(ctx context.Context, old, next Lead, acts ...Activity) error
	// DeleteLead removes the lead and everything recorded about it, keeping
	// only its opt-outs under keyed hashes of its phone and email (a lead
	// created later for the same contact starts with them). The lead is
	// gone from every read at once; a long history may be left to a
	// follow-up job (Deletion.Pending).
	DeleteLead(ctx context.Context, l Lead) (Deletion, error)
	// ListLeads returns up to limit leads matching f, newest first, after
	// the position from (the zero Cursor for the first page).
	ListLeads(ctx context.Context, orgID string, f Filter, limit int, from page.Cursor) (Page, error)
	// LeadIDByPhone and LeadIDByEmail find the lead holding an E.164 phone
	// or a lower-cased email.
	LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error)
	LeadIDByEmail(ctx context.Context, orgID, email string) (string, error)
	// TouchLastInbound moves the lead's LastInboundAt forward, never back.
	TouchLastInbound(ctx context.Context, orgID, leadID string, at time.Time) error
}

// Deletion is what deleting a lead removed: item counts by kind (no
// content), and whether part of its history is left to the purge job.
type Deletion struct {
	Counts  map[string]int
	Pending bool
}

// Activity is an entry of a lead's timeline: something that happened to
// the lead, by a user or by the system (see timeline.go for the kinds).
type Activity struct {
	ID     string
	OrgID  string
	LeadID string
	// Kind names what happened ("status_changed", "lead_ads_resubmission").
	Kind string
	At   time.Time
	// ActorID is the user who did it; empty for the system (intake).
	ActorID string
	Details map[string]string
	// Changes are the fields a change activity changed, old and new.
	Changes []Change
	// FromMeta marks content received from Meta, for purges on disconnect.
	FromMeta bool
}

// ActivityStore reads leads' timelines (dynamostore.Store). Activities are
// written by the store with the change they record: UpdateLead's acts,
// the lead's creation, a note's writes; package intake writes its own
// together with the event that produced them.
type ActivityStore interface {
	// Activities returns all of a lead's activities in time order.
	Activities(ctx context.Context, orgID, leadID string) ([]Activity, error)
	// ActivitiesPage returns up to limit entries of a lead's timeline,
	// newest first, after the position from: its activities, and its
	// messages (ActivityMessageIn, ActivityMessageOut) and consent ledger
	// entries (ActivityConsentChanged) read as activities, without content.
	ActivitiesPage(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (ActivityPage, error)
}

// PipelineStore keeps an org's pipelines (dynamostore.Store). The default
// pipeline reads as DefaultPipeline until it is first written; any other
// pipeline that is not there is ErrPipelineNotFound. Writes are
// conditioned on the version read: a stale one is ErrPipelineChanged.
type PipelineStore interface {
	// Pipeline returns one pipeline of the org.
	Pipeline(ctx context.Context, orgID, id string) (Pipeline, error)
	// Pipelines returns every pipeline of the org, the default first, then
	// by creation.
	Pipelines(ctx context.Context, orgID string) ([]Pipeline, error)
	// PutPipeline writes p (p.Version is the stored version plus one; 1
	// for a pipeline not stored yet).
	PutPipeline(ctx context.Context, p Pipeline) error
	// DeletePipeline deletes p if it is still at p.Version.
	DeletePipeline(ctx context.Context, p Pipeline) error
}
