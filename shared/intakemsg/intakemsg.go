// Package intakemsg is the intake queue's message contract: what the
// webhook function puts on the queue and the ingest function reads. It
// imports nothing, so the webhook links none of package intake's
// processing (nor the storage and phone-number code behind it).
//
// Every verified POST becomes one message whose body is the signed body
// itself (PayloadWhole), unless that would exceed the webhook's
// MaxMessageBytes (functions/webhook/app); SQS counts the body and the
// attributes. A larger body becomes a set of messages, all with the same
// AttrSplitID, numbered by AttrSplitIndex out of AttrSplitCount:
//
//   - PayloadFragment: the body is valid JSON and was cut along its arrays
//     (functions/webhook/app splitJSON). Each fragment is itself a complete Meta webhook
//     {"object":..,"entry":[..]} holding a share of the entries (or of one
//     entry's changes, or of one change's messages/statuses) with every
//     other member copied, all of it bytes Meta signed. Ingest processes a
//     fragment exactly like a whole payload; no reassembly is needed, and
//     because ingest keys its effects by leadgen id / wamid, fragments can be
//     processed in any order, in parallel, or twice.
//   - PayloadPart: the body is not JSON, or could not be cut (a single value
//     too large, or more than the webhook's fragment limit). The parts are
//     consecutive byte ranges of the body; concatenating them in
//     AttrSplitIndex order gives the signed bytes back. Meta does not send
//     such bodies; they are kept, not dropped, so ingest can dead-letter them
//     with a reason and an operator can see exactly what arrived.
//
// A body that is not text SQS accepts (invalid UTF-8, control characters,
// U+FFFE/U+FFFF) travels base64-encoded (AttrEncoding EncodingBase64); parts
// always do.
package intakemsg

import "errors"

// ErrDuplicate means an event was processed before (its leadgen id, wamid
// or evidence is claimed already): nothing was written. Package intake
// names it intake.ErrDuplicate; it is declared here so that the store can
// return it without linking intake's processing code.
var ErrDuplicate = errors.New("event already processed")

// Message attribute names.
const (
	// AttrObject (String) is the webhook's top-level "object" ("page",
	// "whatsapp_business_account", ...) or ObjectUnknown when the body has
	// none that is a plain lower-case name.
	AttrObject = "object"
	// AttrReceivedAt (Number) is when API Gateway received the POST, in Unix
	// milliseconds (the webhook's clock when the event has no time).
	AttrReceivedAt = "received_at"
	// AttrPayload (String) is PayloadWhole, PayloadFragment or PayloadPart.
	AttrPayload = "payload"
	// AttrEncoding (String) is EncodingText or EncodingBase64.
	AttrEncoding = "encoding"
	// AttrSplitID (String) is the hex SHA-256 of the signed body, shared by
	// every message of a split set. Absent on whole payloads.
	AttrSplitID = "split_id"
	// AttrSplitIndex (Number) is the 0-based position of the message in its set.
	AttrSplitIndex = "split_index"
	// AttrSplitCount (Number) is the number of messages in the set.
	AttrSplitCount = "split_count"
)

// Values of AttrPayload, AttrEncoding and AttrObject.
const (
	PayloadWhole    = "whole"
	PayloadFragment = "fragment"
	PayloadPart     = "part"
	EncodingText    = "text"
	EncodingBase64  = "base64"
	ObjectUnknown   = "unknown"
)
