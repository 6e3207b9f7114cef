package retention

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
)

// The closed org purge job deletes everything of an org closed longer
// than account.ReopenWindow ago (the owner may no longer reopen it), bounded
// and resumable like the other jobs: the org's remaining items are its
// checkpoint. A deletion receipt (org id, closure and purge times, counts
// by item kind) stays, and each run that removed anything writes one
// platform audit record with the counts.

// JobClosedOrgPurge names the closed org purge job.
const JobClosedOrgPurge = "closed_org_purge"

// ActionOrgPurged is the platform audit action of the closed org purge.
const ActionOrgPurged = "retention.org_purged"

// PlatformOrg is the audit partition of platform-level records.
const PlatformOrg = "platform"

// DeletionReceipt is what remains of a purged org.
type DeletionReceipt struct {
	OrgID    string
	ClosedAt time.Time
	// PurgedAt is zero while the purge is under way.
	PurgedAt time.Time
	Counts   map[string]int
}

// ClosedOrgStore purges closed orgs (dynamostore.Store).
type ClosedOrgStore interface {
	// ClosedOrgs lists up to limit orgs closed before cutoff, oldest
	// closure first, and whether more may follow (after: "" for the
	// first page).
	ClosedOrgs(ctx context.Context, cutoff time.Time, after string, limit int) ([]account.Org, bool, error)
	// PurgeClosedOrg removes up to about budget items of a closed org,
	// returns the counts removed by item kind, and done when the org is
	// gone (its deletion receipt stays).
	PurgeClosedOrg(ctx context.Context, orgID string, budget int) (counts map[string]int, done bool, err error)
}

// OrgPurgeResult is what one run of the job did.
type OrgPurgeResult struct {
	// Orgs counts the closed orgs worked on, Finished those now gone.
	Orgs, Finished int
	// Items counts the items removed.
	Items int
	// Complete is false when the run stopped at its deadline.
	Complete bool
}

// PurgeClosedOrgs runs the closed org purge job at asOf over r.Closed
// (nothing when nil): every org closed before asOf minus
// account.ReopenWindow is deleted, at most Rate items a second, stopping
// Margin before the context's deadline; the next run finds what is left.
func (r *Runner) PurgeClosedOrgs(ctx context.Context, asOf time.Time) (OrgPurgeResult, error) {
	res := OrgPurgeResult{}
	if r.Closed == nil {
		res.Complete = true
		return res, nil
	}
	steps := r.itemLimiter()
	// A purged org leaves the closed orgs index, so each page starts over.
	orgs, _, err := r.Closed.ClosedOrgs(ctx, asOf.Add(-account.ReopenWindow), "", orgPage)
	if err != nil {
		return res, fmt.Errorf("list closed orgs: %w", err)
	}
	for _, o := range orgs {
		res.Orgs++
		total, done, err := r.drain(ctx, steps, func(ctx context.Context) (map[string]int, bool, error) {
			return r.Closed.PurgeClosedOrg(ctx, o.ID, purgeStep)
		})
		res.Items += sum(total)
		if err != nil {
			r.auditOrgPurge(ctx, o, total, false)
			return res, fmt.Errorf("purge closed org %s: %w", o.ID, err)
		}
		r.auditOrgPurge(ctx, o, total, done)
		if !done {
			r.log().InfoContext(ctx, "closed org purge stopped before its deadline", "org", o.ID)
			return res, nil
		}
		res.Finished++
	}
	res.Complete = true
	return res, nil
}

// auditOrgPurge records on the platform what a run removed of a closed
// org, when it removed anything.
func (r *Runner) auditOrgPurge(ctx context.Context, o account.Org, counts map[string]int, done bool) {
	if len(counts) == 0 {
		return // nothing removed (an org already gone, listed by a lagging index)
	}
	details := map[string]string{"finished": strconv.FormatBool(done), "closed_at": o.ClosedAt.UTC().Format(time.RFC3339)}
	for k, v := range counts {
		details["deleted_"+k] = strconv.Itoa(v)
	}
	at := r.now().UTC()
	err := r.Audit.AppendAudit(context.WithoutCancel(ctx), audit.Record{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		OrgID: PlatformOrg, ActorID: ActorSystem, Action: ActionOrgPurged, TargetType: "org", TargetID: o.ID,
		Outcome: audit.OutcomeSuccess, At: at, Details: details})
	if err != nil {
		r.log().ErrorContext(ctx, "audit closed org purge", "org", o.ID, "err", err)
	}
}
