// Package sendproblem maps the refusals met when preparing a send
// (package watemplate's template checks and lists, package integration's
// choice of number, package sendgate's consent decision) to problems, for
// the areas that send: messaging and campaigns.
package sendproblem

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/watemplate"
)

// NoIntegration is the 409 of an org without an active WhatsApp number.
func NoIntegration() error {
	return httpapi.NewProblem(http.StatusConflict, "no_active_integration",
		"the organisation has no active WhatsApp number; connect one with POST /v1/integrations/whatsapp-numbers")
}

// Consent maps a refusal of sendgate.Consent to its problem, of the same
// name as the sender's failure title: opted_out (409) or consent_required
// (409, naming the channel and purpose whose opt-in is missing). nil stays
// nil.
func Consent(r *sendgate.Refusal) error {
	switch {
	case r == nil:
		return nil
	case r.Title == sendgate.TitleConsentRequired:
		p := httpapi.NewProblem(http.StatusConflict, sendgate.TitleConsentRequired,
			"the lead has not opted in to "+sendgate.ConsentWhat(r.Channel, r.Purpose)+" ("+string(r.Channel)+" "+r.Purpose+
				"), so the business may not start this contact; record the opt-in first (PUT /v1/leads/{id}/preferences with a reason, "+
				"a mapped Lead Ads consent question, or the lead's own WhatsApp message); nothing was sent")
		p.Channel, p.Purpose = string(r.Channel), r.Purpose
		return p
	}
	return httpapi.NewProblem(http.StatusConflict, r.Title, strings.TrimSuffix(strings.ToLower(r.Reason[:1])+r.Reason[1:], "."))
}

// Err maps the refusals met when preparing a WhatsApp send to problems
// (see Of); other errors are a logged 500.
func Err(ctx context.Context, k *httpapi.Kit, err error) error {
	if p, ok := Of(ctx, k, err); ok {
		return p
	}
	return k.Internal(ctx, "prepare whatsapp send", err)
}

// Of maps a refusal of packages watemplate and integration to a
// problem: a template send that does not match its template (422 with the
// check's code), a template list Meta refused or failed (409 / 502; a
// token we could not open is a 500), no active number to send from (409
// no_active_integration). ok is false for any other error.
func Of(ctx context.Context, k *httpapi.Kit, err error) (error, bool) {
	var ce *watemplate.CheckError
	var fe *watemplate.FetchError
	var ie *integration.InactiveNumberError
	switch {
	case errors.As(err, &ce):
		return httpapi.CodedFieldProblem(ce.Code, ce.Field, ce.Message), true
	case errors.As(err, &fe):
		return metaError(ctx, k, fe), true
	case errors.As(err, &ie):
		p := httpapi.NewProblem(http.StatusConflict, "no_active_integration", "WhatsApp number "+ie.PhoneNumberID+" is not an active number of this organisation")
		p.Errors = []*huma.ErrorDetail{{Message: "is not an active WhatsApp number of this organisation", Location: "body.phone_number_id", Value: ie.PhoneNumberID}}
		return p, true
	case errors.Is(err, integration.ErrNoActiveWhatsApp):
		return NoIntegration(), true
	}
	return nil, false
}

// metaError maps a failed template list to a problem.
func metaError(ctx context.Context, k *httpapi.Kit, fe *watemplate.FetchError) error {
	number, err := fe.PhoneNumberID, fe.Err
	if errors.Is(err, watemplate.ErrOpenToken) {
		return k.Internal(ctx, "open integration token", err)
	}
	var ge *meta.GraphError
	if errors.As(err, &ge) && ge.TokenInvalid() {
		k.Log().WarnContext(ctx, "graph api refused the token", "number", number, "err", err)
		return httpapi.NewProblem(http.StatusConflict, "integration_token_invalid",
			"Meta refused the access token of WhatsApp number "+number+"; reconnect it with POST /v1/integrations/whatsapp-numbers")
	}
	if errors.As(err, &ge) && ge.Permanent() {
		k.Log().WarnContext(ctx, "graph api refused template list", "number", number, "err", err)
		return httpapi.NewProblem(http.StatusConflict, "meta_refused",
			"Meta refused to list the templates of WhatsApp number "+number+" ("+ge.Message+"); check the number's WhatsApp Business Account")
	}
	k.Log().WarnContext(ctx, "graph api template list", "number", number, "err", err)
	return httpapi.NewProblem(http.StatusBadGateway, "meta_unavailable", "could not read the templates from Meta; try again")
}

// Integrations lists an org's integrations.
type Integrations interface {
	ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error)
}

// PickNumber returns the active WhatsApp number to send from: the one
// asked for, or the most recently connected (integration.PickWhatsApp);
// refusals are problems.
func PickNumber(ctx context.Context, k *httpapi.Kit, store Integrations, orgID, want string) (integration.Integration, error) {
	all, err := store.ListIntegrations(ctx, orgID)
	if err != nil {
		return integration.Integration{}, k.Internal(ctx, "list integrations", err)
	}
	n, err := integration.PickWhatsApp(all, want)
	if err != nil {
		return integration.Integration{}, Err(ctx, k, err)
	}
	return n, nil
}
