package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Owner is an active owner of an org, whom its usage alerts reach.
type Owner struct {
	UserID string
	Email  string
}

// AlertStore keeps what the alerts need (dynamostore.Store).
type AlertStore interface {
	// ActiveOwners returns the org's active owners.
	ActiveOwners(ctx context.Context, orgID string) ([]Owner, error)
	// NotifyOverLimit writes, in one transaction, the marker of the org's
	// over-limit notice of m in period and one in-app notification per
	// user (kind plan_over_limit, due at resets); false, and nothing
	// written, when the marker exists.
	NotifyOverLimit(ctx context.Context, orgID string, m Metric, period string, userIDs []string, resets, at time.Time) (bool, error)
	// MarkNearLimit puts the marker of the org's warning of m in period
	// if absent (false when it exists); it expires at expires.
	MarkNearLimit(ctx context.Context, orgID string, m Metric, period string, expires time.Time) (bool, error)
	// UnmarkNearLimit removes that marker (the warning could not be sent).
	UnmarkNearLimit(ctx context.Context, orgID string, m Metric, period string) error
}

// SendMail sends one plain-text email (the functions' wiring adapts the
// SES mail adapter).
type SendMail func(ctx context.Context, to, subject, text string) error

// Alerts tells an org's owners about its usage: once per org, metric and
// period, an in-app notification when a use was kept past a limit
// (Service.Record), and an email when a limit is WarnAt used. Each is
// guarded by a conditional put of a marker keyed by org, metric and
// period, so it is sent once however many uses cross at the same time.
type Alerts struct {
	Store AlertStore
	// Mail sends the warnings; nil sends none (the marker is not put, so
	// a function that can mail sends it on a later use).
	Mail SendMail
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log gets the alerts that failed: a use is never refused for them.
	Log *slog.Logger

	// warned remembers markers found or put, so the uses after a warning
	// cost no write.
	warned sync.Map
}

func (a *Alerts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// WarnFrom is the first count at which a limit is WarnAt used.
func WarnFrom(limit int) int { return int(math.Ceil(float64(limit) * WarnAt)) }

// nearLimit emails the owners once when used reached WarnFrom(limit) of
// m in period.
func (a *Alerts) nearLimit(ctx context.Context, orgID string, m Metric, used, limit int, period string, resets time.Time) error {
	if a == nil || a.Mail == nil || used < WarnFrom(limit) {
		return nil
	}
	memo := orgID + "#" + string(m) + "#" + period
	if _, ok := a.warned.Load(memo); ok {
		return nil
	}
	first, err := a.Store.MarkNearLimit(ctx, orgID, m, period, resets.Add(m.Period().Kept()))
	if err != nil {
		return fmt.Errorf("mark the warning of %s: %w", m, err)
	}
	a.warned.Store(memo, true)
	if !first {
		return nil
	}
	owners, err := a.Store.ActiveOwners(ctx, orgID)
	sent := 0
	if err == nil {
		for _, o := range owners {
			merr := a.Mail(ctx, o.Email, nearLimitSubject(m), nearLimitText(m, used, limit, resets))
			if merr != nil {
				err = errors.Join(err, merr)
				continue
			}
			sent++
		}
	}
	if err != nil && sent > 0 {
		// Some owners have it: the marker stays, so nobody gets it twice.
		return fmt.Errorf("warn owners of %s (%d sent): %w", m, sent, err)
	}
	if err != nil {
		// Not sent to anyone: a later use tries again.
		a.warned.Delete(memo)
		if uerr := a.Store.UnmarkNearLimit(context.WithoutCancel(ctx), orgID, m, period); uerr != nil {
			return fmt.Errorf("warn owners of %s: %w (and unmark: %w)", m, err, uerr)
		}
		return fmt.Errorf("warn owners of %s: %w", m, err)
	}
	return nil
}

// overLimit notifies the owners in the app once that a use of m was kept
// past its limit in period.
func (a *Alerts) overLimit(ctx context.Context, orgID string, m Metric, period string, resets time.Time) error {
	if a == nil {
		return nil
	}
	memo := "over#" + orgID + "#" + string(m) + "#" + period
	if _, ok := a.warned.Load(memo); ok {
		return nil
	}
	owners, err := a.Store.ActiveOwners(ctx, orgID)
	if err != nil {
		return fmt.Errorf("read owners: %w", err)
	}
	ids := make([]string, 0, len(owners))
	for _, o := range owners {
		ids = append(ids, o.UserID)
	}
	if _, err := a.Store.NotifyOverLimit(ctx, orgID, m, period, ids, resets, a.now()); err != nil {
		return fmt.Errorf("notify owners of %s over the limit: %w", m, err)
	}
	a.warned.Store(memo, true)
	return nil
}

func words(m Metric) string { return strings.ReplaceAll(string(m), "_", " ") }

func nearLimitSubject(m Metric) string {
	return "Leadluence: 80% of your plan's " + words(m) + " used"
}

func nearLimitText(m Metric, used, limit int, resets time.Time) string {
	if m.Gauge() {
		return "Your organisation has " + strconv.Itoa(used) + " of the " + strconv.Itoa(limit) + " " + words(m) +
			" its plan allows.\n\nAt the limit, adding another is refused until one is deactivated, paused or disconnected. " +
			"A larger plan raises the limit; GET /v1/usage shows the usage.\n"
	}
	return "Your organisation has used " + strconv.Itoa(used) + " of the " + strconv.Itoa(limit) + " " + words(m) +
		" its plan allows.\n\nAt the limit, new uses are refused until " + resets.UTC().Format("2 January 2006 15:04 MST") +
		" (Lead Ads leads are still kept). A larger plan raises the limit; GET /v1/usage shows the usage.\n"
}

// report logs err, a failed alert.
func (a *Alerts) report(ctx context.Context, orgID string, m Metric, err error) {
	if err != nil && a.Log != nil {
		a.Log.ErrorContext(ctx, "plan usage alert", "org_id", orgID, "limit", string(m), "err", err)
	}
}
