// Package integration holds an org's connections to Meta: Facebook pages
// that deliver Lead Ads and WhatsApp Business numbers. Tokens are kept only
// as KMS envelope ciphertext bound to the org; a page or number belongs to
// exactly one org at a time.
package integration

import (
	"errors"
	"slices"
	"time"
)

// Kind is the sort of integration.
type Kind string

// Kinds.
const (
	KindFacebookPage Kind = "facebook_page"
	KindWhatsApp     Kind = "whatsapp"
)

// Status is an integration's health.
type Status string

// Statuses.
const (
	StatusActive       Status = "active"
	StatusTokenInvalid Status = "token_invalid"
	StatusDisconnected Status = "disconnected"
)

// Integration is one connected page or number.
type Integration struct {
	OrgID string
	Kind  Kind
	// ExternalID is the page id or the WhatsApp phone_number_id.
	ExternalID         string
	Name               string
	WABAID             string
	DisplayPhoneNumber string
	// FormIDs limits Lead Ads intake to these forms; empty means all.
	FormIDs []string
	// SealedToken is the access token sealed with package envelope for OrgID.
	SealedToken []byte
	Status      Status
	ConnectedBy string
	ConnectedAt time.Time
	UpdatedAt   time.Time
	LastEventAt time.Time
	// DroppedEvents counts events received after disconnection (not stored).
	DroppedEvents int
	// BackfillSince is the creation time of the newest lead backfill saw.
	BackfillSince time.Time
	// MessagesPerSecond is the send rate Meta allows this WhatsApp number
	// (80 by default, more once Meta raises it, up to MaxMessagesPerSecond);
	// 0 means the
	// deployment's default.
	MessagesPerSecond int
}

// MaxMessagesPerSecond is the highest send rate a number can be set to:
// Meta's highest tier. The sender splits a number's per-second counter over
// several items above outbound.ShardCapacity (250), so that no item takes
// more than about 250 grants a second plus the refused increments.
const MaxMessagesPerSecond = 1000

// Sentinel errors.
var (
	ErrNotFound = errors.New("integration not found")
	// ErrOwnedElsewhere means the page or number is connected to another org.
	ErrOwnedElsewhere = errors.New("connected to another organisation")
)

// Owner names the org a page or number belongs to.
type Owner struct {
	OrgID  string
	Status Status
}

// ErrNoActiveWhatsApp means an org has no active WhatsApp number to send
// from (see PickWhatsApp). An InactiveNumberError is one too.
var ErrNoActiveWhatsApp = errors.New("no active WhatsApp number")

// InactiveNumberError means the WhatsApp number asked for is not an active
// number of the org, while others are.
type InactiveNumberError struct {
	// PhoneNumberID is the number asked for.
	PhoneNumberID string
}

// Error implements error.
func (e *InactiveNumberError) Error() string {
	return "WhatsApp number " + e.PhoneNumberID + " is not an active number of this organisation"
}

// Is makes an InactiveNumberError match ErrNoActiveWhatsApp.
func (e *InactiveNumberError) Is(target error) bool { return target == ErrNoActiveWhatsApp }

// ActiveWhatsApp returns the WhatsApp numbers among all that are active and
// hold a token, most recently connected first (ties keep their order).
func ActiveWhatsApp(all []Integration) []Integration {
	var out []Integration
	for _, in := range all {
		if in.Kind == KindWhatsApp && in.Status == StatusActive && len(in.SealedToken) > 0 {
			out = append(out, in)
		}
	}
	slices.SortStableFunc(out, func(a, b Integration) int { return b.ConnectedAt.Compare(a.ConnectedAt) })
	return out
}

// PickWhatsApp returns the number to send from among an org's integrations
// all: the active number want, or with want empty the most recently
// connected active number. Without any active number the error is
// ErrNoActiveWhatsApp; when want is not one of them, an
// *InactiveNumberError.
func PickWhatsApp(all []Integration, want string) (Integration, error) {
	numbers := ActiveWhatsApp(all)
	if len(numbers) == 0 {
		return Integration{}, ErrNoActiveWhatsApp
	}
	if want == "" {
		return numbers[0], nil
	}
	for _, n := range numbers {
		if n.ExternalID == want {
			return n, nil
		}
	}
	return Integration{}, &InactiveNumberError{PhoneNumberID: want}
}
