package messaging

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
)

// The inbox reads the conversation summaries the store keeps per lead,
// newest message first (see docs/conversations.md): one Query on the inbox
// index (the assignee's for assignee_id and for agents) and one
// BatchGetItem for the leads and their latest messages.

const (
	// previewRunes is the length of a last-message preview.
	previewRunes = 120
)

// ConversationLead is the lead of an inbox entry.
type ConversationLead struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Phone      *string `json:"phone"`
	Email      *string `json:"email"`
	Status     string  `json:"status"`
	AssigneeID *string `json:"assignee_id"`
}

// LastMessageOut is the latest message of a conversation.
type LastMessageOut struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel" enum:"whatsapp,email"`
	Direction string    `json:"direction" enum:"inbound,outbound"`
	Type      string    `json:"type"`
	Preview   string    `json:"preview" doc:"The start of the text (at most 120 characters), the email subject, or the template name in brackets."`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	// SanitizedAt: see MessageOut.
	SanitizedAt *time.Time `json:"sanitized_at" doc:"When the message's content was sanitized (the org's content period passed); null while intact."`
}

// WindowOut is WhatsApp's 24-hour customer-service window of a lead.
type WindowOut struct {
	Open  bool       `json:"open" doc:"Free-form WhatsApp messages can be sent now."`
	Until *time.Time `json:"until" doc:"When the window closes (or closed): 24 h after the lead's last WhatsApp message; null if the lead never wrote."`
}

// ConversationOut is one entry of the inbox.
type ConversationOut struct {
	Lead        ConversationLead `json:"lead"`
	LastMessage *LastMessageOut  `json:"last_message" doc:"Null only when the latest message was removed (retention, erasure)."`
	UnreadCount int              `json:"unread_count" doc:"Inbound messages that arrived after the conversation was last marked read."`
	ReadAt      *time.Time       `json:"read_at" doc:"The time of the latest message when the conversation was last marked read; null if never."`
	Window      WindowOut        `json:"window"`
}

// ConversationList is one page of the inbox.
type ConversationList struct {
	Items      []ConversationOut `json:"items"`
	NextCursor *string           `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page. With unread=true a page may hold fewer than limit items (even none) while next_cursor is set."`
}

func (s *server) registerConversations(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-conversations", Method: http.MethodGet, Path: "/v1/conversations", Tags: []string{"messages"},
		Summary: "The inbox: leads with their last message, unread count and WhatsApp window",
		Description: "Leads that have messages, the one with the latest message first, " +
			"with that message, the number of inbound messages since the conversation was last marked read " +
			"(POST /v1/leads/{id}/messages/read) and whether WhatsApp's 24-hour customer-service window is open. " +
			"Agents see only their own leads. With unread=true a page can be short or empty while next_cursor is set: " +
			"follow it until it is null.",
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusBadRequest},
	}, s.listConversations)
	huma.Register(api, huma.Operation{
		OperationID: "mark-conversation-read", Method: http.MethodPost, Path: "/v1/leads/{id}/messages/read", Tags: []string{"messages"},
		Summary: "Mark a lead's conversation read up to its latest message",
		Description: "Moves the conversation's read marker (shared by the whole team) to the time of the latest message, " +
			"never backwards. Messages arriving later count as unread.",
		DefaultStatus: http.StatusNoContent, Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.markRead)
}

func (s *server) markRead(ctx context.Context, in *struct {
	ID string `path:"id" maxLength:"64"`
}) (*struct{}, error) {
	p := httpapi.Caller(ctx)
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.CanWriteLeads() {
		return nil, s.Deny(ctx, "conversation.read", "lead", l.ID, "your role can read conversations but not mark them read")
	}
	if _, _, err := s.deps.Store.MarkConversationRead(ctx, l.OrgID, l.ID); err != nil {
		return nil, s.Internal(ctx, "mark read", err)
	}
	return nil, nil
}

func (s *server) listConversations(ctx context.Context, in *struct {
	AssigneeID string `query:"assignee_id" maxLength:"64" doc:"A user id, \"me\", or \"none\" for leads nobody is assigned to."`
	Unread     bool   `query:"unread" doc:"Only conversations with unread inbound messages."`
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor     string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body ConversationList }, error) {
	p := httpapi.Caller(ctx)
	f := conversation.InboxFilter{AssigneeID: in.AssigneeID, Unread: in.Unread}
	switch f.AssigneeID {
	case "me":
		f.AssigneeID = p.User.ID
	case "none":
		f.AssigneeID, f.Unassigned = "", true
	}
	if !p.User.Role.SeesAllLeads() {
		f.AssigneeID, f.Unassigned = p.User.ID, false
	}
	// "inbox|": cursors of the former lead-ordered inbox are refused.
	scope := fmt.Sprintf("inbox|%s|%t|%t|%d", f.AssigneeID, f.Unassigned, in.Unread, in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	entries, next, err := s.deps.Store.Inbox(ctx, p.User.OrgID, f, in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "inbox", err)
	}
	now := s.Now()
	out := &struct{ Body ConversationList }{Body: ConversationList{Items: make([]ConversationOut, 0, len(entries))}}
	for _, e := range entries {
		out.Body.Items = append(out.Body.Items, conversationOut(e, now))
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(p.User.OrgID, scope, next))
	var none, unread string
	if f.Unassigned {
		none = "true"
	}
	if in.Unread {
		unread = "true"
	}
	s.ReadAudit(ctx, audit.ActionConversationsList, "", map[string]string{"count": strconv.Itoa(len(entries)), "limit": strconv.Itoa(in.Limit),
		"filter":    httpapi.AuditFilter("assignee_id", f.AssigneeID, "unassigned", none, "unread", unread),
		"next_page": strconv.FormatBool(in.Cursor != "")})
	return out, nil
}

// conversationOut is the API shape of one inbox entry.
func conversationOut(e conversation.InboxEntry, now time.Time) ConversationOut {
	l := e.Lead
	open, until := windowOf(l.LastInboundAt, now)
	c := ConversationOut{
		Lead: ConversationLead{ID: l.ID, Name: l.Name, Phone: httpapi.Optional(l.Phone), Email: httpapi.Optional(l.Email), Status: string(l.Status),
			AssigneeID: httpapi.Optional(l.AssigneeID)},
		UnreadCount: e.Summary.Unread,
		Window:      WindowOut{Open: open, Until: until},
	}
	if m := e.Last; m != nil {
		c.LastMessage = &LastMessageOut{ID: m.ID, Channel: string(m.Channel), Direction: string(m.Direction), Type: m.Type,
			Preview: preview(*m), Status: string(m.Status), At: m.At}
		if !m.SanitizedAt.IsZero() {
			at := m.SanitizedAt
			c.LastMessage.SanitizedAt = &at
		}
	}
	if !e.Summary.ReadAt.IsZero() {
		t := e.Summary.ReadAt.UTC()
		c.ReadAt = &t
	}
	return c
}

// preview is a short line for a message in the inbox.
func preview(m conversation.Message) string {
	text := m.Text
	switch {
	case m.Channel == conversation.ChannelEmail && m.Details["subject"] != "":
		text = m.Details["subject"]
	case text == "" && m.Details["template"] != "":
		text = "[" + m.Details["template"] + "]"
	case text == "" && m.Media != nil && m.Media.Caption != "":
		text = m.Media.Caption
	case text == "":
		text = "[" + m.Type + "]"
	}
	if utf8.RuneCountInString(text) > previewRunes {
		r := []rune(text)
		text = string(r[:previewRunes-1]) + "…"
	}
	return text
}
