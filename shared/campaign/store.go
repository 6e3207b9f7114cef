package campaign

import (
	"context"
	"errors"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// Campaign statuses.
const (
	StatusRunning   = "running"
	StatusPaused    = "paused"
	StatusCompleted = "completed"
)

// ErrNotFound means there is no such campaign in the org.
var ErrNotFound = errors.New("campaign not found")

// ErrConflict means the campaign changed since it was read: another
// request processed the page, or paused, resumed or completed it.
var ErrConflict = errors.New("campaign changed concurrently")

// Campaign is a template send to every lead matching a filter.
type Campaign struct {
	OrgID            string
	ID               string
	Name             string
	Status           string
	TemplateName     string
	TemplateLanguage string
	// TemplateCategory is the template's category (lower-cased) when the
	// campaign was created.
	TemplateCategory string
	// PhoneNumberID is the business number sent from.
	PhoneNumberID string
	// Parameters are the parameter specs per template part ("header",
	// "body", "buttons"): static text or a lead field reference.
	Parameters map[string][]string
	Filter     lead.Filter
	PageSize   int
	// Cursor is the ListLeads position of the next page (zero: the first
	// page, or none left once Status is completed).
	Cursor page.Cursor
	// Version counts committed pages; a commit must name the version read.
	Version int
	Matched int
	Queued  int
	// Skipped counts leads not sent to, by reason.
	Skipped   map[string]int
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PageCounts are the counts of one processed page.
type PageCounts struct {
	Matched int
	Queued  int
	Skipped map[string]int
}

// ClientMessageID is the client message id of a campaign's message to a
// lead: one message per lead and campaign, however often its page is
// processed.
func ClientMessageID(campaignID, leadID string) string {
	return conversation.CampaignClientIDPrefix + campaignID + ":" + leadID
}

// Store keeps campaigns (dynamostore.Store). A campaign that is not there
// is ErrNotFound.
type Store interface {
	// CreateCampaign stores a new campaign (status, counts and version as
	// given, normally running and zero).
	CreateCampaign(ctx context.Context, c Campaign) error
	GetCampaign(ctx context.Context, orgID, id string) (Campaign, error)
	// ListCampaigns returns up to limit campaigns of an org, newest first,
	// after the position from, and the position after the last one.
	ListCampaigns(ctx context.Context, orgID string, limit int, from page.Cursor) ([]Campaign, page.Cursor, error)
	// SetCampaignStatus moves a campaign from status from to status to
	// (ErrConflict when it is not in from).
	SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error
	// CommitCampaignPage records a processed page at version: the next
	// page's position (zero completes the campaign), one more version and
	// the page's counts, all at once; a campaign no longer at version is
	// ErrConflict and nothing is counted.
	CommitCampaignPage(ctx context.Context, orgID, id string, version int, next page.Cursor, n PageCounts, at time.Time) error
	// CampaignOutcomes counts the current statuses of a campaign's
	// messages, reading at most limit of them (ok false when there are
	// more, and nothing counted).
	CampaignOutcomes(ctx context.Context, orgID, campaignID string, limit int) (counts map[conversation.Status]int, ok bool, err error)
}

// PageStore is what processing pages needs of storage (dynamostore.Store).
type PageStore interface {
	GetCampaign(ctx context.Context, orgID, id string) (Campaign, error)
	CommitCampaignPage(ctx context.Context, orgID, id string, version int, next page.Cursor, n PageCounts, at time.Time) error
	// SetCampaignStatus pauses a campaign whose messages reached the
	// plan's limit (ErrConflict when it is not running any more).
	SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error
	ListLeads(ctx context.Context, orgID string, f lead.Filter, limit int, from page.Cursor) (lead.Page, error)
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
	QueueOutbound(ctx context.Context, m conversation.Message) (stored conversation.Message, created bool, err error)
}
