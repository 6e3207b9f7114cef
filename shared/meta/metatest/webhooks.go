package metatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/leadluence/backend/shared/meta"
)

// defaultName is the WhatsApp profile name of senders built here.
const defaultName = "Test Customer"

// InboundMessage is one message from a WhatsApp user, as put in an inbound
// payload: Name is the sender's profile name and Message the message, whose
// From is the sender's wa_id. The constructors below fill in real-shaped,
// obviously fake content and a fresh wamid; adjust fields as needed.
type InboundMessage struct {
	Name    string
	Message meta.Message
}

// At sets the message timestamp.
func (m InboundMessage) At(t time.Time) InboundMessage {
	m.Message.Timestamp = unix(t)
	return m
}

// WithName sets the sender's profile name.
func (m InboundMessage) WithName(name string) InboundMessage {
	m.Name = name
	return m
}

// ReplyTo marks the message as a reply to wamid (sets context.id; context.from
// becomes the business number when the payload is built).
func (m InboundMessage) ReplyTo(wamid string) InboundMessage {
	m.Message.Context = &meta.MessageContext{ID: wamid}
	return m
}

func inbound(from, typ string) InboundMessage {
	return InboundMessage{Name: defaultName, Message: meta.Message{From: from, ID: NewWAMID(), Type: typ}}
}

// Text is a text message.
func Text(from, body string) InboundMessage {
	m := inbound(from, meta.TypeText)
	m.Message.Text = &meta.Text{Body: body}
	return m
}

// Image is a JPEG image with an optional caption.
func Image(from, caption string) InboundMessage {
	m := inbound(from, meta.TypeImage)
	m.Message.Image = &meta.Media{ID: mediaID(), MimeType: "image/jpeg", SHA256: sha(), Caption: caption}
	return m
}

// Audio is a voice note (Opus in Ogg, voice true).
func Audio(from string) InboundMessage {
	m := inbound(from, meta.TypeAudio)
	m.Message.Audio = &meta.Media{ID: mediaID(), MimeType: "audio/ogg; codecs=opus", SHA256: sha(), Voice: true}
	return m
}

// Video is an MP4 video with an optional caption.
func Video(from, caption string) InboundMessage {
	m := inbound(from, meta.TypeVideo)
	m.Message.Video = &meta.Media{ID: mediaID(), MimeType: "video/mp4", SHA256: sha(), Caption: caption}
	return m
}

// Document is a PDF document with a file name and an optional caption.
func Document(from, filename, caption string) InboundMessage {
	m := inbound(from, meta.TypeDocument)
	m.Message.Document = &meta.Media{ID: mediaID(), MimeType: "application/pdf", SHA256: sha(), Filename: filename, Caption: caption}
	return m
}

// Sticker is a static WebP sticker.
func Sticker(from string) InboundMessage {
	m := inbound(from, meta.TypeSticker)
	m.Message.Sticker = &meta.Media{ID: mediaID(), MimeType: "image/webp", SHA256: sha(), Animated: false}
	return m
}

// Location is a shared location.
func Location(from string, lat, lng float64, name, address string) InboundMessage {
	m := inbound(from, meta.TypeLocation)
	m.Message.Location = &meta.Location{Latitude: lat, Longitude: lng, Name: name, Address: address}
	return m
}

// Contacts is a shared contact card with one mobile number.
func Contacts(from, formattedName, phone string) InboundMessage {
	m := inbound(from, meta.TypeContacts)
	m.Message.Contacts = []meta.SharedContact{{
		Name:   meta.ContactName{FormattedName: formattedName, FirstName: formattedName},
		Phones: []meta.ContactPhone{{Phone: phone, WaID: digits(phone), Type: "MOBILE"}},
	}}
	return m
}

// ButtonReply is a tap on reply button (id, title) of business message contextID.
func ButtonReply(from, contextID, id, title string) InboundMessage {
	m := inbound(from, meta.TypeInteractive).ReplyTo(contextID)
	m.Message.Interactive = &meta.Interactive{Type: meta.InteractiveButtonReply, ButtonReply: &meta.Reply{ID: id, Title: title}}
	return m
}

// ListReply is a pick of list row (id, title, description) of business message contextID.
func ListReply(from, contextID, id, title, description string) InboundMessage {
	m := inbound(from, meta.TypeInteractive).ReplyTo(contextID)
	m.Message.Interactive = &meta.Interactive{Type: meta.InteractiveListReply, ListReply: &meta.Reply{ID: id, Title: title, Description: description}}
	return m
}

// Button is a tap on a quick-reply button of template message contextID
// (type "button"), e.g. a marketing opt-out button with payload "STOP".
func Button(from, contextID, payload, text string) InboundMessage {
	m := inbound(from, meta.TypeButton).ReplyTo(contextID)
	m.Message.Button = &meta.Button{Payload: payload, Text: text}
	return m
}

// Reaction is an emoji reaction to messageID ("" removes a reaction).
func Reaction(from, messageID, emoji string) InboundMessage {
	m := inbound(from, meta.TypeReaction)
	m.Message.Reaction = &meta.Reaction{MessageID: messageID, Emoji: emoji}
	return m
}

// Unsupported is a message Cloud API cannot pass on, with error 131051.
func Unsupported(from string) InboundMessage {
	m := inbound(from, meta.TypeUnsupported)
	m.Message.Unsupported = &meta.Unsupported{Type: "poll_creation"}
	m.Message.Errors = []meta.Error{{
		Code: 131051, Title: "Message type unknown", Message: "Message type unknown",
		ErrorData: &meta.ErrorData{Details: "Message type is currently not supported."},
		Href:      "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
	}}
	return m
}

// StatusUpdate is one status of an outbound message, as put in a status payload.
type StatusUpdate struct {
	Status meta.Status
}

// At sets the status timestamp.
func (u StatusUpdate) At(t time.Time) StatusUpdate {
	u.Status.Timestamp = unix(t)
	if c := u.Status.Conversation; c != nil && c.ExpirationTimestamp != "" {
		cc := *c
		cc.ExpirationTimestamp = unix(t.Add(24 * time.Hour))
		u.Status.Conversation = &cc
	}
	return u
}

func status(wamid, recipient, st string) StatusUpdate {
	return StatusUpdate{Status: meta.Status{ID: wamid, Status: st, RecipientID: recipient}}
}

// conversationID is stable per message so sent and delivered agree.
func conversationID(wamid string) string {
	sum := sha256.Sum256([]byte(wamid))
	return hex.EncodeToString(sum[:16])
}

func servicePricing() *meta.Pricing {
	return &meta.Pricing{Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service"}
}

// StatusSent is a "sent" status with conversation (with expiry) and pricing.
func StatusSent(wamid, recipientWaID string) StatusUpdate {
	u := status(wamid, recipientWaID, meta.StatusSent)
	u.Status.Conversation = &meta.Conversation{
		ID: conversationID(wamid), ExpirationTimestamp: unix(time.Now().Add(24 * time.Hour)),
		Origin: &meta.ConversationOrigin{Type: "service"},
	}
	u.Status.Pricing = servicePricing()
	return u
}

// StatusDelivered is a "delivered" status with conversation and pricing.
func StatusDelivered(wamid, recipientWaID string) StatusUpdate {
	u := status(wamid, recipientWaID, meta.StatusDelivered)
	u.Status.Conversation = &meta.Conversation{ID: conversationID(wamid), Origin: &meta.ConversationOrigin{Type: "service"}}
	u.Status.Pricing = servicePricing()
	return u
}

// StatusRead is a "read" status (Meta sends no conversation or pricing with it).
func StatusRead(wamid, recipientWaID string) StatusUpdate {
	return status(wamid, recipientWaID, meta.StatusRead)
}

// StatusFailed is a "failed" status with one error, e.g. code 131026
// ("Message undeliverable") or 131047 ("Re-engagement message").
func StatusFailed(wamid, recipientWaID string, code int, title string) StatusUpdate {
	u := status(wamid, recipientWaID, meta.StatusFailed)
	u.Status.Errors = []meta.Error{{
		Code: code, Title: title, Message: title,
		ErrorData: &meta.ErrorData{Details: title + "."},
		Href:      "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
	}}
	return u
}

// LeadgenPayload builds a Page webhook announcing one Lead Ads submission
// (object "page", field "leadgen"), with ids as strings and created_time
// in Unix seconds. Ad ids are left out; the Server method fills them in.
func LeadgenPayload(pageID, formID, leadgenID string, at time.Time) []byte {
	return leadgenPayload(meta.LeadgenValue{LeadgenID: leadgenID, PageID: pageID, FormID: formID, CreatedTime: at.Unix()})
}

// LeadgenPayload is the package-level LeadgenPayload with the ad ids of the
// stored lead, when the simulator knows leadgenID.
func (s *Server) LeadgenPayload(pageID, formID, leadgenID string, at time.Time) []byte {
	v := meta.LeadgenValue{LeadgenID: leadgenID, PageID: pageID, FormID: formID, CreatedTime: at.Unix()}
	s.mu.Lock()
	if l := s.st.leads[leadgenID]; l != nil {
		v.AdID, v.AdgroupID = l.AdID, l.AdID
	}
	s.mu.Unlock()
	return leadgenPayload(v)
}

func leadgenPayload(v meta.LeadgenValue) []byte {
	return mustMarshal(meta.Webhook{Object: meta.ObjectPage, Entry: []meta.Entry{{
		ID: v.PageID, Time: time.Now().Unix(),
		Changes: []meta.Change{{Field: meta.FieldLeadgen, Value: mustMarshal(v)}},
	}}})
}

// InboundPayload builds one WhatsApp webhook carrying msgs in a single
// change, with a contacts entry per distinct sender; entry.id is
// DefaultWABAID. Messages without a timestamp get now; replies get the
// business number as context.from.
func InboundPayload(phoneNumberID, display string, msgs ...InboundMessage) []byte {
	return inboundPayload(DefaultWABAID, phoneNumberID, display, msgs)
}

// InboundPayload is the package-level InboundPayload with the WABA id the
// number was added with as entry.id.
func (s *Server) InboundPayload(phoneNumberID, display string, msgs ...InboundMessage) []byte {
	return inboundPayload(s.wabaOf(phoneNumberID), phoneNumberID, display, msgs)
}

func inboundPayload(wabaID, phoneNumberID, display string, msgs []InboundMessage) []byte {
	v := whatsAppValue(phoneNumberID, display)
	seen := map[string]bool{}
	for _, m := range msgs {
		msg := m.Message
		if msg.Timestamp == "" {
			msg.Timestamp = unix(time.Now())
		}
		if msg.Context != nil && msg.Context.From == "" {
			c := *msg.Context
			c.From = display
			msg.Context = &c
		}
		if !seen[msg.From] {
			seen[msg.From] = true
			v.Contacts = append(v.Contacts, meta.Contact{Profile: meta.Profile{Name: m.Name}, WaID: msg.From})
		}
		v.Messages = append(v.Messages, msg)
	}
	return whatsAppPayload(wabaID, v)
}

// StatusPayload builds one WhatsApp webhook carrying statuses in a single
// change; entry.id is DefaultWABAID. Statuses without a timestamp get now.
func StatusPayload(phoneNumberID, display string, statuses ...StatusUpdate) []byte {
	return statusPayload(DefaultWABAID, phoneNumberID, display, statuses)
}

// StatusPayload is the package-level StatusPayload with the WABA id the
// number was added with as entry.id.
func (s *Server) StatusPayload(phoneNumberID, display string, statuses ...StatusUpdate) []byte {
	return statusPayload(s.wabaOf(phoneNumberID), phoneNumberID, display, statuses)
}

func statusPayload(wabaID, phoneNumberID, display string, statuses []StatusUpdate) []byte {
	v := whatsAppValue(phoneNumberID, display)
	for _, u := range statuses {
		st := u.Status
		if st.Timestamp == "" {
			st.Timestamp = unix(time.Now())
		}
		v.Statuses = append(v.Statuses, st)
	}
	return whatsAppPayload(wabaID, v)
}

// ErrorsPayload builds a WhatsApp webhook carrying value.errors (problems
// not tied to one message, e.g. code 130429 "Rate limit hit").
func ErrorsPayload(phoneNumberID, display string, errs ...meta.Error) []byte {
	v := whatsAppValue(phoneNumberID, display)
	v.Errors = errs
	return whatsAppPayload(DefaultWABAID, v)
}

func whatsAppValue(phoneNumberID, display string) meta.WhatsAppValue {
	return meta.WhatsAppValue{MessagingProduct: "whatsapp", Metadata: meta.Metadata{DisplayPhoneNumber: display, PhoneNumberID: phoneNumberID}}
}

func whatsAppPayload(wabaID string, v meta.WhatsAppValue) []byte {
	return mustMarshal(meta.Webhook{Object: meta.ObjectWhatsAppBusinessAccount, Entry: []meta.Entry{{
		ID: wabaID, Changes: []meta.Change{{Field: meta.FieldMessages, Value: mustMarshal(v)}},
	}}})
}

func (s *Server) wabaOf(phoneNumberID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.st.phones[phoneNumberID]; p != nil && p.wabaID != "" {
		return p.wabaID
	}
	return DefaultWABAID
}

// Batch joins the entries of several payloads of the same object into one
// webhook body, as Meta batches up to 1,000 updates per POST. Passing a
// payload twice yields a duplicate inside one POST.
func Batch(payloads ...[]byte) ([]byte, error) {
	var out meta.Webhook
	for i, p := range payloads {
		w, err := meta.ParseWebhook(p)
		if err != nil {
			return nil, fmt.Errorf("batch payload %d: %w", i, err)
		}
		if out.Object != "" && w.Object != out.Object {
			return nil, fmt.Errorf("batch payload %d: object %q differs from %q", i, w.Object, out.Object)
		}
		out.Object = w.Object
		out.Entry = append(out.Entry, w.Entry...)
	}
	if out.Object == "" {
		return nil, fmt.Errorf("batch: no payloads")
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("batch: marshal: %w", err)
	}
	return b, nil
}

// Deliver POSTs payload to url as Meta does (JSON, X-Hub-Signature-256
// computed with the app secret) and returns the answer's HTTP status.
// Only loopback URLs are accepted.
func (s *Server) Deliver(ctx context.Context, url string, payload []byte) (status int, err error) {
	return s.post(ctx, url, payload, meta.Sign(s.secret, payload))
}

// DeliverUnsigned POSTs payload without a signature header.
func (s *Server) DeliverUnsigned(ctx context.Context, url string, payload []byte) (status int, err error) {
	return s.post(ctx, url, payload, "")
}

// DeliverWithSignature POSTs payload with sig as the X-Hub-Signature-256
// header, for negative tests (wrong secret, malformed value, ...).
func (s *Server) DeliverWithSignature(ctx context.Context, url string, payload []byte, sig string) (status int, err error) {
	return s.post(ctx, url, payload, sig)
}

func (s *Server) post(ctx context.Context, target string, payload []byte, sig string) (int, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !isLoopback(u.Hostname()) {
		return 0, fmt.Errorf("deliver webhook to %q: %w", target, errNotLoopback)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("deliver webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	if sig != "" {
		req.Header.Set(meta.SignatureHeader, sig)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("deliver webhook to %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("metatest: marshal %T: %v", v, err))
	}
	return b
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func mediaID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(899999999999999))
	return strconv.FormatInt(n.Int64()+100000000000000, 10)
}

func sha() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
