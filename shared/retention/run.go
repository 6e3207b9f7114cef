package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
)

// SettingsStore keeps orgs' retention settings (dynamostore.Store). An org
// that never saved any has the zero Settings (the policy's defaults).
type SettingsStore interface {
	RetentionSettings(ctx context.Context, orgID string) (Settings, error)
	PutRetentionSettings(ctx context.Context, orgID string, s Settings) error
}

// Store is what the runner needs from storage (dynamostore.Store).
type Store interface {
	// RetentionOrgs returns up to limit orgs with their settings, in org id
	// order, after the org id after ("" for the first), and whether more
	// follow.
	RetentionOrgs(ctx context.Context, after string, limit int) (orgs []OrgSettings, more bool, err error)
	// DueContent returns up to limit of an org's intact messages written
	// before the cutoff, oldest first. Sanitized messages are not in it.
	DueContent(ctx context.Context, orgID string, before time.Time, limit int) ([]conversation.Message, error)
	// CountDueContent counts them (for plans; nothing is written).
	CountDueContent(ctx context.Context, orgID string, before time.Time) (int, error)
	// PutSanitized writes m's sanitized content over the stored message
	// unless it was sanitized already (applied false) or is gone.
	PutSanitized(ctx context.Context, m conversation.Message) (applied bool, err error)
	// RetentionCheckpoint returns the unfinished run of a job, if any.
	RetentionCheckpoint(ctx context.Context, job string) (c Checkpoint, ok bool, err error)
	PutRetentionCheckpoint(ctx context.Context, c Checkpoint) error
	ClearRetentionCheckpoint(ctx context.Context, job string) error
}

// Checkpoint is where an unfinished run stopped: its as-of time, the last
// org finished, and the org under way with what was done for it so far (its
// audit record is written once, when it finishes, with the whole count).
type Checkpoint struct {
	Job       string
	AsOf      time.Time
	DoneOrg   string
	Org       string
	OrgCount  int
	StartedAt time.Time
}

// Runner applies the due retention jobs. It is bounded (at most Rate items
// a second), resumable (it saves a checkpoint and stops when its context's
// deadline is nearer than Margin; the next run continues it) and
// idempotent (a sanitized message leaves the due index, and the write is
// conditional on it being intact).
type Runner struct {
	Store Store
	Audit audit.Recorder
	Log   *slog.Logger
	// Rate is the most messages handled a second (each one Query share and
	// one UpdateItem); 0 means DefaultRate.
	Rate float64
	// Margin is how long before the context's deadline a run stops and
	// saves its checkpoint; 0 means DefaultMargin.
	Margin time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress, when set, is told after each message and each org.
	Progress func(Progress)
	// Purges, when set, is the store of the lead purge job (PurgeLeads,
	// leadpurge.go).
	Purges LeadPurgeStore
	// Closed, when set, is the store of the closed org purge job
	// (PurgeClosedOrgs, orgpurge.go).
	Closed ClosedOrgStore
	// Integrations, when set, is the store of the integration purge job
	// (PurgeIntegrations, integrationpurge.go).
	Integrations IntegrationPurgeStore
	// Continue, when set, puts a queued job that stopped before its
	// deadline back on the purges queue (RunJob, jobs.go).
	Continue Enqueuer
}

// Runner defaults.
const (
	DefaultRate   = 50
	DefaultMargin = 15 * time.Second
	// batch is how many due messages one Query returns.
	batch = 100
	// orgPage is how many orgs one listing Query returns.
	orgPage = 100
)

// Progress reports a run under way.
type Progress struct {
	OrgID string
	// Due is the org's due count at the start of its turn (known only to
	// plans and progress bars that asked for it; -1 when unknown).
	Due  int
	Done int
}

// OrgResult is what a run did, or a plan would do, for one org and job.
type OrgResult struct {
	OrgID  string
	Job    string
	Days   int
	Cutoff time.Time
	// Sanitized counts the whole run's messages of the org, those of the
	// part before a resumed checkpoint included.
	Sanitized  int
	Due        int
	AuditWrote bool
}

// Result is a whole run.
type Result struct {
	AsOf time.Time
	Orgs []OrgResult
	// Complete is false when the run stopped at its deadline; a checkpoint
	// was saved and the next run resumes it.
	Complete bool
	// Resumed says the run continued a checkpoint (whose AsOf it used).
	Resumed bool
}

// Total is how many messages the run sanitized.
func (r Result) Total() int {
	n := 0
	for _, o := range r.Orgs {
		n += o.Sanitized
	}
	return n
}

// errDeadline stops a run that must save its checkpoint.
var errDeadline = errors.New("deadline near")

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Plan lists, per org, what a run at asOf would sanitize; it writes nothing.
func (r *Runner) Plan(ctx context.Context, asOf time.Time) ([]OrgResult, error) {
	var out []OrgResult
	err := r.eachOrg(ctx, "", func(o OrgSettings) error {
		cut := o.Settings.ContentCutoff(asOf)
		n, err := r.Store.CountDueContent(ctx, o.OrgID, cut)
		if err != nil {
			return fmt.Errorf("plan org %s: %w", o.OrgID, err)
		}
		out = append(out, OrgResult{OrgID: o.OrgID, Job: JobContent, Days: o.Settings.EffectiveContentDays(), Cutoff: cut, Due: n})
		return nil
	})
	return out, err
}

// Run applies the content job at asOf to every org, or continues the
// unfinished run a checkpoint records (then with that run's asOf).
func (r *Runner) Run(ctx context.Context, asOf time.Time) (Result, error) {
	cp, resumed, err := r.Store.RetentionCheckpoint(ctx, JobContent)
	if err != nil {
		return Result{}, err
	}
	if !resumed {
		cp = Checkpoint{Job: JobContent, AsOf: asOf.UTC(), StartedAt: r.now().UTC()}
	}
	res := Result{AsOf: cp.AsOf, Resumed: resumed}
	lim := newLimiter(r.Rate, r.now)
	err = r.eachOrg(ctx, cp.DoneOrg, func(o OrgSettings) error {
		count := 0
		if o.OrgID == cp.Org {
			count = cp.OrgCount
		}
		or := OrgResult{OrgID: o.OrgID, Job: JobContent, Days: o.Settings.EffectiveContentDays(), Cutoff: o.Settings.ContentCutoff(cp.AsOf)}
		n, err := r.sanitizeOrg(ctx, o.OrgID, or.Cutoff, lim, &cp, count)
		or.Sanitized = n
		if err != nil {
			res.Orgs = append(res.Orgs, or)
			return err
		}
		if n > 0 {
			at := r.now().UTC()
			if err := r.Audit.AppendAudit(ctx, audit.Record{
				ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: o.OrgID, ActorID: ActorSystem, Action: ActionContentSanitized, TargetType: "messages",
				Outcome: audit.OutcomeSuccess, At: at,
				Details: map[string]string{
					"messages": strconv.Itoa(n), "as_of": cp.AsOf.Format(time.RFC3339),
					"content_days": strconv.Itoa(or.Days), "cutoff": or.Cutoff.Format(time.RFC3339),
				},
			}); err != nil {
				return fmt.Errorf("audit retention of org %s: %w", o.OrgID, err)
			}
			or.AuditWrote = true
		}
		res.Orgs = append(res.Orgs, or)
		cp.DoneOrg, cp.Org, cp.OrgCount = o.OrgID, "", 0
		return nil
	})
	if err != nil && ctx.Err() != nil {
		// Cancelled or out of time mid-call: stop as at a deadline.
		err = errDeadline
	}
	if errors.Is(err, errDeadline) {
		if perr := r.Store.PutRetentionCheckpoint(context.WithoutCancel(ctx), cp); perr != nil {
			return res, fmt.Errorf("save retention checkpoint: %w", perr)
		}
		r.log().InfoContext(ctx, "retention stopped before its deadline", "as_of", cp.AsOf, "done_org", cp.DoneOrg, "org", cp.Org)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if resumed {
		if err := r.Store.ClearRetentionCheckpoint(ctx, JobContent); err != nil {
			return res, err
		}
	}
	res.Complete = true
	return res, nil
}

// sanitizeOrg sanitizes an org's due messages, recording progress in cp,
// and returns how many it sanitized (count included).
func (r *Runner) sanitizeOrg(ctx context.Context, orgID string, cutoff time.Time, lim *limiter, cp *Checkpoint, count int) (int, error) {
	cp.Org, cp.OrgCount = orgID, count
	for {
		if err := r.checkDeadline(ctx); err != nil {
			return count, err
		}
		due, err := r.Store.DueContent(ctx, orgID, cutoff, batch)
		if err != nil {
			return count, fmt.Errorf("due content of org %s: %w", orgID, err)
		}
		if len(due) == 0 {
			return count, nil
		}
		applied := 0
		for _, m := range due {
			if err := r.checkDeadline(ctx); err != nil {
				return count, err
			}
			if err := lim.wait(ctx); err != nil {
				return count, fmt.Errorf("retention of org %s: %w", orgID, err)
			}
			// The write itself is not cancelled: one cut off in flight
			// may have been applied without being counted. The deadline
			// is checked before it, with Margin to spare.
			ok, err := r.Store.PutSanitized(context.WithoutCancel(ctx), Sanitize(m, r.now()))
			if err != nil {
				return count, fmt.Errorf("sanitize message %s of org %s: %w", m.ID, orgID, err)
			}
			if ok {
				applied++
				count++
				cp.OrgCount = count
			}
			if r.Progress != nil {
				r.Progress(Progress{OrgID: orgID, Due: -1, Done: count})
			}
		}
		if len(due) < batch {
			return count, nil
		}
		if applied == 0 {
			// A full batch that was all sanitized already: the index lags
			// (it is eventually consistent). The next run goes on.
			r.log().WarnContext(ctx, "retention: due index returned only sanitized messages", "org", orgID)
			return count, nil
		}
	}
}

func (r *Runner) checkDeadline(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errDeadline
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	margin := r.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	if dl.Sub(r.now()) < margin {
		return errDeadline
	}
	return nil
}

func (r *Runner) eachOrg(ctx context.Context, after string, fn func(OrgSettings) error) error {
	for {
		orgs, more, err := r.Store.RetentionOrgs(ctx, after, orgPage)
		if err != nil {
			return fmt.Errorf("list orgs: %w", err)
		}
		for _, o := range orgs {
			if err := fn(o); err != nil {
				return err
			}
			after = o.OrgID
		}
		if !more || len(orgs) == 0 {
			return nil
		}
	}
}

// limiter spaces items at least 1/rate seconds apart.
type limiter struct {
	every time.Duration
	next  time.Time
	now   func() time.Time
}

func newLimiter(rate float64, now func() time.Time) *limiter {
	if rate <= 0 {
		rate = DefaultRate
	}
	if now == nil {
		now = time.Now
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate), now: now}
}

// charge pushes the next slot n slots further: for a call that did the
// work of n more units than the one its wait paid for.
func (l *limiter) charge(n int) {
	if n > 0 {
		l.next = l.next.Add(time.Duration(n) * l.every)
	}
}

func (l *limiter) wait(ctx context.Context) error {
	t := l.now()
	if l.next.After(t) {
		timer := time.NewTimer(l.next.Sub(t))
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the rate limit: %w", ctx.Err())
		case <-timer.C:
		}
		t = l.next
	}
	l.next = t.Add(l.every)
	return nil
}
