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
	// TitleConsentRequired: a business-initiated message (see Consent)
	// lacks the recorded opt-in of its channel and purpose; the Refusal
	// names them (Channel, Purpose).
	TitleConsentRequired = "consent_required"
	// TitleNoVerifiedSender: the email's From is not the org's own sender
	// address verified by the email service (any more).
	TitleNoVerifiedSender = "no_verified_sender"
)

// DetailPurpose is the key of conversation.Message.Details that holds an
// email's consent purpose: conversation.PurposeService (the default: a
// staff member's one-to-one email) or conversation.PurposeMarketing
// (campaigns, bulk mail), which needs an email marketing opt-in.
const DetailPurpose = "purpose"

// Refusal says why a message was not sent, or failed: Code is Meta's error
// code (0 for the sender's own gates), Title a short name, Reason a plain-
// language explanation for the people using Leadluence.
type Refusal struct {
	Code   int
	Title  string
	Reason string
	// Channel and Purpose name the consent a TitleConsentRequired refusal
	// misses (empty for other refusals).
	Channel conversation.Channel
	Purpose string
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

// Purpose is the consent purpose of message m of WhatsApp type msgType
// (ignored for email): conversation.PurposeMarketing for a marketing
// template (Marketing) or an email whose Details[DetailPurpose] is
// marketing, else conversation.PurposeService.
func Purpose(m conversation.Message, msgType string) string {
	switch m.Channel {
	case conversation.ChannelWhatsApp:
		if Marketing(m, msgType) {
			return conversation.PurposeMarketing
		}
	case conversation.ChannelEmail:
		if strings.EqualFold(m.Details[DetailPurpose], conversation.PurposeMarketing) {
			return conversation.PurposeMarketing
		}
	}
	return conversation.PurposeService
}

// NeedsOptIn reports whether message m (WhatsApp type msgType) is business-
// initiated and so needs a recorded opt-in of its channel and purpose, for
// a lead whose last WhatsApp message was at lastInbound, sending at now:
//   - every marketing message (a WhatsApp template whose category is not
//     utility or authentication; an email of purpose marketing);
//   - a WhatsApp template sent outside the 24-hour customer-service window;
//   - a WhatsApp template of a campaign (Details[conversation.
//     DetailCampaignID]) or of an automation (a client message id in
//     conversation.AutomationClientIDPrefix), whatever the window.
//
// Free-form WhatsApp messages (which only go inside the window) and
// service email (a staff member's one-to-one mail) need none: they are
// answers, refused only by an opt-out.
func NeedsOptIn(m conversation.Message, msgType string, lastInbound, now time.Time) bool {
	if Purpose(m, msgType) == conversation.PurposeMarketing {
		return true
	}
	if m.Channel != conversation.ChannelWhatsApp || msgType != "template" {
		return false
	}
	return !WindowOpen(lastInbound, now) || m.Details[conversation.DetailCampaignID] != "" ||
		strings.HasPrefix(m.ClientMessageID, conversation.AutomationClientIDPrefix)
}

// Consent is the one decision of whether a lead's consent lets message m
// (WhatsApp type msgType) go, for a lead with current consent consent
// (lead.Lead.Consent) who last wrote on WhatsApp at lastInbound, sending
// at now. It reads consent through conversation.Preference, as the
// preference view does. An opt-out of the message's channel and purpose
// refuses it (TitleOptedOut; for email an opt-out of either purpose, see
// EmailOptedOut); a message that NeedsOptIn without an opt-in of its
// channel and purpose is refused with TitleConsentRequired, naming both.
// The api's sends and campaigns, the automations and the sender all ask
// this function, so what the api accepts is what the sender sends.
func Consent(m conversation.Message, msgType string, consent map[string]string, lastInbound, now time.Time) *Refusal {
	purpose := Purpose(m, msgType)
	switch m.Channel {
	case conversation.ChannelEmail:
		if EmailOptedOut(consent) {
			return &Refusal{Title: TitleOptedOut, Reason: "The lead has opted out of email; nothing was sent."}
		}
	default:
		if OptedOut(consent, m.Channel, purpose == conversation.PurposeMarketing) {
			what := "these WhatsApp messages"
			if purpose == conversation.PurposeMarketing {
				what = "WhatsApp marketing messages"
			}
			return &Refusal{Title: TitleOptedOut, Reason: "The lead has opted out of " + what + "; nothing was sent."}
		}
	}
	if !NeedsOptIn(m, msgType, lastInbound, now) {
		return nil
	}
	if st, _ := conversation.Preference(consent, m.Channel, purpose); st == conversation.StateOptedIn {
		return nil
	}
	return &Refusal{Title: TitleConsentRequired, Channel: m.Channel, Purpose: purpose,
		Reason: "The lead has not opted in to " + ConsentWhat(m.Channel, purpose) + ", so the business may not start this contact; " +
			"record the lead's opt-in first (a mapped Lead Ads consent question, the lead's own WhatsApp message, or staff with a reason). Nothing was sent."}
}

// ConsentWhat names a channel and purpose in plain words: "WhatsApp
// marketing messages", "service emails".
func ConsentWhat(ch conversation.Channel, purpose string) string {
	name := "WhatsApp"
	if ch == conversation.ChannelEmail {
		name = "email"
	}
	if purpose == conversation.PurposeMarketing {
		return name + " marketing messages"
	}
	if ch == conversation.ChannelEmail {
		return "service emails"
	}
	return "WhatsApp service messages"
}

// Check applies the gates to message m of lead l, for sending at now. in is
// the WhatsApp integration of m.Number (nil when there is none); email has
// no integration gate. Consent is decided by Consent. It returns nil when
// the message may be sent.
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
		if r := Consent(m, wa.Type, l.Consent, l.LastInboundAt, now); r != nil {
			return r
		}
		if wa.Type != "template" && !WindowOpen(l.LastInboundAt, now) {
			return &Refusal{Title: TitleOutsideWindow, Reason: "More than 24 hours have passed since the lead last wrote on WhatsApp, so only an approved template can be sent; send a template instead."}
		}
	case conversation.ChannelEmail:
		if _, err := ParseEmail(m.Payload); err != nil {
			return &Refusal{Title: TitleInvalidPayload, Reason: "The stored email cannot be read (" + err.Error() + "); it was not sent."}
		}
		if r := Consent(m, "", l.Consent, l.LastInboundAt, now); r != nil {
			return r
		}
	default:
		return &Refusal{Title: TitleInvalidPayload, Reason: "The message has an unknown channel " + string(m.Channel) + "; it was not sent."}
	}
	return nil
}
