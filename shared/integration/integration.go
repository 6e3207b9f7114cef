// Package integration holds an org's connections to Meta: Facebook pages
// that deliver Lead Ads and WhatsApp Business numbers. Tokens are kept only
// as KMS envelope ciphertext bound to the org; a page or number belongs to
// exactly one org at a time.
package integration

import (
	"errors"
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
	// (80 by default, up to 1,000 once Meta raises it); 0 means the
	// deployment's default.
	MessagesPerSecond int
}

// MaxMessagesPerSecond is the highest throughput Meta grants a WhatsApp
// business number.
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
