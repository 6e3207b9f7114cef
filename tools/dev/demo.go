package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
)

// Demo Meta fixtures: the page and WhatsApp number the demo org connects.
const (
	demoPageID    = "104858765678112"
	demoFormID    = "1006393297382416"
	demoPageToken = "EAAGdemo-page-token"
	demoNumberID  = "106540352242922"
	demoDisplay   = "15550783881"
	demoWABAID    = "102290129340398"
	demoWAToken   = "EAAGdemo-whatsapp-token"

	// demoControlAddr is where `make demo` asks the runner to play Meta.
	demoControlAddr = "127.0.0.1:8093"
)

// demoConsentQuestion is the demo form's consent question; the demo org
// maps a "Yes" to a WhatsApp service opt-in (PUT /v1/org/consent-mapping).
const demoConsentQuestion = "may_we_contact_you_on_whatsapp?"

// demoConsentMapping is the demo org's consent mapping.
var demoConsentMapping = fmt.Sprintf(`{"rules":[{"question":%q,"yes":["Yes"],"channel":"whatsapp","purpose":"service"}]}`, demoConsentQuestion)

func addDemoMeta(sim *metatest.Server) {
	sim.AddPage(demoPageID, "Demo Realty", demoPageToken)
	sim.AddForm(demoPageID, demoFormID, "Book a site visit")
	sim.AddPhoneNumber(demoNumberID, demoDisplay, "Demo Realty", demoWABAID, demoWAToken)
}

// demoResult is what one demo run sent.
type demoResult struct {
	LeadgenID     string `json:"leadgen_id"`
	LeadPhone     string `json:"lead_phone"`
	WhatsAppFrom  string `json:"whatsapp_from"`
	WAMID         string `json:"wamid"`
	LeadgenStatus int    `json:"leadgen_status"`
	MessageStatus int    `json:"message_status"`
}

// startDemoControl serves the runner's control on a loopback address. POST
// /plan puts an org on a plan, as `make plan` does (`make load` puts its
// orgs on business: each connects a page and a number and makes more
// requests a minute than free allows). With the simulator, POST /demo: the
// simulator creates a Lead Ads lead and delivers its signed leadgen
// webhook, then an inbound WhatsApp message from a new number, to the
// local webhook.
func startDemoControl(ctx context.Context, addr string, sim *metatest.Server, webhookURL string,
	setPlan func(ctx context.Context, orgID string, p plan.Name) error) (*http.Server, error) {
	n := time.Now().Unix() % 100000
	mux := http.NewServeMux()
	mux.HandleFunc("POST /plan", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			OrgID string    `json:"org_id"`
			Plan  plan.Name `json:"plan"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&in); err != nil || in.OrgID == "" || !in.Plan.Valid() {
			http.Error(w, "want {\"org_id\": ..., \"plan\": \"free|growth|business\"}", http.StatusBadRequest)
			return
		}
		if err := setPlan(r.Context(), in.OrgID, in.Plan); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if sim == nil {
		return serveControl(ctx, addr, mux)
	}
	mux.HandleFunc("POST /demo", func(w http.ResponseWriter, r *http.Request) {
		n++
		now := time.Now().UTC()
		phone := fmt.Sprintf("+9198%08d", n)
		// Leadgen ids unique across restarts: the simulator starts its own
		// counter again, the table remembers every id it has seen.
		id := fmt.Sprintf("12%014d", now.UnixNano()/1e3%1e14)
		sim.AddLeadWithID(demoFormID, id, map[string][]string{
			"full_name": {fmt.Sprintf("Demo Lead %d", n)}, "phone_number": {phone},
			"email": {fmt.Sprintf("demo.lead.%d@example.com", n)}, "preferred_city": {"Pune"},
			// The form's consent question, mapped by the demo org
			// (demoConsentMapping): "Yes" records a WhatsApp service opt-in.
			demoConsentQuestion: {"Yes"},
		}, now)
		res := demoResult{LeadgenID: id, LeadPhone: phone, WhatsAppFrom: fmt.Sprintf("9197%08d", n)}
		var err error
		if res.LeadgenStatus, err = sim.Deliver(r.Context(), webhookURL, sim.LeadgenPayload(demoPageID, demoFormID, id, now)); err == nil {
			msg := metatest.Text(res.WhatsAppFrom, "Hi! I saw your ad. Is the 2BHK in Baner still available?").WithName("Ananya Rao").At(now)
			res.WAMID = msg.Message.ID
			res.MessageStatus, err = sim.Deliver(r.Context(), webhookURL, sim.InboundPayload(demoNumberID, demoDisplay, msg))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	return serveControl(ctx, addr, mux)
}

// serveControl serves mux on addr.
func serveControl(ctx context.Context, addr string, mux *http.ServeMux) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo control on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
