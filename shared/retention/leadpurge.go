package retention

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
)

// The lead purge job finishes what deleting a lead left behind: a lead
// whose history was too long to remove in the request (or whose removal
// was interrupted) is gone from every read already and named by a pending
// purge item; the job removes the rest of its history, bounded and
// resumable like the content job (the pending item is its checkpoint).

// JobLeadPurge names the lead purge job.
const JobLeadPurge = "lead_purge"

// ActionLeadPurged is the audit action of the lead purge job: one record
// per deleted lead and run, with counts by item kind (never content).
const ActionLeadPurged = "retention.lead_purged"

// PendingLeadPurge is a deleted lead whose history is not removed yet.
type PendingLeadPurge struct {
	OrgID     string
	LeadID    string
	DeletedAt time.Time
}

// LeadPurgeStore finishes deleted leads' purges (dynamostore.Store).
type LeadPurgeStore interface {
	// PendingLeadPurges lists up to limit deleted leads still to purge.
	PendingLeadPurges(ctx context.Context, limit int) ([]PendingLeadPurge, error)
	// PurgeLead removes up to about budget items of a deleted lead's
	// history, returns the counts removed by item kind, and done when
	// nothing is left (the pending item is then gone too).
	PurgeLead(ctx context.Context, orgID, leadID string, budget int) (counts map[string]int, done bool, err error)
}

// purgeStep is how many items one purge step aims to remove (a step may
// remove a few more: a message goes with its provider id guard).
const purgeStep = 100

// LeadPurgeResult is what one run of the job did.
type LeadPurgeResult struct {
	// Leads counts the deleted leads worked on, Finished those now gone.
	Leads, Finished int
	// Items counts the items removed.
	Items int
	// Complete is false when the run stopped at its deadline.
	Complete bool
}

// PurgeLeads runs the lead purge job over r.Purges (nothing when nil): it
// removes deleted leads' remaining history, at most Rate items a second,
// stopping Margin before the context's deadline; what is left stays named
// by its pending item for the next run.
func (r *Runner) PurgeLeads(ctx context.Context) (LeadPurgeResult, error) {
	res := LeadPurgeResult{}
	if r.Purges == nil {
		res.Complete = true
		return res, nil
	}
	steps := r.itemLimiter()
	pending, err := r.Purges.PendingLeadPurges(ctx, orgPage)
	if err != nil {
		return res, fmt.Errorf("list pending lead purges: %w", err)
	}
	for _, p := range pending {
		res.Leads++
		total, done, err := r.drain(ctx, steps, func(ctx context.Context) (map[string]int, bool, error) {
			return r.Purges.PurgeLead(ctx, p.OrgID, p.LeadID, purgeStep)
		})
		res.Items += sum(total)
		if err != nil {
			r.auditPurge(ctx, p, total, false)
			return res, fmt.Errorf("purge lead %s of org %s: %w", p.LeadID, p.OrgID, err)
		}
		r.auditPurge(ctx, p, total, done)
		if !done {
			r.log().InfoContext(ctx, "lead purge stopped before its deadline", "org", p.OrgID, "lead", p.LeadID)
			return res, nil
		}
		res.Finished++
	}
	res.Complete = true
	return res, nil
}

// auditPurge records what a run removed of a deleted lead, when anything.
func (r *Runner) auditPurge(ctx context.Context, p PendingLeadPurge, counts map[string]int, done bool) {
	if len(counts) == 0 && !done {
		return
	}
	details := map[string]string{"finished": strconv.FormatBool(done)}
	for k, v := range counts {
		details["deleted_"+k] = strconv.Itoa(v)
	}
	at := r.now().UTC()
	err := r.Audit.AppendAudit(context.WithoutCancel(ctx), audit.Record{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		OrgID: p.OrgID, ActorID: ActorSystem, Action: ActionLeadPurged, TargetType: "lead", TargetID: p.LeadID,
		Outcome: audit.OutcomeSuccess, At: at, Details: details})
	if err != nil {
		r.log().ErrorContext(ctx, "audit lead purge", "org", p.OrgID, "lead", p.LeadID, "err", err)
	}
}

// itemLimiter paces purge steps at the runner's rate in items a second
// (drain charges each step what it removed).
func (r *Runner) itemLimiter() *limiter { return newLimiter(r.rate(), r.now) }

func (r *Runner) rate() float64 {
	if r.Rate > 0 {
		return r.Rate
	}
	return DefaultRate
}

// drain calls step, one step at a time under steps and stopping before the
// context's deadline, until step reports the target done; it returns the
// counts by kind of every step, whether the target is done, and the error
// of a failed step. The purge jobs drain one lead or one org at a time.
func (r *Runner) drain(ctx context.Context, steps *limiter, step func(context.Context) (map[string]int, bool, error)) (map[string]int, bool, error) {
	total := map[string]int{}
	for {
		if r.checkDeadline(ctx) != nil || steps.wait(ctx) != nil {
			return total, false, nil
		}
		counts, done, err := step(ctx)
		for k, v := range counts {
			total[k] += v
		}
		// A step may remove more or fewer items than purgeStep (a
		// message goes with its provider id guard): the pace is by the
		// items removed, the wait above having paid for one.
		steps.charge(sum(counts) - 1)
		if err != nil || done {
			return total, done, err
		}
	}
}

// sum is the number of items counts holds.
func sum(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}
