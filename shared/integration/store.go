package integration

import (
	"context"
	"time"

	"github.com/leadluence/backend/shared/page"
)

// Store keeps integrations and the one org each page or number belongs to
// (dynamostore.Store). An integration that is not there is ErrNotFound.
type Store interface {
	// ConnectIntegration stores an integration as active and claims its
	// page or number for the org (ErrOwnedElsewhere when another org holds
	// it and has not disconnected it).
	ConnectIntegration(ctx context.Context, in Integration) error
	GetIntegration(ctx context.Context, orgID string, kind Kind, externalID string) (Integration, error)
	ListIntegrations(ctx context.Context, orgID string) ([]Integration, error)
	// IntegrationOwner returns the org a page or number belongs to.
	IntegrationOwner(ctx context.Context, kind Kind, externalID string) (Owner, error)
	// DisconnectIntegration marks the integration and its claim
	// disconnected and deletes the token.
	DisconnectIntegration(ctx context.Context, orgID string, kind Kind, externalID string, at time.Time) error
	// SetIntegrationStatus records a health change; a disconnected
	// integration keeps its status.
	SetIntegrationStatus(ctx context.Context, orgID string, kind Kind, externalID string, st Status) error
	// SetIntegrationRate sets a WhatsApp number's send rate (0: default).
	SetIntegrationRate(ctx context.Context, orgID string, kind Kind, externalID string, mps int, at time.Time) (Integration, error)
	// TouchIntegration records the time of the latest event, never back.
	TouchIntegration(ctx context.Context, orgID string, kind Kind, externalID string, at time.Time) error
	// CountDropped counts an event dropped while disconnected.
	CountDropped(ctx context.Context, orgID string, kind Kind, externalID string) error
	// IntegrationsOfKind lists active integrations of a kind across orgs,
	// one page of up to limit after the position from.
	IntegrationsOfKind(ctx context.Context, kind Kind, limit int, from page.Cursor) ([]Integration, page.Cursor, error)
	// SetBackfillSince records how far backfill got, never back.
	SetBackfillSince(ctx context.Context, orgID string, kind Kind, externalID string, since time.Time) error
}

// ParkingStore keeps events that wait for an integration whose token was
// refused, keyed by event so parking twice keeps one (dynamostore.Store).
type ParkingStore interface {
	ParkEvent(ctx context.Context, orgID string, kind Kind, externalID, eventKey string, payload []byte) error
	// ParkedEvents returns up to limit parked events by event key.
	ParkedEvents(ctx context.Context, orgID string, kind Kind, externalID string, limit int) (map[string][]byte, error)
	DeleteParkedEvent(ctx context.Context, orgID string, kind Kind, externalID, eventKey string) error
}
