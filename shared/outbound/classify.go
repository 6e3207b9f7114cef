package outbound

import (
	"errors"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/sendgate"
)

// Action is what the sender does with a message after a provider error.
type Action int

// Actions.
const (
	// ActionRetry puts the message back to queued; the queue redelivers it
	// later. The provider refused it, so it was not sent.
	ActionRetry Action = iota + 1
	// ActionFail marks the message failed with the verdict's Refusal.
	ActionFail
	// ActionTokenInvalid marks the integration token_invalid and fails the
	// message.
	ActionTokenInvalid
	// ActionUnknown marks the message unknown: the request reached the
	// provider but no answer came back, so it may have been sent. It is
	// never sent again (no duplicate); people can resend it by hand.
	ActionUnknown
)

// Verdict is what a provider error means for the message.
type Verdict struct {
	Action Action
	sendgate.Refusal
	// OptOutMarketing asks for a marketing opt-out in the consent ledger
	// (131050: the customer stopped marketing messages).
	OptOutMarketing bool
	// MinDelay is the least time to wait before a retry.
	MinDelay time.Duration
}

type codeInfo struct {
	action   Action
	title    string
	reason   string
	optOut   bool
	minDelay time.Duration
}

// whatsAppCodes explains WhatsApp Cloud API error codes: whether the send
// may be retried, Meta's title, and a plain-language reason. It is the one
// place these codes are interpreted; codes not listed fall back to the
// Graph error's own retryability and message.
var whatsAppCodes = map[int]codeInfo{
	// Retried: the message was refused, not sent.
	130429: {ActionRetry, "Rate limit hit", "WhatsApp's message throughput for this number was reached; the message is sent again shortly.", false, time.Second},
	131056: {ActionRetry, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages were sent to this lead in a short time; the message is sent again in a few seconds.", false, 6 * time.Second},
	131000: {ActionRetry, "Something went wrong", "WhatsApp had an internal error; the message is sent again shortly.", false, 0},
	131016: {ActionRetry, "Service unavailable", "WhatsApp is temporarily unavailable; the message is sent again shortly.", false, 0},

	// Failed for good.
	100:    {ActionFail, "Invalid parameter", "WhatsApp rejected the message as malformed (an invalid or missing field); it was not sent.", false, 0},
	368:    {ActionFail, "Temporarily blocked for policies violations", "Meta has temporarily blocked this WhatsApp number for violating WhatsApp's policies; check the number in WhatsApp Manager.", false, 0},
	130472: {ActionFail, "User's number is part of an experiment", "Meta withheld this marketing message because the lead is part of a WhatsApp experiment.", false, 0},
	131005: {ActionFail, "Access denied", "The connected token is not allowed to send from this number; reconnect it with the whatsapp_business_messaging permission.", false, 0},
	131008: {ActionFail, "Required parameter is missing", "The message lacks a field WhatsApp requires; it was not sent.", false, 0},
	131009: {ActionFail, "Parameter value is not valid", "A value in the message is not valid for WhatsApp; it was not sent.", false, 0},
	131021: {ActionFail, "Recipient cannot be sender", "The lead's number is the business number itself.", false, 0},
	131026: {ActionFail, "Message undeliverable", "WhatsApp could not deliver the message: the number may not be on WhatsApp, or the lead has not accepted WhatsApp's latest terms or uses an old app.", false, 0},
	131031: {ActionFail, "Account has been locked", "Meta has locked this WhatsApp Business account; check it in WhatsApp Manager.", false, 0},
	131042: {ActionFail, "Business eligibility payment issue", "The WhatsApp Business account has a payment problem; fix the payment method in WhatsApp Manager.", false, 0},
	131045: {ActionFail, "Incorrect certificate", "This WhatsApp number is not fully registered with the Cloud API.", false, 0},
	131047: {ActionFail, "Re-engagement message", "More than 24 hours have passed since the lead last wrote, so WhatsApp only accepts an approved template now.", false, 0},
	131048: {ActionFail, "Spam rate limit hit", "Meta limited this number because too many recent messages were blocked or reported as spam; check the number's quality rating.", false, 0},
	131049: {ActionFail, "This message was not delivered to maintain healthy ecosystem engagement", "Meta held back this marketing message so the lead does not get too many; try later or with a different message.", false, 0},
	131050: {ActionFail, "User has stopped marketing messages", "The lead has chosen on WhatsApp to stop marketing messages from this business; it is recorded as a marketing opt-out.", true, 0},
	131051: {ActionFail, "Unsupported message type", "WhatsApp does not support this message type.", false, 0},
	131053: {ActionFail, "Media upload error", "WhatsApp could not use the attached media.", false, 0},
	133010: {ActionFail, "Phone number not registered", "This WhatsApp number is not registered with the Cloud API.", false, 0},
	132000: {ActionFail, "Template Param Count Mismatch", "The template was given a different number of parameters than it has.", false, 0},
	132001: {ActionFail, "Template does not exist", "No approved template with this name and language exists for the number's account.", false, 0},
	132005: {ActionFail, "Template Hydrated Text Too Long", "The template's text with its parameters filled in is too long.", false, 0},
	132007: {ActionFail, "Template Format Character Policy Violated", "The template's parameters break WhatsApp's formatting rules (new lines, tabs or too many spaces).", false, 0},
	132012: {ActionFail, "Template Parameter Format Mismatch", "A template parameter has the wrong format (e.g. an image where text is expected).", false, 0},
	132015: {ActionFail, "Template is Paused", "Meta paused this template for low quality; use another template.", false, 0},
	132016: {ActionFail, "Template is Disabled", "Meta disabled this template for low quality; use another template.", false, 0},
}

// Template problem codes run from 132000 to 132015 (and a few beyond).
const (
	templateCodeMin = 132000
	templateCodeMax = 132099
)

// tokenInvalidReason explains an integration whose token Meta refused.
const tokenInvalidReason = "Meta refused the WhatsApp number's access token (expired or revoked); reconnect the number under Integrations, then send again."

// ClassifyWhatsApp explains an error of meta.Client.SendMessage. written
// says whether the request was written to the connection in full: a
// transport failure after that may have delivered the message (ActionUnknown),
// one before it is retried.
func ClassifyWhatsApp(err error, written bool) Verdict {
	var ge *meta.GraphError
	switch {
	case errors.As(err, &ge):
		return classifyGraph(ge)
	case errors.Is(err, meta.ErrInvalidArgument):
		return Verdict{Action: ActionFail, Refusal: sendgate.Refusal{Title: sendgate.TitleInvalidPayload, Reason: "The message could not be put into a WhatsApp request; it was not sent."}}
	case errors.Is(err, meta.ErrBadResponse), errors.Is(err, meta.ErrResponseTooLarge):
		return unknownVerdict("WhatsApp answered the send with something other than a message id, so whether it went out cannot be told; it is not sent again.")
	}
	return transportVerdict(written, "WhatsApp")
}

func classifyGraph(ge *meta.GraphError) Verdict {
	if ge.TokenInvalid() {
		return Verdict{Action: ActionTokenInvalid, Refusal: sendgate.Refusal{Code: ge.Code, Title: "Access token invalid", Reason: tokenInvalidReason}}
	}
	if info, ok := whatsAppCodes[ge.Code]; ok {
		return Verdict{Action: info.action, Refusal: sendgate.Refusal{Code: ge.Code, Title: info.title, Reason: info.reason}, OptOutMarketing: info.optOut, MinDelay: info.minDelay}
	}
	if ge.Code >= templateCodeMin && ge.Code <= templateCodeMax {
		return Verdict{Action: ActionFail, Refusal: sendgate.Refusal{Code: ge.Code, Title: ge.Message,
			Reason: "WhatsApp refused the template: " + ge.Message + "; check the template in WhatsApp Manager."}}
	}
	if ge.Retryable() {
		return Verdict{Action: ActionRetry, Refusal: sendgate.Refusal{Code: ge.Code, Title: ge.Message, Reason: "WhatsApp is temporarily unavailable; the message is sent again shortly."}}
	}
	return Verdict{Action: ActionFail, Refusal: sendgate.Refusal{Code: ge.Code, Title: ge.Message, Reason: "WhatsApp refused the message: " + ge.Message}}
}

// SES v2 error codes the sender tells apart.
var (
	sesRetryCodes = map[string]bool{"TooManyRequestsException": true, "LimitExceededException": true, "ThrottlingException": true}
	sesFailCodes  = map[string]string{
		"MessageRejected":                    "The email service rejected the message",
		"MailFromDomainNotVerifiedException": "The sender's domain is not verified with the email service",
		"AccountSuspendedException":          "Sending email is suspended for this account",
		"SendingPausedException":             "Sending email is paused for this account",
		"NotFoundException":                  "The email service does not know a resource the message names",
		"BadRequestException":                "The email service found the message malformed",
	}
)

// ClassifyEmail explains an error of SES v2 SendEmail (called without SDK
// retries, so that an answer lost in transit is not sent twice); written is
// as for ClassifyWhatsApp.
func ClassifyEmail(err error, written bool) Verdict {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if sesRetryCodes[code] {
			return Verdict{Action: ActionRetry, MinDelay: time.Second, Refusal: sendgate.Refusal{Title: code, Reason: "The email service's sending rate was reached; the message is sent again shortly."}}
		}
		if what, ok := sesFailCodes[code]; ok {
			return Verdict{Action: ActionFail, Refusal: sendgate.Refusal{Title: code, Reason: what + ": " + ae.ErrorMessage()}}
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429 {
			return Verdict{Action: ActionRetry, Refusal: sendgate.Refusal{Title: "email_service_unavailable", Reason: "The email service is temporarily unavailable; the message is sent again shortly."}}
		}
		if re.HTTPStatusCode() >= 300 || errors.As(err, &ae) {
			return Verdict{Action: ActionFail, Refusal: sendgate.Refusal{Title: "email_rejected", Reason: "The email service refused the message: " + err.Error()}}
		}
		// A 2xx whose answer could not be read: it was probably sent.
		return unknownVerdict("The email service's answer could not be read, so whether the email went out cannot be told; it is not sent again.")
	}
	return transportVerdict(written, "The email service")
}

// transportVerdict handles failures to get any answer: a retry when the
// request never left, unknown when it did.
func transportVerdict(written bool, provider string) Verdict {
	if !written {
		return Verdict{Action: ActionRetry, Refusal: sendgate.Refusal{Title: "provider_unreachable", Reason: provider + " could not be reached; the message is sent again shortly."}}
	}
	return unknownVerdict(provider + " received the message but did not answer in time, so whether it went out cannot be told; it is not sent again, to avoid a duplicate.")
}

func unknownVerdict(reason string) Verdict {
	return Verdict{Action: ActionUnknown, Refusal: sendgate.Refusal{Title: sendgate.TitleUnknownOutcome, Reason: reason}}
}
