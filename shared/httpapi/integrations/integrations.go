// Package integrations is the integration area of the HTTP API: connecting
// Facebook pages (Lead Ads) and WhatsApp Business numbers, listing them,
// changing a number's send rate and disconnecting.
package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/retention"
)

// Store is what the integration routes need from storage.
type Store interface {
	ConnectIntegration(ctx context.Context, in integration.Integration) error
	GetIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string) (integration.Integration, error)
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
	DisconnectIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string, at time.Time) error
	SetIntegrationRate(ctx context.Context, orgID string, kind integration.Kind, externalID string, mps int, at time.Time) (integration.Integration, error)
	ParkedEvents(ctx context.Context, orgID string, kind integration.Kind, externalID string, limit int) (map[string][]byte, error)
	DeleteParkedEvent(ctx context.Context, orgID string, kind integration.Kind, externalID, eventKey string) error
}

// Graph validates Meta tokens (meta.Client).
type Graph interface {
	Page(ctx context.Context, pageID, token string) (meta.Page, error)
	PhoneNumber(ctx context.Context, phoneNumberID, token string) (meta.PhoneNumber, error)
	// Me is the id of the node the token acts as: a Page access token's
	// is its page.
	Me(ctx context.Context, token string) (string, error)
	// App is the id of the Meta app that issued the token.
	App(ctx context.Context, token string) (string, error)
	// WABAPhoneNumbers lists the phone numbers of a WhatsApp Business
	// Account.
	WABAPhoneNumbers(ctx context.Context, wabaID, token string) ([]meta.PhoneNumber, error)
}

// Sealer seals tokens for an org (package envelope).
type Sealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
}

// Requeue puts a payload back on the intake queue.
type Requeue func(ctx context.Context, payload []byte) error

// Deps are the collaborators of the integration routes.
type Deps struct {
	Store   Store
	Graph   Graph
	Sealer  Sealer
	Requeue Requeue
	// Purges, when set, shows each integration's purge progress.
	Purges PurgeProgress
	// StartPurge, when set, starts the purge a disconnection recorded at
	// once (a job on the purges queue); without it, or when it fails, the
	// retention function's hourly run picks it up.
	StartPurge StartPurge
	// MetaAppID is the platform's Meta app: a page is connected only with a
	// token it issued (config.API.MetaAppID).
	MetaAppID string
	// Plans, when set, limits the org's connected integrations to its
	// plan (plan.Service): a new connection at the limit is 403
	// plan_limit.
	Plans httpapi.PlanGauges
}

// PurgeProgress reads the purges of an org's disconnected integrations
// (dynamostore.Store).
type PurgeProgress interface {
	IntegrationPurges(ctx context.Context, orgID string) ([]retention.IntegrationPurge, error)
}

// StartPurge puts the purge job of a disconnected integration on the
// purges queue.
type StartPurge func(ctx context.Context, orgID string, kind integration.Kind, externalID string) error

// PurgeJob is the purge job the functions' wiring adapts an Enqueuer to.
func PurgeJob(enqueue retention.Enqueuer) StartPurge {
	return func(ctx context.Context, orgID string, kind integration.Kind, externalID string) error {
		return enqueue(ctx, retention.Job{Kind: retention.JobKindIntegrationPurge, OrgID: orgID, IntegrationKind: string(kind), IntegrationID: externalID})
	}
}

// IntegrationOut is an integration as the API shows it: never its token.
type IntegrationOut struct {
	Kind               string     `json:"kind" enum:"facebook_page,whatsapp"`
	ID                 string     `json:"id" doc:"The page id or the WhatsApp phone_number_id."`
	Name               string     `json:"name,omitempty"`
	WABAID             string     `json:"waba_id,omitempty"`
	DisplayPhoneNumber string     `json:"display_phone_number,omitempty"`
	FormIDs            []string   `json:"form_ids,omitempty"`
	Status             string     `json:"status" enum:"active,token_invalid,disconnected"`
	ConnectedAt        time.Time  `json:"connected_at"`
	LastEventAt        *time.Time `json:"last_event_at"`
	DroppedEvents      int        `json:"dropped_events" doc:"Events received after disconnection and not stored."`
	MessagesPerSecond  *int       `json:"messages_per_second,omitempty" doc:"WhatsApp numbers: the send rate the sender keeps to; absent means the default (80, Meta's standard throughput)."`
	Purge              *PurgeOut  `json:"purge,omitempty" doc:"After a disconnection: the purge of the Meta data the integration brought before it."`
}

// PurgeOut is the progress of a disconnected integration's purge.
type PurgeOut struct {
	State          string         `json:"state" enum:"pending,running,done"`
	DisconnectedAt time.Time      `json:"disconnected_at" doc:"Only what was collected before this time is purged; a reconnection keeps what it collects."`
	StartedAt      *time.Time     `json:"started_at,omitempty"`
	FinishedAt     *time.Time     `json:"finished_at,omitempty"`
	Counts         map[string]int `json:"counts" doc:"Items removed so far, by kind (lead, message, status_event, wamid, activity, lead_meta_field, parked_event, ...)."`
}

func purgeOut(p retention.IntegrationPurge) *PurgeOut {
	out := &PurgeOut{State: p.State, DisconnectedAt: p.DisconnectedAt, Counts: p.Counts}
	if out.Counts == nil {
		out.Counts = map[string]int{}
	}
	if !p.StartedAt.IsZero() {
		t := p.StartedAt
		out.StartedAt = &t
	}
	if !p.FinishedAt.IsZero() {
		t := p.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

// DisconnectOut says what a disconnection stopped and what it purges.
type DisconnectOut struct {
	Kind   string `json:"kind" enum:"facebook_page,whatsapp"`
	ID     string `json:"id"`
	Status string `json:"status" enum:"disconnected"`
	// Purge is what will be deleted.
	Purge DisconnectPurge `json:"purge"`
}

// DisconnectPurge is the purge a disconnection starts.
type DisconnectPurge struct {
	State     string    `json:"state" enum:"pending"`
	Started   bool      `json:"started" doc:"True when the purge job was queued and runs now; false when the hourly run will pick it up."`
	Before    time.Time `json:"collected_before" doc:"Only data collected before this time (the disconnection) is purged."`
	Deletes   []string  `json:"deletes" doc:"The kinds of data that will be deleted."`
	Keeps     []string  `json:"keeps" doc:"What stays."`
	Progress  string    `json:"progress" doc:"Where to follow it."`
	LeadsRule string    `json:"leads_rule"`
}

// purgeKinds names what the purge of an integration of kind deletes.
func purgeKinds(kind integration.Kind) []string {
	common := []string{"events parked for this integration", "the profile Meta gave for it (name, WABA id, display number, forms)"}
	if kind == integration.KindWhatsApp {
		return append([]string{"WhatsApp messages on this number, with their status logs, provider ids and media references",
			"the name and phone of leads this number created"}, common...)
	}
	return append([]string{"Lead Ads answers of leads this page created (the fields and custom fields from the form)",
		"Lead Ads activities from this page on any lead"}, common...)
}

// PageIn connects a Facebook page for Lead Ads.
type PageIn struct {
	PageID          string   `json:"page_id" minLength:"1" maxLength:"64" pattern:"^[0-9]+$"`
	PageAccessToken string   `json:"page_access_token" minLength:"10" maxLength:"1024"`
	FormIDs         []string `json:"form_ids,omitempty" maxItems:"100" doc:"Only these forms; all forms when empty."`
}

// WhatsAppIn connects a WhatsApp Business number.
type WhatsAppIn struct {
	PhoneNumberID      string `json:"phone_number_id" minLength:"1" maxLength:"64" pattern:"^[0-9]+$"`
	WABAID             string `json:"waba_id" minLength:"1" maxLength:"64" pattern:"^[0-9]+$"`
	DisplayPhoneNumber string `json:"display_phone_number" minLength:"1" maxLength:"32"`
	AccessToken        string `json:"access_token" minLength:"10" maxLength:"1024"`
	MessagesPerSecond  int    `json:"messages_per_second,omitempty" minimum:"1" maximum:"1000" doc:"The throughput Meta allows this number, when raised above the standard 80 messages per second (up to 1,000, Meta's highest tier). Kept when the number is connected again without it."`
}

// IntegrationPatch changes an integration's settings.
type IntegrationPatch struct {
	MessagesPerSecond *int `json:"messages_per_second" minimum:"0" maximum:"1000" doc:"WhatsApp numbers: the send rate to keep to, as Meta allows it (80 standard; Meta raises it up to 1,000); 0 restores the default."`
}

func integrationOut(in integration.Integration) IntegrationOut {
	out := IntegrationOut{Kind: string(in.Kind), ID: in.ExternalID, Name: in.Name, WABAID: in.WABAID, DisplayPhoneNumber: in.DisplayPhoneNumber,
		FormIDs: in.FormIDs, Status: string(in.Status), ConnectedAt: in.ConnectedAt, DroppedEvents: in.DroppedEvents}
	if !in.LastEventAt.IsZero() {
		t := in.LastEventAt
		out.LastEventAt = &t
	}
	if in.MessagesPerSecond > 0 {
		mps := in.MessagesPerSecond
		out.MessagesPerSecond = &mps
	}
	return out
}

type server struct {
	*httpapi.Kit
	deps Deps
}

// Register adds the integration routes to api.
func Register(api huma.API, k *httpapi.Kit, d Deps) {
	s := &server{Kit: k, deps: d}
	errs := []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity}
	huma.Register(api, huma.Operation{
		OperationID: "connect-facebook-page", Method: http.MethodPost, Path: "/v1/integrations/facebook-pages", Tags: []string{"integrations"},
		Summary: "Connect a Facebook page for Lead Ads (owner, admin)", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity,
		MaxBodyBytes: httpapi.MaxBodyBytes, Errors: errs,
	}, s.connectPage)
	huma.Register(api, huma.Operation{
		OperationID: "connect-whatsapp-number", Method: http.MethodPost, Path: "/v1/integrations/whatsapp-numbers", Tags: []string{"integrations"},
		Summary: "Connect a WhatsApp Business number (owner, admin)", DefaultStatus: http.StatusCreated, Security: httpapi.BearerSecurity,
		MaxBodyBytes: httpapi.MaxBodyBytes, Errors: errs,
	}, s.connectWhatsApp)
	huma.Register(api, huma.Operation{
		OperationID: "list-integrations", Method: http.MethodGet, Path: "/v1/integrations", Tags: []string{"integrations"},
		Summary: "The organisation's integrations and their health (never tokens)", Security: httpapi.BearerSecurity,
	}, s.listIntegrations)
	huma.Register(api, huma.Operation{
		OperationID: "disconnect-integration", Method: http.MethodDelete, Path: "/v1/integrations/{kind}/{id}", Tags: []string{"integrations"},
		Summary: "Disconnect: stop all further collection at once and purge the Meta data it brought (owner, admin)", DefaultStatus: http.StatusAccepted,
		Security: httpapi.BearerSecurity, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, s.disconnectIntegration)
	huma.Register(api, huma.Operation{
		OperationID: "update-integration", Method: http.MethodPatch, Path: "/v1/integrations/{kind}/{id}", Tags: []string{"integrations"},
		Summary: "Change an integration's settings: a WhatsApp number's send rate (owner, admin)", Security: httpapi.BearerSecurity,
		MaxBodyBytes: httpapi.MaxBodyBytes, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.updateIntegration)
}

type integrationOutput struct{ Body IntegrationOut }

func (s *server) mayManageIntegrations(ctx context.Context, action, id string) error {
	if !httpapi.Caller(ctx).User.Role.Privileged() {
		return s.Deny(ctx, action, "integration", id, "only an owner or admin can manage integrations")
	}
	return nil
}

// tokenRefused maps a Graph API answer to a 422 on the token field.
func (s *server) tokenRefused(ctx context.Context, field string, err error) error {
	var ge *meta.GraphError
	if errors.As(err, &ge) && !ge.Retryable() {
		return httpapi.FieldProblem(field, "was refused by Meta: "+ge.Message)
	}
	s.Log().WarnContext(ctx, "validate token with the Graph API", "err", err)
	return httpapi.NewProblem(http.StatusBadGateway, "meta_unavailable", "could not reach Meta to check the token; try again")
}

func (s *server) connect(ctx context.Context, in integration.Integration, token string) (*integrationOutput, error) {
	p := httpapi.Caller(ctx)
	d := s.deps
	sealed, err := d.Sealer.Seal(ctx, p.User.OrgID, []byte(token))
	if err != nil {
		return nil, s.Internal(ctx, "seal token", err)
	}
	now := s.Now().UTC()
	in.OrgID, in.SealedToken, in.ConnectedBy, in.ConnectedAt, in.UpdatedAt = p.User.OrgID, sealed, p.User.ID, now, now
	if old, err := d.Store.GetIntegration(ctx, in.OrgID, in.Kind, in.ExternalID); err == nil {
		in.DroppedEvents, in.BackfillSince, in.LastEventAt = old.DroppedEvents, old.BackfillSince, old.LastEventAt
		if in.MessagesPerSecond == 0 {
			in.MessagesPerSecond = old.MessagesPerSecond
		}
	}
	// The plan's integrations: a new connection counts in the same write
	// (exact under concurrency) and is refused at the limit; connecting
	// again one that is connected (a new token) does not count.
	bound, err := s.BindPlan(ctx, d.Plans, in.OrgID, plan.Integrations)
	if err != nil {
		return nil, err
	}
	if err := d.Store.ConnectIntegration(bound, in); err != nil {
		if errors.Is(err, integration.ErrOwnedElsewhere) {
			return nil, httpapi.NewProblem(http.StatusConflict, "integration_owned_elsewhere", "this page or number is connected to another organisation")
		}
		if perr := s.PlanRefused(err); perr != nil {
			return nil, perr
		}
		return nil, s.Internal(ctx, "connect integration", err)
	}
	s.Record(ctx, audit.Record{OrgID: in.OrgID, ActorID: p.User.ID, Action: "integration.connect", TargetType: string(in.Kind), TargetID: in.ExternalID})
	s.PlanAdded(ctx, d.Plans, in.OrgID, plan.Integrations)
	s.replayParked(ctx, in)
	in.Status = integration.StatusActive
	return &integrationOutput{Body: integrationOut(in)}, nil
}

// replayParked puts events parked while the token was invalid back on the
// intake queue, now that there is a working token.
func (s *server) replayParked(ctx context.Context, in integration.Integration) {
	d := s.deps
	if d.Requeue == nil {
		return
	}
	object := "page"
	if in.Kind == integration.KindWhatsApp {
		object = "whatsapp_business_account"
	}
	for range 10 {
		parked, err := d.Store.ParkedEvents(ctx, in.OrgID, in.Kind, in.ExternalID, 100)
		if err != nil || len(parked) == 0 {
			if err != nil {
				s.Log().ErrorContext(ctx, "read parked events", "err", err)
			}
			return
		}
		for key, change := range parked {
			var ch meta.Change
			err := json.Unmarshal(change, &ch)
			var payload []byte
			if err == nil {
				payload, err = json.Marshal(meta.Webhook{Object: object, Entry: []meta.Entry{{ID: in.ExternalID, Time: s.Now().Unix(),
					Changes: []meta.Change{ch}}}})
			}
			if err == nil {
				err = d.Requeue(ctx, payload)
			}
			if err == nil {
				err = d.Store.DeleteParkedEvent(ctx, in.OrgID, in.Kind, in.ExternalID, key)
			}
			if err != nil {
				s.Log().ErrorContext(ctx, "replay parked event", "err", err)
				return
			}
		}
	}
}

func (s *server) connectPage(ctx context.Context, in *struct{ Body PageIn }) (*integrationOutput, error) {
	if err := s.mayManageIntegrations(ctx, "integration.connect", in.Body.PageID); err != nil {
		return nil, err
	}
	page, err := s.deps.Graph.Page(ctx, in.Body.PageID, in.Body.PageAccessToken)
	if err != nil {
		return nil, s.tokenRefused(ctx, "page_access_token", err)
	}
	// Any valid token reads a page's public fields; only the page's own
	// Page access token acts as the page (its /me is the page).
	me, err := s.deps.Graph.Me(ctx, in.Body.PageAccessToken)
	if err != nil {
		return nil, s.tokenRefused(ctx, "page_access_token", err)
	}
	if me != in.Body.PageID {
		return nil, httpapi.FieldProblem("page_access_token", "is not a Page access token of page "+in.Body.PageID+
			": it acts as another user or page (a user token, or another page's token); use the token Meta issued for this page")
	}
	// Only a token of the platform's own Meta app: its webhooks come to
	// the platform and its app review covers what the platform reads.
	app, err := s.deps.Graph.App(ctx, in.Body.PageAccessToken)
	if err != nil {
		return nil, s.tokenRefused(ctx, "page_access_token", err)
	}
	if s.deps.MetaAppID == "" || app != s.deps.MetaAppID {
		return nil, httpapi.FieldProblem("page_access_token", "was issued through another Meta app, not Leadluence's: "+
			"connect the page through Leadluence's Facebook login so that the token is Leadluence's")
	}
	return s.connect(ctx, integration.Integration{Kind: integration.KindFacebookPage, ExternalID: in.Body.PageID, Name: page.Name,
		FormIDs: in.Body.FormIDs}, in.Body.PageAccessToken)
}

func (s *server) connectWhatsApp(ctx context.Context, in *struct{ Body WhatsAppIn }) (*integrationOutput, error) {
	if err := s.mayManageIntegrations(ctx, "integration.connect", in.Body.PhoneNumberID); err != nil {
		return nil, err
	}
	num, err := s.deps.Graph.PhoneNumber(ctx, in.Body.PhoneNumberID, in.Body.AccessToken)
	if err != nil {
		return nil, s.tokenRefused(ctx, "access_token", err)
	}
	nums, err := s.deps.Graph.WABAPhoneNumbers(ctx, in.Body.WABAID, in.Body.AccessToken)
	if err != nil {
		return nil, s.tokenRefused(ctx, "waba_id", err)
	}
	if !slices.ContainsFunc(nums, func(n meta.PhoneNumber) bool { return n.ID == in.Body.PhoneNumberID }) {
		return nil, httpapi.FieldProblem("waba_id", "does not list phone number "+in.Body.PhoneNumberID+
			" among its numbers: give the WhatsApp Business Account the number belongs to")
	}
	display := in.Body.DisplayPhoneNumber
	if num.DisplayPhoneNumber != "" {
		display = num.DisplayPhoneNumber
	}
	return s.connect(ctx, integration.Integration{Kind: integration.KindWhatsApp, ExternalID: in.Body.PhoneNumberID, Name: num.VerifiedName,
		WABAID: in.Body.WABAID, DisplayPhoneNumber: display, MessagesPerSecond: in.Body.MessagesPerSecond}, in.Body.AccessToken)
}

func (s *server) listIntegrations(ctx context.Context, _ *struct{}) (*struct {
	Body struct {
		Items []IntegrationOut `json:"items"`
	}
}, error) {
	list, err := s.deps.Store.ListIntegrations(ctx, httpapi.Caller(ctx).User.OrgID)
	if err != nil {
		return nil, s.Internal(ctx, "list integrations", err)
	}
	out := &struct {
		Body struct {
			Items []IntegrationOut `json:"items"`
		}
	}{}
	purges := map[string]retention.IntegrationPurge{}
	if s.deps.Purges != nil {
		ps, err := s.deps.Purges.IntegrationPurges(ctx, httpapi.Caller(ctx).User.OrgID)
		if err != nil {
			return nil, s.Internal(ctx, "list integration purges", err)
		}
		for _, p := range ps {
			purges[p.Kind+"#"+p.ExternalID] = p
		}
	}
	out.Body.Items = make([]IntegrationOut, 0, len(list))
	for _, in := range list {
		o := integrationOut(in)
		if p, ok := purges[string(in.Kind)+"#"+in.ExternalID]; ok {
			o.Purge = purgeOut(p)
		}
		out.Body.Items = append(out.Body.Items, o)
	}
	return out, nil
}

func (s *server) disconnectIntegration(ctx context.Context, in *struct {
	Kind string `path:"kind" enum:"facebook_page,whatsapp"`
	ID   string `path:"id" maxLength:"64"`
}) (*disconnectOutput, error) {
	if err := s.mayManageIntegrations(ctx, "integration.disconnect", in.ID); err != nil {
		return nil, err
	}
	p := httpapi.Caller(ctx)
	at := s.Now().UTC()
	err := s.deps.Store.DisconnectIntegration(ctx, p.User.OrgID, integration.Kind(in.Kind), in.ID, at)
	if errors.Is(err, integration.ErrNotFound) {
		return nil, httpapi.NotFound("integration")
	}
	if err != nil {
		return nil, s.Internal(ctx, "disconnect integration", err)
	}
	started := false
	if s.deps.StartPurge != nil {
		if err := s.deps.StartPurge(ctx, p.User.OrgID, integration.Kind(in.Kind), in.ID); err != nil {
			s.Log().ErrorContext(ctx, "start integration purge; the hourly run picks it up", "err", err)
		} else {
			started = true
		}
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "integration.disconnect", TargetType: in.Kind, TargetID: in.ID,
		Details: map[string]string{"purge_started": strconv.FormatBool(started)}})
	return &disconnectOutput{Body: DisconnectOut{Kind: in.Kind, ID: in.ID, Status: string(integration.StatusDisconnected), Purge: DisconnectPurge{
		State: retention.PurgePending, Started: started, Before: at, Deletes: purgeKinds(integration.Kind(in.Kind)),
		Keeps:     []string{"what the business entered or sent (edits, notes, email messages) and data collected after a reconnection", "opt-outs, as keyed hashes"},
		Progress:  "GET /v1/integrations: the integration's purge (state, counts, finished_at)",
		LeadsRule: "a lead this integration created that nobody in the business created, edited or emailed is deleted whole; other leads keep the business's data and lose the Meta fields and items",
	}}}, nil
}

type disconnectOutput struct{ Body DisconnectOut }

func (s *server) updateIntegration(ctx context.Context, in *struct {
	Kind string `path:"kind" enum:"facebook_page,whatsapp"`
	ID   string `path:"id" maxLength:"64"`
	Body IntegrationPatch
}) (*integrationOutput, error) {
	if err := s.mayManageIntegrations(ctx, "integration.update", in.ID); err != nil {
		return nil, err
	}
	p := httpapi.Caller(ctx)
	if in.Body.MessagesPerSecond == nil {
		return nil, httpapi.FieldProblem("messages_per_second", "is required: it is the only setting that can be changed")
	}
	if in.Kind != string(integration.KindWhatsApp) {
		return nil, httpapi.FieldProblem("messages_per_second", "applies to WhatsApp numbers only")
	}
	got, err := s.deps.Store.SetIntegrationRate(ctx, p.User.OrgID, integration.Kind(in.Kind), in.ID, *in.Body.MessagesPerSecond, s.Now())
	if errors.Is(err, integration.ErrNotFound) {
		return nil, httpapi.NotFound("integration")
	}
	if err != nil {
		return nil, s.Internal(ctx, "update integration", err)
	}
	s.Record(ctx, audit.Record{OrgID: p.User.OrgID, ActorID: p.User.ID, Action: "integration.update", TargetType: in.Kind, TargetID: in.ID,
		Details: map[string]string{"messages_per_second": strconv.Itoa(*in.Body.MessagesPerSecond)}})
	return &integrationOutput{Body: integrationOut(got)}, nil
}
