package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/sendgate"
)

// Campaigns send one WhatsApp template to every lead matching a filter.
// Creating (or resuming) a campaign processes its first page of leads
// inside the request and, while pages remain, puts a campaign page job
// (sendgate.KindCampaignPage) on the outbound queue; the sender processes
// one page per job with CampaignPages.Step and enqueues the next, from the
// cursor stored on the campaign, until none are left (status completed) or
// the campaign is paused. Every lead gets
// at most one message per campaign (client message id
// "campaign:<campaign>:<lead>"), so a page processed twice never sends
// twice; a page's counts are committed once, guarded by the campaign's
// version (see dynamostore.CommitCampaignPage). Leads without a phone, that
// opted out, or lacking a field a parameter needs are skipped and counted
// by reason. The messages go through the same outbound queue and sender
// gates as single sends. docs/campaigns.md says why, and what a production
// driver would look like.

// CampaignStore is what the campaign routes need from storage beyond the
// messaging store. The table store implements it; the campaign routes are
// served only when MessagingDeps.Store does.
type CampaignStore interface {
	CreateCampaign(ctx context.Context, c dynamostore.Campaign) error
	GetCampaign(ctx context.Context, orgID, id string) (dynamostore.Campaign, error)
	ListCampaigns(ctx context.Context, orgID string, limit int, from map[string]string) ([]dynamostore.Campaign, map[string]string, error)
	SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error
	CommitCampaignPage(ctx context.Context, orgID, id string, version int, next map[string]string, n dynamostore.PageCounts, at time.Time) error
	CampaignOutcomes(ctx context.Context, orgID, campaignID string, limit int) (map[conversation.Status]int, bool, error)
}

// Campaign fan-out bounds.
const (
	campaignDefaultPageSize = 100
	campaignMaxPageSize     = 100
	// campaignPagesPerRequest bounds the synchronous work of one create or
	// resume request: one page (100 leads at the default size); the rest
	// is processed by the sender, one page per campaign page job.
	campaignPagesPerRequest = 1
	// campaignOutcomeLimit: sent and failed are counted by reading the
	// campaign's messages only up to this many (one Query and one
	// BatchGetItem); bigger campaigns report them as null.
	campaignOutcomeLimit = 100
)

// Reasons a matching lead is skipped.
const (
	skipNoPhone          = "no_phone"
	skipOptedOut         = "opted_out"
	skipMissingParameter = "missing_parameter"
)

var skipReasons = []string{skipNoPhone, skipOptedOut, skipMissingParameter}

// fieldRefRE is a parameter taken from the lead: {{lead.name}} or
// {{custom.<key>}}.
var fieldRefRE = regexp.MustCompile(`^\{\{\s*(lead\.name|custom\.([^{}\s]{1,64}))\s*\}\}$`)

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
	SkippedByReason map[string]int `json:"skipped_by_reason" doc:"opted_out, no_phone, missing_parameter."`
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

// campaignStore returns the campaign store, when there is one.
func (s *Server) campaignStore() (CampaignStore, bool) {
	if s.deps.Messaging == nil {
		return nil, false
	}
	cs, ok := s.deps.Messaging.Store.(CampaignStore)
	return cs, ok
}

func (s *Server) registerCampaigns() {
	if _, ok := s.campaignStore(); !ok {
		return
	}
	errs := []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
	huma.Register(s.api, huma.Operation{
		OperationID: "create-campaign", Method: http.MethodPost, Path: "/v1/campaigns", Tags: []string{"campaigns"},
		Summary: "Send a WhatsApp template to every lead matching a filter",
		Description: "Checks the template (exists, APPROVED, parameter counts: 422 unknown_template / template_not_approved / " +
			"template_parameters), stores the campaign and processes its first page of leads: 201 with the campaign and its " +
			"counts. The remaining pages are processed in the background, one queued job per page, until its status is " +
			"completed. Owner, admin, manager.",
		DefaultStatus: http.StatusCreated, Security: bearerSecurity, MaxBodyBytes: maxBodyBytes, Errors: errs,
	}, s.createCampaign)
	huma.Register(s.api, huma.Operation{
		OperationID: "list-campaigns", Method: http.MethodGet, Path: "/v1/campaigns", Tags: []string{"campaigns"},
		Summary: "The organisation's campaigns, newest first", Security: bearerSecurity,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden},
	}, s.listCampaigns)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-campaign", Method: http.MethodGet, Path: "/v1/campaigns/{id}", Tags: []string{"campaigns"},
		Summary: "A campaign with its progress and outcome counts", Security: bearerSecurity,
		Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.getCampaign)
	huma.Register(s.api, huma.Operation{
		OperationID: "pause-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/pause", Tags: []string{"campaigns"},
		Summary:     "Pause a campaign: no further pages are processed; messages already queued still go",
		Description: "Pausing a paused campaign changes nothing; a completed one answers 409 campaign_completed.",
		Security:    bearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, s.pauseCampaign)
	huma.Register(s.api, huma.Operation{
		OperationID: "resume-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/resume", Tags: []string{"campaigns"},
		Summary: "Resume a paused campaign, or continue a running one, processing its next page",
		Description: "Processes the next page of leads from the stored cursor and queues the job for the page after it. " +
			"A completed campaign is returned unchanged. Processing a page again never sends a lead a second message.",
		Security: bearerSecurity, Errors: errs,
	}, s.resumeCampaign)
}

// mayRunCampaigns: owner, admin and manager.
func mayRunCampaigns(r account.Role) bool {
	return r == account.RoleOwner || r == account.RoleAdmin || r == account.RoleManager
}

func (s *Server) campaignAccess(ctx context.Context, action, id string) error {
	if !mayRunCampaigns(caller(ctx).User.Role) {
		return s.deny(ctx, action, "campaign", id, "only owners, admins and managers can see and run campaigns")
	}
	return nil
}

func (s *Server) createCampaign(ctx context.Context, in *struct{ Body CampaignIn }) (*campaignOutput, error) {
	if err := s.campaignAccess(ctx, "campaign.create", ""); err != nil {
		return nil, err
	}
	p := caller(ctx)
	cs, _ := s.campaignStore()
	b := &in.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, fieldProblem("name", "must not be blank")
	}
	if err := checkCampaignParameters(b.Parameters); err != nil {
		return nil, err
	}
	number, err := s.pickNumber(ctx, p.User.OrgID, b.PhoneNumberID)
	if err != nil {
		return nil, err
	}
	sp, err := s.campaignTemplate(ctx, number, b.Template.Name, b.Template.Language, b.Parameters)
	if err != nil {
		return nil, err
	}
	f := lead.Filter{Status: lead.Status(b.Filter.Status), Tag: strings.ToLower(strings.TrimSpace(b.Filter.Tag)),
		Source: b.Filter.Source, AssigneeID: b.Filter.AssigneeID}
	if f.AssigneeID == "me" {
		f.AssigneeID = p.User.ID
	}
	if b.PageSize == 0 {
		b.PageSize = campaignDefaultPageSize
	}
	now := s.deps.Now().UTC()
	c := dynamostore.Campaign{OrgID: p.User.OrgID, ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(),
		Name: strings.TrimSpace(b.Name), Status: dynamostore.CampaignRunning, TemplateName: sp.Name, TemplateLanguage: sp.Language,
		TemplateCategory: strings.ToLower(sp.Category), PhoneNumberID: number.ExternalID, Parameters: b.Parameters, Filter: f,
		PageSize: min(b.PageSize, campaignMaxPageSize), Skipped: map[string]int{}, CreatedBy: p.User.ID, CreatedAt: now, UpdatedAt: now}
	if c.Parameters == nil {
		c.Parameters = map[string][]string{}
	}
	if err := cs.CreateCampaign(ctx, c); err != nil {
		return nil, s.internal(ctx, "create campaign", err)
	}
	s.record(ctx, audit.Record{OrgID: c.OrgID, ActorID: p.User.ID, Action: "campaign.create", TargetType: "campaign", TargetID: c.ID,
		Details: map[string]string{"template": c.TemplateName, "language": c.TemplateLanguage}})
	// The campaign exists now: a failure while processing its first page
	// or queueing the next is logged and left for resume, not reported as
	// a failed create.
	if _, err := s.runCampaign(ctx, cs, c.OrgID, c.ID); err != nil {
		s.deps.Log.WarnContext(ctx, "process new campaign", "campaign", c.ID, "err", err)
	} else if err := s.continueCampaign(ctx, cs, c.OrgID, c.ID); err != nil {
		s.deps.Log.WarnContext(ctx, "queue next campaign page", "campaign", c.ID, "err", err)
	}
	out, err := s.campaignView(ctx, cs, c.OrgID, c.ID)
	if err != nil {
		return nil, err
	}
	return &campaignOutput{Status: http.StatusCreated, Body: out}, nil
}

func (s *Server) listCampaigns(ctx context.Context, in *struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"2048"`
}) (*struct{ Body CampaignList }, error) {
	if err := s.campaignAccess(ctx, "campaign.list", ""); err != nil {
		return nil, err
	}
	org := caller(ctx).User.OrgID
	cs, _ := s.campaignStore()
	scope := fmt.Sprintf("campaigns|%d", in.Limit)
	from, ok := s.cursors.decode(in.Cursor, org, scope)
	if !ok {
		return nil, errBadCursor()
	}
	list, next, err := cs.ListCampaigns(ctx, org, in.Limit, from)
	if err != nil {
		return nil, s.internal(ctx, "list campaigns", err)
	}
	out := &struct{ Body CampaignList }{Body: CampaignList{Items: make([]CampaignOut, 0, len(list))}}
	for _, c := range list {
		out.Body.Items = append(out.Body.Items, campaignOut(c, nil, false))
	}
	out.Body.NextCursor = optional(s.cursors.encode(org, scope, next))
	return out, nil
}

func (s *Server) getCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.read", in.ID); err != nil {
		return nil, err
	}
	cs, _ := s.campaignStore()
	out, err := s.campaignView(ctx, cs, caller(ctx).User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

func (s *Server) pauseCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.pause", in.ID); err != nil {
		return nil, err
	}
	p := caller(ctx)
	cs, _ := s.campaignStore()
	err := cs.SetCampaignStatus(ctx, p.User.OrgID, in.ID, dynamostore.CampaignRunning, dynamostore.CampaignPaused, s.deps.Now())
	switch {
	case errors.Is(err, dynamostore.ErrCampaignNotFound):
		return nil, errNotFound("campaign")
	case errors.Is(err, dynamostore.ErrCampaignConflict):
		// Already paused (nothing to do) or completed.
		c, gerr := cs.GetCampaign(ctx, p.User.OrgID, in.ID)
		if gerr != nil {
			return nil, s.campaignErr(ctx, gerr)
		}
		if c.Status == dynamostore.CampaignCompleted {
			return nil, problem(http.StatusConflict, "campaign_completed", "the campaign has processed every matching lead; there is nothing left to pause")
		}
	case err != nil:
		return nil, s.internal(ctx, "pause campaign", err)
	default:
		s.record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "campaign.pause", TargetType: "campaign", TargetID: in.ID})
	}
	out, err := s.campaignView(ctx, cs, p.User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

func (s *Server) resumeCampaign(ctx context.Context, in *campaignIDInput) (*struct{ Body CampaignOut }, error) {
	if err := s.campaignAccess(ctx, "campaign.resume", in.ID); err != nil {
		return nil, err
	}
	p := caller(ctx)
	cs, _ := s.campaignStore()
	c, err := cs.GetCampaign(ctx, p.User.OrgID, in.ID)
	if err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	if c.Status == dynamostore.CampaignPaused {
		err := cs.SetCampaignStatus(ctx, p.User.OrgID, c.ID, dynamostore.CampaignPaused, dynamostore.CampaignRunning, s.deps.Now())
		if err != nil && !errors.Is(err, dynamostore.ErrCampaignConflict) {
			return nil, s.campaignErr(ctx, err)
		}
		if err == nil {
			s.record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "campaign.resume", TargetType: "campaign", TargetID: c.ID})
		}
	}
	if _, err := s.runCampaign(ctx, cs, c.OrgID, c.ID); err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	if err := s.continueCampaign(ctx, cs, c.OrgID, c.ID); err != nil {
		return nil, s.campaignErr(ctx, err)
	}
	out, err := s.campaignView(ctx, cs, p.User.OrgID, in.ID)
	if err != nil {
		return nil, err
	}
	return &struct{ Body CampaignOut }{Body: out}, nil
}

// campaignErr maps a store or processing error to a problem.
func (s *Server) campaignErr(ctx context.Context, err error) error {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, dynamostore.ErrCampaignNotFound):
		return errNotFound("campaign")
	case errors.Is(err, errCampaignEnqueue):
		s.deps.Log.ErrorContext(ctx, "enqueue campaign job", "err", err)
		return problem(http.StatusServiceUnavailable, "queue_unavailable",
			"a campaign message or page job could not be put on the send queue; resume the campaign again later (nothing is sent twice)")
	}
	return s.internal(ctx, "process campaign", err)
}

// campaignView reads a campaign with its outcome counts.
func (s *Server) campaignView(ctx context.Context, cs CampaignStore, orgID, id string) (CampaignOut, error) {
	c, err := cs.GetCampaign(ctx, orgID, id)
	if err != nil {
		return CampaignOut{}, s.campaignErr(ctx, err)
	}
	var outcomes map[conversation.Status]int
	counted := false
	if c.Queued <= campaignOutcomeLimit {
		outcomes, counted, err = cs.CampaignOutcomes(ctx, orgID, id, campaignOutcomeLimit)
		if err != nil {
			return CampaignOut{}, s.internal(ctx, "count campaign outcomes", err)
		}
	}
	return campaignOut(c, outcomes, counted), nil
}

func campaignOut(c dynamostore.Campaign, outcomes map[conversation.Status]int, counted bool) CampaignOut {
	out := CampaignOut{ID: c.ID, Name: c.Name, Status: c.Status, Parameters: c.Parameters, PhoneNumberID: c.PhoneNumberID,
		PageSize: c.PageSize, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Template: CampaignTemplateOut{Name: c.TemplateName, Language: c.TemplateLanguage, Category: c.TemplateCategory},
		Filter:   CampaignFilterIn{Status: string(c.Filter.Status), Tag: c.Filter.Tag, Source: c.Filter.Source, AssigneeID: c.Filter.AssigneeID},
		Counts:   CampaignCounts{Matched: c.Matched, Queued: c.Queued, SkippedByReason: map[string]int{}}}
	if out.Parameters == nil {
		out.Parameters = map[string][]string{}
	}
	for _, r := range skipReasons {
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

// checkCampaignParameters checks the parts and the form of each value.
func checkCampaignParameters(params map[string][]string) error {
	for part, values := range params {
		switch part {
		case "header", "body", "buttons":
		default:
			return fieldProblem("parameters."+part, "is not a template part; use header, body or buttons")
		}
		if len(values) > 20 {
			return fieldProblem("parameters."+part, "takes at most 20 values")
		}
		for i, v := range values {
			field := fmt.Sprintf("parameters.%s[%d]", part, i)
			switch {
			case strings.TrimSpace(v) == "":
				return fieldProblem(field, "must not be blank")
			case len(v) > 1024:
				return fieldProblem(field, "is longer than 1,024 bytes")
			case strings.Contains(v, "{{") && !fieldRefRE.MatchString(v):
				return fieldProblem(field, "must be static text, {{lead.name}} or {{custom.<key>}}")
			}
		}
	}
	return nil
}

// campaignComponents fills the template's parts with the parameters, each
// value rendered by value (which returns "" for a field the lead lacks).
func campaignComponents(params map[string][]string, value func(spec string) string) (comps []TemplateComponentIn, missing bool) {
	param := func(spec string) TemplateParamIn {
		v := value(spec)
		if v == "" {
			missing = true
		}
		return TemplateParamIn{Type: "text", Text: v}
	}
	for _, part := range []string{"header", "body"} {
		if vs, ok := params[part]; ok && len(vs) > 0 {
			c := TemplateComponentIn{Type: part}
			for _, spec := range vs {
				c.Parameters = append(c.Parameters, param(spec))
			}
			comps = append(comps, c)
		}
	}
	for _, spec := range params["buttons"] {
		comps = append(comps, TemplateComponentIn{Type: "button", Parameters: []TemplateParamIn{param(spec)}})
	}
	return comps, missing
}

// leadValue renders one parameter spec for a lead.
func leadValue(l lead.Lead) func(string) string {
	return func(spec string) string {
		m := fieldRefRE.FindStringSubmatch(spec)
		switch {
		case m == nil:
			return spec
		case m[1] == "lead.name":
			return strings.TrimSpace(l.Name)
		default:
			return strings.TrimSpace(l.CustomFields[m[2]])
		}
	}
}

// campaignTemplate checks the template and the parameter counts (with
// stand-in values) and returns its spec. Problems about the parameters
// point at body.parameters.
func (s *Server) campaignTemplate(ctx context.Context, number integration.Integration, name, language string, params map[string][]string) (templateSpec, error) {
	comps, _ := campaignComponents(params, func(string) string { return "x" })
	sp, _, err := s.checkTemplate(ctx, number, &TemplateIn{Name: name, Language: language, Components: comps})
	var p *Problem
	if errors.As(err, &p) && p.Code == "template_parameters" {
		for _, e := range p.Errors {
			e.Location = "body.parameters"
		}
	}
	return sp, err
}

// errCampaignEnqueue marks a failure to put a campaign message's job, or
// a campaign page job, on the outbound queue.
var errCampaignEnqueue = errors.New("enqueue campaign job")

// continueCampaign puts the job for the campaign's next page on the
// outbound queue if the campaign is still running (pages remain). A paused
// or completed campaign gets none. The job travels through the messaging
// Enqueue as an sendgate.CampaignPageRef (see sendgate.Job.Encode).
func (s *Server) continueCampaign(ctx context.Context, cs CampaignStore, orgID, id string) error {
	c, err := cs.GetCampaign(ctx, orgID, id)
	if err != nil {
		return fmt.Errorf("read campaign %s: %w", id, err)
	}
	if c.Status != dynamostore.CampaignRunning {
		return nil
	}
	if err := s.deps.Messaging.Enqueue(ctx, orgID, "", sendgate.CampaignPageRef(id)); err != nil {
		return fmt.Errorf("%w: page of campaign %s: %w", errCampaignEnqueue, id, err)
	}
	return nil
}

// CampaignPages processes campaign pages outside a request: the sender
// calls Step for each campaign page job (sendgate.KindCampaignPage) on the
// outbound queue. It runs the same page code as the campaign routes.
type CampaignPages struct {
	s  *Server
	cs CampaignStore
}

// NewCampaignPages returns the page processor over d. It uses d.Store
// (leads), d.Log, d.Now (default time.Now) and d.Messaging: its Store must
// be a CampaignStore, Enqueue puts message and page jobs on the outbound
// queue, Graph and Opener read the templates.
func NewCampaignPages(d Deps) (*CampaignPages, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Store == nil || d.Log == nil || d.Messaging == nil || d.Messaging.Enqueue == nil {
		return nil, errors.New("campaign pages: Store, Log and Messaging with Enqueue are required")
	}
	s := &Server{deps: d}
	cs, ok := s.campaignStore()
	if !ok {
		return nil, errors.New("campaign pages: the messaging store does not store campaigns")
	}
	return &CampaignPages{s: s, cs: cs}, nil
}

// Step processes the next page of campaign id of org orgID if it is
// running, then queues the job for the page after it while the campaign is
// still running. A paused, completed or unknown campaign ends the chain
// (nil, nothing queued), as does a page another processor committed first
// (that one queues the next job). A refusal that retrying cannot fix soon
// (the template is no longer approved, no active WhatsApp number) is logged
// and ends the chain too; POST /v1/campaigns/{id}/resume restarts it. Any
// other error means the job should be retried: processing a page again
// never sends twice.
func (p *CampaignPages) Step(ctx context.Context, orgID, id string) error {
	c, err := p.cs.GetCampaign(ctx, orgID, id)
	switch {
	case errors.Is(err, dynamostore.ErrCampaignNotFound):
		p.s.deps.Log.WarnContext(ctx, "campaign page job for an unknown campaign", "org_id", orgID, "campaign", id)
		return nil
	case err != nil:
		return fmt.Errorf("read campaign %s: %w", id, err)
	case c.Status != dynamostore.CampaignRunning:
		return nil
	}
	err = p.s.processCampaignPage(ctx, p.cs, c)
	var pr *Problem
	switch {
	case errors.Is(err, dynamostore.ErrCampaignConflict):
		return nil
	case errors.As(err, &pr) && pr.Status < http.StatusInternalServerError:
		p.s.deps.Log.WarnContext(ctx, "campaign stopped", "org_id", orgID, "campaign", id, "code", pr.Code, "detail", pr.Detail)
		return nil
	case err != nil:
		return fmt.Errorf("process page of campaign %s: %w", id, err)
	}
	return p.s.continueCampaign(ctx, p.cs, orgID, id)
}

// runCampaign processes up to campaignPagesPerRequest pages of a running
// campaign, re-reading it before each page so a pause stops it. The
// caller queues the job for the pages after (continueCampaign).
func (s *Server) runCampaign(ctx context.Context, cs CampaignStore, orgID, id string) (dynamostore.Campaign, error) {
	var c dynamostore.Campaign
	for range campaignPagesPerRequest {
		var err error
		if c, err = cs.GetCampaign(ctx, orgID, id); err != nil {
			return c, err
		}
		if c.Status != dynamostore.CampaignRunning {
			return c, nil
		}
		err = s.processCampaignPage(ctx, cs, c)
		if err != nil && !errors.Is(err, dynamostore.ErrCampaignConflict) {
			return c, err
		}
		// On a conflict another request committed this page: go on from
		// the cursor it stored.
	}
	return c, nil
}

// processCampaignPage sends to one page of leads and commits its counts.
func (s *Server) processCampaignPage(ctx context.Context, cs CampaignStore, c dynamostore.Campaign) error {
	number, err := s.pickNumber(ctx, c.OrgID, c.PhoneNumberID)
	if err != nil {
		return err
	}
	sp, err := s.campaignTemplate(ctx, number, c.TemplateName, c.TemplateLanguage, c.Parameters)
	if err != nil {
		return err
	}
	marketing := sendgate.Marketing(conversation.Message{Channel: conversation.ChannelWhatsApp,
		Details: map[string]string{sendgate.DetailCategory: strings.ToLower(sp.Category)}}, "template")
	page, err := s.deps.Store.ListLeads(ctx, c.OrgID, c.Filter, c.PageSize, c.Cursor)
	if err != nil {
		return fmt.Errorf("list leads of campaign %s: %w", c.ID, err)
	}
	n := dynamostore.PageCounts{Skipped: map[string]int{}}
	for _, l := range page.Items {
		n.Matched++
		reason, err := s.campaignSend(ctx, c, number, sp, marketing, l)
		if err != nil {
			return err
		}
		if reason != "" {
			n.Skipped[reason]++
		} else {
			n.Queued++
		}
	}
	if err := cs.CommitCampaignPage(ctx, c.OrgID, c.ID, c.Version, page.Next, n, s.deps.Now()); err != nil {
		return fmt.Errorf("commit campaign page: %w", err)
	}
	return nil
}

// campaignSend queues the campaign's message to one lead, or returns why
// the lead is skipped. A lead that already has its message (the page is
// processed again) counts as queued and gets no second one.
func (s *Server) campaignSend(ctx context.Context, c dynamostore.Campaign, number integration.Integration, sp templateSpec, marketing bool, l lead.Lead) (string, error) {
	d := s.deps.Messaging
	if l.Phone == "" {
		return skipNoPhone, nil
	}
	if sendgate.OptedOut(l.Consent, conversation.ChannelWhatsApp, marketing) {
		return skipOptedOut, nil
	}
	comps, missing := campaignComponents(c.Parameters, leadValue(l))
	if missing {
		return skipMissingParameter, nil
	}
	_, wt, err := s.checkTemplate(ctx, number, &TemplateIn{Name: c.TemplateName, Language: c.TemplateLanguage, Components: comps})
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(waMessage{MessagingProduct: "whatsapp", RecipientType: "individual", Type: "template",
		To: strings.TrimPrefix(l.Phone, "+"), Template: wt})
	if err != nil {
		return "", fmt.Errorf("encode campaign payload: %w", err)
	}
	now := s.deps.Now().UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), OrgID: c.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, At: now, Type: "template", Number: number.ExternalID,
		ClientMessageID: dynamostore.CampaignClientMessageID(c.ID, l.ID), Payload: string(raw),
		Details: map[string]string{"template": sp.Name, "language": sp.Language, sendgate.DetailCategory: strings.ToLower(sp.Category), "campaign_id": c.ID}}
	stored, created, err := d.Store.QueueOutbound(ctx, m)
	if err != nil {
		return "", fmt.Errorf("queue campaign message: %w", err)
	}
	if !created {
		// Queued by an earlier run of this page. Its job is on the queue,
		// unless that run stopped between the write and the enqueue: a
		// message still queued long after is put on the queue again (the
		// sender claims each message once).
		if stored.Status == conversation.StatusQueued && now.Sub(stored.At) > requeueStuckAfter {
			if err := d.Enqueue(ctx, stored.OrgID, stored.LeadID, stored.ID); err != nil {
				return "", fmt.Errorf("%w %s: %w", errCampaignEnqueue, stored.ID, err)
			}
		}
		return "", nil
	}
	if err := d.Enqueue(ctx, stored.OrgID, stored.LeadID, stored.ID); err != nil {
		return "", fmt.Errorf("%w %s: %w", errCampaignEnqueue, stored.ID, err)
	}
	return "", nil
}
