package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/page"
)

// ownersPage is how many owners Publish reads per page.
const ownersPage = 100

// Publisher publishes versions: the operator command's use case.
type Publisher struct {
	Store  Store
	Owners Owners
	Mailer Mailer
	// From is the platform address the emails go from.
	From string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Published is what Publish did: the version stored, how many owners were
// emailed, and the addresses that failed with why (the run goes on past a
// failure).
type Published struct {
	Version Version
	Emailed int
	Failed  map[string]error
}

// Publish checks v (Check), stores it and emails every org owner. A
// refusal is a *RefusedError; a taken id ErrExists. Emails that fail are
// reported in Published.Failed, not as an error: the version is published.
func (p *Publisher) Publish(ctx context.Context, v Version) (Published, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	v.Summary = strings.TrimSpace(v.Summary)
	if err := Check(v, now); err != nil {
		return Published{}, err
	}
	v.PublishedAt = now.UTC()
	if err := p.Store.PutPolicyVersion(ctx, v); err != nil {
		return Published{}, fmt.Errorf("store policy version %s: %w", v.ID, err)
	}
	out := Published{Version: v, Failed: map[string]error{}}
	var from page.Cursor
	for {
		owners, next, err := p.Owners.OrgOwners(ctx, ownersPage, from)
		if err != nil {
			return out, fmt.Errorf("list org owners: %w", err)
		}
		for _, u := range owners {
			if _, err := p.Mailer.SendEmail(ctx, Email(p.From, u, v)); err != nil {
				out.Failed[u.Email] = err
				continue
			}
			out.Emailed++
		}
		if next.IsZero() {
			return out, nil
		}
		from = next
	}
}

// Email is the notice of version v to an org's owner u.
func Email(from string, u account.User, v Version) outbound.Email {
	day := v.Effective.UTC().Format("2 January 2006")
	text := fmt.Sprintf("Hello %s,\n\nWe are updating the Leadluence privacy policy. Version %s applies from %s.\n\nWhat changes:\n%s\n\n"+
		"The current and the upcoming versions are at GET /v1/policy; you can acknowledge this notice in Leadluence.\n\n"+
		"You receive this email because you own a Leadluence organisation.\n", u.Name, v.ID, day, v.Summary)
	return outbound.Email{From: from, To: u.Email, Subject: "Leadluence privacy policy update, effective " + day, Text: text}
}

// Auditor appends to the audit trail (httpapi.Kit).
type Auditor interface {
	Record(ctx context.Context, r audit.Record)
}

// Service is what the API does with policy versions: show the current and
// upcoming versions, the notice an org owner sees until acknowledged, and
// the acknowledgement.
type Service struct {
	Store Store
	Audit Auditor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Versions returns the version in force and the upcoming one (nil when
// none).
func (s *Service) Versions(ctx context.Context) (current, upcoming *Version, err error) {
	vs, err := s.Store.PolicyVersions(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read policy versions: %w", err)
	}
	current, upcoming = Current(vs, s.now())
	return current, upcoming, nil
}

// Notice returns the version u should acknowledge: for an org owner, the
// newest version when the org has not acknowledged it; nil otherwise.
func (s *Service) Notice(ctx context.Context, u account.User) (*Version, error) {
	if u.Role != account.RoleOwner {
		return nil, nil
	}
	vs, err := s.Store.PolicyVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read policy versions: %w", err)
	}
	n := Newest(vs)
	if n == nil {
		return nil, nil
	}
	ok, err := s.Store.PolicyAcknowledged(ctx, u.OrgID, n.ID)
	if err != nil {
		return nil, fmt.Errorf("read acknowledgement of %s: %w", n.ID, err)
	}
	if ok {
		return nil, nil
	}
	return n, nil
}

// ErrNotOwner means only an org's owner acknowledges policy versions.
var ErrNotOwner = errors.New("only the organisation's owner acknowledges the policy")

// Acknowledge records that owner u read version versionID, for its org,
// and audits it. ErrNotOwner for other roles, ErrNotFound for an unknown
// version.
func (s *Service) Acknowledge(ctx context.Context, u account.User, versionID string) error {
	if u.Role != account.RoleOwner {
		return ErrNotOwner
	}
	vs, err := s.Store.PolicyVersions(ctx)
	if err != nil {
		return fmt.Errorf("read policy versions: %w", err)
	}
	found := false
	for _, v := range vs {
		found = found || v.ID == versionID
	}
	if !found {
		return ErrNotFound
	}
	if err := s.Store.AcknowledgePolicy(ctx, Acknowledgement{OrgID: u.OrgID, VersionID: versionID, UserID: u.ID, At: s.now().UTC()}); err != nil {
		return fmt.Errorf("acknowledge policy %s: %w", versionID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: audit.ActionPolicyAcknowledge, TargetType: "policy", TargetID: versionID})
	return nil
}
