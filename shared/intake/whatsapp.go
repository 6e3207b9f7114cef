package intake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
)

// optOutPayloads are quick-reply payloads that mean "stop marketing": the
// opt-out button Meta adds to marketing templates, and our own.
var optOutPayloads = map[string]bool{"STOP": true, "stop": true, "Stop promotions": true, "STOP_PROMOTIONS": true, "opt_out": true}

func (p *Processor) whatsapp(ctx context.Context, ch meta.Change, c *Counts) error {
	v, err := ch.WhatsApp()
	if err != nil {
		return permanent("whatsapp change: %v", err)
	}
	number := v.Metadata.PhoneNumberID
	orgID, ok, err := p.owner(ctx, integration.KindWhatsApp, number)
	if err != nil || !ok {
		if err == nil {
			c.Dropped += len(v.Messages) + len(v.Statuses)
		}
		return err
	}
	names := map[string]string{}
	for _, ct := range v.Contacts {
		names[ct.WaID] = ct.Profile.Name
	}
	var retry error
	latest := time.Time{}
	for _, m := range v.Messages {
		at, err := p.inbound(ctx, orgID, number, m, names[m.From], c)
		if errors.Is(err, ErrRetry) {
			retry = err
			continue
		}
		if err != nil {
			return err
		}
		if at.After(latest) {
			latest = at
		}
	}
	for _, st := range v.Statuses {
		if err := p.status(ctx, st, c); err != nil {
			if errors.Is(err, ErrRetry) {
				retry = err
				continue
			}
			return err
		}
	}
	for _, e := range v.Errors {
		p.Log.WarnContext(ctx, "whatsapp reported an error", "code", e.Code, "title", e.Title)
	}
	if !latest.IsZero() {
		p.touch(ctx, orgID, integration.KindWhatsApp, number, latest)
	}
	return retry
}

// inbound stores one inbound message on the sender's lead, creating the
// lead if the number is new, and records opt-outs and opt-ins.
func (p *Processor) inbound(ctx context.Context, orgID, number string, m meta.Message, profileName string, c *Counts) (time.Time, error) {
	phone, err := meta.NormalizeWAID(m.From)
	if err != nil {
		return time.Time{}, permanent("message %s: sender %v", m.ID, err)
	}
	if m.ID == "" {
		return time.Time{}, permanent("message without an id")
	}
	at, ok := parseUnix(m.Timestamp)
	if !ok {
		at = p.now()
	}
	msg := toMessage(m, at)
	msg.ID = ulid.MustNew(ulid.Timestamp(idTime(at, p.now())), ulid.DefaultEntropy()).String()
	msg.OrgID, msg.Number = orgID, number

	leadID, err := p.Store.LeadIDByPhone(ctx, orgID, phone)
	switch {
	case errors.Is(err, lead.ErrNotFound):
		// A new number: the lead and its first message in one write. The
		// lead goes to the org's assignment rule, its turn keyed by the
		// message, so a redelivery takes the same turn.
		l, key := p.newWhatsAppLead(orgID, number, phone, profileName, at), "wamid:"+m.ID
		// A first message from an ad: the lead keeps where it came from.
		l.Attribution = attributionOf(m.Referral)
		if err := p.assign(ctx, &l, key); err != nil {
			return time.Time{}, err
		}
		var done bool
		leadID, done, err = p.firstMessage(ctx, l, msg, m, c)
		if err == nil {
			p.released(ctx, l, key)
		}
		if err != nil || done {
			return at, err
		}
	case err != nil:
		return time.Time{}, fmt.Errorf("%w: %w", ErrRetry, err)
	}
	msg.LeadID = leadID
	if err := p.referral(ctx, orgID, leadID, number, m, at); err != nil {
		return time.Time{}, err
	}

	var consent *conversation.ConsentEntry
	if consent = keywordConsent(orgID, leadID, m, at); consent == nil {
		if consent, err = p.serviceOptIn(ctx, orgID, leadID, m.ID, at); err != nil {
			return time.Time{}, err
		}
	}
	// The message's write also moves the lead's WhatsApp window forward
	// (Store.PutInboundMessage), so a stored message needs no second write.
	switch err := p.Store.PutInboundMessage(ctx, msg, consent); {
	case errors.Is(err, ErrDuplicate):
		// Stored before. The window moved with it, except for a message
		// older than the conversation's latest one, whose window update may
		// not have followed (a crash in between): it is idempotent and moves
		// only forward, so it is done again here.
		c.Duplicates++
		if err := p.Store.TouchLastInbound(ctx, orgID, leadID, at); err != nil {
			return time.Time{}, fmt.Errorf("%w: %w", ErrRetry, err)
		}
	case err != nil:
		return time.Time{}, fmt.Errorf("%w: store message: %w", ErrRetry, err)
	default:
		c.stored(consent)
		p.automateInbound(ctx, orgID, leadID, number, at)
	}
	return at, nil
}

// firstMessage stores the first message from a new number with the lead it
// creates (Store.CreateLeadWithInboundMessage), which starts its window at
// the message. done is false when another message created the lead
// meanwhile: the message then goes to leadID, that lead, as any other.
func (p *Processor) firstMessage(ctx context.Context, l lead.Lead, msg conversation.Message, m meta.Message, c *Counts) (leadID string, done bool, err error) {
	msg.LeadID = l.ID
	consent, err := p.Store.CreateLeadWithInboundMessage(ctx, l, msg, func(stored lead.Lead) *conversation.ConsentEntry {
		if e := keywordConsent(l.OrgID, l.ID, m, msg.At); e != nil {
			return e
		}
		return serviceOptInFor(stored, m.ID, msg.At)
	})
	var dup *lead.DuplicateError
	switch {
	case errors.As(err, &dup):
		return dup.ExistingID, false, nil // created concurrently by another message
	case errors.Is(err, ErrDuplicate):
		// Stored before, with a lead since deleted: nothing to do.
		c.Duplicates++
		return "", true, nil
	case err != nil:
		return "", false, fmt.Errorf("%w: create lead with its first message: %w", ErrRetry, err)
	}
	c.stored(consent)
	p.record(ctx, l.OrgID)
	p.automateInbound(ctx, l.OrgID, l.ID, msg.Number, msg.At)
	return l.ID, true, nil
}

// attributionOf is the attribution a message's referral gives a lead it
// creates (nil: none).
func attributionOf(r *meta.Referral) *lead.Attribution {
	if r == nil || (r.SourceID == "" && r.SourceURL == "" && r.CtwaClid == "") {
		return nil
	}
	return &lead.Attribution{SourceType: r.SourceType, SourceID: r.SourceID, SourceURL: r.SourceURL, CtwaClid: r.CtwaClid}
}

// referral records the referral of a message to a known lead as a
// referral activity, once per message (keyed by its wamid): the lead's
// attribution, from its first message, stays as it is.
func (p *Processor) referral(ctx context.Context, orgID, leadID, number string, m meta.Message, at time.Time) error {
	a := attributionOf(m.Referral)
	if a == nil {
		return nil
	}
	err := p.Store.AttachEvent(ctx, orgID, "referral:"+m.ID, lead.ReferralActivity(orgID, leadID, *a, number, m.ID, at))
	if err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("%w: record referral: %w", ErrRetry, err)
	}
	return nil
}

// stored counts a stored inbound message and the consent it recorded.
func (c *Counts) stored(consent *conversation.ConsentEntry) {
	c.Messages++
	if consent != nil && consent.Action == conversation.OptOut {
		c.OptOuts++
	} else if consent != nil && consent.Source != SourceInbound {
		c.OptIns++
	}
}

// automateInbound runs the automations of a new inbound message; their
// failures are logged.
func (p *Processor) automateInbound(ctx context.Context, orgID, leadID, number string, at time.Time) {
	if p.Automate == nil {
		return
	}
	if _, err := p.Automate.InboundWhatsApp(ctx, orgID, leadID, number, at); err != nil {
		p.Log.ErrorContext(ctx, "inbound whatsapp automation", "lead_id", leadID, "err", err)
	}
}

// keywordConsent is the consent entry an opt-out or opt-in message (STOP,
// START, the opt-out button) records, or nil.
func keywordConsent(orgID, leadID string, m meta.Message, at time.Time) *conversation.ConsentEntry {
	action, purpose, source, ok := consentOf(m)
	if !ok {
		return nil
	}
	return &conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: orgID, LeadID: leadID,
		Channel: conversation.ChannelWhatsApp, Purpose: purpose, Action: action, At: at, Evidence: m.ID, Source: source}
}

// SourceInbound is the source of the WhatsApp service opt-in a person's
// own message records (see serviceOptIn).
const SourceInbound = "inbound_message"

// serviceOptIn is the WhatsApp service opt-in that an inbound message
// records, stored with the message (evidence: its wamid): by writing, the
// person asked the business to answer them, on WhatsApp, about their
// request. It allows service messages only, never marketing. It is
// recorded only while the lead's WhatsApp service preference is unknown:
// a service opt-in already there needs no second entry, and an opt-out
// (STOP, staff) is taken back only by START or staff, never by an
// ordinary message.
func (p *Processor) serviceOptIn(ctx context.Context, orgID, leadID, wamid string, at time.Time) (*conversation.ConsentEntry, error) {
	consent, err := p.Store.LeadConsent(ctx, orgID, leadID)
	if err != nil {
		return nil, fmt.Errorf("%w: read lead: %w", ErrRetry, err)
	}
	return serviceOptInFor(lead.Lead{OrgID: orgID, ID: leadID, Consent: consent}, wamid, at), nil
}

// serviceOptInFor is serviceOptIn on a lead at hand.
func serviceOptInFor(l lead.Lead, wamid string, at time.Time) *conversation.ConsentEntry {
	if st, _ := conversation.Preference(l.Consent, conversation.ChannelWhatsApp, conversation.PurposeService); st != conversation.StateUnknown {
		return nil
	}
	return &conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService, Action: conversation.OptIn, At: at, Evidence: wamid,
		Source: SourceInbound}
}

// newWhatsAppLead is the lead a message from a new number makes, from the
// business number (phone_number_id) the person wrote to.
func (p *Processor) newWhatsAppLead(orgID, number, phone, name string, at time.Time) lead.Lead {
	if name = strings.TrimSpace(clip(strings.TrimSpace(name), lead.MaxNameLen)); name == "" {
		name = phone
	}
	return lead.Lead{ID: ulid.Make().String(), OrgID: orgID, Name: name, Phone: phone, Source: "whatsapp", Status: lead.StatusNew,
		Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: at, UpdatedAt: p.now(), Version: 1,
		// The person wrote, so WhatsApp's window is open from the moment the
		// lead exists.
		LastInboundAt: at,
		Provenance:    &lead.Provenance{IntegrationKind: string(integration.KindWhatsApp), IntegrationID: number, Fields: []string{"name", "phone"}}}
}

// consentOf recognises opt-out and opt-in messages.
func consentOf(m meta.Message) (action, purpose, source string, ok bool) {
	switch {
	case m.Text != nil:
		if a, ok := conversation.Keyword(m.Text.Body); ok {
			return a, conversation.PurposeAll, "keyword", true
		}
	case m.Button != nil:
		if optOutPayloads[m.Button.Payload] || optOutPayloads[m.Button.Text] {
			return conversation.OptOut, conversation.PurposeMarketing, "template_button", true
		}
	case m.Interactive != nil && m.Interactive.ButtonReply != nil:
		if a, ok := conversation.Keyword(m.Interactive.ButtonReply.Title); ok {
			return a, conversation.PurposeAll, "button", true
		}
	}
	return "", "", "", false
}

// toMessage keeps what the message says, by type; media is kept as ids.
func toMessage(m meta.Message, at time.Time) conversation.Message {
	out := conversation.Message{Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: m.ID, Type: m.Type,
		Status: conversation.StatusReceived, At: at, Details: map[string]string{}}
	media := func(md *meta.Media) {
		if md != nil {
			out.Media = &conversation.Media{ID: md.ID, MimeType: md.MimeType, SHA256: md.SHA256, Caption: md.Caption, Filename: md.Filename}
			out.Text = md.Caption
		}
	}
	switch {
	case m.Text != nil:
		out.Text = m.Text.Body
	case m.Image != nil:
		media(m.Image)
	case m.Audio != nil:
		media(m.Audio)
	case m.Video != nil:
		media(m.Video)
	case m.Document != nil:
		media(m.Document)
	case m.Sticker != nil:
		media(m.Sticker)
	case m.Location != nil:
		out.Details["latitude"] = strconv.FormatFloat(m.Location.Latitude, 'f', -1, 64)
		out.Details["longitude"] = strconv.FormatFloat(m.Location.Longitude, 'f', -1, 64)
		out.Details["name"], out.Details["address"] = m.Location.Name, m.Location.Address
		out.Text = strings.TrimSpace(m.Location.Name + " " + m.Location.Address)
	case len(m.Contacts) > 0:
		var names []string
		for i, sc := range m.Contacts {
			names = append(names, sc.Name.FormattedName)
			for j, ph := range sc.Phones {
				out.Details[fmt.Sprintf("contact_%d_phone_%d", i, j)] = ph.Phone
			}
		}
		out.Text = strings.Join(names, ", ")
	case m.Interactive != nil:
		r := m.Interactive.ButtonReply
		if r == nil {
			r = m.Interactive.ListReply
		}
		if r != nil {
			out.Text = r.Title
			out.Details["reply_id"], out.Details["reply_kind"] = r.ID, m.Interactive.Type
			if r.Description != "" {
				out.Details["description"] = r.Description
			}
		}
	case m.Button != nil:
		out.Text = m.Button.Text
		out.Details["payload"] = m.Button.Payload
	case m.Reaction != nil:
		out.Text = m.Reaction.Emoji
		out.Details["reacted_to"] = m.Reaction.MessageID
	}
	if m.Context != nil && m.Context.ID != "" {
		out.Details["in_reply_to"] = m.Context.ID
	}
	for _, e := range m.Errors {
		out.ErrorCode, out.ErrorTitle = e.Code, e.Title
	}
	for k, v := range out.Details {
		if v == "" {
			delete(out.Details, k)
		}
	}
	return out
}

// statusOf maps Meta's status names onto ours.
var statusOf = map[string]conversation.Status{
	"sent": conversation.StatusSent, "delivered": conversation.StatusDelivered, "read": conversation.StatusRead,
	"failed": conversation.StatusFailed, "accepted": conversation.StatusAccepted,
}

func (p *Processor) status(ctx context.Context, st meta.Status, c *Counts) error {
	s, ok := statusOf[st.Status]
	if !ok || st.ID == "" {
		p.Log.InfoContext(ctx, "ignoring status", "status", st.Status)
		return nil
	}
	at, ok := parseUnix(st.Timestamp)
	if !ok {
		at = p.now()
	}
	ev := conversation.StatusEvent{ProviderID: st.ID, Status: s, At: at}
	for _, e := range st.Errors {
		ev.ErrorCode, ev.ErrorTitle = e.Code, e.Title
	}
	_, err := p.Store.ApplyStatus(ctx, ev)
	if errors.Is(err, conversation.ErrUnknownMessage) {
		// The send may not be recorded yet (statuses can beat the sender's
		// write): retry later rather than drop.
		return fmt.Errorf("%w: status %s for unknown message", ErrRetry, st.Status)
	}
	if err != nil {
		return fmt.Errorf("%w: apply status: %w", ErrRetry, err)
	}
	c.Statuses++
	if slices.ContainsFunc(st.Errors, func(e meta.Error) bool { return e.Code == codeStoppedMarketing }) {
		return p.stoppedMarketing(ctx, st.ID, at, c)
	}
	if s == conversation.StatusFailed && slices.ContainsFunc(st.Errors, func(e meta.Error) bool { return e.Code == codeReengagement }) {
		return p.reengage(ctx, st.ID)
	}
	return nil
}

// codeReengagement is Meta's error code for a free-form message sent more
// than 24 hours after the lead last wrote.
const codeReengagement = 131047

// reengage runs the re-engagement automation for our message wamid, which
// a failed status reports with error 131047, as the sender does when the
// send call itself answers 131047. The automation queues at most one
// template per failed message, so a redelivered webhook queues no second.
func (p *Processor) reengage(ctx context.Context, wamid string) error {
	if p.Automate == nil {
		return nil
	}
	m, err := p.Store.MessageByProviderID(ctx, wamid)
	if err != nil {
		return fmt.Errorf("%w: message of %s: %w", ErrRetry, wamid, err)
	}
	// A failed template is never answered with another (no loop).
	if m.Direction != conversation.Outbound || m.Channel != conversation.ChannelWhatsApp || m.Number == "" || m.Type == "template" {
		return nil
	}
	if _, err := p.Automate.Reengage(ctx, m.OrgID, m.LeadID, m.ID, m.Number); err != nil {
		p.Log.ErrorContext(ctx, "re-engagement automation", "message_id", m.ID, "err", err)
	}
	return nil
}

// codeStoppedMarketing is Meta's error code for a recipient who stopped
// marketing messages from the business on WhatsApp.
const codeStoppedMarketing = 131050

// stoppedMarketing records the marketing opt-out a failed status with error
// 131050 reports for our message wamid, as the sender does when the send
// call itself answers 131050. Keyed by the wamid, so a redelivered webhook
// writes no second entry.
func (p *Processor) stoppedMarketing(ctx context.Context, wamid string, at time.Time, c *Counts) error {
	m, err := p.Store.MessageByProviderID(ctx, wamid)
	if err != nil {
		return fmt.Errorf("%w: message of %s: %w", ErrRetry, wamid, err)
	}
	entry := conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: m.OrgID, LeadID: m.LeadID,
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeMarketing, Action: conversation.OptOut, At: at,
		Evidence: wamid, Source: "provider"}
	if err := p.Store.AppendConsentOnce(ctx, entry); err != nil {
		return fmt.Errorf("%w: marketing opt-out: %w", ErrRetry, err)
	}
	c.OptOuts++
	return nil
}

// idTime is the time a message's id is built from. Meta's timestamps are
// whole seconds, while outbound ids carry milliseconds: a message received
// within the second its timestamp names takes the arrival time instead, so
// that it sorts after a reply sent earlier in that same second. Any other
// message keeps Meta's time (a late delivery sorts where it happened).
func idTime(at, now time.Time) time.Time {
	if d := now.Sub(at); d > 0 && d < time.Second {
		return now
	}
	return at
}
