package org

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/page"
)

// CloseIn confirms closing with the owner's password.
type CloseIn struct {
	Password string `json:"password" maxLength:"256" doc:"The owner's password, entered again."`
}

// ReopenIn is the owner's credentials (sign-in is refused while closed).
type ReopenIn struct {
	Email    string `json:"email" maxLength:"254"`
	Password string `json:"password" maxLength:"256"`
}

// ClosureOut is where the org's account stands.
type ClosureOut struct {
	OrgID    string     `json:"org_id"`
	Closed   bool       `json:"closed"`
	ClosedAt *time.Time `json:"closed_at" doc:"Null while open."`
	// ReopenUntil is the end of the reopen window.
	ReopenUntil  *time.Time `json:"reopen_until" doc:"The owner may reopen until then (POST /v1/org/reopen); after it the org's data is deleted. Null while open."`
	Integrations int        `json:"integrations_disconnected" doc:"Integrations disconnected by closing; reopening leaves them disconnected (the owner reconnects)."`
	Campaigns    int        `json:"campaigns_paused" doc:"Running campaigns paused by closing; reopening leaves them paused."`
	Note         string     `json:"note,omitempty"`
}

func (s *server) registerClosure(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "close-org", Method: http.MethodPost, Path: "/v1/org/close", Tags: []string{"org"},
		Summary: "Close the organisation's account (owner; password re-entered)",
		Description: "Every user of the org is refused at once (403 org_closed, existing access tokens too), every session revoked, " +
			"integrations disconnected (their tokens deleted), running campaigns paused and queued messages failed unsent " +
			"(org_closed). The owner may reopen within 90 days; after that the org's data is deleted. " +
			"A wrong password is 403 wrong_password (failures count toward the login throttle: 429 after 5 in 15 minutes).",
		Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusTooManyRequests},
	}, s.close)
	huma.Register(api, huma.Operation{
		OperationID: "reopen-org", Method: http.MethodPost, Path: "/v1/org/reopen", Tags: []string{"org"}, Security: httpapi.PublicSecurity,
		Summary: "Reopen a closed organisation's account within 90 days (the owner's email and password)",
		Description: "No bearer token: sign-in is refused while the account is closed. Restores access for the org's users; " +
			"integrations stay disconnected (the owner reconnects them) and campaigns stay paused. After 90 days it is 410 " +
			"org_deleting; an open org is 409 org_not_closed; wrong credentials are 401 invalid_credentials.",
		MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors:       []int{http.StatusUnauthorized, http.StatusConflict, http.StatusGone, http.StatusTooManyRequests},
	}, s.reopen)
}

type closureOutput struct{ Body ClosureOut }

func closureOut(c account.Closed) *closureOutput {
	o := ClosureOut{OrgID: c.Org.ID, Closed: c.Org.Closed(), Integrations: c.Integrations, Campaigns: c.Campaigns}
	if c.Org.Closed() {
		at, until := c.Org.ClosedAt.UTC(), c.Org.ClosedAt.Add(account.ReopenWindow).UTC()
		o.ClosedAt, o.ReopenUntil = &at, &until
	}
	return &closureOutput{Body: o}
}

// Password failures of close and reopen count in the login throttle, with
// the login's limits: after this many for one email inside the window,
// answers are 429 until the window ends.
const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
)

// throttled counts one password attempt for the email and answers 429
// when the limit is reached. The attempt is counted before the password is
// checked, so parallel guesses cannot pass the limit; a right password
// clears the count.
func (s *server) throttled(ctx context.Context, key string) error {
	allowed, since, err := s.deps.Throttle.TakeLoginAttempt(ctx, key, maxFailures, failureWindow)
	if err != nil {
		return s.Internal(ctx, "count login attempt", err)
	}
	if allowed {
		return nil
	}
	retry := max(time.Until(since.Add(failureWindow)), time.Second)
	s.Record(ctx, audit.Record{OrgID: "platform", Action: audit.ActionLoginThrottled, Outcome: audit.OutcomeDenied,
		Details: map[string]string{"email_hash": key}})
	return huma.ErrorWithHeaders(
		httpapi.NewProblem(http.StatusTooManyRequests, "too_many_attempts", "too many failed attempts for this account; try again later"),
		http.Header{"Retry-After": []string{strconv.Itoa(int(retry.Seconds() + 0.5))}})
}

func (s *server) close(ctx context.Context, in *struct{ Body CloseIn }) (*closureOutput, error) {
	p := httpapi.Caller(ctx)
	if p.User.Role != account.RoleOwner {
		return nil, s.Deny(ctx, account.ActionClose, "org", p.User.OrgID, "only an owner can close the organisation's account")
	}
	key := s.deps.HashEmail(p.User.Email)
	if err := s.throttled(ctx, key); err != nil {
		return nil, err
	}
	c, err := s.deps.Closure.Close(ctx, p.User, in.Body.Password)
	switch {
	case errors.Is(err, account.ErrWrongPassword):
		s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: account.ActionClose, TargetType: "org",
			TargetID: p.User.OrgID, Outcome: audit.OutcomeDenied, Details: map[string]string{"reason": "wrong_password"}})
		return nil, httpapi.NewProblem(http.StatusForbidden, "wrong_password", "the password is wrong; the account was not closed")
	}
	if cerr := s.deps.Throttle.ClearLoginFailures(ctx, key); cerr != nil {
		s.Log().ErrorContext(ctx, "clear login failures", "err", cerr)
	}
	switch {
	case errors.Is(err, account.ErrOrgClosed):
		return nil, httpapi.OrgClosed()
	case err != nil && c.Org.ID == "":
		return nil, s.Internal(ctx, "close org", err)
	}
	rec := audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: account.ActionClose, TargetType: "org", TargetID: p.User.OrgID,
		Details: map[string]string{"users": strconv.Itoa(c.Users), "integrations_disconnected": strconv.Itoa(c.Integrations),
			"campaigns_paused": strconv.Itoa(c.Campaigns)}}
	if err != nil {
		// Closed, but stopping its activity failed part way: the sender
		// and the campaign steps still refuse the closed org.
		rec.Details["error"] = "stopping activity: see logs"
		s.Record(ctx, rec)
		return nil, s.Internal(ctx, "close org: stop activity", err)
	}
	s.Record(ctx, rec)
	return closureOut(c), nil
}

func (s *server) reopen(ctx context.Context, in *struct{ Body ReopenIn }) (*closureOutput, error) {
	email := strings.ToLower(strings.TrimSpace(in.Body.Email))
	key := s.deps.HashEmail(email)
	if err := s.throttled(ctx, key); err != nil {
		return nil, err
	}
	o, u, err := s.deps.Closure.Reopen(ctx, email, in.Body.Password)
	denied := func(reason string) {
		rec := audit.Record{OrgID: "platform", Action: account.ActionReopen, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"reason": reason, "email_hash": key}}
		if u.ID != "" {
			rec.OrgID, rec.ActorID, rec.TargetType, rec.TargetID = u.OrgID, u.ID, "org", u.OrgID
		}
		s.Record(ctx, rec)
	}
	switch {
	case errors.Is(err, account.ErrWrongPassword):
		denied("invalid_credentials")
		return nil, httpapi.NewProblem(http.StatusUnauthorized, "invalid_credentials", "email or password is wrong, or the user is not an owner")
	case errors.Is(err, account.ErrNotClosed):
		denied("not_closed")
		return nil, httpapi.NewProblem(http.StatusConflict, "org_not_closed", "the organisation's account is open; sign in as usual")
	case errors.Is(err, account.ErrReopenExpired):
		denied("window_passed")
		return nil, httpapi.NewProblem(http.StatusGone, "org_deleting",
			fmt.Sprintf("the account was closed more than %d days ago and is being deleted; it cannot be reopened", int(account.ReopenWindow/(24*time.Hour))))
	case err != nil:
		return nil, s.Internal(ctx, "reopen org", err)
	}
	if cerr := s.deps.Throttle.ClearLoginFailures(ctx, key); cerr != nil {
		s.Log().ErrorContext(ctx, "clear login failures", "err", cerr)
	}
	s.Record(ctx, audit.Record{OrgID: o.ID, ActorID: u.ID, Action: account.ActionReopen, TargetType: "org", TargetID: o.ID})
	out := closureOut(account.Closed{Org: o})
	out.Body.Note = "access restored; integrations stay disconnected and campaigns paused: reconnect them to resume collection and sending"
	return out, nil
}

// Activity stops an org's integrations (the disconnect path: tokens
// deleted, collection stops) and pauses its running campaigns.
type Activity struct {
	Integrations interface {
		ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
		DisconnectIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string, at time.Time) error
	}
	Campaigns interface {
		ListCampaigns(ctx context.Context, orgID string, limit int, from page.Cursor) ([]campaign.Campaign, page.Cursor, error)
		SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error
	}
	// StartPurge, when set, starts at once the purge of the Meta data of
	// each integration the closure disconnects (disconnecting records it;
	// the privacy policy deletes it on disconnection or closure, whichever
	// comes first). A failure leaves it to the retention function's
	// hourly run.
	StartPurge func(ctx context.Context, orgID string, kind integration.Kind, externalID string) error
	// Log, when set, reports a purge that could not be started.
	Log *slog.Logger
}

var _ account.OrgActivity = Activity{}

// StopOrgActivity implements account.OrgActivity.
func (a Activity) StopOrgActivity(ctx context.Context, orgID string, at time.Time) (int, int, error) {
	list, err := a.Integrations.ListIntegrations(ctx, orgID)
	if err != nil {
		return 0, 0, fmt.Errorf("list integrations: %w", err)
	}
	var nIn, nCamp int
	for _, in := range list {
		if in.Status == integration.StatusDisconnected {
			continue
		}
		if err := a.Integrations.DisconnectIntegration(ctx, orgID, in.Kind, in.ExternalID, at); err != nil && !errors.Is(err, integration.ErrNotFound) {
			return nIn, nCamp, fmt.Errorf("disconnect %s %s: %w", in.Kind, in.ExternalID, err)
		}
		nIn++
		if a.StartPurge != nil {
			if err := a.StartPurge(ctx, orgID, in.Kind, in.ExternalID); err != nil && a.Log != nil {
				a.Log.ErrorContext(ctx, "start integration purge; the hourly run picks it up", "kind", in.Kind, "id", in.ExternalID, "err", err)
			}
		}
	}
	var from page.Cursor
	for {
		cs, next, err := a.Campaigns.ListCampaigns(ctx, orgID, 100, from)
		if err != nil {
			return nIn, nCamp, fmt.Errorf("list campaigns: %w", err)
		}
		for _, c := range cs {
			if c.Status != campaign.StatusRunning {
				continue
			}
			err := a.Campaigns.SetCampaignStatus(ctx, orgID, c.ID, campaign.StatusRunning, campaign.StatusPaused, at)
			if err != nil && !errors.Is(err, campaign.ErrConflict) {
				return nIn, nCamp, fmt.Errorf("pause campaign %s: %w", c.ID, err)
			}
			if err == nil {
				nCamp++
			}
		}
		if next.IsZero() {
			return nIn, nCamp, nil
		}
		from = next
	}
}
