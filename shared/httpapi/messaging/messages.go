// Package messaging is the messaging area of the HTTP API: sending
// WhatsApp and email messages to leads, their conversations and the inbox,
// WhatsApp templates, the automation settings and the org's own email
// sender address.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/sendproblem"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/watemplate"
)

// Sending: POST /v1/leads/{id}/messages checks the request, the lead's
// consent, WhatsApp's 24-hour customer-service window and the template,
// writes the message as queued (once per client_message_id), and only then
// puts a job for it on the outbound queue. The sender checks consent and the
// window again when it sends, because the truth may change in between; both
// use the same rules (package sendgate: OptedOut, WindowOpen), and the
// stored message carries what the sender needs for them (the template's
// category in Details, the payload, the number).

// Store is what the messaging routes need from storage.
type Store interface {
	GetOrg(ctx context.Context, orgID string) (account.Org, error)
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
	QueueOutbound(ctx context.Context, m conversation.Message) (stored conversation.Message, created bool, err error)
	MessageByClientID(ctx context.Context, orgID, clientID string) (conversation.Message, bool, error)
	ClaimSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	FailSend(ctx context.Context, orgID, leadID, msgID string, st conversation.Status, code int, title, reason string, at time.Time) error
	MessagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from page.Cursor) ([]conversation.Message, page.Cursor, error)
	StatusLogs(ctx context.Context, providerIDs []string) (map[string][]conversation.StatusEvent, error)
	Inbox(ctx context.Context, orgID string, f conversation.InboxFilter, limit int, from page.Cursor) ([]conversation.InboxEntry, page.Cursor, error)
	MarkConversationRead(ctx context.Context, orgID, leadID string) (cleared int, ok bool, err error)
	Conversation(ctx context.Context, orgID, leadID string) (conversation.Summary, bool, error)
	ClearUnread(ctx context.Context, seen conversation.Summary) error
}

// Enqueue puts the job "send this message" on the outbound queue.
type Enqueue func(ctx context.Context, orgID, leadID, messageID string) error

// Leads finds the lead the caller may see (lead.Service).
type Leads interface {
	Get(ctx context.Context, a lead.Actor, id string) (lead.Lead, error)
}

// EmailRate counts an org's emails in one-minute windows, shared by every
// api instance (a conditional counter in the table).
type EmailRate interface {
	// CountEmailSend counts one email of org in the minute starting at
	// window if fewer than limit were counted; false when at the limit.
	CountEmailSend(ctx context.Context, orgID string, window time.Time, limit int) (bool, error)
}

// Deps are the collaborators of the messaging routes: sending,
// conversation history, the inbox, WhatsApp templates, automations and the
// sender address.
type Deps struct {
	Store   Store
	Leads   Leads
	Enqueue Enqueue
	// Templates lists WhatsApp templates and checks template sends; the
	// campaign routes share it, and so its cache of template lists.
	Templates *watemplate.Catalog
	// Automations, when set, serves the automation settings routes.
	Automations AutomationStore
	// EmailRate, when set, counts each org's emails per minute against
	// EmailsPerMinute (dynamostore.Store.CountEmailSend): over it an email
	// is 429 email_rate_limited.
	EmailRate       EmailRate
	EmailsPerMinute int
	// Plans counts the messages sent against the org's plan
	// (plan.WhatsAppPerDay, plan.EmailPerDay); nil counts nothing.
	Plans httpapi.PlanUsage
	// Senders, when set, serves the org's own sender address, which emails
	// to leads go from once SES has verified it (account.SenderService);
	// without it, or without a verified address, emails are refused.
	Senders Senders
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the messaging routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	s.registerMessaging(api)
	s.registerAutomations(api)
	s.registerEmailSender(api)
}

// visibleLead loads a lead the caller may see (lead.Service.Get): others
// are "not found", so nobody learns that a lead they may not see exists.
func (s *server) visibleLead(ctx context.Context, id string) (lead.Lead, error) {
	p := httpapi.Caller(ctx)
	l, err := s.deps.Leads.Get(ctx, lead.Actor{User: p.User, Region: p.Region}, id)
	if errors.Is(err, lead.ErrNotFound) {
		return lead.Lead{}, httpapi.NotFound("lead")
	}
	if err != nil {
		return lead.Lead{}, s.Internal(ctx, "read lead", err)
	}
	return l, nil
}

// Limits of the WhatsApp Cloud API and of our inbox.
const (
	maxWhatsAppText = 4096
)

// MessageIn is a message to send to a lead.
type MessageIn struct {
	Channel         string `json:"channel" enum:"whatsapp,email"`
	ClientMessageID string `json:"client_message_id" minLength:"1" maxLength:"100" doc:"Your idempotency key: sending again with the same key returns the message sent first and sends nothing new. Keys starting with auto: or campaign: are the platform's (422 reserved_client_message_id)."`
	Type            string `json:"type,omitempty" enum:"text,template,interactive" doc:"WhatsApp only (default text)."`
	Text            string `json:"text,omitempty" maxLength:"60000" doc:"WhatsApp text (at most 4,096 characters), or the email's plain-text part."`
	PreviewURL      bool   `json:"preview_url,omitempty" doc:"WhatsApp text: show a preview of the first link."`
	// Template is the WhatsApp template to send (type template).
	Template *TemplateIn `json:"template,omitempty"`
	// Interactive is the WhatsApp interactive message (type interactive).
	Interactive   *InteractiveIn `json:"interactive,omitempty"`
	PhoneNumberID string         `json:"phone_number_id,omitempty" maxLength:"64" pattern:"^[0-9]+$" doc:"WhatsApp: the business number to send from; default the organisation's most recently connected active number."`
	Subject       string         `json:"subject,omitempty" maxLength:"998" doc:"Email subject (required for email); one line: a CR or LF is 422 invalid_subject."`
	HTML          string         `json:"html,omitempty" maxLength:"60000" doc:"Email HTML part; text and/or html is required. Sanitized when accepted: scripts, event handlers, forms, frames, style sheets, images and URLs other than http(s) and mailto are removed; links get rel=\"nofollow noreferrer noopener\"."`
	Purpose       string         `json:"purpose,omitempty" enum:"service,marketing" doc:"Email only: service (default), a one-to-one message refused only by an opt-out; marketing needs the lead's email marketing opt-in (409 consent_required without it)."`
}

// TemplateIn names a WhatsApp template and fills its placeholders.
type TemplateIn struct {
	Name       string                `json:"name" minLength:"1" maxLength:"512"`
	Language   string                `json:"language" minLength:"2" maxLength:"15" doc:"Meta's locale code, e.g. en_US."`
	Components []TemplateComponentIn `json:"components,omitempty" maxItems:"12"`
}

// TemplateComponentIn gives the parameters of one part of a template.
type TemplateComponentIn struct {
	Type       string            `json:"type" enum:"header,body,button"`
	Index      *int              `json:"index,omitempty" minimum:"0" maximum:"9" doc:"Button: its position among the template's buttons; default the template's buttons that take parameters, in order."`
	Parameters []TemplateParamIn `json:"parameters" maxItems:"20"`
}

// TemplateParamIn is one placeholder value.
type TemplateParamIn struct {
	Type string `json:"type" enum:"text"`
	Text string `json:"text" minLength:"1" maxLength:"1024"`
}

// InteractiveIn is a WhatsApp interactive message: reply buttons or a list.
type InteractiveIn struct {
	Body    string          `json:"body" minLength:"1" maxLength:"1024"`
	Header  string          `json:"header,omitempty" maxLength:"60"`
	Footer  string          `json:"footer,omitempty" maxLength:"60"`
	Buttons []ReplyButtonIn `json:"buttons,omitempty" maxItems:"3" doc:"Up to 3 reply buttons; or give list."`
	List    *ListIn         `json:"list,omitempty"`
}

// ReplyButtonIn is a reply button.
type ReplyButtonIn struct {
	ID    string `json:"id" minLength:"1" maxLength:"256"`
	Title string `json:"title" minLength:"1" maxLength:"20"`
}

// ListIn is a list message: a button that opens up to 10 rows in sections.
type ListIn struct {
	Button   string          `json:"button" minLength:"1" maxLength:"20"`
	Sections []ListSectionIn `json:"sections" minItems:"1" maxItems:"10"`
}

// ListSectionIn is a titled group of rows (the title is required when there
// is more than one section).
type ListSectionIn struct {
	Title string      `json:"title,omitempty" maxLength:"24"`
	Rows  []ListRowIn `json:"rows" minItems:"1" maxItems:"10"`
}

// ListRowIn is one choice of a list.
type ListRowIn struct {
	ID          string `json:"id" minLength:"1" maxLength:"200"`
	Title       string `json:"title" minLength:"1" maxLength:"24"`
	Description string `json:"description,omitempty" maxLength:"72"`
}

// MessageError explains a failed message.
type MessageError struct {
	Code   int    `json:"code" doc:"The provider's error code (WhatsApp's 131047, say), or 0."`
	Title  string `json:"title"`
	Reason string `json:"reason" doc:"What happened, in plain language."`
}

// StatusOut is one status report of an outbound message.
type StatusOut struct {
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	ErrorCode  int       `json:"error_code,omitempty"`
	ErrorTitle string    `json:"error_title,omitempty"`
}

// MediaOut describes an attachment by Meta's ids.
type MediaOut struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// MessageOut is a message of a conversation as the API shows it.
type MessageOut struct {
	ID              string            `json:"id"`
	LeadID          string            `json:"lead_id"`
	Channel         string            `json:"channel" enum:"whatsapp,email"`
	Direction       string            `json:"direction" enum:"inbound,outbound"`
	Type            string            `json:"type" doc:"text, template, interactive, email, image, ..."`
	Text            *string           `json:"text"`
	Media           *MediaOut         `json:"media,omitempty"`
	Details         map[string]string `json:"details" doc:"Type-specific facts: template name and language, email subject, reply ids, ..."`
	Status          string            `json:"status" enum:"received,queued,sending,unknown,accepted,sent,delivered,read,failed"`
	Error           *MessageError     `json:"error" doc:"Why the message failed; null otherwise."`
	At              time.Time         `json:"at"`
	Number          *string           `json:"number" doc:"The business's WhatsApp phone_number_id or sender address."`
	ClientMessageID *string           `json:"client_message_id"`
	ProviderID      *string           `json:"provider_id" doc:"WhatsApp wamid or SES message id, once sent."`
	StatusHistory   []StatusOut       `json:"status_history" doc:"Every status report received, in time order."`
	SanitizedAt     *time.Time        `json:"sanitized_at" doc:"When the org's content period passed and the text was masked and cut to a preview, media and details dropped; null while intact."`
	Reengagement    *ReengagementOut  `json:"reengagement" doc:"For a WhatsApp message that failed with error 131047 (the 24-hour window had closed): the offer to reach the lead again with the org's re-engagement template. Null otherwise."`
}

// ReengagementOut offers the org's re-engagement template for a message
// that failed with WhatsApp error 131047.
type ReengagementOut struct {
	Template *string `json:"template" doc:"The org's re-engagement template (PUT /v1/automations, reengagement.template); null when none is configured."`
	Language *string `json:"language" doc:"The template's language code; null when no template is configured."`
	Allowed  bool    `json:"allowed" doc:"Whether the lead's consent allows sending the template now: a template outside the 24-hour window starts contact, so it needs the lead's WhatsApp opt-in for the template's purpose (marketing unless the template is configured as utility). False when no template is configured."`
	AutoSend bool    `json:"auto_send" doc:"Whether the org sends it automatically (reengagement.auto_send): then, when allowed, it was queued once for this message, with client_message_id auto:reengage:<this message's id>."`
}

// MessageList is one page of a lead's conversation.
type MessageList struct {
	Items      []MessageOut `json:"items"`
	NextCursor *string      `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page."`
}

type messageOutput struct {
	Status int
	Body   MessageOut
}

// The WhatsApp Cloud API message object (POST /{phone_number_id}/messages).
type waMessage struct {
	MessagingProduct string         `json:"messaging_product"`
	RecipientType    string         `json:"recipient_type"`
	To               string         `json:"to"`
	Type             string         `json:"type"`
	Text             *waText        `json:"text,omitempty"`
	Template         *waTemplate    `json:"template,omitempty"`
	Interactive      *waInteractive `json:"interactive,omitempty"`
}

type waText struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

type waInteractive struct {
	Type   string    `json:"type"`
	Header *waHeader `json:"header,omitempty"`
	Body   waBody    `json:"body"`
	Footer *waBody   `json:"footer,omitempty"`
	Action waAction  `json:"action"`
}

type waHeader struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type waBody struct {
	Text string `json:"text"`
}

type waAction struct {
	Buttons  []waButton  `json:"buttons,omitempty"`
	Button   string      `json:"button,omitempty"`
	Sections []waSection `json:"sections,omitempty"`
}

type waButton struct {
	Type  string  `json:"type"`
	Reply waReply `json:"reply"`
}

type waReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type waSection struct {
	Title string  `json:"title,omitempty"`
	Rows  []waRow `json:"rows"`
}

type waRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// emailPayload is the Payload of an email message, which the sender turns
// into an SES v2 SendEmail (the sender reads it as its outbound email
// payload, sendgate.Email: from, to, subject, text and/or html).
type emailPayload struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

func (s *server) registerMessaging(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "send-message", Method: http.MethodPost, Path: "/v1/leads/{id}/messages", Tags: []string{"messages"},
		Summary: "Send a WhatsApp or email message to a lead",
		Description: "Checks the request, consent, WhatsApp's 24-hour customer-service window and the template, writes the message " +
			"as queued and puts it on the outbound queue: 202 with the message. The same client_message_id again answers 200 " +
			"with the message stored the first time and sends nothing new. Refusals carry a code: opted_out (409), " +
			"consent_required (409, with channel and purpose: a WhatsApp template outside the 24-hour window needs the lead's " +
			"WhatsApp service opt-in, a marketing template or a marketing email always needs the marketing opt-in of its channel), " +
			"outside_customer_service_window (422: send an approved template instead), no_active_integration (409), " +
			"unknown_template / template_not_approved / template_parameters (422), missing_phone / missing_email (422). " +
			"Emails go only from the organisation's own sender address once SES has verified it (PUT /v1/email/sender), " +
			"with the organisation's name as display name; without one they are refused (409 no_verified_sender). " +
			"Each organisation may queue a limited number of emails a minute (60 by default): more are 429 email_rate_limited " +
			"with Retry-After.",
		DefaultStatus: http.StatusAccepted, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, s.sendMessage)
	huma.Register(api, huma.Operation{
		OperationID: "list-messages", Method: http.MethodGet, Path: "/v1/leads/{id}/messages", Tags: []string{"messages"},
		Summary: "A lead's conversation: both directions, both channels",
		Description: "Messages in time order, oldest first (order=desc for newest first, as a chat view loading older " +
			"messages on scroll wants), each with its current status, the error of a failed one and every status report.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, s.listMessages)
	s.registerConversations(api)
	s.registerTemplates(api)
}

func (s *server) sendMessage(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body MessageIn
}) (*messageOutput, error) {
	p := httpapi.Caller(ctx)
	d := s.deps
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.CanWriteLeads() {
		return nil, s.Deny(ctx, "message.send", "lead", l.ID, "your role can read conversations but not send messages")
	}
	b := &in.Body
	b.ClientMessageID = strings.TrimSpace(b.ClientMessageID)
	if b.ClientMessageID == "" {
		return nil, httpapi.FieldProblem("client_message_id", "must not be blank")
	}
	if conversation.SystemClientID(b.ClientMessageID) {
		return nil, codedFieldProblemAt("reserved_client_message_id", "body.client_message_id",
			"client message ids starting with "+conversation.AutomationClientIDPrefix+" or "+conversation.CampaignClientIDPrefix+
				" are reserved for automations and campaigns; choose another")
	}
	// A retry returns the message of the first request, whatever the gates
	// say now: it was accepted then.
	if prev, ok, err := d.Store.MessageByClientID(ctx, l.OrgID, b.ClientMessageID); err != nil {
		return nil, s.Internal(ctx, "read message by client id", err)
	} else if ok {
		return s.replay(ctx, l, prev)
	}
	now := s.Now().UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.Channel(b.Channel), Direction: conversation.Outbound, At: now, ClientMessageID: b.ClientMessageID,
		Details: map[string]string{}}
	var payload any
	switch m.Channel {
	case conversation.ChannelEmail:
		payload, err = s.prepareEmail(ctx, l, b, &m)
	default:
		payload, err = s.prepareWhatsApp(ctx, l, b, &m)
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, s.Internal(ctx, "encode payload", err)
	}
	m.Payload = string(raw)
	// What the conversation held before the reply: the reply marks that
	// read, not what arrives while it is written (see below).
	seen, hasConv, err := d.Store.Conversation(ctx, l.OrgID, l.ID)
	if err != nil {
		return nil, s.Internal(ctx, "read conversation", err)
	}
	// The plan's messages of the day, last of the checks: taken
	// atomically, given back when the message is not queued.
	metric := plan.WhatsAppPerDay
	if m.Channel == conversation.ChannelEmail {
		metric = plan.EmailPerDay
	}
	if err := s.TakePlan(ctx, d.Plans, l.OrgID, metric); err != nil {
		return nil, err
	}
	queued := false
	defer func() {
		if !queued {
			s.ReleasePlan(ctx, d.Plans, l.OrgID, metric)
		}
	}()
	stored, created, err := d.Store.QueueOutbound(ctx, m)
	if err != nil {
		// The write may have been applied with its answer lost (a 5xx or a
		// timeout after the commit). Then this request's message is stored
		// as queued and nobody else would put its job on the queue: a retry
		// with the same client_message_id only finds it queued. Read it
		// back and carry on if it is ours.
		prev, ok, rerr := d.Store.MessageByClientID(ctx, l.OrgID, b.ClientMessageID)
		if rerr != nil || !ok || prev.ID != m.ID || prev.Status != conversation.StatusQueued {
			return nil, s.Internal(ctx, "queue outbound message", err)
		}
		s.Log().WarnContext(ctx, "queue outbound message: answer lost, the write was applied", "message", m.ID, "err", err)
		stored, created = prev, true
	}
	if !created {
		// A concurrent request with the same client_message_id won.
		return s.replay(ctx, l, stored)
	}
	if err := d.Enqueue(ctx, stored.OrgID, stored.LeadID, stored.ID); err != nil {
		s.Log().ErrorContext(ctx, "enqueue outbound message", "message", stored.ID, "err", err)
		reason := "The message could not be put on the send queue and was not sent; send it again with a new client_message_id."
		s.failUnqueued(ctx, stored, reason, now)
		return nil, httpapi.NewProblem(http.StatusServiceUnavailable, "queue_unavailable", reason)
	}
	queued = true
	details := map[string]string{"channel": string(m.Channel), "type": m.Type, "message_id": m.ID}
	if t := m.Details["template"]; t != "" {
		details["template"] = t
	}
	s.Record(ctx, audit.Record{OrgID: l.OrgID, ActorID: p.User.ID, Action: "message.send", TargetType: "lead", TargetID: l.ID, Details: details})
	// Someone who answers a conversation has read what it held, as in any
	// team inbox; a message that arrived meanwhile stays unread. The reply
	// is queued whatever happens here, so a failure is only logged.
	if hasConv {
		if err := d.Store.ClearUnread(ctx, seen); err != nil {
			s.Log().WarnContext(ctx, "mark conversation read after a reply", "lead_id", l.ID, "err", err)
		}
	}
	return &messageOutput{Status: http.StatusAccepted, Body: messageOut(stored, nil)}, nil
}

// replay answers a repeated client_message_id with the stored message. A
// message still queued gets its job put on the queue again: the first
// request may have stopped between its write and its enqueue, or lost the
// answer of its write and failed, and a client retries at once. The sender
// claims each message once (queued → sending), so a second job never sends
// twice.
func (s *server) replay(ctx context.Context, l lead.Lead, prev conversation.Message) (*messageOutput, error) {
	if prev.LeadID != l.ID {
		p := httpapi.FieldProblem("client_message_id", "was already used for a message to another lead")
		p.Status, p.Title, p.Code, p.Type = http.StatusConflict, http.StatusText(http.StatusConflict), "client_message_id_reused", httpapi.ProblemTypeBase+"client_message_id_reused"
		return nil, p
	}
	if prev.Status == conversation.StatusQueued {
		if err := s.deps.Enqueue(ctx, prev.OrgID, prev.LeadID, prev.ID); err != nil {
			s.Log().ErrorContext(ctx, "re-enqueue stuck message", "message", prev.ID, "err", err)
		}
	}
	return &messageOutput{Status: http.StatusOK, Body: messageOut(prev, nil)}, nil
}

// unqueuedTries is how many times failUnqueued tries each of its writes.
const unqueuedTries = 3

// failUnqueued marks a message whose job could not be queued failed with
// reason: it claims the message (queued to sending) and fails it (sending
// to failed), trying each write up to unqueuedTries times, so that the
// message is not left queued or sending with no job to send it. A write's
// error may be an applied write whose answer was lost: a claim tried again
// then finds the message sending (ErrNotQueued), which is this request's
// own claim, and a failure mark tried again finds it failed. A claim that
// finds the message not queued at its first try leaves it alone (a retry
// of the request queued it again and a sender holds it).
func (s *server) failUnqueued(ctx context.Context, m conversation.Message, reason string, now time.Time) {
	d := s.deps
	var err error
	for try := range unqueuedTries {
		err = d.Store.ClaimSend(ctx, m.OrgID, m.LeadID, m.ID, now)
		if errors.Is(err, conversation.ErrNotQueued) && try == 0 {
			return
		}
		if err == nil || errors.Is(err, conversation.ErrNotQueued) {
			break
		}
	}
	if err != nil && !errors.Is(err, conversation.ErrNotQueued) {
		s.Log().ErrorContext(ctx, "claim unqueued message", "message", m.ID, "err", err)
		return
	}
	for range unqueuedTries {
		err = d.Store.FailSend(ctx, m.OrgID, m.LeadID, m.ID, conversation.StatusFailed, 0, "not queued", reason, now)
		if err == nil || errors.Is(err, conversation.ErrNotQueued) {
			return
		}
	}
	s.Log().ErrorContext(ctx, "mark unqueued message failed", "message", m.ID, "err", err)
}

// prepareEmail checks an email and returns its payload.
func (s *server) prepareEmail(ctx context.Context, l lead.Lead, b *MessageIn, m *conversation.Message) (any, error) {
	switch {
	case b.Type != "":
		return nil, httpapi.FieldProblem("type", "is for WhatsApp messages only; an email has subject, text and/or html")
	case b.Template != nil || b.Interactive != nil || b.PhoneNumberID != "":
		return nil, httpapi.FieldProblem("template", "template, interactive and phone_number_id are for WhatsApp messages only")
	case strings.TrimSpace(b.Subject) == "":
		return nil, httpapi.FieldProblem("subject", "is required for an email")
	case strings.ContainsAny(b.Subject, "\r\n"):
		// A line break would end the Subject header and start another.
		return nil, httpapi.CodedFieldProblem("invalid_subject", "subject", "must be one line: no carriage return or line feed")
	case strings.TrimSpace(b.Text) == "" && strings.TrimSpace(b.HTML) == "":
		return nil, httpapi.FieldProblem("text", "an email needs text and/or html")
	case l.Email == "":
		return nil, codedFieldProblemAt("missing_email", "lead.email", "the lead has no email address; add one to the lead first")
	}
	if b.Purpose == conversation.PurposeMarketing {
		m.Details[sendgate.DetailPurpose] = conversation.PurposeMarketing
	}
	if err := sendproblem.Consent(sendgate.Consent(*m, "", l.Consent, l.LastInboundAt, s.Now())); err != nil {
		return nil, err
	}
	org, err := s.deps.Store.GetOrg(ctx, l.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "read org", err)
	}
	from, err := s.emailFrom(ctx, org)
	if err != nil {
		return nil, err
	}
	// The HTML part is sanitized here, where the message is accepted, so
	// what is stored and shown is what is sent; the text part is sent as
	// written (a mail client shows it as text).
	html := b.HTML
	if html != "" {
		if html = sanitizeEmailHTML(html); strings.TrimSpace(b.Text) == "" && strings.TrimSpace(html) == "" {
			return nil, httpapi.FieldProblem("html", "holds nothing an email may carry once scripts, forms, images and the like are removed; add text")
		}
	}
	if err := s.countEmail(ctx, l.OrgID); err != nil {
		return nil, err
	}
	m.Type, m.Text, m.Number = "email", b.Text, from.Address
	m.Details["subject"] = b.Subject
	return emailPayload{From: from.String(), To: l.Email, Subject: b.Subject, Text: b.Text, HTML: html}, nil
}

// countEmail counts an email against its org's limit per minute, last of
// the checks so that only an email about to be queued counts: over the
// limit it is 429 email_rate_limited with Retry-After the seconds to the
// next minute.
func (s *server) countEmail(ctx context.Context, orgID string) error {
	if s.deps.EmailRate == nil || s.deps.EmailsPerMinute <= 0 {
		return nil
	}
	now := s.Now().UTC()
	window := now.Truncate(time.Minute)
	ok, err := s.deps.EmailRate.CountEmailSend(ctx, orgID, window, s.deps.EmailsPerMinute)
	if err != nil {
		return s.Internal(ctx, "count email against the org's limit", err)
	}
	if ok {
		return nil
	}
	wait := int(math.Ceil(window.Add(time.Minute).Sub(now).Seconds()))
	return huma.ErrorWithHeaders(
		httpapi.NewProblem(http.StatusTooManyRequests, "email_rate_limited", fmt.Sprintf(
			"the organisation queued its %d emails of this minute; send again after the Retry-After seconds", s.deps.EmailsPerMinute)),
		http.Header{"Retry-After": []string{strconv.Itoa(max(wait, 1))}})
}

// prepareWhatsApp checks a WhatsApp message against the lead, the org's
// numbers, the template, consent and the window, and returns its payload.
func (s *server) prepareWhatsApp(ctx context.Context, l lead.Lead, b *MessageIn, m *conversation.Message) (any, error) {
	if b.Type == "" {
		b.Type = "text"
	}
	if b.Subject != "" || b.HTML != "" {
		return nil, httpapi.FieldProblem("subject", "subject and html are for emails only")
	}
	if b.Purpose != "" {
		return nil, httpapi.FieldProblem("purpose", "is for emails only; a WhatsApp message's purpose is its template's category")
	}
	msg := waMessage{MessagingProduct: "whatsapp", RecipientType: "individual", Type: b.Type}
	switch b.Type {
	case "text":
		if b.Template != nil || b.Interactive != nil {
			return nil, httpapi.FieldProblem("type", "a text message takes text only; set type to template or interactive")
		}
		if strings.TrimSpace(b.Text) == "" {
			return nil, httpapi.FieldProblem("text", "is required for a text message")
		}
		if n := utf8.RuneCountInString(b.Text); n > maxWhatsAppText {
			return nil, httpapi.FieldProblem("text", fmt.Sprintf("is %d characters; WhatsApp allows at most %d", n, maxWhatsAppText))
		}
		msg.Text = &waText{Body: b.Text, PreviewURL: b.PreviewURL}
		m.Text = b.Text
	case "template":
		if b.Template == nil || b.Text != "" || b.Interactive != nil {
			return nil, httpapi.FieldProblem("template", "a template message takes template only (name, language, components)")
		}
	case "interactive":
		if b.Interactive == nil || b.Text != "" || b.Template != nil {
			return nil, httpapi.FieldProblem("interactive", "an interactive message takes interactive only (body and buttons or list)")
		}
		ia, err := interactivePayload(b.Interactive)
		if err != nil {
			return nil, err
		}
		msg.Interactive = ia
		m.Text = b.Interactive.Body
		m.Details["interactive"] = ia.Type
	}
	if l.Phone == "" {
		return nil, codedFieldProblemAt("missing_phone", "lead.phone", "the lead has no phone number; add one to the lead first")
	}
	msg.To = strings.TrimPrefix(l.Phone, "+")
	number, err := sendproblem.PickNumber(ctx, s.Kit, s.deps.Store, l.OrgID, b.PhoneNumberID)
	if err != nil {
		return nil, err
	}
	if b.Type == "template" {
		sp, t, err := s.checkTemplate(ctx, number, b.Template)
		if err != nil {
			return nil, err
		}
		msg.Template = t
		m.Details["template"], m.Details["language"] = sp.Name, sp.Language
		m.Details[sendgate.DetailCategory] = strings.ToLower(sp.Category)
	}
	if err := sendproblem.Consent(sendgate.Consent(*m, b.Type, l.Consent, l.LastInboundAt, s.Now())); err != nil {
		return nil, err
	}
	if b.Type != "template" {
		if open, until := windowOf(l.LastInboundAt, s.Now()); !open {
			detail := "the lead has never written on WhatsApp, so only an approved template can start the conversation; send type template"
			if until != nil {
				detail = fmt.Sprintf("WhatsApp's 24-hour customer-service window closed at %s (24 h after the lead's last message); "+
					"free-form text and interactive messages need an open window: send an approved template instead (type template)",
					until.UTC().Format(time.RFC3339))
			}
			p := httpapi.NewProblem(http.StatusUnprocessableEntity, "outside_customer_service_window", detail)
			p.Errors = []*huma.ErrorDetail{{Message: "needs an open 24-hour window; use type template", Location: "body.type", Value: b.Type}}
			return nil, p
		}
	}
	m.Type, m.Number = b.Type, number.ExternalID
	return msg, nil
}

func interactivePayload(in *InteractiveIn) (*waInteractive, error) {
	if strings.TrimSpace(in.Body) == "" {
		return nil, httpapi.FieldProblem("interactive.body", "must not be blank")
	}
	out := &waInteractive{Body: waBody{Text: in.Body}}
	if in.Header != "" {
		out.Header = &waHeader{Type: "text", Text: in.Header}
	}
	if in.Footer != "" {
		out.Footer = &waBody{Text: in.Footer}
	}
	switch {
	case len(in.Buttons) > 0 && in.List != nil, len(in.Buttons) == 0 && in.List == nil:
		return nil, httpapi.FieldProblem("interactive", "give either buttons (up to 3) or list (up to 10 rows)")
	case len(in.Buttons) > 0:
		out.Type = "button"
		seen := map[string]bool{}
		for i, b := range in.Buttons {
			if seen[b.ID] {
				return nil, httpapi.FieldProblem(fmt.Sprintf("interactive.buttons[%d].id", i), "must be unique")
			}
			seen[b.ID] = true
			out.Action.Buttons = append(out.Action.Buttons, waButton{Type: "reply", Reply: waReply(b)})
		}
	default:
		out.Type = "list"
		out.Action.Button = in.List.Button
		rows, seen := 0, map[string]bool{}
		for i, sec := range in.List.Sections {
			if len(in.List.Sections) > 1 && sec.Title == "" {
				return nil, httpapi.FieldProblem(fmt.Sprintf("interactive.list.sections[%d].title", i), "is required when there is more than one section")
			}
			ws := waSection{Title: sec.Title}
			for j, r := range sec.Rows {
				if seen[r.ID] {
					return nil, httpapi.FieldProblem(fmt.Sprintf("interactive.list.sections[%d].rows[%d].id", i, j), "must be unique")
				}
				seen[r.ID] = true
				ws.Rows = append(ws.Rows, waRow(r))
			}
			rows += len(sec.Rows)
			out.Action.Sections = append(out.Action.Sections, ws)
		}
		if rows > 10 {
			return nil, httpapi.FieldProblem("interactive.list.sections", fmt.Sprintf("has %d rows; WhatsApp allows at most 10 in all", rows))
		}
	}
	return out, nil
}

// windowOf reports WhatsApp's customer-service window: open until 24 h after
// the lead's last inbound message (until is nil when it never wrote).
func windowOf(lastInbound, now time.Time) (open bool, until *time.Time) {
	if lastInbound.IsZero() {
		return false, nil
	}
	u := lastInbound.Add(sendgate.CustomerServiceWindow).UTC()
	return sendgate.WindowOpen(lastInbound, now), &u
}

// codedFieldProblemAt is a 422 with its own code on a location outside the
// body (the lead the message is for).
func codedFieldProblemAt(code, location, message string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusUnprocessableEntity, code, message)
	p.Errors = []*huma.ErrorDetail{{Message: message, Location: location}}
	return p
}

// needsReengagement reports whether m is a WhatsApp message (not a
// template) that failed with error 131047.
func needsReengagement(m conversation.Message) bool {
	return m.Direction == conversation.Outbound && m.Channel == conversation.ChannelWhatsApp && m.Type != "template" &&
		m.Status == conversation.StatusFailed && m.ErrorCode == automation.CodeReengagement
}

// reengagementOffer is the re-engagement offer of lead l, read only when
// one of msgs needs it: the org's configured template and whether the
// lead's consent allows it now (sendgate.Consent, as the automation's send
// is checked).
func (s *server) reengagementOffer(ctx context.Context, l lead.Lead, msgs []conversation.Message) (*ReengagementOut, error) {
	if !slices.ContainsFunc(msgs, needsReengagement) {
		return nil, nil
	}
	offer := &ReengagementOut{}
	if s.deps.Automations == nil {
		return offer, nil
	}
	st, err := s.deps.Automations.Settings(ctx, l.OrgID)
	if err != nil {
		return nil, err
	}
	cfg := st.Reengagement
	if cfg.Template == "" || cfg.Language == "" {
		return offer, nil
	}
	offer.Template, offer.Language, offer.AutoSend = &cfg.Template, &cfg.Language, cfg.AutoSend
	probe := conversation.Message{Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, Type: "template",
		ClientMessageID: automation.ReengageClientID(""), Details: map[string]string{sendgate.DetailCategory: cfg.TemplateCategory()}}
	offer.Allowed = sendgate.Consent(probe, "template", l.Consent, l.LastInboundAt, s.Now()) == nil
	return offer, nil
}

func messageOut(m conversation.Message, log []conversation.StatusEvent) MessageOut {
	out := MessageOut{ID: m.ID, LeadID: m.LeadID, Channel: string(m.Channel), Direction: string(m.Direction), Type: m.Type,
		Text: httpapi.Optional(m.Text), Details: m.Details, Status: string(m.Status), At: m.At, Number: httpapi.Optional(m.Number),
		ClientMessageID: httpapi.Optional(m.ClientMessageID), ProviderID: httpapi.Optional(m.ProviderID), StatusHistory: make([]StatusOut, 0, len(log))}
	if out.Details == nil {
		out.Details = map[string]string{}
	}
	if m.Media != nil {
		out.Media = &MediaOut{ID: m.Media.ID, MimeType: m.Media.MimeType, Caption: m.Media.Caption, Filename: m.Media.Filename}
	}
	if m.ErrorCode != 0 || m.ErrorTitle != "" || m.Reason != "" {
		out.Error = &MessageError{Code: m.ErrorCode, Title: m.ErrorTitle, Reason: m.Reason}
	}
	if !m.SanitizedAt.IsZero() {
		at := m.SanitizedAt
		out.SanitizedAt = &at
	}
	for _, ev := range log {
		out.StatusHistory = append(out.StatusHistory, StatusOut{Status: string(ev.Status), At: ev.At, ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle})
	}
	return out
}

func (s *server) listMessages(ctx context.Context, in *struct {
	ID     string `path:"id" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
	Order  string `query:"order" enum:"asc,desc" default:"asc" doc:"asc: oldest first (default); desc: newest first."`
}) (*struct{ Body MessageList }, error) {
	p := httpapi.Caller(ctx)
	d := s.deps
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	scope := fmt.Sprintf("messages|%s|%s|%d", l.ID, in.Order, in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	msgs, next, err := d.Store.MessagesPage(ctx, l.OrgID, l.ID, in.Order == "desc", in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "list messages", err)
	}
	var ids []string
	for _, m := range msgs {
		if m.Direction == conversation.Outbound && m.ProviderID != "" {
			ids = append(ids, m.ProviderID)
		}
	}
	logs, err := d.Store.StatusLogs(ctx, ids)
	if err != nil {
		return nil, s.Internal(ctx, "read status logs", err)
	}
	offer, err := s.reengagementOffer(ctx, l, msgs)
	if err != nil {
		return nil, s.Internal(ctx, "read automations", err)
	}
	out := &struct{ Body MessageList }{Body: MessageList{Items: make([]MessageOut, 0, len(msgs))}}
	for _, m := range msgs {
		var log []conversation.StatusEvent
		if m.Direction == conversation.Outbound {
			log = logs[m.ProviderID]
		}
		mo := messageOut(m, log)
		if needsReengagement(m) {
			mo.Reengagement = offer
		}
		out.Body.Items = append(out.Body.Items, mo)
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(p.User.OrgID, scope, next))
	s.ReadAudit(ctx, audit.ActionMessagesRead, l.ID, map[string]string{"count": strconv.Itoa(len(msgs)), "limit": strconv.Itoa(in.Limit),
		"order": in.Order, "next_page": strconv.FormatBool(in.Cursor != "")})
	return out, nil
}
