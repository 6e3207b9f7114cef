// Package campaign processes campaigns, which send one WhatsApp template to
// every lead matching a filter, page by page. Creating (or resuming) a
// campaign in the api function processes its first page of leads inside
// the request and, while pages remain, puts a campaign page job
// (sendgate.KindCampaignPage) on the outbound queue; the sender processes
// one page per job with Pages.Step and enqueues the next, from the cursor
// stored on the campaign, until none are left (status completed) or the
// campaign is paused.
//
// Every lead gets at most one message per campaign (client message id
// "campaign:<campaign>:<lead>"), so a page processed twice never sends
// twice; a page's counts are committed once, guarded by the campaign's
// version (see Store.CommitCampaignPage). Leads without a phone,
// that opted out, that never opted in to the campaign's channel and purpose
// (consent_required), or lacking a field a parameter needs are skipped and
// counted by reason. The messages go through the same outbound queue and
// sender gates as single sends. docs/campaigns.md says why, and what a
// production driver would look like.
//
// The package serves no HTTP: its refusals are typed errors
// (ParameterError, MismatchError, and those of packages watemplate and
// integration) that the api function maps to problems and the sender logs.
package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/watemplate"
)

// Enqueue puts a job on the outbound queue: the message (org, lead,
// message), or a campaign page job as (org, "",
// sendgate.CampaignPageRef(campaign)) (see sendgate.Job.Encode).
type Enqueue func(ctx context.Context, orgID, leadID, messageID string) error

// pagesPerRequest bounds the synchronous work of Run: one page (100 leads
// at the default size); the rest is processed by the sender, one page per
// campaign page job.
const pagesPerRequest = 1

// Reasons a matching lead is skipped.
const (
	// SkipNoPhone: the lead has no phone number.
	SkipNoPhone = "no_phone"
	// SkipOptedOut: the lead opted out of the campaign's messages
	// (sendgate.Consent, with the marketing purpose for a MARKETING
	// template).
	SkipOptedOut = "opted_out"
	// SkipMissingParameter: a parameter refers to a field the lead lacks.
	SkipMissingParameter = "missing_parameter"
	// SkipConsentRequired: the lead has no recorded WhatsApp opt-in for
	// the campaign's purpose (marketing for a MARKETING template, service
	// otherwise; sendgate.Consent): a campaign is business-initiated.
	SkipConsentRequired = "consent_required"
	// SkipPlanLimit: the org's plan's WhatsApp messages of the day were
	// used up; the campaign is paused after the page (see Pages.Quota).
	SkipPlanLimit = "plan_limit"
)

// SkipReasons returns every reason a lead is skipped, in a fixed order.
func SkipReasons() []string {
	return []string{SkipNoPhone, SkipOptedOut, SkipConsentRequired, SkipMissingParameter, SkipPlanLimit}
}

// Quota counts a campaign's messages against the org's plan
// (plan.Service): once per message, however often its page is processed.
type Quota interface {
	// TakeOnce counts the use named key, or refuses it at the limit with
	// a *plan.LimitError; a key counted before is allowed again.
	TakeOnce(ctx context.Context, orgID string, m plan.Metric, key string) error
}

// fieldRefRE is a parameter taken from the lead: {{lead.name}} or
// {{custom.<key>}}. It is compiled on first use: its bounded repeat makes
// a large program, and every function that uses the table links this
// package, while only campaigns need it.
var fieldRefRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\{\{\s*(lead\.name|custom\.([^{}\s]{1,64}))\s*\}\}$`)
})

// ErrEnqueue marks a failure to put a campaign message's job, or a
// campaign page job, on the outbound queue. Processing the page again
// sends nothing twice.
var ErrEnqueue = errors.New("enqueue campaign job")

// ParameterError is a campaign parameter of the wrong form.
type ParameterError struct {
	// Field is its path in the campaign: parameters.<part> or
	// parameters.<part>[<i>].
	Field string
	// Message says what is wrong, in plain language.
	Message string
}

// Error implements error.
func (e *ParameterError) Error() string { return e.Field + " " + e.Message }

// MismatchError means a campaign's parameters do not fit its template; Err
// (of code watemplate.CodeParameters) says how.
type MismatchError struct {
	Err *watemplate.CheckError
}

// Error implements error.
func (e *MismatchError) Error() string { return "campaign parameters: " + e.Err.Error() }

// Unwrap returns the template check's error.
func (e *MismatchError) Unwrap() error { return e.Err }

// CheckParameters checks the parts of a campaign's parameters (header,
// body, buttons) and the form of each value: at most 20 per part, not
// blank, at most 1,024 bytes, and static text, {{lead.name}} or
// {{custom.<key>}}. A bad one is a *ParameterError.
func CheckParameters(params map[string][]string) error {
	for part, values := range params {
		switch part {
		case "header", "body", "buttons":
		default:
			return &ParameterError{Field: "parameters." + part, Message: "is not a template part; use header, body or buttons"}
		}
		if len(values) > 20 {
			return &ParameterError{Field: "parameters." + part, Message: "takes at most 20 values"}
		}
		for i, v := range values {
			field := fmt.Sprintf("parameters.%s[%d]", part, i)
			switch {
			case strings.TrimSpace(v) == "":
				return &ParameterError{Field: field, Message: "must not be blank"}
			case len(v) > 1024:
				return &ParameterError{Field: field, Message: "is longer than 1,024 bytes"}
			case strings.Contains(v, "{{") && !fieldRefRE().MatchString(v):
				return &ParameterError{Field: field, Message: "must be static text, {{lead.name}} or {{custom.<key>}}"}
			}
		}
	}
	return nil
}

// components fills the template's parts with the parameters, each value
// rendered by value (which returns "" for a field the lead lacks).
func components(params map[string][]string, value func(spec string) string) (comps []watemplate.SendComponent, missing bool) {
	param := func(spec string) string {
		v := value(spec)
		if v == "" {
			missing = true
		}
		return v
	}
	for _, part := range []string{"header", "body"} {
		if vs, ok := params[part]; ok && len(vs) > 0 {
			c := watemplate.SendComponent{Type: part}
			for _, spec := range vs {
				c.Parameters = append(c.Parameters, param(spec))
			}
			comps = append(comps, c)
		}
	}
	for _, spec := range params["buttons"] {
		comps = append(comps, watemplate.SendComponent{Type: "button", Parameters: []string{param(spec)}})
	}
	return comps, missing
}

// leadValue renders one parameter spec for a lead.
func leadValue(l lead.Lead) func(string) string {
	return func(spec string) string {
		m := fieldRefRE().FindStringSubmatch(spec)
		switch {
		case m == nil:
			return spec
		case m[1] == "lead.name":
			return strings.TrimSpace(l.Name)
		default:
			return strings.TrimSpace(l.CustomFields[m[2]])
		}
	}
}

// message is the WhatsApp Cloud API message object of a campaign message.
type message struct {
	MessagingProduct string              `json:"messaging_product"`
	RecipientType    string              `json:"recipient_type"`
	To               string              `json:"to"`
	Type             string              `json:"type"`
	Template         *watemplate.Payload `json:"template,omitempty"`
}

// Pages processes campaign pages: the api function's campaign routes (Run,
// Continue, CheckTemplate) and the sender's campaign page jobs (Step) run
// the same code. Set the fields, then use it from any number of
// goroutines.
type Pages struct {
	Store PageStore
	// Templates checks the campaign's template for each page and lead.
	Templates *watemplate.Catalog
	// Enqueue puts message and page jobs on the outbound queue.
	Enqueue Enqueue
	// Quota, when set, counts each message against the plan's WhatsApp
	// messages of the day (keyed by its client message id). At the limit
	// the page's remaining leads are skipped (SkipPlanLimit) and, once
	// the page is committed, the campaign is paused: resuming it after
	// the day resets goes on with the next page.
	Quota Quota
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (p *Pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pages) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// CheckTemplate checks the template of a campaign sent from number n (it
// exists, is APPROVED, and takes the parameters given, filled with
// stand-in values) and returns its spec. Parameters that do not fit are a
// *MismatchError; other refusals are those of watemplate.Catalog.Check.
func (p *Pages) CheckTemplate(ctx context.Context, n integration.Integration, name, language string, params map[string][]string) (watemplate.Spec, error) {
	comps, _ := components(params, func(string) string { return "x" })
	sp, _, err := p.Templates.Check(ctx, n, watemplate.Send{Name: name, Language: language, Components: comps})
	var ce *watemplate.CheckError
	if errors.As(err, &ce) && ce.Code == watemplate.CodeParameters {
		return sp, &MismatchError{Err: ce}
	}
	return sp, err
}

// Continue puts the job for the campaign's next page on the outbound
// queue if the campaign is still running (pages remain). A paused or
// completed campaign gets none. A failed enqueue is an ErrEnqueue.
func (p *Pages) Continue(ctx context.Context, orgID, id string) error {
	c, err := p.Store.GetCampaign(ctx, orgID, id)
	if err != nil {
		return fmt.Errorf("read campaign %s: %w", id, err)
	}
	if c.Status != StatusRunning {
		return nil
	}
	if err := p.Enqueue(ctx, orgID, "", sendgate.CampaignPageRef(id)); err != nil {
		return fmt.Errorf("%w: page of campaign %s: %w", ErrEnqueue, id, err)
	}
	return nil
}

// Run processes the next page of a running campaign (one page per call),
// re-reading the campaign before each page so a pause stops it, and
// returns the campaign as last read. The caller queues the job for the
// pages after (Continue). A page another processor committed first is no
// error: the next page goes on from the cursor it stored.
func (p *Pages) Run(ctx context.Context, orgID, id string) (Campaign, error) {
	var c Campaign
	for range pagesPerRequest {
		var err error
		if c, err = p.Store.GetCampaign(ctx, orgID, id); err != nil {
			return c, fmt.Errorf("read campaign %s: %w", id, err)
		}
		if c.Status != StatusRunning {
			return c, nil
		}
		err = p.processPage(ctx, c)
		if err != nil && !errors.Is(err, ErrConflict) {
			return c, err
		}
		// On a conflict another processor committed this page: go on from
		// the cursor it stored.
	}
	return c, nil
}

// Step processes the next page of campaign id of org orgID if it is
// running, then queues the job for the page after it while the campaign is
// still running. A paused, completed or unknown campaign ends the chain
// (nil, nothing queued), as does a page another processor committed first
// (that one queues the next job). A refusal that retrying cannot fix soon
// (the template is no longer approved, no active WhatsApp number, Meta
// refuses the number's token) is logged and ends the chain too; resuming
// the campaign restarts it. Any other error means the job should be
// retried: processing a page again never sends twice.
func (p *Pages) Step(ctx context.Context, orgID, id string) error {
	c, err := p.Store.GetCampaign(ctx, orgID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		p.logger().WarnContext(ctx, "campaign page job for an unknown campaign", "org_id", orgID, "campaign", id)
		return nil
	case err != nil:
		return fmt.Errorf("read campaign %s: %w", id, err)
	case c.Status != StatusRunning:
		return nil
	}
	err = p.processPage(ctx, c)
	switch {
	case errors.Is(err, ErrConflict):
		return nil
	case Stopped(err):
		p.logger().WarnContext(ctx, "campaign stopped", "org_id", orgID, "campaign", id, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("process page of campaign %s: %w", id, err)
	}
	return p.Continue(ctx, orgID, id)
}

// Stopped reports whether err, met while processing a page, is a refusal
// that retrying soon will not fix: no active WhatsApp number to send from
// (integration.ErrNoActiveWhatsApp), a template that does not fit
// (*watemplate.CheckError, *MismatchError), or Meta refusing the number's
// template list for good (watemplate.FetchError.Refused).
func Stopped(err error) bool {
	var ce *watemplate.CheckError
	var fe *watemplate.FetchError
	return errors.Is(err, integration.ErrNoActiveWhatsApp) || errors.As(err, &ce) || (errors.As(err, &fe) && fe.Refused())
}

// processPage sends to one page of leads and commits its counts.
func (p *Pages) processPage(ctx context.Context, c Campaign) error {
	all, err := p.Store.ListIntegrations(ctx, c.OrgID)
	if err != nil {
		return fmt.Errorf("list integrations: %w", err)
	}
	number, err := integration.PickWhatsApp(all, c.PhoneNumberID)
	if err != nil {
		return fmt.Errorf("number of campaign %s: %w", c.ID, err)
	}
	sp, err := p.CheckTemplate(ctx, number, c.TemplateName, c.TemplateLanguage, c.Parameters)
	if err != nil {
		return err
	}
	page, err := p.Store.ListLeads(ctx, c.OrgID, c.Filter, c.PageSize, c.Cursor)
	if err != nil {
		return fmt.Errorf("list leads of campaign %s: %w", c.ID, err)
	}
	n := PageCounts{Skipped: map[string]int{}}
	limited := false
	for _, l := range page.Items {
		n.Matched++
		reason, err := p.send(ctx, c, number, sp, l, &limited)
		if err != nil {
			return err
		}
		if reason != "" {
			n.Skipped[reason]++
		} else {
			n.Queued++
		}
	}
	if err := p.Store.CommitCampaignPage(ctx, c.OrgID, c.ID, c.Version, page.Next, n, p.now()); err != nil {
		return fmt.Errorf("commit campaign page: %w", err)
	}
	if limited && !page.Next.IsZero() {
		// The day's messages are used up: stop here rather than skip
		// every remaining lead. A pause another request made first is no
		// error.
		p.logger().WarnContext(ctx, "campaign paused at the plan's limit", "org_id", c.OrgID, "campaign", c.ID)
		err := p.Store.SetCampaignStatus(ctx, c.OrgID, c.ID, StatusRunning, StatusPaused, p.now())
		if err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("pause campaign %s at the plan's limit: %w", c.ID, err)
		}
	}
	return nil
}

// send queues the campaign's message to one lead, or returns why the lead
// is skipped. A lead that already has its message (the page is processed
// again) counts as queued and gets no second one. Once a message is
// refused at the plan's limit, limited is set and the page's later leads
// are skipped for it too.
func (p *Pages) send(ctx context.Context, c Campaign, number integration.Integration, sp watemplate.Spec, l lead.Lead, limited *bool) (string, error) {
	if l.Phone == "" {
		return SkipNoPhone, nil
	}
	details := map[string]string{"template": sp.Name, "language": sp.Language, sendgate.DetailCategory: strings.ToLower(sp.Category), conversation.DetailCampaignID: c.ID}
	probe := conversation.Message{Channel: conversation.ChannelWhatsApp, ClientMessageID: ClientMessageID(c.ID, l.ID), Details: details}
	if r := sendgate.Consent(probe, "template", l.Consent, l.LastInboundAt, p.now()); r != nil {
		if r.Title == sendgate.TitleOptedOut {
			return SkipOptedOut, nil
		}
		return SkipConsentRequired, nil
	}
	comps, missing := components(c.Parameters, leadValue(l))
	if missing {
		return SkipMissingParameter, nil
	}
	_, wt, err := p.Templates.Check(ctx, number, watemplate.Send{Name: c.TemplateName, Language: c.TemplateLanguage, Components: comps})
	if err != nil {
		return "", err
	}
	if *limited {
		return SkipPlanLimit, nil
	}
	if p.Quota != nil {
		// Counted once per message: a page processed again finds its
		// messages counted and queued already.
		err := p.Quota.TakeOnce(ctx, c.OrgID, plan.WhatsAppPerDay, ClientMessageID(c.ID, l.ID))
		if _, ok := plan.IsLimit(err); ok {
			*limited = true
			return SkipPlanLimit, nil
		}
		if err != nil {
			return "", fmt.Errorf("count campaign message: %w", err)
		}
	}
	raw, err := json.Marshal(message{MessagingProduct: "whatsapp", RecipientType: "individual", Type: "template",
		To: strings.TrimPrefix(l.Phone, "+"), Template: wt})
	if err != nil {
		return "", fmt.Errorf("encode campaign payload: %w", err)
	}
	now := p.now().UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: c.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, At: now, Type: "template", Number: number.ExternalID,
		ClientMessageID: ClientMessageID(c.ID, l.ID), Payload: string(raw), Details: details}
	stored, created, err := p.Store.QueueOutbound(ctx, m)
	if err != nil {
		return "", fmt.Errorf("queue campaign message: %w", err)
	}
	if !created {
		// Queued by an earlier run of this page. Its job is on the queue,
		// unless that run stopped between the write and the enqueue: a
		// message still queued long after is put on the queue again (the
		// sender claims each message once).
		if stored.Status == conversation.StatusQueued && now.Sub(stored.At) > sendgate.RequeueStuckAfter {
			if err := p.Enqueue(ctx, stored.OrgID, stored.LeadID, stored.ID); err != nil {
				return "", fmt.Errorf("%w %s: %w", ErrEnqueue, stored.ID, err)
			}
		}
		return "", nil
	}
	if err := p.Enqueue(ctx, stored.OrgID, stored.LeadID, stored.ID); err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrEnqueue, stored.ID, err)
	}
	return "", nil
}
