package app_test

// The permission matrix test. It reads the route × role table of
// docs/permissions.md and calls every operation of the OpenAPI document
// (GET /openapi.json) as each role of organisation A:
//
//   - on A's own resources: the status class must match the table's cell
//     (allow: 2xx, deny: 403, own: 2xx on a lead assigned to the caller and
//     404 on any other, public: 2xx);
//   - on B's resources (routes with path parameters): the answer must be
//     the one an id that does not exist gets (404, or a 403 given before
//     any lookup), never 2xx;
//   - no answer to A's callers may contain any id of organisation B.
//
// A route in the document without a row in the table fails the test, and
// so does a row for a route that does not exist. To add a route:
//
//  1. add its row to the table in docs/permissions.md;
//  2. if it takes a request body, add a template to bodies below (keyed
//     "METHOD /path" as in the table), the smallest body that succeeds;
//  3. if it has a path parameter of a new kind of resource, add a target
//     (targets) that creates a fresh one in a given org;
//  4. if a successful call changes what later calls need (deletes,
//     closes), give it a prepare step (prepares) that sets the org up again
//     or gives the call an org of its own.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/policy"
	"github.com/leadluence/backend/shared/unsubscribe"
)

// roles are the table's role columns, as the API names them.
var roles = []string{"owner", "admin", "manager", "agent", "viewer"}

// call is one request of the matrix: who makes it and in which org.
type call struct {
	op     operation
	m      *matrix
	role   string
	caller session
	org    *orgFix
	// mfa is the caller's two-factor enrolment, when a prepare step made
	// one.
	mfa mfaEnrolment
}

// bodies holds a minimal valid request body per route that takes one.
var bodies = map[string]func(c *call) any{
	"POST /v1/auth/signup": func(*call) any {
		return map[string]string{"org_name": "Signup Co", "name": "Sam", "email": uniqueEmail("signup"), "password": password}
	},
	"POST /v1/auth/login": func(c *call) any {
		return map[string]string{"email": c.caller.Email, "password": password}
	},
	"POST /v1/auth/refresh": func(c *call) any {
		return map[string]string{"refresh_token": c.m.login(c.caller.Email).Refresh}
	},
	"POST /v1/auth/logout": func(c *call) any {
		return map[string]string{"refresh_token": c.m.login(c.caller.Email).Refresh}
	},
	"POST /v1/auth/password-reset": func(c *call) any { return map[string]string{"email": c.caller.Email} },
	// The tokens of a fresh user's mail: resetting the caller's own
	// password would end its session.
	"POST /v1/auth/password-reset/confirm": func(c *call) any {
		email := c.m.addUser(c.m.t, c.org.owner, "agent")
		expect(c.m.t, c.m.do(c.m.t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email}), 202)
		return map[string]string{"token": c.m.linkToken(c.m.t, email, "/password-reset"), "password": password}
	},
	"POST /v1/auth/verify-email": func(c *call) any {
		email := c.m.addUser(c.m.t, c.org.owner, "agent")
		return map[string]string{"token": c.m.linkToken(c.m.t, email, "/verify-email")}
	},
	"POST /v1/invitations": func(*call) any { return map[string]string{"email": uniqueEmail("invited"), "role": "agent"} },
	"POST /v1/invitations/accept": func(c *call) any {
		_, token := c.m.invite(c.m.t, c.org.owner, uniqueEmail("accepting"), "agent")
		return map[string]string{"token": token, "name": "Invited", "password": password}
	},
	"POST /v1/me/policy-acknowledgement": func(*call) any { return map[string]string{"version": matrixPolicy} },
	"POST /v1/me/mfa/confirm": func(c *call) any {
		return map[string]string{"code": totpAt(c.m.t, c.mfa.secret, time.Now())}
	},
	"DELETE /v1/me/mfa": func(c *call) any { return map[string]string{"code": c.mfa.recovery[0]} },
	// The challenge of a fresh member with two-factor sign-in, completed
	// with a recovery code.
	"POST /v1/auth/mfa": func(c *call) any {
		u := c.m.member(c.m.t, c.org.owner, "agent")
		enr := c.m.mfaOn(c.m.t, u)
		return map[string]string{"challenge": c.m.challenge(c.m.t, u.Email), "code": enr.recovery[0]}
	},
	"PUT /v1/org/security": func(*call) any { return map[string]any{"mfa_required_for_admins": false} },
	"POST /v1/api-keys": func(*call) any {
		return map[string]any{"name": "Web form", "scopes": []string{"leads:write"}}
	},
	"POST /v1/users": func(*call) any {
		return map[string]string{"name": "New agent", "email": uniqueEmail("new"), "role": "agent", "password": password}
	},
	"PATCH /v1/users/{id}": func(*call) any { return map[string]any{"name": "Renamed"} },
	"POST /v1/leads": func(c *call) any {
		return map[string]any{"name": "Created lead", "phone": c.m.phone()}
	},
	"POST /v1/leads/import": func(c *call) any {
		return map[string]any{"csv": "name,phone\nImported lead," + c.m.phone() + "\n"}
	},
	"POST /v1/imports": func(c *call) any {
		return map[string]any{"csv": "Full Name,Mobile\nImported lead," + c.m.phone() + "\n", "mapping": map[string]string{"Full Name": "name", "Mobile": "phone"}}
	},
	"PATCH /v1/leads/{id}": func(*call) any { return map[string]any{"status": "contacted"} },
	"PUT /v1/assignment-rule": func(c *call) any {
		return map[string]any{"type": "round_robin", "user_ids": []string{c.org.owner.UserID}, "only_available": true}
	},
	"PATCH /v1/me": func(*call) any { return map[string]any{"available": true} },
	"POST /v1/integrations/facebook-pages": func(c *call) any {
		id, token := c.m.numericID(), "EAAGpage-"+c.m.numericID()
		c.m.sim.AddPage(id, "A page", token)
		c.org.track(id)
		return map[string]any{"page_id": id, "page_access_token": token, "form_ids": []string{"555000111"}}
	},
	"POST /v1/integrations/whatsapp-numbers": func(c *call) any {
		id, token := c.m.numericID(), "EAAGwa-"+c.m.numericID()
		c.m.sim.AddPhoneNumber(id, "15550783881", "A number", c.org.waba, token)
		c.org.track(id)
		return map[string]any{"phone_number_id": id, "waba_id": c.org.waba, "display_phone_number": "+1 555 078 3881", "access_token": token}
	},
	"PUT /v1/automations": func(*call) any {
		return map[string]any{"after_hours": map[string]any{"enabled": true, "text": "Closed now.",
			"hours": map[string]any{"time_zone": "Asia/Kolkata", "days": map[string]any{"monday": map[string]string{"open": "10:00", "close": "19:00"}}}}}
	},
	"PATCH /v1/integrations/{kind}/{id}": func(*call) any { return map[string]any{"messages_per_second": 100} },
	"POST /v1/leads/{id}/messages": func(*call) any {
		return map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Visit", "text": "See you at 11."}
	},
	"PUT /v1/leads/{id}/preferences": func(*call) any {
		return map[string]any{"channel": "email", "purpose": "marketing", "state": "opted_out", "reason": "asked on a call"}
	},
	// The lead merged into the path's: a fresh one of the caller's org.
	"POST /v1/leads/{id}/merge": func(c *call) any {
		other := c.org.track(c.m.createLead(c.m.t, c.org.owner, map[string]any{"name": "Same person", "phone": c.m.phone()}).str("id"))
		return map[string]any{"other_lead_id": other}
	},
	"POST /v1/leads/{id}/notes":            func(*call) any { return map[string]any{"body": "Called; wants a visit on Friday."} },
	"PATCH /v1/leads/{id}/notes/{note_id}": func(*call) any { return map[string]any{"body": "Called; visit moved to Monday."} },
	"POST /v1/campaigns":                   func(*call) any { return saleCampaign(0) },
	"POST /v1/leads/{id}/tasks": func(*call) any {
		return map[string]any{"title": "Call back about the visit", "due_at": time.Now().Add(24 * time.Hour).Format(time.RFC3339)}
	},
	"PATCH /v1/leads/{id}/tasks/{task_id}": func(*call) any { return map[string]any{"status": "done"} },
	// Each booking a fresh hour of the caller's, far from the others.
	"POST /v1/leads/{id}/appointments": func(c *call) any {
		start := time.Now().Add(time.Duration(48+c.m.seq.Add(1)*2) * time.Hour).Truncate(time.Hour)
		return map[string]any{"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339)}
	},
	"PATCH /v1/leads/{id}/appointments/{appointment_id}": func(*call) any { return map[string]any{"location": "Site office"} },
	"PUT /v1/email/sender": func(c *call) any {
		return map[string]any{"email": senderAddr("sales")}
	},
	"PATCH /v1/org": func(*call) any {
		return map[string]any{"timezone": "Asia/Kolkata", "business_hours": map[string]any{"mon": []map[string]string{{"start": "09:00", "end": "17:00"}}}}
	},
	"PUT /v1/org/retention": func(*call) any { return map[string]any{"content_days": 200} },
	"PUT /v1/org/consent-mapping": func(*call) any {
		return map[string]any{"rules": []map[string]any{{"question": "whatsapp_updates", "yes": []string{"yes"}, "channel": "whatsapp", "purpose": "marketing"}}}
	},
	"POST /v1/org/close": func(*call) any { return map[string]any{"password": password} },
	"POST /v1/custom-fields": func(*call) any {
		return map[string]any{"key": fieldKey(), "label": "Budget", "type": "single_select", "options": []map[string]string{{"value": "low"}, {"value": "high"}}}
	},
	"PATCH /v1/custom-fields/{key}": func(*call) any {
		return map[string]any{"label": "Budget band", "add_options": []map[string]string{{"value": fieldKey()}}}
	},
	"POST /v1/org/reopen": func(c *call) any {
		return map[string]any{"email": c.org.owner.Email, "password": password}
	},
	"POST /v1/privacy-requests": func(c *call) any {
		return map[string]any{"type": "access", "subject": map[string]string{"lead_id": c.org.lead}}
	},
	"POST /v1/pipelines": func(*call) any {
		return map[string]any{"name": "Rentals", "stages": []map[string]string{{"name": "Enquiry"}, {"name": "Signed", "kind": "won"}}}
	},
	"PATCH /v1/pipelines/{id}": func(*call) any { return map[string]any{"name": "Renamed"} },
	// RFC 8058's body; the route does not read it.
	"POST /v1/unsubscribe/{token}": func(*call) any { return "List-Unsubscribe=One-Click" },
}

// targets fill a route's path parameters with a fresh resource of org o;
// own, for a lead, assigns it to the caller. Keyed by the path's first
// segment after /v1.
var targets = map[string]func(c *call, o *orgFix, own bool) map[string]string{
	"leads": func(c *call, o *orgFix, own bool) map[string]string {
		body := map[string]any{"name": "Target lead", "phone": c.m.phone(), "email": uniqueEmail("lead"), "tags": []string{"spring"}}
		if own {
			body["assignee_id"] = c.caller.UserID
		}
		params := map[string]string{"id": o.track(c.m.createLead(c.m.t, o.owner, body).str("id"))}
		if strings.Contains(c.op.path, "{note_id}") {
			// A note by the caller where it may write one, else by the owner.
			by := o.owner
			if own || (o == c.org && c.role != "agent" && c.role != "viewer") {
				by = c.caller
			}
			r := c.m.do(c.m.t, "POST", "/v1/leads/"+params["id"]+"/notes", by.Access, map[string]any{"body": "A target note."})
			expect(c.m.t, r, 201)
			params["note_id"] = o.track(r.str("id"))
		}
		if strings.Contains(c.op.path, "{appointment_id}") {
			start := time.Now().Add(time.Duration(48+c.m.seq.Add(1)*2) * time.Hour).Truncate(time.Hour)
			r := c.m.do(c.m.t, "POST", "/v1/leads/"+params["id"]+"/appointments", o.owner.Access,
				map[string]any{"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339), "force": true})
			expect(c.m.t, r, 201)
			params["appointment_id"] = o.track(r.str("id"))
		}
		if strings.Contains(c.op.path, "{task_id}") {
			r := c.m.do(c.m.t, "POST", "/v1/leads/"+params["id"]+"/tasks", o.owner.Access,
				map[string]any{"title": "A target task", "due_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
			expect(c.m.t, r, 201)
			params["task_id"] = o.track(r.str("id"))
		}
		return params
	},
	// A fresh merge of two leads of the org, by its owner.
	"merges": func(c *call, o *orgFix, _ bool) map[string]string {
		survivor := o.track(c.m.createLead(c.m.t, o.owner, map[string]any{"name": "Survivor", "phone": c.m.phone()}).str("id"))
		other := o.track(c.m.createLead(c.m.t, o.owner, map[string]any{"name": "Absorbed", "email": uniqueEmail("absorbed")}).str("id"))
		r := c.m.do(c.m.t, "POST", "/v1/leads/"+survivor+"/merge", o.owner.Access, map[string]any{"other_lead_id": other})
		expect(c.m.t, r, 200)
		return map[string]string{"merge_id": o.track(r.str("id"))}
	},
	// A fresh pipeline of two stages; stage_id names its empty second one.
	"pipelines": func(c *call, o *orgFix, _ bool) map[string]string {
		r := c.m.do(c.m.t, "POST", "/v1/pipelines", o.owner.Access, map[string]any{"name": "Target",
			"stages": []map[string]string{{"name": "Enquiry"}, {"name": "Viewing"}}})
		expect(c.m.t, r, 201)
		stages, _ := r.Body["stages"].([]any)
		if len(stages) != 2 {
			c.m.t.Fatalf("created pipeline has stages %v", r.Body["stages"])
		}
		second, _ := stages[1].(map[string]any)
		stage, _ := second["id"].(string)
		return map[string]string{"id": o.track(r.str("id")), "stage_id": o.track(stage)}
	},
	// A task reminder of the caller (in its own org) or of the org's
	// owner, on a fresh lead assigned to them, recorded by the reminder
	// job.
	"notifications": func(c *call, o *orgFix, _ bool) map[string]string {
		to := o.owner
		if o == c.org {
			to = c.caller
		}
		leadID := o.track(c.m.createLead(c.m.t, o.owner, map[string]any{"name": "Reminded lead", "phone": c.m.phone(), "assignee_id": to.UserID}).str("id"))
		r := c.m.do(c.m.t, "POST", "/v1/leads/"+leadID+"/tasks", o.owner.Access, map[string]any{"title": "A reminded task",
			"due_at": time.Now().Add(time.Minute).Format(time.RFC3339), "assignee_id": to.UserID, "remind_before_minutes": 10})
		expect(c.m.t, r, 201)
		task := r.str("id")
		if _, err := (&lead.Reminders{Store: c.m.store}).Run(c.m.t.Context(), time.Now()); err != nil {
			c.m.t.Fatal(err)
		}
		p, err := c.m.store.ListNotifications(c.m.t.Context(), to.OrgID, to.UserID, true, 100, page.Cursor{})
		if err != nil {
			c.m.t.Fatal(err)
		}
		for _, n := range p.Items {
			if n.TaskID == task {
				return map[string]string{"id": o.track(n.ID)}
			}
		}
		c.m.t.Fatalf("no reminder of task %s", task)
		return nil
	},
	// A fresh import of one row, submitted by the org's owner.
	"imports": func(c *call, o *orgFix, _ bool) map[string]string {
		r := c.m.do(c.m.t, "POST", "/v1/imports", o.owner.Access, map[string]any{"csv": "name,phone\nTarget import," + c.m.phone() + "\n"})
		expect(c.m.t, r, 202)
		return map[string]string{"id": o.track(r.str("id"))}
	},
	"users": func(c *call, o *orgFix, _ bool) map[string]string {
		r := c.m.do(c.m.t, "POST", "/v1/users", o.owner.Access, map[string]string{"name": "Target", "email": uniqueEmail("target"), "role": "agent", "password": password})
		expect(c.m.t, r, 201)
		return map[string]string{"id": o.track(r.str("id"))}
	},
	"api-keys": func(c *call, o *orgFix, _ bool) map[string]string {
		r := c.m.do(c.m.t, "POST", "/v1/api-keys", o.owner.Access, map[string]any{"name": "Target", "scopes": []string{"leads:read"}})
		expect(c.m.t, r, 201)
		return map[string]string{"id": o.track(r.str("id"))}
	},
	"invitations": func(c *call, o *orgFix, _ bool) map[string]string {
		id, _ := c.m.invite(c.m.t, o.owner, uniqueEmail("target"), "agent")
		return map[string]string{"id": o.track(id)}
	},
	"custom-fields": func(c *call, o *orgFix, _ bool) map[string]string {
		k := fieldKey()
		expect(c.m.t, c.m.do(c.m.t, "POST", "/v1/custom-fields", o.owner.Access, map[string]any{"key": k, "type": "single_select",
			"options": []map[string]string{{"value": "a"}}}), 201)
		return map[string]string{"key": k}
	},
	"campaigns": func(c *call, o *orgFix, _ bool) map[string]string {
		r := c.m.do(c.m.t, "POST", "/v1/campaigns", o.owner.Access, saleCampaign(1))
		expect(c.m.t, r, 201)
		return map[string]string{"id": o.track(r.str("id"))}
	},
	// An export is downloadable by the user who asked for it only: a
	// privileged caller files the request in its own org itself.
	"privacy-requests": func(c *call, o *orgFix, _ bool) map[string]string {
		by := o.owner
		if o == c.org && (c.role == "owner" || c.role == "admin") {
			by = c.caller
		}
		r := c.m.do(c.m.t, "POST", "/v1/privacy-requests", by.Access, map[string]any{"type": "export", "subject": map[string]string{"lead_id": o.lead}})
		expect(c.m.t, r, 201)
		return map[string]string{"id": o.track(r.str("id"))}
	},
	// The one-click unsubscribe token of a fresh lead, signed with the key
	// the api created at its start.
	"unsubscribe": func(c *call, o *orgFix, _ bool) map[string]string {
		id := o.track(c.m.createLead(c.m.t, o.owner, map[string]any{"name": "Target lead", "email": uniqueEmail("unsub")}).str("id"))
		cfg, err := awsconfig.LoadDefaultConfig(c.m.t.Context())
		if err != nil {
			c.m.t.Fatal(err)
		}
		signer, err := unsubscribe.Open(c.m.t.Context(), c.m.store, envelope.New(kms.NewFromConfig(cfg), c.m.cfg.KeyID, envelope.Options{}))
		if err != nil || signer == nil {
			c.m.t.Fatalf("open unsubscribe key: %v", err)
		}
		return map[string]string{"token": signer.Token(o.owner.OrgID, id)}
	},
	"integrations": func(c *call, o *orgFix, _ bool) map[string]string {
		id, token := c.m.numericID(), "EAAGwa-"+c.m.numericID()
		c.m.sim.AddPhoneNumber(id, "15550783881", "A number", o.waba, token)
		expect(c.m.t, c.m.do(c.m.t, "POST", "/v1/integrations/whatsapp-numbers", o.owner.Access, map[string]any{
			"phone_number_id": id, "waba_id": o.waba, "display_phone_number": "+1 555 078 3881", "access_token": token}), 201)
		return map[string]string{"kind": "whatsapp", "id": o.track(id)}
	},
}

// missing fills path parameters with ids that name nothing.
func missing(params map[string]string) map[string]string {
	out := map[string]string{}
	for k := range params {
		out[k] = ulid.Make().String()
	}
	if _, ok := params["kind"]; ok {
		out["kind"], out["id"] = "whatsapp", fmt.Sprint(rand.Int64N(1e15)+1e15) //nolint:gosec // an id, not a secret
	}
	return out
}

// prepares run before each call of a route; they may give the call an org
// of its own (the caller then has the same role in it).
var prepares = map[string]func(c *call){
	// An org sets its sender address at most once a minute: each call of
	// these has an org of its own, with an address set (GET, DELETE) or not.
	"GET /v1/email/sender":    func(c *call) { c.freshOrg(true) },
	"DELETE /v1/email/sender": func(c *call) { c.freshOrg(true) },
	"PUT /v1/email/sender":    func(c *call) { c.freshOrg(false) },
	// Closing ends the org: each call closes an org of its own.
	"POST /v1/org/close": func(c *call) { c.freshOrg(false) },
	// Only an unverified user asks for another verification link: the
	// call is made by a fresh member of the caller's role.
	"POST /v1/auth/verify-email/resend": func(c *call) {
		c.caller = c.m.member(c.m.t, c.org.owner, c.role)
	},
	// Confirming and turning off two-factor sign-in: a fresh member of the
	// caller's role with an enrolment waiting, or on.
	"POST /v1/me/mfa/confirm": func(c *call) {
		c.caller = c.m.member(c.m.t, c.org.owner, c.role)
		c.mfa = c.m.enrolMFA(c.m.t, c.caller)
	},
	"DELETE /v1/me/mfa": func(c *call) {
		c.caller = c.m.member(c.m.t, c.org.owner, c.role)
		c.mfa = c.m.mfaOn(c.m.t, c.caller)
	},
	// Reopening needs a closed org.
	"POST /v1/org/reopen": func(c *call) {
		c.freshOrg(false)
		expect(c.m.t, c.m.do(c.m.t, "POST", "/v1/org/close", c.org.owner.Access, map[string]any{"password": password}), 200)
	},
}

// matrixPolicy is the policy version in force that callers acknowledge.
const matrixPolicy = "2020-01"

// orgFix is an org with one signed-in user per role and every id that
// belongs to it.
type orgFix struct {
	name  string
	owner session
	users map[string]session
	waba  string
	ids   []string
	// lead is a lead of the org assigned to no one.
	lead string
}

func (o *orgFix) track(id string) string {
	o.ids = append(o.ids, id)
	return id
}

// matrix is the API with two orgs, A and B.
type matrix struct {
	*msgEnv
	t    *testing.T
	a, b *orgFix
	seq  atomic.Int64
	// probed holds the ids of org B that org A's callers have sent; their
	// own audit trail names them (the attempt), which is no leak.
	probed map[string]bool
}

func (m *matrix) numericID() string { return fmt.Sprintf("7%d%06d", time.Now().Unix(), m.seq.Add(1)) }

func (m *matrix) phone() string { return fmt.Sprintf("98%08d", m.seq.Add(1)%1e8) }

func (m *matrix) login(email string) session { return m.testEnv.login(m.t, email) }

// newOrg signs up an org with a member per role, a WhatsApp number with
// the campaign templates, two leads tagged for the campaign (so that one
// of a page size of 1 keeps running), a campaign, an inbound message and,
// with sender, a verified sender address.
func (m *matrix) newOrg(name string, sender bool) *orgFix {
	owner := m.signup(m.t, name)
	// The matrix makes more requests a minute than the free plan allows;
	// set before the org's first authenticated request (plans are
	// remembered a minute).
	if err := m.store.SetOrgPlan(m.t.Context(), owner.OrgID, plan.Business); err != nil {
		m.t.Fatal(err)
	}
	o := &orgFix{name: name, owner: owner, users: map[string]session{"owner": owner}, waba: m.numericID()}
	o.track(owner.OrgID)
	o.track(owner.UserID)
	for _, r := range roles[1:] {
		o.users[r] = m.member(m.t, owner, r)
		o.track(o.users[r].UserID)
	}
	// Those who may invite prove their email.
	m.verify(m.t, owner)
	m.verify(m.t, o.users["admin"])
	number, token := m.numericID(), "EAAGwa-"+m.numericID()
	m.sim.AddPhoneNumber(number, "15550783881", name, o.waba, token)
	m.sim.AddTemplate(o.waba, meta.Template{Name: "spring_sale", Language: "en_US", Category: "MARKETING", Components: []meta.TemplateComponent{
		{Type: "BODY", Text: "Hello {{1}}, 20% off this week!"},
	}})
	expect(m.t, m.do(m.t, "POST", "/v1/integrations/whatsapp-numbers", owner.Access, map[string]any{
		"phone_number_id": number, "waba_id": o.waba, "display_phone_number": "+1 555 078 3881", "access_token": token}), 201)
	o.track(number)
	for range 2 {
		lead := m.createLead(m.t, owner, map[string]any{"name": "Spring lead", "phone": m.phone(), "email": uniqueEmail("spring"), "tags": []string{"spring"}})
		o.lead = o.track(lead.str("id"))
	}
	m.inbound(m.t, owner.OrgID, o.lead, "Hello", time.Now().Add(-time.Minute), nil)
	campaign := m.do(m.t, "POST", "/v1/campaigns", owner.Access, saleCampaign(1))
	expect(m.t, campaign, 201)
	o.track(campaign.str("id"))
	if sender {
		// Verified: emails to leads go only from such an address.
		m.verifiedSender(m.t, owner)
	}
	return o
}

// freshOrg moves the call to an org of its own.
func (c *call) freshOrg(sender bool) {
	c.org = c.m.newOrg(fmt.Sprintf("Own Org %d", c.m.seq.Add(1)), sender)
	c.caller = c.org.users[c.role]
}

// row is one line of the table: the cell of each role.
type row map[string]string

// readMatrix parses the route table of docs/permissions.md.
func readMatrix(t *testing.T) map[string]row {
	t.Helper()
	f, err := os.Open("../../../docs/permissions.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]row{}
	var cols []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			cols = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case len(cells) > 2 && cells[0] == "method" && cells[1] == "path":
			cols = cells[2:]
			if !slices.Equal(cols, roles) {
				t.Fatalf("docs/permissions.md: role columns %v, want %v", cols, roles)
			}
		case cols == nil || strings.HasPrefix(cells[0], "---"):
		default:
			if len(cells) != 2+len(cols) {
				t.Fatalf("docs/permissions.md: row %q has %d cells, want %d", line, len(cells), 2+len(cols))
			}
			key := cells[0] + " " + cells[1]
			if _, dup := out[key]; dup {
				t.Fatalf("docs/permissions.md: two rows for %s", key)
			}
			r := row{}
			for i, role := range cols {
				switch cell := cells[2+i]; cell {
				case "allow", "deny", "own", "public":
					r[role] = cell
				default:
					t.Fatalf("docs/permissions.md: %s, %s: unknown cell %q (allow, deny, own, public)", key, role, cell)
				}
			}
			out[key] = r
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/permissions.md: no route table")
	}
	return out
}

// operation is one route of the OpenAPI document.
type operation struct {
	method, path string
	body         bool // takes a request body
	public       bool // no security
}

func (o operation) key() string { return o.method + " " + o.path }

func readOperations(t *testing.T, e *testEnv) []operation {
	t.Helper()
	r := e.do(t, "GET", "/openapi.json", "", nil)
	expect(t, r, 200)
	paths, _ := r.Body["paths"].(map[string]any)
	// The document does not list itself.
	ops := []operation{{method: "GET", path: "/openapi.json", public: true}}
	for path, item := range paths {
		for method, v := range item.(map[string]any) {
			op, ok := v.(map[string]any)
			if !ok {
				continue
			}
			sec, hasSec := op["security"].([]any)
			ops = append(ops, operation{method: strings.ToUpper(method), path: path, body: op["requestBody"] != nil,
				public: !hasSec || len(sec) == 0})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].key() < ops[j].key() })
	if len(ops) == 1 {
		t.Fatal("the OpenAPI document lists no operation")
	}
	return ops
}

// pathParams lists a path's {parameters}.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func fill(path string, params map[string]string) string {
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

func classOK(cell string, status int) bool {
	switch cell {
	case "deny":
		return status == http.StatusForbidden
	default:
		return status >= 200 && status < 300
	}
}

func TestPermissionMatrix(t *testing.T) {
	m := &matrix{msgEnv: newMsgEnv(t), t: t, probed: map[string]bool{}}
	if err := m.store.PutPolicyVersion(t.Context(), policy.Version{ID: matrixPolicy, Effective: time.Now().AddDate(-1, 0, 0).Truncate(24 * time.Hour),
		Summary: "The matrix test's version.", PublishedAt: time.Now().AddDate(-1, -1, 0)}); err != nil {
		t.Fatal(err)
	}
	m.a, m.b = m.newOrg("Org A", true), m.newOrg("Org B", true)
	table := readMatrix(t)
	ops := readOperations(t, m.testEnv)

	// The table and the document name the same routes.
	inDoc := map[string]bool{}
	for _, op := range ops {
		inDoc[op.key()] = true
		if table[op.key()] == nil {
			t.Errorf("%s is served but has no row in docs/permissions.md", op.key())
		}
		if op.body && bodies[op.key()] == nil {
			t.Errorf("%s takes a request body but has no template in bodies (permissions_test.go)", op.key())
		}
		for _, p := range pathParams(op.path) {
			if targets[strings.Split(strings.TrimPrefix(op.path, "/v1/"), "/")[0]] == nil {
				t.Errorf("%s: no target for path parameter {%s} (targets in permissions_test.go)", op.key(), p)
			}
		}
	}
	for key := range table {
		if !inDoc[key] {
			t.Errorf("docs/permissions.md has a row for %s, which the API does not serve", key)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	for _, op := range ops {
		for _, role := range roles {
			cell := table[op.key()][role]
			if (cell == "public") != op.public {
				t.Errorf("%s: the table says %s for %s but the route is %s", op.key(), cell, role, map[bool]string{true: "public", false: "authenticated"}[op.public])
				continue
			}
			t.Run(op.method+"_"+op.path+"_"+role, func(t *testing.T) { m.check(t, op, role, cell) })
		}
	}
}

// check makes the calls of one route and role.
func (m *matrix) check(t *testing.T, op operation, role, cell string) {
	m.t = t
	c := &call{op: op, m: m, role: role, caller: m.a.users[role], org: m.a}
	if p := prepares[op.key()]; p != nil {
		p(c)
	}
	seg := strings.Split(strings.TrimPrefix(op.path, "/v1/"), "/")[0]
	params := pathParams(op.path)
	do := func(what string, path string) response {
		var body any
		if b := bodies[op.key()]; b != nil {
			body = b(c)
		}
		r := m.do(t, op.method, path, c.caller.Access, body)
		for _, id := range m.b.ids {
			if !m.probed[id] && strings.Contains(r.Raw, id) {
				t.Errorf("%s %s (%s, %s) shows org B's id %s: %s", op.method, path, role, what, id, r.Raw)
			}
		}
		return r
	}

	// On the org's own resources.
	own := map[string]string{}
	if len(params) > 0 {
		own = targets[seg](c, c.org, cell == "own")
	}
	r := do("own org", fill(op.path, own))
	if !classOK(cell, r.Status) {
		t.Errorf("%s as %s: %d, docs/permissions.md says %s: %s", op.key(), role, r.Status, cell, r.Raw)
	}
	if cell == "own" {
		if len(params) > 0 {
			other := targets[seg](c, c.org, false)
			if r := do("another's lead", fill(op.path, other)); r.Status != http.StatusNotFound {
				t.Errorf("%s as %s on a lead not assigned to it: %d, want 404: %s", op.key(), role, r.Status, r.Raw)
			}
		} else if op.method == http.MethodGet && strings.Contains(r.Raw, c.org.lead) {
			t.Errorf("%s as %s lists a lead not assigned to it: %s", op.key(), role, r.Raw)
		}
	}

	// On org B's resources: as an id that does not exist.
	if len(params) > 0 && !op.public {
		theirs := targets[seg](c, m.b, false)
		for _, id := range theirs {
			m.probed[id] = true
		}
		cross := do("org B's resource", fill(op.path, theirs))
		none := do("no such id", fill(op.path, missing(theirs)))
		switch {
		case cross.Status >= 200 && cross.Status < 300:
			t.Errorf("%s as %s of org A on org B's resource answered %d: %s", op.key(), role, cross.Status, cross.Raw)
		case cross.Status != none.Status:
			t.Errorf("%s as %s of org A: org B's resource %d, no such id %d (the difference reveals B's resource)", op.key(), role, cross.Status, none.Status)
		case (cell == "allow" || cell == "own") && cross.Status != http.StatusNotFound:
			t.Errorf("%s as %s of org A on org B's resource answered %d, want 404", op.key(), role, cross.Status)
		}
	}
}
