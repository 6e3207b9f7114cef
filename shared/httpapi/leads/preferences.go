package leads

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/lead"
)

// PreferenceService is what the preference routes need of
// conversation.PreferenceService.
type PreferenceService interface {
	Get(ctx context.Context, a lead.Actor, leadID string) (conversation.Preferences, error)
	Set(ctx context.Context, a lead.Actor, leadID string, c conversation.PreferenceChange) (conversation.Preferences, error)
}

// PreferenceOut is a lead's current preference for one channel and purpose.
type PreferenceOut struct {
	Channel string     `json:"channel" enum:"whatsapp,email"`
	Purpose string     `json:"purpose" enum:"marketing,service"`
	State   string     `json:"state" enum:"opted_in,opted_out,unknown" doc:"What the send gates apply: opted_out blocks these messages."`
	Since   *time.Time `json:"since" doc:"When the entry that decides the state was recorded; null when unknown."`
}

// ConsentEntryOut is one line of a lead's consent ledger.
type ConsentEntryOut struct {
	ID       string    `json:"id"`
	Channel  string    `json:"channel" enum:"whatsapp,email"`
	Purpose  string    `json:"purpose" enum:"all,marketing,service" doc:"all: the whole channel (a STOP keyword, a bounce or complaint)."`
	Action   string    `json:"action" enum:"opt_in,opt_out"`
	At       time.Time `json:"at"`
	Source   string    `json:"source" doc:"How it was expressed: keyword, template_button, provider, staff, ..."`
	Evidence *string   `json:"evidence" doc:"What proves it (an inbound message id, a provider event), or null."`
	By       *string   `json:"changed_by" doc:"The user who recorded a staff entry, or null."`
	Reason   *string   `json:"reason" doc:"Why staff recorded it, or null."`
}

// PreferencesOut is a lead's communication preferences and the consent
// ledger they come from.
type PreferencesOut struct {
	LeadID      string            `json:"lead_id"`
	Preferences []PreferenceOut   `json:"preferences" doc:"One per channel and purpose."`
	History     []ConsentEntryOut `json:"history" doc:"The consent ledger, oldest first."`
}

// PreferenceIn changes one preference of a lead.
type PreferenceIn struct {
	Channel string `json:"channel" enum:"whatsapp,email"`
	Purpose string `json:"purpose" enum:"marketing,service"`
	State   string `json:"state" enum:"opted_in,opted_out"`
	Reason  string `json:"reason" minLength:"1" maxLength:"500" doc:"Why, as the lead expressed it to staff (a call, a form); kept in the ledger and the audit trail."`
}

func (s *server) registerPreferences(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-lead-preferences", Method: http.MethodGet, Path: "/v1/leads/{id}/preferences", Tags: []string{"leads"},
		Summary: "Get a lead's communication preferences and their consent history", Security: httpapi.BearerSecurity,
		Errors: []int{http.StatusNotFound},
	}, s.getPreferences)
	huma.Register(api, huma.Operation{
		OperationID: "set-lead-preference", Method: http.MethodPut, Path: "/v1/leads/{id}/preferences", Tags: []string{"leads"},
		Summary: "Record a lead's opt-in or opt-out for one channel and purpose", Security: httpapi.BearerSecurity,
		Description: "Staff record what the person told them, with the reason. An opt-in over an opt-out the person made " +
			"themselves (STOP, an opt-out button, a bounce, a complaint) is refused with 409 opted_out_by_person: only the " +
			"person can take it back. An opt-out recorded by staff may be undone by staff.",
		MaxBodyBytes: httpapi.MaxBodyBytes,
		Errors:       []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, s.setPreference)
}

func preferencesOut(p conversation.Preferences) PreferencesOut {
	out := PreferencesOut{LeadID: p.LeadID, Preferences: make([]PreferenceOut, 0, len(p.Current)), History: make([]ConsentEntryOut, 0, len(p.History))}
	for _, c := range p.Current {
		po := PreferenceOut{Channel: string(c.Channel), Purpose: c.Purpose, State: string(c.State)}
		if !c.Since.IsZero() {
			since := c.Since
			po.Since = &since
		}
		out.Preferences = append(out.Preferences, po)
	}
	for _, e := range p.History {
		out.History = append(out.History, ConsentEntryOut{ID: e.ID, Channel: string(e.Channel), Purpose: e.Purpose, Action: e.Action,
			At: e.At, Source: e.Source, Evidence: httpapi.Optional(e.Evidence), By: httpapi.Optional(e.By), Reason: httpapi.Optional(e.Reason)})
	}
	return out
}

func (s *server) getPreferences(ctx context.Context, in *leadPath) (*struct{ Body PreferencesOut }, error) {
	p, err := s.deps.Preferences.Get(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, problem(ctx, s.Kit, "read lead preferences", err)
	}
	s.ReadAudit(ctx, audit.ActionPreferencesRead, in.ID, map[string]string{"history_entries": strconv.Itoa(len(p.History))})
	return &struct{ Body PreferencesOut }{Body: preferencesOut(p)}, nil
}

func (s *server) setPreference(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body PreferenceIn
}) (*struct{ Body PreferencesOut }, error) {
	b := in.Body
	p, err := s.deps.Preferences.Set(ctx, actor(ctx), in.ID, conversation.PreferenceChange{Channel: conversation.Channel(b.Channel),
		Purpose: b.Purpose, State: conversation.State(b.State), Reason: b.Reason})
	if err != nil {
		return nil, problem(ctx, s.Kit, "set lead preference", err)
	}
	return &struct{ Body PreferencesOut }{Body: preferencesOut(p)}, nil
}
