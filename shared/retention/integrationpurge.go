package retention

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
)

// The integration purge job deletes what a disconnected integration (a
// Facebook page or a WhatsApp number) brought from Meta, as the privacy
// policy promises on disconnection or account closure, whichever comes
// first. Disconnecting records a pending integration purge (its
// disconnection time bounds it: only what was collected before goes, so
// a reconnected integration keeps what it collects anew); the job drains
// it bounded and resumable like the other jobs, the pending item being its
// checkpoint. What it removes is decided by the store (dynamostore,
// integrationpurge.go): a lead that came only from Meta is deleted
// entirely through the lead delete path; a lead the business worked on
// keeps the business's data and loses the Meta fields and items.

// JobIntegrationPurge names the integration purge job.
const JobIntegrationPurge = "integration_purge"

// ActionIntegrationPurged is the audit action of the integration purge:
// one record per org and run, with counts by item kind (never content).
const ActionIntegrationPurged = "retention.integration_purged"

// Integration purge states, as the integration's health shows them.
const (
	PurgePending = "pending"
	PurgeRunning = "running"
	PurgeDone    = "done"
)

// PendingIntegrationPurge is a disconnected integration whose Meta data is
// not removed yet.
type PendingIntegrationPurge struct {
	OrgID      string
	Kind       string
	ExternalID string
	// DisconnectedAt bounds the purge: what was collected later stays.
	DisconnectedAt time.Time
}

// IntegrationPurge is the progress of one integration's purge.
type IntegrationPurge struct {
	OrgID          string
	Kind           string
	ExternalID     string
	State          string
	DisconnectedAt time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	// Counts are the items removed so far by kind.
	Counts map[string]int
}

// IntegrationPurgeStore finishes disconnected integrations' purges
// (dynamostore.Store).
type IntegrationPurgeStore interface {
	// PendingIntegrationPurges lists up to limit integration purges still
	// to run.
	PendingIntegrationPurges(ctx context.Context, limit int) ([]PendingIntegrationPurge, error)
	// PurgeIntegration removes up to about budget items of what the
	// integration brought before its disconnection, returns the counts by
	// kind, and done when nothing is left (the purge is then marked done).
	PurgeIntegration(ctx context.Context, orgID, kind, externalID string, budget int) (counts map[string]int, done bool, err error)
}

// IntegrationPurgeResult is what one run of the job did.
type IntegrationPurgeResult struct {
	// Integrations counts the purges worked on, Finished those now done.
	Integrations, Finished int
	// Items counts the items removed.
	Items int
	// LeadsPending counts leads deleted whose long history is left to the
	// lead purge job.
	LeadsPending int
	// Complete is false when the run stopped at its deadline.
	Complete bool
}

// countLeadPending is the count key by which the store reports a lead
// deleted with its history left to the lead purge job.
const countLeadPending = "lead_purge_pending"

// PurgeIntegrations runs the integration purge job over r.Integrations
// (nothing when nil), at most Rate items a second, stopping Margin before
// the context's deadline; what is left stays pending for the next run. It
// writes one audit record per org with the counts of the run.
func (r *Runner) PurgeIntegrations(ctx context.Context) (IntegrationPurgeResult, error) {
	res := IntegrationPurgeResult{}
	if r.Integrations == nil {
		res.Complete = true
		return res, nil
	}
	pending, err := r.Integrations.PendingIntegrationPurges(ctx, orgPage)
	if err != nil {
		return res, fmt.Errorf("list pending integration purges: %w", err)
	}
	steps := r.itemLimiter()
	orgs := map[string]*orgPurgeRun{}
	var order []string
	defer func() {
		for _, org := range order {
			r.auditIntegrationPurge(ctx, org, orgs[org])
		}
	}()
	for _, p := range pending {
		one, counts, err := r.purgeIntegration(ctx, p, steps)
		run := orgs[p.OrgID]
		if run == nil {
			run = &orgPurgeRun{counts: map[string]int{}}
			orgs[p.OrgID] = run
			order = append(order, p.OrgID)
		}
		run.add(p, counts, one.Finished > 0)
		res.Integrations++
		res.Finished += one.Finished
		res.Items += one.Items
		res.LeadsPending += one.LeadsPending
		if err != nil {
			return res, err
		}
		if one.Finished == 0 {
			r.log().InfoContext(ctx, "integration purge stopped before its deadline", "org", p.OrgID, "kind", p.Kind, "id", p.ExternalID)
			return res, nil
		}
	}
	res.Complete = true
	return res, nil
}

// orgPurgeRun is what one run purged of an org's integrations.
type orgPurgeRun struct {
	integrations, finished []string
	counts                 map[string]int
}

func (o *orgPurgeRun) add(p PendingIntegrationPurge, counts map[string]int, done bool) {
	name := p.Kind + ":" + p.ExternalID
	o.integrations = append(o.integrations, name)
	if done {
		o.finished = append(o.finished, name)
	}
	for k, v := range counts {
		o.counts[k] += v
	}
}

// purgeIntegration drains one integration's purge and returns what it did
// with the counts by kind.
func (r *Runner) purgeIntegration(ctx context.Context, p PendingIntegrationPurge, steps *limiter) (IntegrationPurgeResult, map[string]int, error) {
	res := IntegrationPurgeResult{Integrations: 1}
	total, done, err := r.drain(ctx, steps, func(ctx context.Context) (map[string]int, bool, error) {
		return r.Integrations.PurgeIntegration(ctx, p.OrgID, p.Kind, p.ExternalID, purgeStep)
	})
	res.LeadsPending = total[countLeadPending]
	delete(total, countLeadPending)
	res.Items = sum(total)
	if done && err == nil {
		res.Finished = 1
	}
	if err != nil {
		return res, total, fmt.Errorf("purge %s %s of org %s: %w", p.Kind, p.ExternalID, p.OrgID, err)
	}
	return res, total, nil
}

// auditIntegrationPurge records, in the org's trail, what a run removed
// of its integrations' Meta data (one record per org and run, counts by
// kind, never content), when it removed anything or finished one.
func (r *Runner) auditIntegrationPurge(ctx context.Context, orgID string, run *orgPurgeRun) {
	if len(run.counts) == 0 && len(run.finished) == 0 {
		return
	}
	details := map[string]string{"integrations": strings.Join(run.integrations, ","), "finished": strings.Join(run.finished, ",")}
	keys := make([]string, 0, len(run.counts))
	for k := range run.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		details["deleted_"+k] = strconv.Itoa(run.counts[k])
	}
	at := r.now().UTC()
	err := r.Audit.AppendAudit(context.WithoutCancel(ctx), audit.Record{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		OrgID: orgID, ActorID: ActorSystem, Action: ActionIntegrationPurged, TargetType: "integrations", TargetID: orgID,
		Outcome: audit.OutcomeSuccess, At: at, Details: details})
	if err != nil {
		r.log().ErrorContext(ctx, "audit integration purge", "org", orgID, "err", err)
	}
}
