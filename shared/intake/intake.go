// Package intake turns Meta webhook payloads into Leadluence records: Lead
// Ads submissions become leads (or activities on the lead that already has
// the phone or email), WhatsApp messages become conversation history on the
// sender's lead, STOP/START keywords become consent-ledger entries, and
// delivery statuses move outbound messages through their state machine.
//
// Every effect is keyed (leadgen id; wamid; wamid + status + time), so
// re-delivery by Meta, duplicates inside one POST and SQS redelivery change
// nothing a second time.
package intake

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/plan"
)

// ErrDuplicate means an event was processed before (its leadgen id, wamid
// or evidence is claimed already): nothing was written.
var ErrDuplicate = intakemsg.ErrDuplicate

// EventStore claims processed events, so that one delivered again changes
// nothing (dynamostore.Store): a claimed event is ErrDuplicate.
type EventStore interface {
	// ClaimEvent marks an event key processed for an org, with a ref (the
	// lead it produced, say).
	ClaimEvent(ctx context.Context, orgID, eventKey, ref string) error
	// EventClaimed reports whether an event key was processed, and its ref.
	EventClaimed(ctx context.Context, orgID, eventKey string) (string, bool, error)
	// CreateLeadForEvent creates a lead and claims the event that produced
	// it, with the consent entries it carries, all or nothing
	// (lead.Store.CreateLead's errors otherwise).
	CreateLeadForEvent(ctx context.Context, l lead.Lead, eventKey string, consent ...conversation.ConsentEntry) error
	// AttachEvent records an event on an existing lead as an activity and
	// claims it, once.
	AttachEvent(ctx context.Context, orgID, eventKey string, act lead.Activity) error
}

// Store is what intake needs from storage (dynamostore.Store).
type Store interface {
	IntegrationOwner(ctx context.Context, kind integration.Kind, externalID string) (integration.Owner, error)
	GetIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string) (integration.Integration, error)
	SetIntegrationStatus(ctx context.Context, orgID string, kind integration.Kind, externalID string, st integration.Status) error
	TouchIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string, at time.Time) error
	CountDropped(ctx context.Context, orgID string, kind integration.Kind, externalID string) error
	ParkEvent(ctx context.Context, orgID string, kind integration.Kind, externalID, eventKey string, payload []byte) error
	GetOrg(ctx context.Context, orgID string) (account.Org, error)

	EventClaimed(ctx context.Context, orgID, eventKey string) (string, bool, error)
	CreateLeadForEvent(ctx context.Context, l lead.Lead, eventKey string, consent ...conversation.ConsentEntry) error
	AttachEvent(ctx context.Context, orgID, eventKey string, act lead.Activity) error
	CreateLead(ctx context.Context, l lead.Lead) error
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	// LeadConsent returns a lead's current consent (lead.Lead.Consent)
	// alone, a read of the lead item only; lead.ErrNotFound when it is gone.
	LeadConsent(ctx context.Context, orgID, leadID string) (map[string]string, error)
	LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error)
	LeadIDByEmail(ctx context.Context, orgID, email string) (string, error)

	PutInboundMessage(ctx context.Context, m conversation.Message, consent *conversation.ConsentEntry) error
	// CreateLeadWithInboundMessage stores the first message from a new
	// number with the lead it creates, all or nothing, with the consent
	// entry consentFor names for the lead as it is written (returned); a
	// phone another lead holds is a *lead.DuplicateError, a message
	// stored before ErrDuplicate.
	CreateLeadWithInboundMessage(ctx context.Context, l lead.Lead, m conversation.Message,
		consentFor func(lead.Lead) *conversation.ConsentEntry) (*conversation.ConsentEntry, error)
	TouchLastInbound(ctx context.Context, orgID, leadID string, at time.Time) error
	ApplyStatus(ctx context.Context, ev conversation.StatusEvent) (bool, error)
	MessageByProviderID(ctx context.Context, providerID string) (conversation.Message, error)
	AppendConsentOnce(ctx context.Context, c conversation.ConsentEntry) error
	ConsentMapping(ctx context.Context, orgID string) (conversation.ConsentMapping, error)
}

// Graph is the part of the Graph API client intake needs.
type Graph interface {
	Lead(ctx context.Context, leadgenID, token string) (meta.Lead, error)
}

// Opener opens sealed tokens (package envelope).
type Opener interface {
	Open(ctx context.Context, orgID string, blob []byte) ([]byte, error)
}

// Processor applies webhook payloads.
type Processor struct {
	Store         Store
	Graph         Graph
	Tokens        Opener
	Log           *slog.Logger
	DefaultRegion string
	Now           func() time.Time
	// Automate, when set, runs the org's automations (package automation)
	// after a new Lead Ads lead, a new inbound WhatsApp message and a
	// status failing an outbound message with error 131047; its failures
	// are logged, never retried (the event is applied already).
	Automate Automations
	// Fields, when set, reads the org's custom field definitions: Lead Ads
	// answers under a defined key are stored in the field's canonical form
	// when they fit it (lead.CanonicalizeCustomFields).
	Fields lead.FieldDefReader
	// Assign, when set, assigns each lead intake creates to the next user
	// of its org's assignment rule (lead.Assigner), in the lead's create
	// transaction (see assign).
	Assign Assignment
	// Plans, when set, counts each lead intake creates (Lead Ads, or a
	// first WhatsApp message from a new number) against the plan's leads
	// of the month: never refused, kept past the limit (plan.Service.Record).
	Plans Usage

	// touched remembers when this container last recorded an integration's
	// last event, so busy integrations cost one write a minute, not one an
	// event.
	touched sync.Map
	// regions caches each org's default phone region.
	regions sync.Map
}

// Usage counts the leads intake creates against the org's plan
// (plan.Service): never refused, counted past the limit as over, which
// tells the owners once a period.
type Usage interface {
	Record(ctx context.Context, orgID string, m plan.Metric) (bool, error)
}

// record counts a lead intake created against the plan's leads of the
// month; a failure is logged (the lead is stored; it is not created again).
func (p *Processor) record(ctx context.Context, orgID string) {
	if p.Plans == nil {
		return
	}
	if _, err := p.Plans.Record(ctx, orgID, plan.LeadsPerMonth); err != nil {
		p.Log.ErrorContext(ctx, "count lead against the plan", "org_id", orgID, "err", err)
	}
}

// Automations react to new intake events (automation.Runner).
type Automations interface {
	NewLeadAdsLead(ctx context.Context, orgID, leadID, leadgenID string) (string, error)
	InboundWhatsApp(ctx context.Context, orgID, leadID, number string, at time.Time) (string, error)
	Reengage(ctx context.Context, orgID, leadID, msgID, number string) (string, error)
}

// Assignment picks the assignee of a new lead by its org's rule
// (lead.Assigner): the key names the event that makes the lead, so that a
// redelivery takes the turn taken before rather than a new one; Release
// forgets it once the lead is written.
type Assignment interface {
	// Turns returns what takes the org's next turn (nil: the rule
	// assigns nobody now).
	Turns(ctx context.Context, orgID string) (func(ctx context.Context, key string) (lead.Pick, error), error)
	Release(ctx context.Context, orgID, key string) error
}

// assign gives l, a lead about to be created for the event key, the
// assignee of its org's rule. A contact that has a lead already takes no
// turn: the event goes to that lead (a repeated submission, a message
// from a known number). Redelivery: an event applied before is skipped
// before this (its claim, or its number's lead), and one that took its
// turn but whose lead was not written (a failure, the function stopping)
// takes the same turn again through the key, so the counter moves once
// per lead. What is left: a turn taken for a lead another delivery wrote
// first (two first messages from one new number at once) is used by
// nobody, and the next lead skips that user once.
func (p *Processor) assign(ctx context.Context, l *lead.Lead, key string) error {
	if p.Assign == nil || l.AssigneeID != "" {
		return nil
	}
	next, err := p.Assign.Turns(ctx, l.OrgID)
	if err != nil || next == nil {
		if err != nil {
			return fmt.Errorf("%w: assign lead: %w", ErrRetry, err)
		}
		return nil
	}
	if l.Phone != "" {
		if _, err := p.Store.LeadIDByPhone(ctx, l.OrgID, l.Phone); err == nil {
			return nil
		} else if !errors.Is(err, lead.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrRetry, err)
		}
	}
	if l.Email != "" {
		if _, err := p.Store.LeadIDByEmail(ctx, l.OrgID, l.Email); err == nil {
			return nil
		} else if !errors.Is(err, lead.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrRetry, err)
		}
	}
	pick, err := next(ctx, key)
	if err != nil {
		return fmt.Errorf("%w: assign lead: %w", ErrRetry, err)
	}
	l.AssigneeID, l.AssignedBy = pick.UserID, pick.By
	return nil
}

// released forgets the assignment turn of key once the event's lead is
// written or the event went to another lead; a failure leaves a small
// ticket behind (logged), never a wrong assignment.
func (p *Processor) released(ctx context.Context, l lead.Lead, key string) {
	if p.Assign == nil || l.AssignedBy == "" {
		return
	}
	if err := p.Assign.Release(ctx, l.OrgID, key); err != nil {
		p.Log.WarnContext(ctx, "release assignment turn", "err", err)
	}
}

// touchEvery is how often an integration's last-event time is refreshed.
const touchEvery = time.Minute

// touch records an integration's latest event time, at most every touchEvery
// per container; a failure only costs freshness of the health view.
func (p *Processor) touch(ctx context.Context, orgID string, kind integration.Kind, id string, at time.Time) {
	k := orgID + "|" + string(kind) + "|" + id
	if last, ok := p.touched.Load(k); ok && at.Sub(last.(time.Time)) < touchEvery {
		return
	}
	if err := p.Store.TouchIntegration(ctx, orgID, kind, id, at); err != nil {
		p.Log.WarnContext(ctx, "touch integration", "err", err)
		return
	}
	p.touched.Store(k, at)
}

// ErrRetry wraps failures that should be retried later: Graph API outages,
// a status for a message not stored yet.
var ErrRetry = errors.New("retry later")

// PermanentError is a payload that can never be processed; it belongs in the
// dead-letter queue with its reason.
type PermanentError struct{ Reason string }

func (e *PermanentError) Error() string { return "permanent: " + e.Reason }

func permanent(format string, args ...any) error {
	return &PermanentError{Reason: fmt.Sprintf(format, args...)}
}

// Counts says what one payload did.
type Counts struct {
	LeadsCreated, LeadsAttached, Messages, Statuses, Duplicates, Dropped, Parked, OptOuts, OptIns int
}

// Process applies one webhook payload. It returns an error wrapping ErrRetry
// when the payload (or part of it) must be retried, a *PermanentError when
// it never can be, or nil. Parts already applied are not applied again on
// retry.
func (p *Processor) Process(ctx context.Context, payload []byte) (Counts, error) {
	var c Counts
	if env, ok := isSNS(payload); ok {
		return c, p.emailEvent(ctx, env, &c)
	}
	wh, err := meta.ParseWebhook(payload)
	if err != nil {
		return c, permanent("unparseable webhook payload: %v", err)
	}
	var retry error
	for _, e := range wh.Entry {
		for _, ch := range e.Changes {
			var err error
			switch {
			case wh.Object == "page" && ch.Field == "leadgen":
				err = p.leadgen(ctx, ch, &c)
			case wh.Object == "whatsapp_business_account" && ch.Field == "messages":
				err = p.whatsapp(ctx, ch, &c)
			default:
				p.Log.InfoContext(ctx, "ignoring webhook change", "object", wh.Object, "field", ch.Field)
				continue
			}
			if errors.Is(err, ErrRetry) {
				// Go on with the rest; the whole payload comes back later
				// and what was applied is skipped then.
				retry = err
				continue
			}
			if err != nil {
				return c, err
			}
		}
	}
	return c, retry
}

// owner resolves a page or number to its org, counting events for
// disconnected integrations (which are dropped, not stored).
func (p *Processor) owner(ctx context.Context, kind integration.Kind, id string) (string, bool, error) {
	o, err := p.Store.IntegrationOwner(ctx, kind, id)
	if errors.Is(err, integration.ErrNotFound) {
		p.Log.WarnContext(ctx, "event for an unconnected integration dropped", "kind", kind, "id", id)
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%w: resolve %s %s: %w", ErrRetry, kind, id, err)
	}
	if o.Status == integration.StatusDisconnected {
		if err := p.Store.CountDropped(ctx, o.OrgID, kind, id); err != nil {
			return "", false, fmt.Errorf("%w: %w", ErrRetry, err)
		}
		return "", false, nil
	}
	return o.OrgID, true, nil
}

func (p *Processor) token(ctx context.Context, orgID string, kind integration.Kind, id string) (string, integration.Integration, error) {
	in, err := p.Store.GetIntegration(ctx, orgID, kind, id)
	if err != nil {
		return "", in, fmt.Errorf("%w: read integration: %w", ErrRetry, err)
	}
	if len(in.SealedToken) == 0 {
		return "", in, nil
	}
	tok, err := p.Tokens.Open(ctx, orgID, in.SealedToken)
	if err != nil {
		return "", in, fmt.Errorf("%w: open token: %w", ErrRetry, err)
	}
	return string(tok), in, nil
}

func (p *Processor) leadgen(ctx context.Context, ch meta.Change, c *Counts) error {
	v, err := ch.Leadgen()
	if err != nil {
		return permanent("leadgen change: %v", err)
	}
	orgID, ok, err := p.owner(ctx, integration.KindFacebookPage, v.PageID)
	if err != nil || !ok {
		if err == nil {
			c.Dropped++
		}
		return err
	}
	eventKey := "leadgen:" + v.LeadgenID
	if _, done, err := p.Store.EventClaimed(ctx, orgID, eventKey); err != nil {
		return fmt.Errorf("%w: %w", ErrRetry, err)
	} else if done {
		c.Duplicates++
		return nil
	}
	token, in, err := p.token(ctx, orgID, integration.KindFacebookPage, v.PageID)
	if err != nil {
		return err
	}
	if len(in.FormIDs) > 0 && !contains(in.FormIDs, v.FormID) {
		p.Log.InfoContext(ctx, "lead from a form not selected for intake skipped", "form", v.FormID)
		return nil
	}
	if in.Status == integration.StatusTokenInvalid || token == "" {
		return p.park(ctx, orgID, integration.KindFacebookPage, v.PageID, eventKey, ch, c)
	}
	ml, err := p.Graph.Lead(ctx, v.LeadgenID, token)
	var ge *meta.GraphError
	switch {
	case errors.As(err, &ge) && ge.TokenInvalid():
		if err := p.Store.SetIntegrationStatus(ctx, orgID, integration.KindFacebookPage, v.PageID, integration.StatusTokenInvalid); err != nil {
			return fmt.Errorf("%w: %w", ErrRetry, err)
		}
		return p.park(ctx, orgID, integration.KindFacebookPage, v.PageID, eventKey, ch, c)
	case err != nil && meta.IsRetryable(err):
		return fmt.Errorf("%w: fetch lead: %w", ErrRetry, err)
	case err != nil:
		return permanent("fetch lead %s: %v", v.LeadgenID, err)
	}
	if err := p.applyLead(ctx, orgID, v, ml, eventKey, c); err != nil {
		return err
	}
	p.touch(ctx, orgID, integration.KindFacebookPage, v.PageID, p.now())
	return nil
}

// ApplyLead creates or attaches a Lead Ads lead fetched by backfill; it is
// idempotent with the webhook path (same event key).
func (p *Processor) ApplyLead(ctx context.Context, orgID, pageID string, ml meta.Lead) (Counts, error) {
	var c Counts
	eventKey := "leadgen:" + ml.ID
	if _, done, err := p.Store.EventClaimed(ctx, orgID, eventKey); err != nil {
		return c, fmt.Errorf("%w: %w", ErrRetry, err)
	} else if done {
		c.Duplicates++
		return c, nil
	}
	v := meta.LeadgenValue{LeadgenID: ml.ID, PageID: pageID, FormID: ml.FormID, AdID: ml.AdID}
	return c, p.applyLead(ctx, orgID, v, ml, eventKey, &c)
}

func (p *Processor) park(ctx context.Context, orgID string, kind integration.Kind, id, eventKey string, ch meta.Change, c *Counts) error {
	raw, err := json.Marshal(ch)
	if err != nil {
		return permanent("re-encode change: %v", err)
	}
	if err := p.Store.ParkEvent(ctx, orgID, kind, id, eventKey, raw); err != nil {
		return fmt.Errorf("%w: park: %w", ErrRetry, err)
	}
	c.Parked++
	return nil
}

func (p *Processor) applyLead(ctx context.Context, orgID string, v meta.LeadgenValue, ml meta.Lead, eventKey string, c *Counts) error {
	now := p.now()
	created, err := ml.Created()
	if err != nil {
		created = now
	}
	l, fields := MapLead(ml)
	l.ID, l.OrgID, l.CreatedAt, l.UpdatedAt, l.Version = ulid.Make().String(), orgID, created, now, 1
	l.Source = "facebook_lead_ads"
	if ml.Platform == "ig" || ml.Platform == "instagram" {
		l.Source = "instagram_lead_ads"
	}
	// The ad, ad set, campaign and form as the Graph API's lead gives them
	// (the webhook's ids when it gives none).
	l.Provenance = &lead.Provenance{IntegrationKind: string(integration.KindFacebookPage), IntegrationID: v.PageID,
		LeadgenID: v.LeadgenID, FormID: cmp.Or(ml.FormID, v.FormID), AdID: cmp.Or(ml.AdID, v.AdID), AdsetID: ml.AdsetID,
		CampaignID: ml.CampaignID, Fields: fields}
	if err := lead.Normalize(&l, p.region(ctx, orgID), phone.Normalize); err != nil {
		var fe *lead.FieldError
		if errors.As(err, &fe) && fe.Field == "phone" && l.Email != "" {
			// Keep what the person typed, drop it as the phone key.
			l.CustomFields["phone_as_entered"], l.Phone = l.Phone, ""
			err = lead.Normalize(&l, p.region(ctx, orgID), phone.Normalize)
		}
		if err != nil {
			return permanent("lead %s cannot be stored: %v", v.LeadgenID, err)
		}
	}
	if p.Fields != nil {
		defs, err := p.Fields.FieldDefs(ctx, orgID)
		if err != nil {
			return fmt.Errorf("%w: read custom fields: %w", ErrRetry, err)
		}
		// Answers that fit their field are stored canonical; the others as
		// received (the API flags them): a lead is never refused for them.
		lead.CanonicalizeCustomFields(defs, &l)
	}
	mapping, err := p.Store.ConsentMapping(ctx, orgID)
	if err != nil {
		return fmt.Errorf("%w: read consent mapping: %w", ErrRetry, err)
	}
	optIns := FormConsent(mapping, ml, orgID, l.ID, created)
	if err := p.assign(ctx, &l, eventKey); err != nil {
		return err
	}
	err = p.Store.CreateLeadForEvent(ctx, l, eventKey, optIns...)
	var dup *lead.DuplicateError
	if err == nil || errors.Is(err, ErrDuplicate) || errors.As(err, &dup) {
		p.released(ctx, l, eventKey)
	}
	switch {
	case err == nil:
		c.LeadsCreated++
		p.record(ctx, orgID)
		if p.Automate != nil {
			if _, aerr := p.Automate.NewLeadAdsLead(ctx, orgID, l.ID, v.LeadgenID); aerr != nil {
				p.Log.ErrorContext(ctx, "lead ads automation", "lead_id", l.ID, "err", aerr)
			}
		}
		return nil
	case errors.Is(err, ErrDuplicate):
		c.Duplicates++
		return nil
	case errors.As(err, &dup):
		// The same person submitted again: a timeline entry on their lead.
		act := lead.Activity{ID: ulid.Make().String(), OrgID: orgID, LeadID: dup.ExistingID, Kind: "lead_ads_resubmission",
			At: created, FromMeta: true, Details: map[string]string{"leadgen_id": v.LeadgenID, "form_id": v.FormID, "ad_id": v.AdID,
				"page_id": v.PageID, "source": l.Source}}
		// The opt-ins of this submission go on that lead, once each (keyed
		// by their evidence), before the event is claimed.
		for _, e := range FormConsent(mapping, ml, orgID, dup.ExistingID, created) {
			if err := p.Store.AppendConsentOnce(ctx, e); err != nil {
				return fmt.Errorf("%w: record form opt-in: %w", ErrRetry, err)
			}
		}
		err = p.Store.AttachEvent(ctx, orgID, eventKey, act)
		if errors.Is(err, ErrDuplicate) {
			c.Duplicates++
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRetry, err)
		}
		c.LeadsAttached++
		return nil
	}
	return fmt.Errorf("%w: create lead: %w", ErrRetry, err)
}

// RegionCacheTTL is how long a container keeps an org's default phone
// region: a change of the org's default country (PATCH /v1/org) reaches
// intake within it.
const RegionCacheTTL = 5 * time.Minute

// cachedRegion is an org's default phone region and when it was read.
type cachedRegion struct {
	region string
	at     time.Time
}

// region is the org's default phone region (its default country), read at
// most once per RegionCacheTTL per container.
func (p *Processor) region(ctx context.Context, orgID string) string {
	now := p.now()
	if c, ok := p.regions.Load(orgID); ok && now.Sub(c.(cachedRegion).at) < RegionCacheTTL {
		return c.(cachedRegion).region
	}
	if o, err := p.Store.GetOrg(ctx, orgID); err == nil && o.DefaultRegion != "" {
		p.regions.Store(orgID, cachedRegion{region: o.DefaultRegion, at: now})
		return o.DefaultRegion
	}
	return p.DefaultRegion
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// standard Lead Ads question names and what they fill.
var (
	nameFields  = []string{"full_name", "name"}
	firstFields = []string{"first_name"}
	lastFields  = []string{"last_name"}
	phoneFields = []string{"phone_number", "phone", "mobile_number", "work_phone_number"}
	emailFields = []string{"email", "work_email"}
)

// MapLead maps a Lead Ads lead's answers onto a lead: the standard fields
// (name, phone, email) and every other question into custom fields. It
// returns the names of the fields it filled, for provenance.
func MapLead(ml meta.Lead) (lead.Lead, []string) {
	answers := map[string]string{}
	var order []string
	for _, f := range ml.FieldData {
		name := strings.ToLower(strings.TrimSpace(f.Name))
		if name == "" {
			continue
		}
		if _, seen := answers[name]; !seen {
			order = append(order, name)
		}
		answers[name] = strings.TrimSpace(strings.Join(f.Values, ", "))
	}
	pick := func(keys []string) string {
		for _, k := range keys {
			if v := answers[k]; v != "" {
				return v
			}
		}
		return ""
	}
	used := map[string]bool{}
	mark := func(keys []string) {
		for _, k := range keys {
			used[k] = true
		}
	}
	l := lead.Lead{CustomFields: map[string]string{}, Tags: []string{}}
	var fields []string
	l.Name = pick(nameFields)
	if l.Name == "" {
		l.Name = strings.TrimSpace(pick(firstFields) + " " + pick(lastFields))
	}
	mark(nameFields)
	mark(firstFields)
	mark(lastFields)
	// A name longer than a lead's is cut rather than losing the lead.
	if l.Name = strings.TrimSpace(clip(l.Name, lead.MaxNameLen)); l.Name == "" {
		l.Name = "Lead Ads lead"
	}
	fields = append(fields, "name")
	if l.Phone = pick(phoneFields); l.Phone != "" {
		fields = append(fields, "phone")
	}
	mark(phoneFields)
	if l.Email = pick(emailFields); l.Email != "" {
		fields = append(fields, "email")
	}
	mark(emailFields)
	for _, k := range order {
		if used[k] || answers[k] == "" {
			continue
		}
		key, v := clip(k, lead.MaxCustomKeyLen), clip(answers[k], lead.MaxCustomValueLen)
		if len(l.CustomFields) < lead.MaxCustomFields {
			l.CustomFields[key] = v
			fields = append(fields, "custom_fields."+key)
		}
	}
	return l, fields
}

// clip cuts s to at most n bytes without splitting a character, so that
// what is stored stays valid UTF-8.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxEventTime is the latest time an event may claim: a later one names no
// real event, and would not fit the ULIDs and time keys made from it, so
// the receive time stands in for it.
var maxEventTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// eventTime reports whether t is a time an event may claim: from the Unix
// epoch to maxEventTime.
func eventTime(t time.Time) bool {
	return t.Unix() > 0 && !t.After(maxEventTime)
}

func parseUnix(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > maxEventTime.Unix() {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}
