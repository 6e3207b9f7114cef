package conversation

import (
	"context"
	"errors"
	"time"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// MessageStore keeps messages in both directions and their status logs
// (dynamostore.Store). A message or status that names no stored message is
// ErrUnknownMessage.
type MessageStore interface {
	// PutInboundMessage stores an inbound message once per provider id (a
	// second delivery writes nothing and is intake.ErrDuplicate), with the
	// consent entry it carries, if any, and moves the lead's conversation
	// (and, for WhatsApp, the start of the lead's 24-hour window).
	PutInboundMessage(ctx context.Context, m Message, consent *ConsentEntry) error
	// QueueOutbound writes an outbound message as queued, once per client
	// message id: asked again it returns the message stored first and
	// created=false.
	QueueOutbound(ctx context.Context, m Message) (stored Message, created bool, err error)
	GetMessage(ctx context.Context, orgID, leadID, msgID string) (Message, error)
	// Messages returns all of a lead's messages in time order.
	Messages(ctx context.Context, orgID, leadID string) ([]Message, error)
	// MessagesPage returns up to limit of a lead's messages in time order
	// (newest first when newestFirst) after the position from, and the
	// position after the last one (zero when there are no more).
	MessagesPage(ctx context.Context, orgID, leadID string, newestFirst bool, limit int, from page.Cursor) ([]Message, page.Cursor, error)
	// MessageByClientID returns the message queued under a client message
	// id; ok is false when there is none.
	MessageByClientID(ctx context.Context, orgID, clientID string) (m Message, ok bool, err error)
	MessageByProviderID(ctx context.Context, providerID string) (Message, error)
	// ApplyStatus logs a status event once and moves the message's status
	// forward only (Status.Rank); moved reports whether it moved.
	ApplyStatus(ctx context.Context, ev StatusEvent) (moved bool, err error)
	// StatusLog returns every status event of a message in time order;
	// StatusLogs those of several messages (absent when none).
	StatusLog(ctx context.Context, providerID string) ([]StatusEvent, error)
	StatusLogs(ctx context.Context, providerIDs []string) (map[string][]StatusEvent, error)
}

// ErrNotQueued means a message is no longer in the state a send step
// starts from: another sender claimed it, or it was sent, failed or marked
// unknown.
var ErrNotQueued = errors.New("message is not queued")

// SendStore moves outbound messages queued → sending → accepted, or to
// failed or unknown (dynamostore.Store). Each step is conditional on the
// state it starts from (else ErrNotQueued), so two senders never both send
// one message.
type SendStore interface {
	// ClaimSend moves a queued message to sending.
	ClaimSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	// ReleaseSend puts a sending message back to queued (it was not sent).
	ReleaseSend(ctx context.Context, orgID, leadID, msgID string, at time.Time) error
	// FailSend moves a sending message to st (failed or unknown) with why.
	FailSend(ctx context.Context, orgID, leadID, msgID string, st Status, code int, title, reason string, at time.Time) error
	// RecordSent marks a sending message accepted under its provider id.
	RecordSent(ctx context.Context, orgID, leadID, msgID, providerID string, at time.Time) error
}

// ConsentStore keeps leads' consent ledgers and their current consent
// (dynamostore.Store).
type ConsentStore interface {
	AppendConsent(ctx context.Context, c ConsentEntry) error
	// AppendConsentOnce appends c unless an entry with its evidence was
	// appended before.
	AppendConsentOnce(ctx context.Context, c ConsentEntry) error
	// ConsentLedger returns a lead's entries, oldest first.
	ConsentLedger(ctx context.Context, orgID, leadID string) ([]ConsentEntry, error)
}

// InboxEntry is one conversation of the inbox: its summary, its lead and
// its latest message (nil when that message is gone, e.g. purged).
type InboxEntry struct {
	Summary Summary
	Lead    lead.Lead
	Last    *Message
}

// InboxFilter narrows the inbox.
type InboxFilter struct {
	// AssigneeID keeps the conversations of one user's leads.
	AssigneeID string
	// Unassigned keeps the conversations of leads nobody is assigned to
	// (AssigneeID must be empty).
	Unassigned bool
	// Unread keeps conversations with unread inbound messages.
	Unread bool
}

// InboxStore reads the inbox and marks conversations read
// (dynamostore.Store).
type InboxStore interface {
	// Inbox returns up to limit conversations, latest message first, after
	// the position from, and the position after the last one (zero when
	// there are no more).
	Inbox(ctx context.Context, orgID string, f InboxFilter, limit int, from page.Cursor) ([]InboxEntry, page.Cursor, error)
	// Conversation returns a lead's summary; ok is false when the lead has
	// no messages.
	Conversation(ctx context.Context, orgID, leadID string) (c Summary, ok bool, err error)
	// MarkConversationRead marks a conversation read up to its latest
	// message; cleared is how many unread messages that covered.
	MarkConversationRead(ctx context.Context, orgID, leadID string) (cleared int, ok bool, err error)
	// ClearUnread marks read the messages seen counted as unread, leaving
	// unread any that arrived since.
	ClearUnread(ctx context.Context, seen Summary) error
}
