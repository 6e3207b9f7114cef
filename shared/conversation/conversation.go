// Package conversation holds what passes between a business and its leads:
// messages in both directions with their delivery state, and the consent
// ledger that records every opt-out and opt-in with its evidence.
package conversation

import (
	"errors"
	"strings"
	"time"
)

// Channel is how a message travels.
type Channel string

// Channels.
const (
	ChannelWhatsApp Channel = "whatsapp"
	ChannelEmail    Channel = "email"
)

// Direction is who sent a message.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Status is a message's delivery state.
type Status string

// Delivery states. Inbound messages are "received".
const (
	StatusReceived Status = "received"
	StatusQueued   Status = "queued"
	// StatusSending means a sender has claimed the message and is calling
	// the provider; StatusUnknown means it crashed there, so whether the
	// provider got the message cannot be known (it is not sent again).
	StatusSending   Status = "sending"
	StatusUnknown   Status = "unknown"
	StatusAccepted  Status = "accepted"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
)

// Rank orders delivery states: a status moves a message only to a higher
// rank, so ticks never go backwards; failed outranks everything and nothing
// moves a failed message.
func (s Status) Rank() int {
	switch s {
	case StatusQueued:
		return 1
	case StatusSending:
		return 1
	case StatusUnknown:
		return 99
	case StatusAccepted:
		return 2
	case StatusSent:
		return 3
	case StatusDelivered:
		return 4
	case StatusRead:
		return 5
	case StatusFailed:
		return 100
	}
	return 0
}

// Media describes an attachment by Meta's ids; content is not downloaded.
type Media struct {
	ID       string
	MimeType string
	SHA256   string
	Caption  string
	Filename string
}

// Message is one message of a lead's conversation.
type Message struct {
	ID        string
	OrgID     string
	LeadID    string
	Channel   Channel
	Direction Direction
	// ProviderID is the WhatsApp wamid or the SES message id.
	ProviderID string
	// Type is the provider's message type: text, image, interactive, ...
	Type string
	Text string
	// Media is set for image, audio, video, document and sticker.
	Media *Media
	// Details holds type-specific facts (reply ids, location, reaction target).
	Details map[string]string
	Status  Status
	// ErrorCode and ErrorTitle explain a failed message.
	ErrorCode  int
	ErrorTitle string
	// At is when the provider says it happened.
	At time.Time
	// Number is the business's WhatsApp phone_number_id (or sender address).
	Number string
	// Payload is, for an outbound message, the provider request it becomes
	// (the WhatsApp Cloud API message object, or the email as JSON).
	Payload string
	// ClientMessageID is the caller's idempotency key for an outbound
	// message; the platform's own messages use ids in its namespace
	// (SystemClientID).
	ClientMessageID string
	// Reason explains a failure in plain language.
	Reason string
	// SanitizedAt is when the content lifecycle masked and cut the text and
	// dropped media and payload (shared/retention); zero while intact.
	SanitizedAt time.Time
}

// DetailCampaignID is the Details key naming the campaign an outbound
// message belongs to. Campaign messages do not move the lead's place in the
// inbox: a broadcast is not a conversation, and thousands of sends must not
// bury the leads who wrote.
const DetailCampaignID = "campaign_id"

// StatusEvent is one status report for an outbound message.
type StatusEvent struct {
	ProviderID string
	Status     Status
	At         time.Time
	ErrorCode  int
	ErrorTitle string
}

// ErrUnknownMessage means a status names a message not (yet) stored.
var ErrUnknownMessage = errors.New("unknown message")

// Consent actions.
const (
	OptOut = "opt_out"
	OptIn  = "opt_in"
)

// Consent purposes. PurposeAll covers every purpose of the channel.
const (
	PurposeAll       = "all"
	PurposeMarketing = "marketing"
)

// ConsentEntry is one line of a lead's consent ledger.
type ConsentEntry struct {
	ID      string
	OrgID   string
	LeadID  string
	Channel Channel
	Purpose string
	Action  string
	At      time.Time
	// Evidence is what proves it: the inbound message id, say.
	Evidence string
	// Source says how it was expressed: keyword, button, api, staff.
	Source string
	// By is the user who recorded a staff entry (SourceStaff), and Reason
	// why; both are empty for what the lead or a provider expressed.
	By     string
	Reason string
}

// optOutWords and optInWords are matched against a whole message, trimmed,
// case-folded and with trailing punctuation removed. They include the common
// Hindi (Devanagari) and Hinglish forms our clients' customers send.
var (
	optOutWords = map[string]bool{
		"stop": true, "stop all": true, "stopall": true, "unsubscribe": true, "cancel": true, "end": true, "quit": true,
		"opt out": true, "optout": true, "opt-out": true,
		"band karo": true, "band kro": true, "bandh karo": true, "band kar do": true, "band krdo": true, "mat bhejo": true,
		"message mat bhejo": true, "msg mat bhejo": true, "nahi chahiye": true,
		"बंद करो": true, "बंद": true, "रोको": true, "मत भेजो": true, "संदेश मत भेजो": true, "बंद कर दो": true,
	}
	optInWords = map[string]bool{
		"start": true, "unstop": true, "subscribe": true, "opt in": true, "optin": true, "opt-in": true,
		"shuru karo": true, "चालू करो": true, "शुरू करो": true,
	}
)

// Keyword classifies an inbound text as an opt-out, an opt-in, or neither.
func Keyword(text string) (action string, ok bool) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimRight(t, ".!।?")
	t = strings.Join(strings.Fields(t), " ")
	switch {
	case optOutWords[t]:
		return OptOut, true
	case optInWords[t]:
		return OptIn, true
	}
	return "", false
}

// Summary is a lead's conversation as the inbox lists it: its latest
// message, how many inbound messages arrived since it was last marked read,
// and when that was.
type Summary struct {
	OrgID  string
	LeadID string
	// AssigneeID is the lead's assignee as the inbox index files it.
	AssigneeID    string
	LastMessageID string
	LastAt        time.Time
	Unread        int
	// ReadAt is the time of the latest message when the conversation was
	// last marked read; zero if never.
	ReadAt time.Time
}

// The platform's own outbound messages (automations, campaigns) have
// client message ids that start with one of these prefixes. An id a user
// gives may not (SystemClientID), so no user can claim an automation's or
// a campaign's id before it is used and so stop that message.
const (
	AutomationClientIDPrefix = "auto:"
	CampaignClientIDPrefix   = "campaign:"
)

// SystemClientID reports whether a client message id is in the platform's
// namespace.
func SystemClientID(id string) bool {
	return strings.HasPrefix(id, AutomationClientIDPrefix) || strings.HasPrefix(id, CampaignClientIDPrefix)
}
