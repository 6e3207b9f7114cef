package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	senderapp "github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/sendgate"
)

// campaignLeads creates five leads tagged spring (Asha, Bina and Chetan
// eligible: staff recorded their WhatsApp marketing opt-in; Devi opted out
// of WhatsApp marketing; Esha without a phone) and one untagged lead the
// filter must leave out. It returns the ids of the eligible ones.
func campaignLeads(t *testing.T, e *msgEnv, owner session) map[string]bool {
	t.Helper()
	eligible := map[string]bool{}
	for i, name := range []string{"Asha", "Bina", "Chetan"} {
		id := e.createLead(t, owner, map[string]any{"name": name, "phone": fmt.Sprintf("98765 4320%d", i), "tags": []string{"spring"}}).str("id")
		eligible[id] = true
		e.optIn(t, owner, id, "whatsapp", "marketing")
	}
	devi := e.createLead(t, owner, map[string]any{"name": "Devi", "phone": "98765 43209", "tags": []string{"spring"}}).str("id")
	stop := time.Now().Add(-time.Hour)
	e.inbound(t, owner.OrgID, devi, "Stop promotions", stop, &conversation.ConsentEntry{
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeMarketing, Action: conversation.OptOut, At: stop, Source: "template_button"})
	e.createLead(t, owner, map[string]any{"name": "Esha", "email": "esha@example.com", "tags": []string{"spring"}})
	e.createLead(t, owner, map[string]any{"name": "Farid", "phone": "98765 43219"})
	return eligible
}

func saleCampaign(pageSize int) map[string]any {
	body := map[string]any{"name": "Spring sale", "template": map[string]string{"name": "spring_sale", "language": "en_US"},
		"parameters": map[string][]string{"body": {"{{lead.name}}"}}, "filter": map[string]string{"tag": "spring"}}
	if pageSize > 0 {
		body["page_size"] = pageSize
	}
	return body
}

func counts(t *testing.T, r response) (matched, queued int, skipped map[string]any) {
	t.Helper()
	c, _ := r.Body["counts"].(map[string]any)
	m, _ := c["matched"].(float64)
	q, _ := c["queued"].(float64)
	skipped, _ = c["skipped_by_reason"].(map[string]any)
	return int(m), int(q), skipped
}

func checkJobs(t *testing.T, jobs []map[string]string, eligible map[string]bool, want int) {
	t.Helper()
	if len(jobs) != want {
		t.Fatalf("%d outbound jobs, want %d: %v", len(jobs), want, jobs)
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if !eligible[j["lead_id"]] || seen[j["lead_id"]] {
			t.Fatalf("job for lead %s (eligible %v, seen %v)", j["lead_id"], eligible, seen)
		}
		seen[j["lead_id"]] = true
	}
}

func TestCampaigns(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	eligible := campaignLeads(t, e, owner)
	e.connect(t, owner)

	t.Run("roles", func(t *testing.T) {
		expect(t, e.do(t, "POST", "/v1/campaigns", agent.Access, saleCampaign(0)), 403)
		expect(t, e.do(t, "GET", "/v1/campaigns", viewer.Access, nil), 403)
		r := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
		expect(t, r, 200)
		denied := false
		for _, it := range r.items() {
			d, _ := it["details"].(map[string]any)
			if it["action"] == "permission.denied" && d["attempted"] == "campaign.create" && it["actor_id"] == agent.UserID {
				denied = true
			}
		}
		if !denied {
			t.Fatal("no audited denial of the agent's campaign")
		}
	})

	t.Run("template checks", func(t *testing.T) {
		b := saleCampaign(0)
		b["template"] = map[string]string{"name": "no_such_template", "language": "en_US"}
		problemCode(t, e.do(t, "POST", "/v1/campaigns", owner.Access, b), 422, "unknown_template")
		b = saleCampaign(0)
		b["parameters"] = map[string][]string{"body": {"{{lead.name}}", "extra"}}
		r := e.do(t, "POST", "/v1/campaigns", owner.Access, b)
		problemCode(t, r, 422, "template_parameters")
		if !hasLocation(r, "body.parameters") {
			t.Fatalf("parameter problem location: %s", r.Raw)
		}
		b = saleCampaign(0)
		b["template"] = map[string]string{"name": "new_offer", "language": "en_US"}
		b["parameters"] = map[string][]string{}
		problemCode(t, e.do(t, "POST", "/v1/campaigns", owner.Access, b), 422, "template_not_approved")
		b = saleCampaign(0)
		b["parameters"] = map[string][]string{"body": {"{{lead.password}}"}}
		problemCode(t, e.do(t, "POST", "/v1/campaigns", owner.Access, b), 422, "validation_failed")
		if jobs := e.jobs(t); len(jobs) != 0 {
			t.Fatalf("refused campaigns queued %v", jobs)
		}
	})

	var first string
	t.Run("fan-out", func(t *testing.T) {
		e.jobs(t)
		r := e.do(t, "POST", "/v1/campaigns", manager.Access, saleCampaign(0))
		expect(t, r, 201)
		first = r.str("id")
		matched, queued, skipped := counts(t, r)
		if first == "" || r.str("status") != "completed" || matched != 5 || queued != 3 ||
			skipped["opted_out"] != 1.0 || skipped["no_phone"] != 1.0 || skipped["missing_parameter"] != 0.0 || skipped["consent_required"] != 0.0 {
			t.Fatalf("campaign %s", r.Raw)
		}
		c := r.Body["counts"].(map[string]any)
		if c["sent"] != 0.0 || c["failed"] != 0.0 || r.str("template", "category") != "marketing" {
			t.Fatalf("outcome counts / template %s", r.Raw)
		}
		checkJobs(t, e.jobs(t), eligible, 3)

		// The message is in the lead's history, tagged with the campaign.
		for id := range eligible {
			h := e.do(t, "GET", "/v1/leads/"+id+"/messages", owner.Access, nil)
			expect(t, h, 200)
			items := h.items()
			last := items[len(items)-1]
			d, _ := last["details"].(map[string]any)
			if last["type"] != "template" || last["status"] != "queued" || d["campaign_id"] != first || d["template"] != "spring_sale" {
				t.Fatalf("campaign message of %s: %v", id, last)
			}
		}

		g := e.do(t, "GET", "/v1/campaigns/"+first, owner.Access, nil)
		expect(t, g, 200)
		if m, q, _ := counts(t, g); m != 5 || q != 3 {
			t.Fatalf("GET campaign %s", g.Raw)
		}
		expect(t, e.do(t, "GET", "/v1/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ", owner.Access, nil), 404)
	})

	t.Run("resume sends nothing twice", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/campaigns/"+first+"/resume", owner.Access, nil)
		expect(t, r, 200)
		if m, q, _ := counts(t, r); r.str("status") != "completed" || m != 5 || q != 3 {
			t.Fatalf("resumed completed campaign %s", r.Raw)
		}
		// Rewind the campaign to its first page, as a processor that died
		// before committing would leave it: processing the leads again
		// queues nothing new.
		ctx := context.Background()
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dynamodb.NewFromConfig(cfg).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.cfg.TableName),
			Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: "ORG#" + owner.OrgID}, "SK": &types.AttributeValueMemberS{Value: "CAMPAIGN#" + first}},
			UpdateExpression:          aws.String("SET #st = :run REMOVE #cur"),
			ExpressionAttributeNames:  map[string]string{"#st": "status", "#cur": "cursor"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberS{Value: "running"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, e.do(t, "POST", "/v1/campaigns/"+first+"/resume", owner.Access, nil), 200)
		if jobs := e.jobs(t); len(jobs) != 0 {
			t.Fatalf("reprocessing queued %v", jobs)
		}
	})

	t.Run("again is a new campaign", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/campaigns", owner.Access, saleCampaign(0))
		expect(t, r, 201)
		if r.str("id") == first {
			t.Fatal("same id for a new campaign")
		}
		checkJobs(t, e.jobs(t), eligible, 3)
		l := e.do(t, "GET", "/v1/campaigns", owner.Access, nil)
		expect(t, l, 200)
		if items := l.items(); len(items) != 2 || items[0]["id"] != r.str("id") || items[1]["id"] != first {
			t.Fatalf("campaign list %s", l.Raw)
		}
	})
}

// splitJobs separates campaign page jobs from send jobs.
func splitJobs(jobs []map[string]string) (pages, sends []map[string]string) {
	for _, j := range jobs {
		if j["kind"] == sendgate.KindCampaignPage {
			pages = append(pages, j)
		} else {
			sends = append(sends, j)
		}
	}
	return pages, sends
}

// senderHandler is the sender function's handler over the same stand-ins.
func senderHandler(t *testing.T, e *msgEnv) senderapp.Handler {
	t.Helper()
	h, err := senderapp.New(context.Background(), config.Sender{TableName: e.cfg.TableName, KeyID: e.cfg.KeyID,
		OutboundQueueURL: e.cfg.OutboundQueueURL, GraphBaseURL: e.cfg.GraphBaseURL, GraphVersion: e.cfg.GraphVersion,
		EmailFrom: e.cfg.EmailFrom, NumberRatePerSecond: 80}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCampaignRunsThroughQueue(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	eligible := campaignLeads(t, e, owner)
	e.connect(t, owner)
	e.jobs(t)
	h := senderHandler(t, e)

	// One lead per page: the create processes the first page (Esha, newest,
	// has no phone) and queues the job for the next.
	r := e.do(t, "POST", "/v1/campaigns", owner.Access, saleCampaign(1))
	expect(t, r, 201)
	id := r.str("id")
	if m, _, _ := counts(t, r); r.str("status") != "running" || m != 1 {
		t.Fatalf("campaign after create %s", r.Raw)
	}
	pages, sends := splitJobs(e.jobs(t))
	if len(pages) != 1 || pages[0]["campaign_id"] != id || pages[0]["org_id"] != owner.OrgID || len(sends) != 0 {
		t.Fatalf("jobs after create: pages %v, sends %v", pages, sends)
	}

	// The sender works through the pages one job at a time, to the end.
	all := []map[string]string{}
	for round := 0; len(pages) > 0; round++ {
		if round == 10 {
			t.Fatalf("still page jobs after %d rounds: %v", round, pages)
		}
		feed(t, h, pages)
		var s []map[string]string
		pages, s = splitJobs(e.jobs(t))
		if len(pages) > 1 {
			t.Fatalf("one page job queued %d: %v", len(pages), pages)
		}
		all = append(all, s...)
	}
	checkJobs(t, all, eligible, 3)
	g := e.do(t, "GET", "/v1/campaigns/"+id, owner.Access, nil)
	expect(t, g, 200)
	m, q, skipped := counts(t, g)
	if g.str("status") != "completed" || m != 5 || q != 3 || skipped["opted_out"] != 1.0 || skipped["no_phone"] != 1.0 {
		t.Fatalf("campaign after the sender %s", g.Raw)
	}

	// A redelivered page job of the completed campaign does nothing.
	feed(t, h, []map[string]string{{"kind": sendgate.KindCampaignPage, "org_id": owner.OrgID, "campaign_id": id}})
	if jobs := e.jobs(t); len(jobs) != 0 {
		t.Fatalf("page job of a completed campaign queued %v", jobs)
	}
}

// jobsEvent is an SQS batch of the outbound jobs, each on its first receive.
func jobsEvent(t *testing.T, jobs []map[string]string) events.SQSEvent {
	t.Helper()
	ev := events.SQSEvent{}
	for i, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("job-%d", i), Body: string(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	return ev
}

// feed runs the sender's handler on jobs as one batch.
func feed(t *testing.T, h senderapp.Handler, jobs []map[string]string) {
	t.Helper()
	resp, err := h(context.Background(), jobsEvent(t, jobs))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("sender on %v: failures %v, err %v", jobs, resp.BatchItemFailures, err)
	}
}

func TestCampaignPauseResume(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	eligible := campaignLeads(t, e, owner)
	e.connect(t, owner)
	e.jobs(t)
	h := senderHandler(t, e)

	// One lead per page: the create processes one, the sender one more.
	r := e.do(t, "POST", "/v1/campaigns", owner.Access, saleCampaign(1))
	expect(t, r, 201)
	id := r.str("id")
	pages, sends := splitJobs(e.jobs(t))
	feed(t, h, pages)
	pages, more := splitJobs(e.jobs(t))
	sends = append(sends, more...)
	if len(pages) != 1 {
		t.Fatalf("page jobs after the second page: %v", pages)
	}

	p := e.do(t, "POST", "/v1/campaigns/"+id+"/pause", owner.Access, nil)
	expect(t, p, 200)
	if p.str("status") != "paused" {
		t.Fatalf("paused %s", p.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/campaigns/"+id+"/pause", owner.Access, nil), 200)
	// The queued page job finds the campaign paused and stops the chain.
	feed(t, h, pages)
	if jobs := e.jobs(t); len(jobs) != 0 {
		t.Fatalf("paused campaign queued %v", jobs)
	}
	g := e.do(t, "GET", "/v1/campaigns/"+id, owner.Access, nil)
	if m, _, _ := counts(t, g); g.str("status") != "paused" || m != 2 {
		t.Fatalf("paused campaign moved on: %s", g.Raw)
	}

	// Resume processes the next page and queues the job for the rest.
	r = e.do(t, "POST", "/v1/campaigns/"+id+"/resume", owner.Access, nil)
	expect(t, r, 200)
	if m, _, _ := counts(t, r); r.str("status") != "running" || m != 3 {
		t.Fatalf("resumed %s", r.Raw)
	}
	pages, more = splitJobs(e.jobs(t))
	sends = append(sends, more...)
	for round := 0; len(pages) > 0; round++ {
		if round == 10 {
			t.Fatalf("still page jobs after %d rounds: %v", round, pages)
		}
		feed(t, h, pages)
		pages, more = splitJobs(e.jobs(t))
		sends = append(sends, more...)
	}
	g = e.do(t, "GET", "/v1/campaigns/"+id, owner.Access, nil)
	m, q, skipped := counts(t, g)
	if g.str("status") != "completed" || m != 5 || q != 3 || skipped["opted_out"] != 1.0 || skipped["no_phone"] != 1.0 {
		t.Fatalf("finished %s", g.Raw)
	}
	checkJobs(t, sends, eligible, 3)
	problemCode(t, e.do(t, "POST", "/v1/campaigns/"+id+"/pause", owner.Access, nil), 409, "campaign_completed")
}

// A campaign is business-initiated: a lead without the WhatsApp opt-in of
// the campaign's purpose (marketing for a MARKETING template; a service
// opt-in is not enough) is skipped and counted as consent_required.
func TestCampaignSkipsLeadsWithoutOptIn(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Opt-in Realty")
	e.connect(t, owner)
	lead := func(name, phone string) string {
		return e.createLead(t, owner, map[string]any{"name": name, "phone": phone, "tags": []string{"spring"}}).str("id")
	}
	marketing := lead("Asha", "98765 43200")
	e.optIn(t, owner, marketing, "whatsapp", "marketing")
	service := lead("Bina", "98765 43201")
	e.optIn(t, owner, service, "whatsapp", "service")
	// Chetan wrote an hour ago: his window is open, but a campaign still
	// needs his opt-in.
	chetan := lead("Chetan", "98765 43202")
	e.inbound(t, owner.OrgID, chetan, "Hello", time.Now().Add(-time.Hour), nil)
	e.jobs(t)

	r := e.do(t, "POST", "/v1/campaigns", owner.Access, saleCampaign(0))
	expect(t, r, 201)
	matched, queued, skipped := counts(t, r)
	if matched != 3 || queued != 1 || skipped["consent_required"] != 2.0 || skipped["opted_out"] != 0.0 {
		t.Fatalf("campaign %s", r.Raw)
	}
	checkJobs(t, e.jobs(t), map[string]bool{marketing: true}, 1)
}
