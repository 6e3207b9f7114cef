package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
)

// The inbox is computed from the leads it lists (see docs/conversations.md):
// a page of leads, newest first, through the same access path as
// GET /v1/leads (the assignee index for assignee_id), then per lead one
// Query for its latest message and, only when that is newer than the lead's
// read marker, one COUNT Query for its unread inbound messages; the read
// markers of the page are one BatchGetItem. Leads without messages are not
// conversations and are skipped.

const (
	// maxInboxScan bounds the leads one inbox request looks at, so a filter
	// that matches little (unread=true) cannot make a request unbounded; the
	// page may then be short, with a next_cursor to go on.
	maxInboxScan = 200
	// maxUnreadCount caps the unread count reported ("99+" in a UI).
	maxUnreadCount = 100
	// inboxParallel is how many leads are summarised at once.
	inboxParallel = 16
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
}

// WindowOut is WhatsApp's 24-hour customer-service window of a lead.
type WindowOut struct {
	Open  bool       `json:"open" doc:"Free-form WhatsApp messages can be sent now."`
	Until *time.Time `json:"until" doc:"When the window closes (or closed): 24 h after the lead's last WhatsApp message; null if the lead never wrote."`
}

// ConversationOut is one entry of the inbox.
type ConversationOut struct {
	Lead        ConversationLead `json:"lead"`
	LastMessage LastMessageOut   `json:"last_message"`
	UnreadCount int              `json:"unread_count" doc:"Inbound messages after the conversation was last marked read (capped at 100)."`
	ReadAt      *time.Time       `json:"read_at" doc:"When the conversation was last marked read; null if never."`
	Window      WindowOut        `json:"window"`
}

// ConversationList is one page of the inbox.
type ConversationList struct {
	Items      []ConversationOut `json:"items"`
	NextCursor *string           `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page. A page may hold fewer than limit items (even none) while next_cursor is set."`
}

func (s *Server) registerConversations() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-conversations", Method: http.MethodGet, Path: "/v1/conversations", Tags: []string{"messages"},
		Summary: "The inbox: leads with their last message, unread count and WhatsApp window",
		Description: "Leads that have messages, newest lead first (the order of GET /v1/leads, not of the last message), " +
			"with their latest message, the number of inbound messages since the conversation was last marked read " +
			"(POST /v1/leads/{id}/messages/read) and whether WhatsApp's 24-hour customer-service window is open. " +
			"Agents see only their own leads. A request looks at no more than 200 leads, so with unread=true a page " +
			"can be short or empty while next_cursor is set: follow it until it is null.",
		Security: bearerSecurity, Errors: []int{http.StatusBadRequest},
	}, s.listConversations)
	huma.Register(s.api, huma.Operation{
		OperationID: "mark-conversation-read", Method: http.MethodPost, Path: "/v1/leads/{id}/messages/read", Tags: []string{"messages"},
		Summary: "Mark a lead's conversation read up to its latest message",
		Description: "Moves the conversation's read marker (shared by the whole team) to the time of the latest message, " +
			"never backwards. Messages arriving later count as unread.",
		DefaultStatus: http.StatusNoContent, Security: bearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.markRead)
}

func (s *Server) markRead(ctx context.Context, in *leadPath) (*struct{}, error) {
	p := caller(ctx)
	d := s.deps.Messaging
	l, err := s.visibleLead(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if !p.User.Role.CanWriteLeads() {
		return nil, s.deny(ctx, "conversation.read", "lead", l.ID, "your role can read conversations but not mark them read")
	}
	last, ok, err := d.Store.LastMessage(ctx, l.OrgID, l.ID)
	if err != nil {
		return nil, s.internal(ctx, "read last message", err)
	}
	if !ok {
		return nil, nil
	}
	if err := d.Store.MarkRead(ctx, l.OrgID, l.ID, last.At); err != nil {
		return nil, s.internal(ctx, "mark read", err)
	}
	return nil, nil
}

func (s *Server) listConversations(ctx context.Context, in *struct {
	AssigneeID string `query:"assignee_id" maxLength:"64" doc:"A user id, or \"me\"."`
	Unread     bool   `query:"unread" doc:"Only conversations with unread inbound messages."`
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor     string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body ConversationList }, error) {
	p := caller(ctx)
	f := lead.Filter{AssigneeID: in.AssigneeID}
	if f.AssigneeID == "me" {
		f.AssigneeID = p.User.ID
	}
	if !p.User.Role.SeesAllLeads() {
		f.AssigneeID = p.User.ID
	}
	scope := fmt.Sprintf("conversations|%s|%t|%d", f.AssigneeID, in.Unread, in.Limit)
	from, ok := s.cursors.decode(in.Cursor, p.User.OrgID, scope)
	if !ok {
		return nil, errBadCursor()
	}
	out := &struct{ Body ConversationList }{Body: ConversationList{Items: []ConversationOut{}}}
	scanned := 0
	for {
		page, err := s.deps.Store.ListLeads(ctx, p.User.OrgID, f, in.Limit-len(out.Body.Items), from)
		if err != nil {
			return nil, s.internal(ctx, "list leads", err)
		}
		scanned += len(page.Items)
		convs, err := s.summarize(ctx, p.User.OrgID, page.Items)
		if err != nil {
			return nil, err
		}
		for _, c := range convs {
			if c != nil && (!in.Unread || c.UnreadCount > 0) {
				out.Body.Items = append(out.Body.Items, *c)
			}
		}
		from = page.Next
		if from == nil || len(out.Body.Items) == in.Limit || scanned >= maxInboxScan {
			break
		}
	}
	out.Body.NextCursor = optional(s.cursors.encode(p.User.OrgID, scope, from))
	return out, nil
}

// summarize builds the inbox entries of some leads, in their order; leads
// without messages are nil.
func (s *Server) summarize(ctx context.Context, orgID string, leads []lead.Lead) ([]*ConversationOut, error) {
	d := s.deps.Messaging
	out := make([]*ConversationOut, len(leads))
	if len(leads) == 0 {
		return out, nil
	}
	ids := make([]string, len(leads))
	for i, l := range leads {
		ids[i] = l.ID
	}
	marks, err := d.Store.ReadMarks(ctx, orgID, ids)
	if err != nil {
		return nil, s.internal(ctx, "read marks", err)
	}
	now := s.deps.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, inboxParallel)
	)
	for i, l := range leads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := s.summarizeOne(ctx, l, marks[l.ID], now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			out[i] = c
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, s.internal(ctx, "summarize conversation", first)
	}
	return out, nil
}

func (s *Server) summarizeOne(ctx context.Context, l lead.Lead, readAt, now time.Time) (*ConversationOut, error) {
	d := s.deps.Messaging
	last, ok, err := d.Store.LastMessage(ctx, l.OrgID, l.ID)
	if err != nil || !ok {
		return nil, err
	}
	unread := 0
	// Nothing after the read marker: no need to count.
	if readAt.IsZero() || last.At.After(readAt) {
		if unread, err = d.Store.CountInboundAfter(ctx, l.OrgID, l.ID, readAt, maxUnreadCount); err != nil {
			return nil, err
		}
	}
	open, until := windowOf(l.LastInboundAt, now)
	c := &ConversationOut{
		Lead: ConversationLead{ID: l.ID, Name: l.Name, Phone: optional(l.Phone), Email: optional(l.Email), Status: string(l.Status),
			AssigneeID: optional(l.AssigneeID)},
		LastMessage: LastMessageOut{ID: last.ID, Channel: string(last.Channel), Direction: string(last.Direction), Type: last.Type,
			Preview: preview(last), Status: string(last.Status), At: last.At},
		UnreadCount: unread,
		Window:      WindowOut{Open: open, Until: until},
	}
	if !readAt.IsZero() {
		t := readAt.UTC()
		c.ReadAt = &t
	}
	return c, nil
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
