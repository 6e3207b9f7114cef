package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
)

// Audit vocabulary of automations.
const (
	ActionSend = "automation.send"
	ActorID    = "system"
)

// Kinds of automation, as named in audit details and client message ids.
const (
	KindLeadAds    = "leadads"
	KindAfterHours = "afterhours"
	KindReengage   = "reengage"
)

// CodeReengagement is WhatsApp's error code for a free-form message sent
// more than 24 hours after the lead last wrote ("Re-engagement message").
const CodeReengagement = 131047

// SettingsSource returns an org's settings (Store).
type SettingsSource interface {
	Settings(ctx context.Context, orgID string) (Settings, error)
}

// MessageStore is what automations need of storage (dynamostore.Store).
type MessageStore interface {
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	GetIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string) (integration.Integration, error)
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
	QueueOutbound(ctx context.Context, m conversation.Message) (stored conversation.Message, created bool, err error)
	ClaimSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	FailSend(ctx context.Context, orgID, leadID, msgID string, st conversation.Status, code int, title, reason string, at time.Time) error
	AppendAudit(ctx context.Context, r audit.Record) error
}

// Enqueue puts a job on the outbound queue.
type Enqueue func(ctx context.Context, job sendgate.Job) error

// Quota counts automatic messages against the org's plan (plan.Service):
// once per message, keyed by its client message id.
type Quota interface {
	// TakeOnce counts the use named key, or refuses it at the limit with
	// a *plan.LimitError; a key counted before is allowed again.
	TakeOnce(ctx context.Context, orgID string, m plan.Metric, key string) error
}

// ReasonPlanLimit is the reason an automatic message refused at the
// plan's WhatsApp messages of the day is audited with.
const ReasonPlanLimit = "plan_limit"

// Runner runs the automations. Set the fields, then use it from any
// number of goroutines.
type Runner struct {
	Settings SettingsSource
	Store    MessageStore
	Enqueue  Enqueue
	// Quota, when set, counts each message against the plan's WhatsApp
	// messages of the day; at the limit the automation is refused and
	// audited with reason plan_limit.
	Quota Quota
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Event outcomes: what an automation did with one event.
const (
	ResultOff       = "off"       // disabled, or not applicable (inside business hours)
	ResultQueued    = "queued"    // a message was queued and its job enqueued
	ResultDuplicate = "duplicate" // queued before for this event: nothing new
	ResultRefused   = "refused"   // a gate or missing data stopped it (audited)
)

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// NewLeadAdsLead runs the Lead Ads welcome for a lead just created from
// Lead Ads submission leadgenID. It returns what it did.
func (r *Runner) NewLeadAdsLead(ctx context.Context, orgID, leadID, leadgenID string) (string, error) {
	st, err := r.Settings.Settings(ctx, orgID)
	if err != nil {
		return "", err
	}
	cfg := st.LeadAds
	if !cfg.Enabled || cfg.Template == "" {
		return ResultOff, nil
	}
	l, err := r.Store.GetLead(ctx, orgID, leadID)
	if err != nil {
		return "", fmt.Errorf("lead ads welcome: read lead %s: %w", leadID, err)
	}
	clientID := conversation.AutomationClientIDPrefix + KindLeadAds + ":" + leadgenID
	if l.Phone == "" {
		return r.refuse(ctx, l, KindLeadAds, clientID, "missing_phone", "the lead gave no phone number")
	}
	var params []map[string]string
	for _, f := range cfg.Parameters {
		v := field(l, f)
		if v == "" {
			return r.refuse(ctx, l, KindLeadAds, clientID, "template_parameters", "the lead has no value for template parameter "+f)
		}
		params = append(params, map[string]string{"type": "text", "text": v})
	}
	in, err := r.number(ctx, orgID, cfg.PhoneNumberID)
	if err != nil {
		return "", err
	}
	tmpl := map[string]any{"name": cfg.Template, "language": map[string]string{"code": cfg.Language}}
	if len(params) > 0 {
		tmpl["components"] = []map[string]any{{"type": "body", "parameters": params}}
	}
	payload := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": strings.TrimPrefix(l.Phone, "+"),
		"type": "template", "template": tmpl}
	details := map[string]string{"template": cfg.Template, "language": cfg.Language, sendgate.DetailCategory: sendgate.CategoryUtility,
		"automation": KindLeadAds}
	return r.send(ctx, l, in, KindLeadAds, clientID, "template", "", payload, details)
}

// InboundWhatsApp runs the after-hours reply for a message lead leadID just
// sent at to business number number.
func (r *Runner) InboundWhatsApp(ctx context.Context, orgID, leadID, number string, at time.Time) (string, error) {
	st, err := r.Settings.Settings(ctx, orgID)
	if err != nil {
		return "", err
	}
	cfg := st.AfterHours
	if !cfg.Enabled || cfg.Text == "" {
		return ResultOff, nil
	}
	closed, period := cfg.Hours.Closed(at)
	if !closed {
		return ResultOff, nil
	}
	if r.now().Sub(at) >= sendgate.CustomerServiceWindow {
		return ResultOff, nil // an old message, replayed: the window it opened has closed
	}
	l, err := r.Store.GetLead(ctx, orgID, leadID)
	if err != nil {
		return "", fmt.Errorf("after-hours reply: read lead %s: %w", leadID, err)
	}
	clientID := conversation.AutomationClientIDPrefix + KindAfterHours + ":" + leadID + ":" + period
	in, err := r.Store.GetIntegration(ctx, orgID, integration.KindWhatsApp, number)
	if errors.Is(err, integration.ErrNotFound) {
		return r.refuse(ctx, l, KindAfterHours, clientID, sendgate.TitleIntegrationInactive, "the number the lead wrote to is not connected")
	}
	if err != nil {
		return "", fmt.Errorf("after-hours reply: read number %s: %w", number, err)
	}
	payload := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": strings.TrimPrefix(l.Phone, "+"),
		"type": "text", "text": map[string]any{"preview_url": false, "body": cfg.Text}}
	return r.send(ctx, l, &in, KindAfterHours, clientID, "text", cfg.Text, payload, map[string]string{"automation": KindAfterHours, "period": period})
}

// Reengage runs the re-engagement automation for outbound message msgID of
// lead leadID, which failed with error CodeReengagement on business number
// number: when the org's Reengagement has AutoSend on, it queues the
// template from the same number, once per failed message (the client
// message id names it), if the gates allow it.
func (r *Runner) Reengage(ctx context.Context, orgID, leadID, msgID, number string) (string, error) {
	st, err := r.Settings.Settings(ctx, orgID)
	if err != nil {
		return "", err
	}
	cfg := st.Reengagement
	if !cfg.AutoSend || cfg.Template == "" || cfg.Language == "" {
		return ResultOff, nil
	}
	l, err := r.Store.GetLead(ctx, orgID, leadID)
	if err != nil {
		return "", fmt.Errorf("re-engagement: read lead %s: %w", leadID, err)
	}
	clientID := ReengageClientID(msgID)
	if l.Phone == "" {
		return r.refuse(ctx, l, KindReengage, clientID, "missing_phone", "the lead has no phone number")
	}
	var in *integration.Integration
	got, err := r.Store.GetIntegration(ctx, orgID, integration.KindWhatsApp, number)
	switch {
	case err == nil:
		in = &got
	case !errors.Is(err, integration.ErrNotFound):
		return "", fmt.Errorf("re-engagement: read number %s: %w", number, err)
	}
	payload := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": strings.TrimPrefix(l.Phone, "+"),
		"type": "template", "template": map[string]any{"name": cfg.Template, "language": map[string]string{"code": cfg.Language}}}
	details := map[string]string{"template": cfg.Template, "language": cfg.Language, sendgate.DetailCategory: cfg.TemplateCategory(),
		"automation": KindReengage, "reengages": msgID}
	if in == nil {
		return r.refuse(ctx, l, KindReengage, clientID, sendgate.TitleIntegrationInactive, "the number the failed message was sent from is not connected")
	}
	return r.send(ctx, l, in, KindReengage, clientID, "template", "", payload, details)
}

// ReengageClientID is the client message id of the re-engagement template
// for failed message msgID.
func ReengageClientID(msgID string) string {
	return conversation.AutomationClientIDPrefix + KindReengage + ":" + msgID
}

// number picks the WhatsApp number to send from: want, or the most
// recently connected active one; nil when there is none.
func (r *Runner) number(ctx context.Context, orgID, want string) (*integration.Integration, error) {
	all, err := r.Store.ListIntegrations(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("list numbers of %s: %w", orgID, err)
	}
	var best *integration.Integration
	for i := range all {
		in := &all[i]
		if in.Kind != integration.KindWhatsApp || in.Status != integration.StatusActive || (want != "" && in.ExternalID != want) {
			continue
		}
		if best == nil || in.ConnectedAt.After(best.ConnectedAt) {
			best = in
		}
	}
	return best, nil
}

// send checks the gates, queues the message once per clientID, enqueues
// its job and audits.
func (r *Runner) send(ctx context.Context, l lead.Lead, in *integration.Integration, kind, clientID, typ, text string, payload any,
	details map[string]string) (string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("encode %s payload: %w", kind, err)
	}
	now := r.now()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, Type: typ, Text: text, At: now,
		ClientMessageID: clientID, Payload: string(raw), Details: details}
	if in != nil {
		m.Number = in.ExternalID
	}
	if ref := sendgate.Check(m, l, in, now); ref != nil {
		return r.refuse(ctx, l, kind, clientID, ref.Title, ref.Reason)
	}
	if r.Quota != nil {
		// Last of the checks, once per message: a redelivered event
		// finds it counted (and queued: ResultDuplicate below).
		err := r.Quota.TakeOnce(ctx, l.OrgID, plan.WhatsAppPerDay, clientID)
		if le, ok := plan.IsLimit(err); ok {
			return r.refuse(ctx, l, kind, clientID, ReasonPlanLimit, le.Error())
		}
		if err != nil {
			return "", fmt.Errorf("%s: count message: %w", kind, err)
		}
	}
	stored, created, err := r.Store.QueueOutbound(ctx, m)
	if err != nil {
		return "", fmt.Errorf("%s: queue message: %w", kind, err)
	}
	if !created {
		return ResultDuplicate, nil
	}
	if err := r.Enqueue(ctx, sendgate.Job{OrgID: stored.OrgID, LeadID: stored.LeadID, MessageID: stored.ID}); err != nil {
		// As the api does: a message that never reached the queue fails
		// visibly instead of waiting forever as queued.
		reason := "The automatic message could not be put on the send queue and was not sent."
		if cerr := r.Store.ClaimSend(ctx, stored.OrgID, stored.LeadID, stored.ID, now); cerr == nil {
			if ferr := r.Store.FailSend(ctx, stored.OrgID, stored.LeadID, stored.ID, conversation.StatusFailed, 0, "not queued", reason, now); ferr != nil {
				r.log().ErrorContext(ctx, "mark unqueued automation message failed", "message_id", stored.ID, "err", ferr)
			}
		}
		return "", fmt.Errorf("%s: enqueue %s: %w", kind, stored.ID, err)
	}
	r.audit(ctx, l, audit.OutcomeSuccess, map[string]string{"automation": kind, "channel": string(m.Channel), "type": typ,
		"message_id": stored.ID, "client_message_id": clientID})
	return ResultQueued, nil
}

// refuse audits an automation that a gate or missing data stopped.
func (r *Runner) refuse(ctx context.Context, l lead.Lead, kind, clientID, title, reason string) (string, error) {
	r.log().InfoContext(ctx, "automation not sent", "automation", kind, "lead_id", l.ID, "reason", title)
	r.audit(ctx, l, audit.OutcomeDenied, map[string]string{"automation": kind, "reason": title, "detail": reason, "client_message_id": clientID})
	return ResultRefused, nil
}

// audit appends the record; a failure is logged, not returned: the message
// is queued already and must not be queued again for the audit's sake.
func (r *Runner) audit(ctx context.Context, l lead.Lead, outcome string, details map[string]string) {
	now := r.now()
	rec := audit.Record{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, ActorID: ActorID,
		Action: ActionSend, TargetType: "lead", TargetID: l.ID, Outcome: outcome, At: now, Details: details}
	if err := r.Store.AppendAudit(ctx, rec); err != nil {
		r.log().ErrorContext(ctx, "audit automation", "automation", details["automation"], "err", err)
	}
}

// field returns the value of a lead field named in LeadAdsWelcome.Parameters.
func field(l lead.Lead, name string) string {
	switch name {
	case "name":
		return l.Name
	case "first_name":
		first, _, _ := strings.Cut(strings.TrimSpace(l.Name), " ")
		return first
	case "phone":
		return l.Phone
	case "email":
		return l.Email
	}
	return l.CustomFields[name]
}
