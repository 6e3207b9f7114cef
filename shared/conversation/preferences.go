package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/lead"
)

// Channels and Purposes are those a lead's communication preferences are
// kept for, in the order the preference view lists them.
var (
	Channels = []Channel{ChannelWhatsApp, ChannelEmail}
	Purposes = []string{PurposeMarketing, PurposeService}
)

// ErrPersonOptedOut refuses a staff opt-in over an opt-out the person made
// themselves (a STOP keyword, a template's opt-out button, a bounce or a
// complaint): only the person can take that back, by opting in again (START).
// Staff may undo an opt-out that staff recorded.
var ErrPersonOptedOut = errors.New("the person opted out themselves; only they can opt back in")

// MaxReasonLen bounds the reason staff give for changing a preference.
const MaxReasonLen = 500

// PreferenceLeads reads the leads an actor may see (lead.Service).
type PreferenceLeads interface {
	Get(ctx context.Context, a lead.Actor, id string) (lead.Lead, error)
}

// PreferenceStore appends to and reads leads' consent ledgers
// (dynamostore.Store); see ConsentStore.
type PreferenceStore interface {
	AppendConsent(ctx context.Context, c ConsentEntry) error
	ConsentLedger(ctx context.Context, orgID, leadID string) ([]ConsentEntry, error)
}

// PreferenceAuditor appends to the audit trail (httpapi.Kit).
type PreferenceAuditor interface {
	Record(ctx context.Context, r audit.Record)
}

// ChannelPreference is a lead's current preference for one channel and
// purpose, as the send gates apply it.
type ChannelPreference struct {
	Channel Channel
	Purpose string
	State   State
	// Since is the time of the ledger entry that decides State (zero when
	// unknown).
	Since time.Time
}

// Preferences is a lead's communication preferences: one per channel and
// purpose, and the consent ledger they come from, oldest first.
type Preferences struct {
	LeadID  string
	Current []ChannelPreference
	History []ConsentEntry
}

// PreferenceChange is what staff set: a channel and purpose opted in or
// out, and why.
type PreferenceChange struct {
	Channel Channel
	Purpose string
	State   State
	Reason  string
}

// PreferenceService reads and changes leads' communication preferences.
// The preferences are derived from the lead's current consent (the map the
// consent ledger keeps on the lead, lead.Lead.Consent) by Preference, the
// very function the send gates use, so the view never disagrees with what
// is sent. Reading follows the lead rules (an agent sees only its own
// leads; others are lead.ErrNotFound); changing needs a role that writes
// leads (else *lead.DeniedError), appends a staff entry naming the user
// and the reason to the ledger, and is audited.
type PreferenceService struct {
	Leads PreferenceLeads
	Store PreferenceStore
	Audit PreferenceAuditor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *PreferenceService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Get returns the preferences of a lead the actor may see.
func (s *PreferenceService) Get(ctx context.Context, a lead.Actor, leadID string) (Preferences, error) {
	l, err := s.Leads.Get(ctx, a, leadID)
	if err != nil {
		return Preferences{}, err
	}
	return s.view(ctx, l)
}

// Set records a staff change of a lead's preference and returns the
// preferences after it. The entry is stored under the purpose itself
// (channel:marketing or channel:service), so it never changes the other
// purpose, and it is newer than anything recorded before, so it decides
// that purpose until the lead or staff change it again.
func (s *PreferenceService) Set(ctx context.Context, a lead.Actor, leadID string, c PreferenceChange) (Preferences, error) {
	if err := c.validate(); err != nil {
		return Preferences{}, err
	}
	l, err := s.Leads.Get(ctx, a, leadID)
	if err != nil {
		return Preferences{}, err
	}
	if !a.User.Role.CanWriteLeads() {
		return Preferences{}, &lead.DeniedError{Action: audit.ActionLeadPreferences, LeadID: l.ID,
			Reason: "your role can read a lead's preferences but not change them"}
	}
	action := OptIn
	if c.State == StateOptedOut {
		action = OptOut
	}
	if action == OptIn {
		if err := s.mayOptIn(ctx, l, c); err != nil {
			return Preferences{}, err
		}
	}
	at := s.now().UTC()
	entry := ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: c.Channel, Purpose: c.Purpose, Action: action, At: at, Source: SourceStaff, By: a.User.ID, Reason: strings.TrimSpace(c.Reason)}
	if err := s.Store.AppendConsent(ctx, entry); err != nil {
		return Preferences{}, fmt.Errorf("record preference of lead %s: %w", l.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: a.User.ID, Action: audit.ActionLeadPreferences, TargetType: "lead", TargetID: l.ID,
		Details: map[string]string{"channel": string(c.Channel), "purpose": c.Purpose, "state": string(c.State), "reason": entry.Reason,
			"consent_id": entry.ID}})
	// Read the lead again: its consent map is what the gates will read.
	l, err = s.Leads.Get(ctx, a, leadID)
	if err != nil {
		return Preferences{}, err
	}
	return s.view(ctx, l)
}

// mayOptIn refuses a staff opt-in while the person's own opt-out decides
// the preference: the newest ledger entry for the channel and purpose (or
// the whole channel) is an opt-out that did not come from staff.
func (s *PreferenceService) mayOptIn(ctx context.Context, l lead.Lead, c PreferenceChange) error {
	if st, _ := Preference(l.Consent, c.Channel, c.Purpose); st != StateOptedOut {
		return nil
	}
	ledger, err := s.Store.ConsentLedger(ctx, l.OrgID, l.ID)
	if err != nil {
		return fmt.Errorf("read consent of lead %s: %w", l.ID, err)
	}
	for i := len(ledger) - 1; i >= 0; i-- {
		e := ledger[i]
		if e.Channel != c.Channel || (e.Purpose != c.Purpose && e.Purpose != PurposeAll) {
			continue
		}
		if e.Action == OptOut && e.Source != SourceStaff {
			return ErrPersonOptedOut
		}
		return nil
	}
	return nil
}

func (c PreferenceChange) validate() error {
	known := func(ok bool, field, msg string) error {
		if !ok {
			return &lead.FieldError{Field: field, Message: msg}
		}
		return nil
	}
	checks := []error{
		known(c.Channel == ChannelWhatsApp || c.Channel == ChannelEmail, "channel", "must be whatsapp or email"),
		known(c.Purpose == PurposeMarketing || c.Purpose == PurposeService, "purpose", "must be marketing or service"),
		known(c.State == StateOptedIn || c.State == StateOptedOut, "state", "must be opted_in or opted_out"),
		known(strings.TrimSpace(c.Reason) != "", "reason", "is required"),
		known(len(c.Reason) <= MaxReasonLen, "reason", fmt.Sprintf("must be at most %d bytes", MaxReasonLen)),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *PreferenceService) view(ctx context.Context, l lead.Lead) (Preferences, error) {
	ledger, err := s.Store.ConsentLedger(ctx, l.OrgID, l.ID)
	if err != nil {
		return Preferences{}, fmt.Errorf("read consent of lead %s: %w", l.ID, err)
	}
	p := Preferences{LeadID: l.ID, History: ledger}
	for _, ch := range Channels {
		for _, purpose := range Purposes {
			st, since := Preference(l.Consent, ch, purpose)
			p.Current = append(p.Current, ChannelPreference{Channel: ch, Purpose: purpose, State: st, Since: since})
		}
	}
	return p, nil
}
