// Package campaigns is the campaign area of the HTTP API: creating,
// listing, reading, pausing and resuming campaigns that send one WhatsApp
// template to every lead matching a filter.
package campaigns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/httpapi/sendproblem"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// Campaigns send one WhatsApp template to every lead matching a filter.
// The routes here check and store a campaign, run its first page (or, on
// resume, its next page) with package campaign, which the sender also
// uses for the remaining pages, and map that package's refusals to
// problems. docs/campaigns.md describes the whole flow.

// Store is what the campaign routes need from storage.
type Store interface {
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
	CreateCampaign(ctx context.Context, c campaign.Campaign) error
	GetCampaign(ctx context.Context, orgID, id string) (campaign.Campaign, error)
	ListCampaigns(ctx context.Context, orgID string, limit int, from page.Cursor) ([]campaign.Campaign, page.Cursor, error)
	SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error
	CampaignOutcomes(ctx context.Context, orgID, campaignID string, limit int) (map[conversation.Status]int, bool, error)
}

// Campaign bounds.
const (
	campaignDefaultPageSize = 100
	campaignMaxPageSize     = 100
	// campaignOutcomeLimit: sent and failed are counted by reading the
	// campaign's messages only up to this many (one Query and one
	// BatchGetItem); bigger campaigns report them as null.
	campaignOutcomeLimit = 100
)

// CampaignTemplateIn names the template of a campaign.
type CampaignTemplateIn struct {
	Name     string `json:"name" minLength:"1" maxLength:"512"`
	Language string `json:"language" minLength:"2" maxLength:"15" doc:"Meta's locale code, e.g. en_US."`
}

// CampaignFilterIn selects the leads of a campaign, like GET /v1/leads.
type CampaignFilterIn struct {
	Status     string `json:"status,omitempty" enum:"new,contacted,qualified,unqualified,won,lost"`
	Tag        string `json:"tag,omitempty" maxLength:"64"`
	Source     string `json:"source,omitempty" maxLength:"64"`
	AssigneeID string `json:"assignee_id,omitempty" maxLength:"64" doc:"A user id, or \"me\"."`
}

// CampaignIn creates a campaign.
type CampaignIn struct {
	Name       string              `json:"name" minLength:"1" maxLength:"200"`
	Template   CampaignTemplateIn  `json:"template"`
	Parameters map[string][]string `json:"parameters,omitempty" doc:"Parameters per template part: header, body, buttons (one per dynamic button, in order). Each is static text, {{lead.name}} or {{custom.<key>}}; a lead lacking the field is skipped (missing_parameter)."`
	Filter     CampaignFilterIn    `json:"filter,omitempty"`
	// PhoneNumberID is the business number to send from.
	PhoneNumberID string `json:"phone_number_id,omitempty" maxLength:"64" pattern:"^[0-9]+$" doc:"Default the organisation's most recently connected active number."`
	PageSize      int    `json:"page_size,omitempty" minimum:"1" maximum:"100" doc:"Leads per processed page (default 100); the create or resume request processes the first, the sender the rest, one page per queued job."`
}

// CampaignCounts are a campaign's progress and outcome.
type CampaignCounts struct {
	Matched         int            `json:"matched" doc:"Leads matched by the filter so far."`
	Queued          int            `json:"queued" doc:"Messages queued for sending."`
	Skipped         int            `json:"skipped"`
	SkippedByReason map[string]int `json:"skipped_by_reason" doc:"no_phone, opted_out, consent_required (no recorded WhatsApp opt-in for the campaign's purpose), missing_parameter, plan_limit (the plan's WhatsApp messages of the day were used up: the campaign pauses after that page; resume it once the day resets)."`
	Sent            *int           `json:"sent" doc:"Messages the provider accepted (or later statuses); null when the campaign has more than 100 messages (not counted)."`
	Failed          *int           `json:"failed" doc:"Messages that failed; null when not counted, as for sent."`
}

// CampaignOut is a campaign as the API shows it.
type CampaignOut struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	Status        string              `json:"status" enum:"running,paused,completed"`
	Template      CampaignTemplateOut `json:"template"`
	Parameters    map[string][]string `json:"parameters"`
	Filter        CampaignFilterIn    `json:"filter"`
	PhoneNumberID string              `json:"phone_number_id"`
	PageSize      int                 `json:"page_size"`
	Counts        CampaignCounts      `json:"counts"`
	CreatedBy     string              `json:"created_by"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

// CampaignTemplateOut is the template of a campaign.
type CampaignTemplateOut struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category" doc:"marketing, utility or authentication, when the campaign was created."`
}

// CampaignList is one page of campaigns, newest first.
type CampaignList struct {
	Items      []CampaignOut `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

type campaignOutput struct {
	Status int
	Body   CampaignOut
}

type campaignIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

// Deps are the collaborators of the campaign routes.
type Deps struct {
	Store Store
	// Pages checks a campaign's template and processes its pages (the
	// sender processes the same campaigns' later pages).
	Pages *campaign.Pages
	// Plans, when set, limits the org's running campaigns to its plan
	// (plan.Service): a create or resume at the limit is 403 plan_limit.
	Plans httpapi.PlanGauges
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the campaign routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	errs := []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
	huma.Register(api, huma.Operation{
		OperationID: "create-campaign", Method: http.MethodPost, Path: "/v1/campaigns", Tags: []string{"campaigns"},
		Summary: "Send a WhatsApp template to every lead matching a filter",
		Description: "Checks the template (exists, APPROVED, parameter counts: 422 unknown_template / template_not_approved / " +
			"template_parameters), stores the campaign and processes its first page of leads: 201 with the campaign and its " +
			"counts. The remaining pages are processed in the background, one queued job per page, until its status is " +
			"completed. Owner, admin, manager.",
		DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity, MaxBodyBytes: httpapi.MaxBodyBytes, Errors: errs,
	}, s.createCampaign)
	huma.Register(api, huma.Operation{
		OperationID: "list-campaigns", Method: http.MethodGet, Path: "/v1/campaigns", Tags: []string{"campaigns"},
		Summary: "The organisation's campaigns, newest first", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.listCampaigns)
	huma.Register(api, huma.Operation{
		OperationID: "get-campaign", Method: http.MethodGet, Path: "/v1/campaigns/{id}", Tags: []string{"campaigns"},
		Summary: "A campaign with its progress and outcome counts", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.getCampaign)
	huma.Register(api, huma.Operation{
		OperationID: "pause-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/pause", Tags: []string{"campaigns"},
		Summary:     "Pause a campaign: no further pages are processed; messages already queued still go",
		Description: "Pausing a paused campaign changes nothing; a completed one answers 409 campaign_completed.",
		Security:    httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.pauseCampaign)
	huma.Register(api, huma.Operation{
		OperationID: "resume-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/resume", Tags: []string{"campaigns"},
		Summary: "Resume a paused campaign, or continue a running one, processing its next page",
		Description: "Processes the next page of leads from the stored cursor and queues the job for the page after it. " +
			"A completed campaign is returned unchanged. Processing a page again never sends a lead a second message.",
		Security: httpapi.BearerSecurity, Errors: errs,
	}, s.resumeCampaign)
}

// mayRunCampaigns: owner, admin and manager.
func mayRunCampaigns(r account.Role) bool {
	return r == account.RoleOwner || r == account.RoleAdmin || r == account.RoleManager
}

func (s *server) campaignAccess(ctx context.Context, action, id string) error {
	if !mayRunCampaigns(httpapi.Caller(ctx).User.Role) {
		return s.Deny(ctx, action, "campaign", id, "only owners, admins and managers can see and run campaigns")
	}
	return nil
}

func (s *server) createCampaign(ctx context.Context, in *struct{ Body CampaignIn }) (*campaignOutput, error) {
	if err := s.campaignAccess(ctx, "campaign.create", ""); err != nil {
		return nil, err
	}
	p := httpapi.Caller(ctx)
	cs := s.deps.Store
	b := &in.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, httpapi.FieldProblem("name", "must not be blank")
	}
	if err := campaign.CheckParameters(b.Parameters); err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	number, err := sendproblem.PickNumber(ctx, s.Kit, s.deps.Store, p.User.OrgID, b.PhoneNumberID)
	if err != nil {
		return nil, err
	}
	sp, err := s.deps.Pages.CheckTemplate(ctx, number, b.Template.Name, b.Template.Language, b.Parameters)
	if err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	f := lead.Filter{Status: lead.Status(b.Filter.Status), Tag: strings.ToLower(strings.TrimSpace(b.Filter.Tag)),
		Source: b.Filter.Source, AssigneeID: b.Filter.AssigneeID}
	if f.AssigneeID == "me" {
		f.AssigneeID = p.User.ID
	}
	if b.PageSize == 0 {
		b.PageSize = campaignDefaultPageSize
	}
	now := s.Now().UTC()
	c := campaign.Campaign{OrgID: p.User.OrgID, ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(),
		Name: strings.TrimSpace(b.Name), Status: campaign.StatusRunning, TemplateName: sp.Name, TemplateLanguage: sp.Language,
		TemplateCategory: strings.ToLower(sp.Category), PhoneNumberID: number.ExternalID, Parameters: b.Parameters, Filter: f,
		PageSize: min(b.PageSize, campaignMaxPageSize), Skipped: map[string]int{}, CreatedBy: p.User.ID, CreatedAt: now, UpdatedAt: now}
	if c.Parameters == nil {
		c.Parameters = map[string][]string{}
	}
	// The plan's active campaigns: counted in the same write (exact under
	// concurrency), refused at the limit.
	bound, err := s.BindPlan(ctx, s.deps.Plans, c.OrgID, plan.ActiveCampaigns)
	if err != nil {
		return nil, err
	}
	if err := cs.CreateCampaign(bound, c); err != nil {
		if perr := s.PlanRefused(err); perr != nil {
			return nil, perr
		}
		return nil, s.Internal(ctx, "create campaign", err)
	}
	s.Record(ctx, audit.Record{OrgID: c.OrgID, ActorID: p.User.ID, Action: "campaign.create", TargetType: "campaign", TargetID: c.ID,
		Details: map[string]string{"template": c.TemplateName, "language": c.TemplateLanguage}})
	s.PlanAdded(ctx, s.deps.Plans, c.OrgID, plan.ActiveCampaigns)
	// The campaign exists now: a failure while processing its first page
	// or queueing the next is logged and left for resume, not reported as
	// a failed create.
	if _, err := s.deps.Pages.Run(ctx, c.OrgID, c.ID); err != nil {
		s.Log().WarnContext(ctx, "process new campaign", "campaign", c.ID, "err", err)
	} else if err := s.deps.Pages.Continue(ctx, c.OrgID, c.ID); err != nil {
		s.Log().WarnContext(ctx, "queue next campaign page", "campaign", c.ID, "err", err)
	}
	out, err := s.campaignView(ctx, cs, c.OrgID, c.ID)
	if err != nil {
		return nil, err
	}
	return &campaignOutput{Status: http.StatusCreated, Body: out}, nil
}

func (s *server) listCampaigns(ctx context.Context, in *struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body CampaignList }, error) {
	if err := s.campaignAccess(ctx, "campaign.list", ""); err != nil {
		return nil, err
	}
	org := httpapi.Caller(ctx).User.OrgID
	cs := s.deps.Store
	scope := fmt.Sprintf("campaigns|%d", in.Limit)
	from, ok := s.Cursors().Decode(in.Cursor, org, scope)
	if !ok {
		return nil, httpapi.BadCursor()
	}
	list, next, err := cs.ListCampaigns(ctx, org, in.Limit, from)
	if err != nil {
		return nil, s.Internal(ctx, "list campaigns", err)
	}
	out := &struct{ Body CampaignList }{Body: CampaignList{Items: make([]CampaignOut, 0, len(list))}}
	for _, c := range list {
		out.Body.Items = append(out.Body.Items, campaignOut(c, nil, false))
	}
	out.Body.NextCursor = httpapi.Optional(s.Cursors().Encode(org, scope, next))
	return out, nil
}

func (s *server) getCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.read", in.ID); err != nil {
		return nil, err
	}
	cs := s.deps.Store
	out, err := s.campaignView(ctx, cs, httpapi.Caller(ctx).User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

func (s *server) pauseCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.pause", in.ID); err != nil {
		return nil, err
	}
	p := httpapi.Caller(ctx)
	cs := s.deps.Store
	err := cs.SetCampaignStatus(ctx, p.User.OrgID, in.ID, campaign.StatusRunning, campaign.StatusPaused, s.Now())
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		return nil, httpapi.NotFound("campaign")
	case errors.Is(err, campaign.ErrConflict):
		// Already paused (nothing to do) or completed.
		c, gerr := cs.GetCampaign(ctx, p.User.OrgID, in.ID)
		if gerr != nil {
			return nil, s.campaignErr(ctx, gerr)
		}
		if c.Status == campaign.StatusCompleted {
			return nil, httpapi.NewProblem(http.StatusConflict, "campaign_completed", "the campaign has processed every matching lead; there is nothing left to pause")
		}
	case err != nil:
		return nil, s.Internal(ctx, "pause campaign", err)
	default:
		s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "campaign.pause", TargetType: "campaign", TargetID: in.ID})
	}
	out, err := s.campaignView(ctx, cs, p.User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

func (s *server) resumeCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.resume", in.ID); err != nil {
		return nil, err
	}
	p := httpapi.Caller(ctx)
	cs := s.deps.Store
	c, err := cs.GetCampaign(ctx, p.User.OrgID, in.ID)
	if err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	if c.Status == campaign.StatusPaused {
		bound, err := s.BindPlan(ctx, s.deps.Plans, p.User.OrgID, plan.ActiveCampaigns)
		if err != nil {
			return nil, err
		}
		err = cs.SetCampaignStatus(bound, p.User.OrgID, c.ID, campaign.StatusPaused, campaign.StatusRunning, s.Now())
		if perr := s.PlanRefused(err); perr != nil {
			return nil, perr
		}
		if err != nil && !errors.Is(err, campaign.ErrConflict) {
			return nil, s.campaignErr(ctx, err)
		}
		if err == nil {
			s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "campaign.resume", TargetType: "campaign", TargetID: c.ID})
			s.PlanAdded(ctx, s.deps.Plans, p.User.OrgID, plan.ActiveCampaigns)
		}
	}
	if _, err := s.deps.Pages.Run(ctx, c.OrgID, c.ID); err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	if err := s.deps.Pages.Continue(ctx, c.OrgID, c.ID); err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	out, err := s.campaignView(ctx, cs, p.User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

// campaignErr maps a store or processing error (package campaign) to a
// problem.
func (s *server) campaignErr(ctx context.Context, err error) error {
	var pe *campaign.ParameterError
	var me *campaign.MismatchError
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		return httpapi.NotFound("campaign")
	case errors.Is(err, campaign.ErrEnqueue):
		s.Log().ErrorContext(ctx, "enqueue campaign job", "err", err)
		return httpapi.NewProblem(http.StatusServiceUnavailable, "queue_unavailable",
			"a campaign message or page job could not be put on the send queue; resume the campaign again later (nothing is sent twice)")
	case errors.As(err, &pe):
		return httpapi.FieldProblem(pe.Field, pe.Message)
	case errors.As(err, &me):
		// The campaign's parameters, not a message's components, are at
		// fault.
		p := httpapi.CodedFieldProblem(me.Err.Code, me.Err.Field, me.Err.Message)
		for _, e := range p.Errors {
			e.Location = "body.parameters"
		}
		return p
	}
	if p, ok := sendproblem.Of(ctx, s.Kit, err); ok {
		return p
	}
	return s.Internal(ctx, "process campaign", err)
}

// campaignView reads a campaign with its outcome counts.
func (s *server) campaignView(ctx context.Context, cs Store, orgID, id string) (CampaignOut, error) {
	c, err := cs.GetCampaign(ctx, orgID, id)
	if err != nil {
		return CampaignOut{}, s.campaignErr(ctx, err)
	}
	var outcomes map[conversation.Status]int
	counted := false
	if c.Queued <= campaignOutcomeLimit {
		outcomes, counted, err = cs.CampaignOutcomes(ctx, orgID, id, campaignOutcomeLimit)
		if err != nil {
			return CampaignOut{}, s.Internal(ctx, "count campaign outcomes", err)
		}
	}
	return campaignOut(c, outcomes, counted), nil
}

func campaignOut(c campaign.Campaign, outcomes map[conversation.Status]int, counted bool) CampaignOut {
	out := CampaignOut{ID: c.ID, Name: c.Name, Status: c.Status, Parameters: c.Parameters, PhoneNumberID: c.PhoneNumberID,
		PageSize: c.PageSize, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Template: CampaignTemplateOut{Name: c.TemplateName, Language: c.TemplateLanguage, Category: c.TemplateCategory},
		Filter:   CampaignFilterIn{Status: string(c.Filter.Status), Tag: c.Filter.Tag, Source: c.Filter.Source, AssigneeID: c.Filter.AssigneeID},
		Counts:   CampaignCounts{Matched: c.Matched, Queued: c.Queued, SkippedByReason: map[string]int{}}}
	if out.Parameters == nil {
		out.Parameters = map[string][]string{}
	}
	for _, r := range campaign.SkipReasons() {
		out.Counts.SkippedByReason[r] = 0
	}
	for r, n := range c.Skipped {
		out.Counts.SkippedByReason[r] = n
		out.Counts.Skipped += n
	}
	if counted {
		sent, failed := 0, 0
		for st, n := range outcomes {
			switch st {
			case conversation.StatusAccepted, conversation.StatusSent, conversation.StatusDelivered, conversation.StatusRead:
				sent += n
			case conversation.StatusFailed:
				failed += n
			}
		}
		out.Counts.Sent, out.Counts.Failed = &sent, &failed
	}
	return out
}
