package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxWebhookBytes bounds the body ParseWebhook accepts. Meta documents
// WhatsApp notification payloads of up to 3 MB; anything larger is refused.
const MaxWebhookBytes = 3 << 20

// Webhook objects and change fields Leadluence subscribes to.
const (
	// ObjectPage is the object of Page webhooks, which carry Lead Ads changes.
	ObjectPage = "page"
	// ObjectWhatsAppBusinessAccount is the object of WhatsApp Cloud API webhooks.
	ObjectWhatsAppBusinessAccount = "whatsapp_business_account"
	// FieldLeadgen is the change field of a Lead Ads form submission.
	FieldLeadgen = "leadgen"
	// FieldMessages is the change field of WhatsApp messages, statuses and errors.
	FieldMessages = "messages"
)

// WhatsApp inbound message types (Message.Type).
const (
	TypeText        = "text"
	TypeImage       = "image"
	TypeAudio       = "audio"
	TypeVideo       = "video"
	TypeDocument    = "document"
	TypeSticker     = "sticker"
	TypeLocation    = "location"
	TypeContacts    = "contacts"
	TypeInteractive = "interactive"
	TypeButton      = "button"
	TypeReaction    = "reaction"
	TypeUnsupported = "unsupported"
)

// Interactive reply types (Interactive.Type).
const (
	InteractiveButtonReply = "button_reply"
	InteractiveListReply   = "list_reply"
)

// WhatsApp message statuses (Status.Status).
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// Parse errors.
var (
	// ErrMalformedWebhook wraps every reason a body is not a Meta webhook.
	ErrMalformedWebhook = errors.New("meta: malformed webhook payload")
	// ErrWebhookTooLarge means the body exceeds MaxWebhookBytes.
	ErrWebhookTooLarge = errors.New("meta: webhook payload too large")
	// ErrUnexpectedField means a change was asked for as the wrong kind
	// (Leadgen on a non-"leadgen" change, WhatsApp on a non-"messages" change).
	ErrUnexpectedField = errors.New("meta: unexpected change field")
)

// Webhook is the envelope of every Graph API webhook notification.
type Webhook struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one object's batch of changes: for Pages the page id and the
// notification time (Unix seconds), for WhatsApp the WhatsApp Business
// Account id (and no time).
type Entry struct {
	ID      string   `json:"id"`
	Time    int64    `json:"time,omitempty"`
	Changes []Change `json:"changes"`
}

// Change is one field change; Value is kept raw and decoded by Leadgen or WhatsApp.
type Change struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

// LeadgenValue is the value of a "leadgen" change: the ids needed to fetch the
// lead with Client.Lead. Ids are decoded from strings or numbers alike (a
// legacy ad id of 0 becomes ""); CreatedTime is Unix seconds.
type LeadgenValue struct {
	LeadgenID   string `json:"leadgen_id"`
	PageID      string `json:"page_id"`
	FormID      string `json:"form_id"`
	AdID        string `json:"ad_id,omitempty"`
	AdgroupID   string `json:"adgroup_id,omitempty"`
	CreatedTime int64  `json:"created_time"`
}

// WhatsAppValue is the value of a WhatsApp "messages" change: inbound
// messages (with their senders in Contacts), statuses of outbound messages,
// and errors not tied to a message.
type WhatsAppValue struct {
	MessagingProduct string    `json:"messaging_product"`
	Metadata         Metadata  `json:"metadata"`
	Contacts         []Contact `json:"contacts,omitempty"`
	Messages         []Message `json:"messages,omitempty"`
	Statuses         []Status  `json:"statuses,omitempty"`
	Errors           []Error   `json:"errors,omitempty"`
}

// Metadata names the business phone number a WhatsApp change belongs to.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// Contact is the sender of inbound messages: profile name and WhatsApp id.
type Contact struct {
	Profile Profile `json:"profile"`
	WaID    string  `json:"wa_id"`
}

// Profile is a WhatsApp user's public profile.
type Profile struct {
	Name string `json:"name"`
}

// Message is one inbound WhatsApp message. Exactly the pointer (or slice)
// matching Type is set; Timestamp is Unix seconds as a decimal string.
type Message struct {
	From        string          `json:"from"`
	ID          string          `json:"id"`
	Timestamp   string          `json:"timestamp"`
	Type        string          `json:"type"`
	Context     *MessageContext `json:"context,omitempty"`
	Text        *Text           `json:"text,omitempty"`
	Image       *Media          `json:"image,omitempty"`
	Audio       *Media          `json:"audio,omitempty"`
	Video       *Media          `json:"video,omitempty"`
	Document    *Media          `json:"document,omitempty"`
	Sticker     *Media          `json:"sticker,omitempty"`
	Location    *Location       `json:"location,omitempty"`
	Contacts    []SharedContact `json:"contacts,omitempty"`
	Interactive *Interactive    `json:"interactive,omitempty"`
	Button      *Button         `json:"button,omitempty"`
	Reaction    *Reaction       `json:"reaction,omitempty"`
	Referral    *Referral       `json:"referral,omitempty"`
	Unsupported *Unsupported    `json:"unsupported,omitempty"`
	Errors      []Error         `json:"errors,omitempty"`
}

// MessageContext links a message to an earlier one: a reply, a tap on a
// button of a business message, or a forward.
type MessageContext struct {
	From                string `json:"from,omitempty"`
	ID                  string `json:"id,omitempty"`
	Forwarded           bool   `json:"forwarded,omitempty"`
	FrequentlyForwarded bool   `json:"frequently_forwarded,omitempty"`
}

// Text is the body of a text message.
type Text struct {
	Body string `json:"body"`
}

// Media describes an image, audio, video, document or sticker. The content
// itself is fetched separately by ID; Voice marks a voice note, Animated an
// animated sticker.
type Media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	URL      string `json:"url,omitempty"`
	Animated bool   `json:"animated,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// SharedContact is one contact card sent in a "contacts" message. Addresses
// and URLs are kept raw.
type SharedContact struct {
	Name      ContactName     `json:"name"`
	Phones    []ContactPhone  `json:"phones,omitempty"`
	Emails    []ContactEmail  `json:"emails,omitempty"`
	Org       *ContactOrg     `json:"org,omitempty"`
	Birthday  string          `json:"birthday,omitempty"`
	Addresses json.RawMessage `json:"addresses,omitempty"`
	URLs      json.RawMessage `json:"urls,omitempty"`
}

// ContactName is the name on a shared contact card.
type ContactName struct {
	FormattedName string `json:"formatted_name,omitempty"`
	FirstName     string `json:"first_name,omitempty"`
	LastName      string `json:"last_name,omitempty"`
	MiddleName    string `json:"middle_name,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	Suffix        string `json:"suffix,omitempty"`
}

// ContactPhone is a phone number on a shared contact card; WaID is set when
// the number is on WhatsApp.
type ContactPhone struct {
	Phone string `json:"phone,omitempty"`
	WaID  string `json:"wa_id,omitempty"`
	Type  string `json:"type,omitempty"`
}

// ContactEmail is an email address on a shared contact card.
type ContactEmail struct {
	Email string `json:"email,omitempty"`
	Type  string `json:"type,omitempty"`
}

// ContactOrg is the organization on a shared contact card.
type ContactOrg struct {
	Company    string `json:"company,omitempty"`
	Department string `json:"department,omitempty"`
	Title      string `json:"title,omitempty"`
}

// Interactive is the reply to an interactive message: ButtonReply for reply
// buttons ("button_reply"), ListReply for list rows ("list_reply").
type Interactive struct {
	Type        string `json:"type"`
	ButtonReply *Reply `json:"button_reply,omitempty"`
	ListReply   *Reply `json:"list_reply,omitempty"`
}

// Reply is the button or list row a user picked.
type Reply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Button is a tap on a quick-reply button of a template message.
type Button struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// Reaction is an emoji reaction to MessageID; an empty Emoji removes it.
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji,omitempty"`
}

// Referral is present when the user came from a Click-to-WhatsApp ad or post.
type Referral struct {
	SourceURL    string `json:"source_url,omitempty"`
	SourceID     string `json:"source_id,omitempty"`
	SourceType   string `json:"source_type,omitempty"`
	Headline     string `json:"headline,omitempty"`
	Body         string `json:"body,omitempty"`
	MediaType    string `json:"media_type,omitempty"`
	ImageURL     string `json:"image_url,omitempty"`
	VideoURL     string `json:"video_url,omitempty"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
	CtwaClid     string `json:"ctwa_clid,omitempty"`
}

// Unsupported names the kind of message Cloud API could not deliver (for
// example "edit" or "poll_creation"); the message's Errors explain.
type Unsupported struct {
	Type string `json:"type,omitempty"`
}

// Status reports the fate of an outbound message: sent, delivered, read or
// failed (with Errors). Timestamp is Unix seconds as a decimal string.
// Statuses can arrive out of order and more than once.
type Status struct {
	ID                    string        `json:"id"`
	Status                string        `json:"status"`
	Timestamp             string        `json:"timestamp"`
	RecipientID           string        `json:"recipient_id"`
	Conversation          *Conversation `json:"conversation,omitempty"`
	Pricing               *Pricing      `json:"pricing,omitempty"`
	Errors                []Error       `json:"errors,omitempty"`
	BizOpaqueCallbackData string        `json:"biz_opaque_callback_data,omitempty"`
}

// Conversation is the billing conversation a status belongs to.
type Conversation struct {
	ID                  string              `json:"id"`
	ExpirationTimestamp string              `json:"expiration_timestamp,omitempty"`
	Origin              *ConversationOrigin `json:"origin,omitempty"`
}

// ConversationOrigin says what opened a conversation (service, marketing, ...).
type ConversationOrigin struct {
	Type string `json:"type"`
}

// Pricing is the pricing information of a status.
type Pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model,omitempty"`
	Category     string `json:"category,omitempty"`
	Type         string `json:"type,omitempty"`
}

// Error is a WhatsApp error object as found in statuses[].errors,
// messages[].errors and value.errors.
type Error struct {
	Code      int        `json:"code"`
	Title     string     `json:"title,omitempty"`
	Message   string     `json:"message,omitempty"`
	ErrorData *ErrorData `json:"error_data,omitempty"`
	Href      string     `json:"href,omitempty"`
}

// ErrorData carries the details of an Error.
type ErrorData struct {
	Details string `json:"details"`
}

// ParseWebhook decodes a webhook body. It refuses bodies over
// MaxWebhookBytes, anything that is not a JSON object with a non-empty
// "object" string and an "entry" array, and wrongly typed members; unknown
// members are ignored, as Meta adds fields over time. Change values are kept
// raw: decode them with Change.Leadgen or Change.WhatsApp. Work and memory
// are linear in len(body).
func ParseWebhook(body []byte) (Webhook, error) {
	if len(body) > MaxWebhookBytes {
		return Webhook{}, fmt.Errorf("parse webhook of %d bytes: %w", len(body), ErrWebhookTooLarge)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Webhook{}, fmt.Errorf("parse webhook: not a JSON object: %w", ErrMalformedWebhook)
	}
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return Webhook{}, fmt.Errorf("parse webhook: %w: %w", ErrMalformedWebhook, err)
	}
	if w.Object == "" {
		return Webhook{}, fmt.Errorf("parse webhook: no \"object\": %w", ErrMalformedWebhook)
	}
	if w.Entry == nil {
		return Webhook{}, fmt.Errorf("parse webhook: no \"entry\" array: %w", ErrMalformedWebhook)
	}
	return w, nil
}

// Leadgen decodes the value of a "leadgen" change. It fails with
// ErrUnexpectedField for any other field and with ErrMalformedWebhook when
// the value is not an object or has no leadgen_id.
func (c Change) Leadgen() (LeadgenValue, error) {
	if c.Field != FieldLeadgen {
		return LeadgenValue{}, fmt.Errorf("decode leadgen change: field %q: %w", c.Field, ErrUnexpectedField)
	}
	var v LeadgenValue
	if err := decodeObject(c.Value, &v); err != nil {
		return LeadgenValue{}, fmt.Errorf("decode leadgen change: %w", err)
	}
	if v.LeadgenID == "" {
		return LeadgenValue{}, fmt.Errorf("decode leadgen change: no leadgen_id: %w", ErrMalformedWebhook)
	}
	return v, nil
}

// WhatsApp decodes the value of a WhatsApp "messages" change. It fails with
// ErrUnexpectedField for any other field (template status updates and the
// like) and with ErrMalformedWebhook when the value is not an object or names
// no phone_number_id.
func (c Change) WhatsApp() (WhatsAppValue, error) {
	if c.Field != FieldMessages {
		return WhatsAppValue{}, fmt.Errorf("decode whatsapp change: field %q: %w", c.Field, ErrUnexpectedField)
	}
	var v WhatsAppValue
	if err := decodeObject(c.Value, &v); err != nil {
		return WhatsAppValue{}, fmt.Errorf("decode whatsapp change: %w", err)
	}
	if v.Metadata.PhoneNumberID == "" {
		return WhatsAppValue{}, fmt.Errorf("decode whatsapp change: no metadata.phone_number_id: %w", ErrMalformedWebhook)
	}
	return v, nil
}

// Time returns the message's Timestamp as a time.
func (m Message) Time() (time.Time, error) {
	t, err := parseUnix(m.Timestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("message %s timestamp: %w", m.ID, err)
	}
	return t, nil
}

// Time returns the status's Timestamp as a time.
func (s Status) Time() (time.Time, error) {
	t, err := parseUnix(s.Timestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("status %s of %s timestamp: %w", s.Status, s.ID, err)
	}
	return t, nil
}

func parseUnix(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse unix seconds %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func decodeObject(raw json.RawMessage, v any) error {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("value is not a JSON object: %w", ErrMalformedWebhook)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
	}
	return nil
}

// The UnmarshalJSON methods below accept ids and timestamps both as JSON
// strings (what Meta documents today) and as integer literals (what older
// Lead Ads payloads carried), without a float64 round trip.

// UnmarshalJSON implements json.Unmarshaler.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry
	var aux struct {
		plain
		ID   flexString `json:"id"`
		Time flexInt    `json:"time"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode entry: %w", err)
	}
	*e = Entry(aux.plain)
	e.ID, e.Time = string(aux.ID), int64(aux.Time)
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *LeadgenValue) UnmarshalJSON(b []byte) error {
	var aux struct {
		LeadgenID   flexString `json:"leadgen_id"`
		PageID      flexString `json:"page_id"`
		FormID      flexString `json:"form_id"`
		AdID        flexString `json:"ad_id"`
		AdgroupID   flexString `json:"adgroup_id"`
		CreatedTime flexInt    `json:"created_time"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode leadgen value: %w", err)
	}
	*v = LeadgenValue{
		LeadgenID:   string(aux.LeadgenID),
		PageID:      string(aux.PageID),
		FormID:      string(aux.FormID),
		AdID:        noAd(string(aux.AdID)),
		AdgroupID:   noAd(string(aux.AdgroupID)),
		CreatedTime: int64(aux.CreatedTime),
	}
	return nil
}

// noAd maps the "0" that older payloads carried for organic leads to "".
func noAd(id string) string {
	if id == "0" {
		return ""
	}
	return id
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var aux struct {
		DisplayPhoneNumber flexString `json:"display_phone_number"`
		PhoneNumberID      flexString `json:"phone_number_id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode metadata: %w", err)
	}
	*m = Metadata{DisplayPhoneNumber: string(aux.DisplayPhoneNumber), PhoneNumberID: string(aux.PhoneNumberID)}
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Contact) UnmarshalJSON(b []byte) error {
	type plain Contact
	var aux struct {
		plain
		WaID flexString `json:"wa_id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode contact: %w", err)
	}
	*c = Contact(aux.plain)
	c.WaID = string(aux.WaID)
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var aux struct {
		plain
		From      flexString `json:"from"`
		Timestamp flexString `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	*m = Message(aux.plain)
	m.From, m.Timestamp = string(aux.From), string(aux.Timestamp)
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Status) UnmarshalJSON(b []byte) error {
	type plain Status
	var aux struct {
		plain
		Timestamp   flexString `json:"timestamp"`
		RecipientID flexString `json:"recipient_id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	*s = Status(aux.plain)
	s.Timestamp, s.RecipientID = string(aux.Timestamp), string(aux.RecipientID)
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Conversation) UnmarshalJSON(b []byte) error {
	type plain Conversation
	var aux struct {
		plain
		ExpirationTimestamp flexString `json:"expiration_timestamp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode conversation: %w", err)
	}
	*c = Conversation(aux.plain)
	c.ExpirationTimestamp = string(aux.ExpirationTimestamp)
	return nil
}
