package sendgate

import (
	"strconv"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
)

// CustomerServiceWindow is how long after a customer's last WhatsApp
// message a business may send free-form messages; later only templates.
const CustomerServiceWindow = 24 * time.Hour

// Titles of failures found by the sender itself (Code 0): a closed gate, or
// a message that cannot be sent as stored. The api function answers the
// same gates with problems of the same names.
const (
	TitleOptedOut            = "opted_out"
	TitleOutsideWindow       = "outside_customer_service_window"
	TitleIntegrationInactive = "integration_inactive"
	TitleLeadNotFound        = "lead_not_found"
	TitleInvalidPayload      = "invalid_payload"
	TitleUnknownOutcome      = "outcome_unknown"
	TitleOrgClosed           = "org_closed"
	// TitleNoVerifiedSender: the email's From is not the org's own sender
	// address verified by the email service (any more).
	TitleNoVerifiedSender = "no_verified_sender"
)

// Refusal says why a message was not sent, or failed: Code is Meta's error
// code (0 for the sender's own gates), Title a short name, Reason a plain-
// language explanation for the people using Leadluence.
type Refusal struct {
	Code   int
	Title  string
	Reason string
}

// Error implements error.
func (r *Refusal) Error() string {
	if r.Code != 0 {
		return r.Title + " (" + strconv.Itoa(r.Code) + "): " + r.Reason
	}
	return r.Title + ": " + r.Reason
}

// Marketing reports whether a message needs marketing consent: a WhatsApp
// template whose category (Details[DetailCategory]) is not utility or
// authentication.
func Marketing(m conversation.Message, msgType string) bool {
	if m.Channel != conversation.ChannelWhatsApp || msgType != "template" {
		return false
	}
	switch strings.ToLower(m.Details[DetailCategory]) {
	case CategoryUtility, CategoryAuthentication:
		return false
	}
	return true
}

// OptedOut reports whether a lead's current consent (lead.Lead.Consent:
// "channel:purpose" → "opt_out@<RFC 3339>" | "opt_in@<RFC 3339>") blocks a
// message on ch: conversation.Preference for the message's purpose
// (marketing, else service) is opted out. The whole channel's key counts
// for both purposes, so an opt-out of the whole channel blocks every
// message until an opt-in of the channel or of the purpose is newer. An
// opt-out and an opt-in in the same second block; an opt-out with an
// unreadable time blocks.
func OptedOut(consent map[string]string, ch conversation.Channel, marketing bool) bool {
	purpose := conversation.PurposeService
	if marketing {
		purpose = conversation.PurposeMarketing
	}
	st, _ := conversation.Preference(consent, ch, purpose)
	return st == conversation.StateOptedOut
}

// EmailOptedOut reports whether a lead's current consent blocks email.
// Emails have no marketing classification, so an opt-out of either purpose
// blocks them all: a one-click unsubscribe (package unsubscribe) is an
// email marketing opt-out and must stop the emails it came with.
func EmailOptedOut(consent map[string]string) bool {
	return OptedOut(consent, conversation.ChannelEmail, false) || OptedOut(consent, conversation.ChannelEmail, true)
}

// WindowOpen reports whether WhatsApp's customer-service window, opened by
// the customer's last message at lastInbound, is still open at now.
func WindowOpen(lastInbound, now time.Time) bool {
	return !lastInbound.IsZero() && now.Sub(lastInbound) < CustomerServiceWindow
}

// Check applies the gates to message m of lead l, for sending at now. in is
// the WhatsApp integration of m.Number (nil when there is none); email has
// no integration gate. It returns nil when the message may be sent.
func Check(m conversation.Message, l lead.Lead, in *integration.Integration, now time.Time) *Refusal {
	switch m.Channel {
	case conversation.ChannelWhatsApp:
		wa, err := ParseWhatsApp(m.Payload)
		if err != nil {
			return &Refusal{Title: TitleInvalidPayload, Reason: "The stored WhatsApp message cannot be read (" + err.Error() + "); it was not sent."}
		}
		if in == nil || in.Status != integration.StatusActive {
			return &Refusal{Title: TitleIntegrationInactive, Reason: "The WhatsApp number this message is sent from is not connected and active; reconnect it under Integrations and send again."}
		}
		if OptedOut(l.Consent, conversation.ChannelWhatsApp, Marketing(m, wa.Type)) {
			return &Refusal{Title: TitleOptedOut, Reason: "The lead has opted out of these WhatsApp messages; nothing was sent."}
		}
		if wa.Type != "template" && !WindowOpen(l.LastInboundAt, now) {
			return &Refusal{Title: TitleOutsideWindow, Reason: "More than 24 hours have passed since the lead last wrote on WhatsApp, so only an approved template can be sent; send a template instead."}
		}
	case conversation.ChannelEmail:
		if _, err := ParseEmail(m.Payload); err != nil {
			return &Refusal{Title: TitleInvalidPayload, Reason: "The stored email cannot be read (" + err.Error() + "); it was not sent."}
		}
		if EmailOptedOut(l.Consent) {
			return &Refusal{Title: TitleOptedOut, Reason: "The lead has opted out of email; nothing was sent."}
		}
	default:
		return &Refusal{Title: TitleInvalidPayload, Reason: "The message has an unknown channel " + string(m.Channel) + "; it was not sent."}
	}
	return nil
}
