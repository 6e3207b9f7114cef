package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Purges that an action asks for (a lead deleted with a long history, an
// integration disconnected, an account closed) start at once: the action
// records a pending item in the table and puts a Job on the purges queue,
// which the retention function consumes. The pending item is the truth;
// the message only wakes the worker, so a job is idempotent (a job whose
// item is gone finds nothing to do) and a job that stops before its
// deadline leaves its item for the next message or the hourly schedule.

// Job kinds.
const (
	// JobKindLeadPurge finishes a deleted lead's history (PurgeLeads).
	JobKindLeadPurge = "lead_purge"
	// JobKindIntegrationPurge removes what a disconnected integration
	// brought (PurgeIntegrations).
	JobKindIntegrationPurge = "integration_purge"
)

// Job is the message of the purges queue: which purge to run, on what.
type Job struct {
	// Kind is JobKindLeadPurge or JobKindIntegrationPurge.
	Kind  string `json:"kind"`
	OrgID string `json:"org_id"`
	// LeadID is the deleted lead of a lead purge.
	LeadID string `json:"lead_id,omitempty"`
	// IntegrationKind and IntegrationID name the disconnected page or
	// number of an integration purge.
	IntegrationKind string `json:"integration_kind,omitempty"`
	IntegrationID   string `json:"integration_id,omitempty"`
	// Continues counts how many times the job was put back to go on.
	Continues int `json:"continues,omitempty"`
}

// JobError means a queue message is not a job that can ever run: it is
// dead-lettered with Reason.
type JobError struct{ Reason string }

func (e *JobError) Error() string { return "purge job: " + e.Reason }

// maxJobBytes bounds a job message.
const maxJobBytes = 4096

// ParseJob reads a queue message body as a Job; a body that is not a
// complete job of a known kind is a *JobError.
func ParseJob(body string) (Job, error) {
	if len(body) > maxJobBytes {
		return Job{}, &JobError{Reason: fmt.Sprintf("body of %d bytes is larger than %d", len(body), maxJobBytes)}
	}
	var j Job
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Job{}, &JobError{Reason: "body is not a job: " + err.Error()}
	}
	if j.OrgID == "" {
		return Job{}, &JobError{Reason: "org_id is missing"}
	}
	switch j.Kind {
	case JobKindLeadPurge:
		if j.LeadID == "" {
			return Job{}, &JobError{Reason: "a lead purge needs lead_id"}
		}
	case JobKindIntegrationPurge:
		if j.IntegrationKind == "" || j.IntegrationID == "" {
			return Job{}, &JobError{Reason: "an integration purge needs integration_kind and integration_id"}
		}
	default:
		return Job{}, &JobError{Reason: fmt.Sprintf("unknown kind %q", j.Kind)}
	}
	return j, nil
}

// Encode returns the job as a queue message body.
func (j Job) Encode() string {
	b, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("encode purge job: %v", err)) // a struct of strings always marshals
	}
	return string(b)
}

// Enqueuer puts a purge job on the purges queue (the functions' wiring
// adapts sqsqueue to it).
type Enqueuer func(ctx context.Context, j Job) error

// JobResult is what running one job did.
type JobResult struct {
	Job Job
	// Items counts the items removed.
	Items int
	// Done says the target is finished; false means it stopped at its
	// deadline and its pending item stays.
	Done bool
	// Continued says the job was put back on the queue to go on.
	Continued bool
}

// maxContinues bounds how often a job puts itself back; past it, the
// hourly schedule finishes the work.
const maxContinues = 20

// RunJob runs one job from the purges queue: the purge of its one target,
// bounded like the scheduled runs. When it stops before the deadline and
// Continue is set, it puts a continuation on the queue; otherwise (or past
// maxContinues) the pending item waits for the schedule. A target whose
// pending item is gone is done at once.
func (r *Runner) RunJob(ctx context.Context, j Job) (JobResult, error) {
	res := JobResult{Job: j}
	var err error
	switch j.Kind {
	case JobKindLeadPurge:
		if r.Purges == nil {
			return res, errors.New("run lead purge job: no lead purge store")
		}
		var total map[string]int
		p := PendingLeadPurge{OrgID: j.OrgID, LeadID: j.LeadID}
		total, res.Done, err = r.drain(ctx, r.itemLimiter(), func(ctx context.Context) (map[string]int, bool, error) {
			return r.Purges.PurgeLead(ctx, p.OrgID, p.LeadID, purgeStep)
		})
		res.Items = sum(total)
		r.auditPurge(ctx, p, total, res.Done && err == nil)
	case JobKindIntegrationPurge:
		if r.Integrations == nil {
			return res, errors.New("run integration purge job: no integration purge store")
		}
		var ir IntegrationPurgeResult
		var counts map[string]int
		p := PendingIntegrationPurge{OrgID: j.OrgID, Kind: j.IntegrationKind, ExternalID: j.IntegrationID}
		ir, counts, err = r.purgeIntegration(ctx, p, r.itemLimiter())
		res.Items, res.Done = ir.Items, ir.Finished > 0
		run := &orgPurgeRun{counts: map[string]int{}}
		run.add(p, counts, res.Done)
		r.auditIntegrationPurge(ctx, j.OrgID, run)
		if err == nil && res.Done && ir.LeadsPending > 0 {
			// Leads deleted with a long history: finish them too.
			_, err = r.PurgeLeads(ctx)
		}
	default:
		return res, &JobError{Reason: fmt.Sprintf("unknown kind %q", j.Kind)}
	}
	if err != nil {
		return res, fmt.Errorf("run %s job of org %s: %w", j.Kind, j.OrgID, err)
	}
	if !res.Done && r.Continue != nil && j.Continues < maxContinues {
		next := j
		next.Continues++
		if cerr := r.Continue(context.WithoutCancel(ctx), next); cerr != nil {
			r.log().WarnContext(ctx, "purge job not continued; the schedule goes on", "kind", j.Kind, "org", j.OrgID, "err", cerr)
		} else {
			res.Continued = true
		}
	}
	return res, nil
}
