package campaign_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/watemplate"
)

// store is an in-memory campaign.PageStore with the table's semantics: one
// message per client message id, page commits guarded by the version.
type store struct {
	mu           sync.Mutex
	campaigns    map[string]campaign.Campaign
	leads        []lead.Lead // in ListLeads order
	integrations []integration.Integration
	messages     map[string]conversation.Message // by client message id
	listErr      error
}

func (s *store) GetCampaign(_ context.Context, _, id string) (campaign.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns[id]
	if !ok {
		return c, campaign.ErrNotFound
	}
	return c, nil
}

func (s *store) CommitCampaignPage(_ context.Context, _, id string, version int, next page.Cursor, n campaign.PageCounts, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns[id]
	if !ok || c.Version != version {
		return campaign.ErrConflict
	}
	c.Version++
	c.Cursor = next
	if next.IsZero() {
		c.Status = campaign.StatusCompleted
	}
	c.Matched += n.Matched
	c.Queued += n.Queued
	for r, k := range n.Skipped {
		c.Skipped[r] += k
	}
	c.UpdatedAt = at
	s.campaigns[id] = c
	return nil
}

func (s *store) SetCampaignStatus(_ context.Context, _, id, from, to string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns[id]
	if !ok {
		return campaign.ErrNotFound
	}
	if c.Status != from {
		return campaign.ErrConflict
	}
	c.Status, c.UpdatedAt = to, at
	s.campaigns[id] = c
	return nil
}

// quota allows left uses, each key once (plan.Service.TakeOnce).
type quota struct {
	mu    sync.Mutex
	left  int
	taken map[string]bool
}

func (q *quota) TakeOnce(_ context.Context, _ string, m plan.Metric, key string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.taken[key] {
		return nil
	}
	if q.left == 0 {
		return &plan.LimitError{Metric: m, Limit: 1}
	}
	q.left--
	q.taken[key] = true
	return nil
}

// ListLeads pages through leads with the tag of the filter; the cursor is
// the index of the next lead.
func (s *store) ListLeads(_ context.Context, _ string, f lead.Filter, limit int, from page.Cursor) (lead.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var matching []lead.Lead
	for _, l := range s.leads {
		for _, t := range l.Tags {
			if t == f.Tag {
				matching = append(matching, l)
			}
		}
	}
	start, _ := strconv.Atoi(from.Fields()["i"])
	end := min(start+limit, len(matching))
	p := lead.Page{Items: matching[start:end]}
	if end < len(matching) {
		p.Next = page.NewCursor(map[string]string{"i": strconv.Itoa(end)})
	}
	return p, nil
}

func (s *store) ListIntegrations(context.Context, string) ([]integration.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.integrations, s.listErr
}

func (s *store) QueueOutbound(_ context.Context, m conversation.Message) (conversation.Message, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.messages[m.ClientMessageID]; ok {
		return prev, false, nil
	}
	m.Status = conversation.StatusQueued
	s.messages[m.ClientMessageID] = m
	return m, true, nil
}

func (s *store) campaign(id string) campaign.Campaign {
	c, _ := s.GetCampaign(context.Background(), "o1", id)
	return c
}

// queue records the jobs put on the outbound queue, as the queue would
// see them.
type queue struct {
	mu   sync.Mutex
	jobs []sendgate.Job
	err  error
}

func (q *queue) enqueue(_ context.Context, orgID, leadID, messageID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	j, err := sendgate.DecodeJob(sendgate.Job{OrgID: orgID, LeadID: leadID, MessageID: messageID}.Encode())
	if err != nil {
		return err
	}
	q.jobs = append(q.jobs, j)
	return nil
}

// take returns and forgets the jobs queued so far, page jobs apart.
func (q *queue) take() (pages, sends []sendgate.Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		if j.Kind == sendgate.KindCampaignPage {
			pages = append(pages, j)
		} else {
			sends = append(sends, j)
		}
	}
	q.jobs = nil
	return pages, sends
}

type graph struct {
	mu    sync.Mutex
	list  []meta.Template
	err   error
	calls int
}

func (g *graph) Templates(context.Context, string, string) ([]meta.Template, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	return g.list, g.err
}

func (g *graph) set(err error, list ...meta.Template) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.list, g.err = list, err
}

type opener struct{}

func (opener) Open(_ context.Context, _ string, sealed []byte) ([]byte, error) { return sealed, nil }

var (
	sale = meta.Template{Name: "spring_sale", Language: "en_US", Status: "APPROVED", Category: "MARKETING",
		Components: []meta.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}, {{2}} off this week"}}}
	number = integration.Integration{OrgID: "o1", Kind: integration.KindWhatsApp, ExternalID: "106540352242922", WABAID: "w1",
		Status: integration.StatusActive, SealedToken: []byte("token"), ConnectedAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	t0 = time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
)

type env struct {
	store *store
	queue *queue
	graph *graph
	pages *campaign.Pages
	now   time.Time
}

// newEnv has five leads tagged spring, in ListLeads order: Asha and Bina
// eligible, Chetan opted out of WhatsApp marketing, Devi without a phone,
// Esha without a name; and one untagged lead. The campaign c1 sends
// spring_sale with the lead's name and a static discount, two leads a
// page.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{queue: &queue{}, graph: &graph{list: []meta.Template{sale}}, now: t0}
	spring := []string{"spring"}
	// The opt-in staff recorded for a lead who asked for WhatsApp updates.
	optedIn := map[string]string{"whatsapp:all": "opt_in@2024-04-01T10:00:00Z"}
	e.store = &store{
		campaigns: map[string]campaign.Campaign{"c1": {OrgID: "o1", ID: "c1", Status: campaign.StatusRunning,
			TemplateName: "spring_sale", TemplateLanguage: "en_US", TemplateCategory: "marketing", PhoneNumberID: number.ExternalID,
			Parameters: map[string][]string{"body": {"{{lead.name}}", "20%"}}, Filter: lead.Filter{Tag: "spring"}, PageSize: 2,
			Skipped: map[string]int{}}},
		leads: []lead.Lead{
			{ID: "asha", Name: "Asha", Phone: "+919876543200", Tags: spring, Consent: optedIn},
			{ID: "bina", Name: " Bina ", Phone: "+919876543201", Tags: spring, Consent: optedIn},
			{ID: "chetan", Name: "Chetan", Phone: "+919876543202", Tags: spring,
				Consent: map[string]string{"whatsapp:marketing": "opt_out@2024-05-01T10:00:00Z", "whatsapp:service": "opt_in@2024-05-01T10:00:00Z"}},
			{ID: "devi", Name: "Devi", Tags: spring},
			{ID: "esha", Name: "  ", Phone: "+919876543204", Tags: spring, Consent: optedIn},
			// Gita never opted in: a campaign may not start contact with her.
			{ID: "gita", Name: "Gita", Phone: "+919876543206", Tags: spring},
			{ID: "farid", Name: "Farid", Phone: "+919876543205"},
		},
		integrations: []integration.Integration{number},
		messages:     map[string]conversation.Message{},
	}
	e.pages = &campaign.Pages{Store: e.store, Enqueue: e.queue.enqueue, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Templates: &watemplate.Catalog{Source: e.graph, Opener: opener{}, Cache: &watemplate.Cache{}, Now: e.clock},
		Now:       e.clock}
	return e
}

func (e *env) clock() time.Time { return e.now }

func TestStepRunsTheCampaign(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// Page 1: Asha and Bina are queued; the job for page 2 follows.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	pages, sends := e.queue.take()
	if len(pages) != 1 || pages[0] != sendgate.CampaignPageJob("o1", "c1") || len(sends) != 2 {
		t.Fatalf("after page 1: pages %v, sends %v", pages, sends)
	}
	c := e.store.campaign("c1")
	if c.Status != campaign.StatusRunning || c.Matched != 2 || c.Queued != 2 || c.Version != 1 || c.Cursor.Fields()["i"] != "2" {
		t.Fatalf("campaign after page 1: %+v", c)
	}
	for _, j := range sends {
		m := e.store.messages[campaign.ClientMessageID("c1", j.LeadID)]
		if j.OrgID != "o1" || j.MessageID != m.ID || m.LeadID != j.LeadID {
			t.Fatalf("job %+v for message %+v", j, m)
		}
	}
	m := e.store.messages["campaign:c1:bina"]
	want := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"919876543201","type":"template",` +
		`"template":{"name":"spring_sale","language":{"code":"en_US"},"components":[{"type":"body","parameters":[` +
		`{"type":"text","text":"Bina"},{"type":"text","text":"20%"}]}]}}`
	if m.Payload != want {
		t.Fatalf("payload\n%s\nwant\n%s", m.Payload, want)
	}
	if m.Type != "template" || m.Channel != conversation.ChannelWhatsApp || m.Direction != conversation.Outbound ||
		m.Number != number.ExternalID || !m.At.Equal(t0) || m.Details["campaign_id"] != "c1" || m.Details["template"] != "spring_sale" ||
		m.Details["language"] != "en_US" || m.Details[sendgate.DetailCategory] != sendgate.CategoryMarketing {
		t.Fatalf("message %+v", m)
	}

	// Page 2: Chetan opted out of marketing, Devi has no phone.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	pages, sends = e.queue.take()
	if len(pages) != 1 || len(sends) != 0 {
		t.Fatalf("after page 2: pages %v, sends %v", pages, sends)
	}
	// Page 3: Esha's name is blank, Gita never opted in; no page is left,
	// so no job follows.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	pages, sends = e.queue.take()
	if len(pages) != 0 || len(sends) != 0 {
		t.Fatalf("after the last page: pages %v, sends %v", pages, sends)
	}
	c = e.store.campaign("c1")
	wantSkipped := map[string]int{campaign.SkipOptedOut: 1, campaign.SkipNoPhone: 1, campaign.SkipMissingParameter: 1, campaign.SkipConsentRequired: 1}
	if c.Status != campaign.StatusCompleted || c.Matched != 6 || c.Queued != 2 || fmt.Sprint(c.Skipped) != fmt.Sprint(wantSkipped) {
		t.Fatalf("completed campaign %+v", c)
	}
	// A redelivered job of the completed campaign does nothing.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if pages, sends := e.queue.take(); len(pages)+len(sends) != 0 || e.store.campaign("c1").Version != 3 {
		t.Fatalf("completed campaign processed again: %v %v", pages, sends)
	}
}

func TestUtilityTemplateIgnoresMarketingOptOut(t *testing.T) {
	e := newEnv(t)
	utility := sale
	utility.Category = "UTILITY"
	e.graph.set(nil, utility)
	c := e.store.campaigns["c1"]
	c.PageSize = 10
	e.store.campaigns["c1"] = c
	if err := e.pages.Step(context.Background(), "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.queue.take(); len(sends) != 3 || e.store.messages["campaign:c1:chetan"].Details[sendgate.DetailCategory] != "utility" {
		t.Fatalf("utility campaign sends %v", sends)
	}
}

func TestPageProcessedAgainSendsNothingTwice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.pages.Run(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.queue.take(); len(sends) != 2 {
		t.Fatalf("first run queued %v", sends)
	}
	// Rewind the campaign, as a processor that died before its commit
	// would leave it.
	rewind := func() {
		c := e.store.campaigns["c1"]
		c.Cursor, c.Status = page.Cursor{}, campaign.StatusRunning
		e.store.campaigns["c1"] = c
	}
	rewind()
	if _, err := e.pages.Run(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.queue.take(); len(sends) != 0 {
		t.Fatalf("page processed again queued %v", sends)
	}
	if c := e.store.campaign("c1"); c.Queued != 4 {
		// Found messages count as queued, as the API reports.
		t.Fatalf("queued %d, want 4 (2 per processing)", c.Queued)
	}
	// A message still queued long after it was written gets its job again
	// (the first run may have died between write and enqueue).
	rewind()
	e.now = t0.Add(sendgate.RequeueStuckAfter + time.Second)
	if _, err := e.pages.Run(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.queue.take(); len(sends) != 2 || sends[0].MessageID != e.store.messages["campaign:c1:asha"].ID {
		t.Fatalf("stuck messages re-enqueued: %v", sends)
	}
}

func TestPausedAndUnknownCampaigns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.store.campaigns["c1"]
	c.Status = campaign.StatusPaused
	e.store.campaigns["c1"] = c
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := e.pages.Continue(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	got, err := e.pages.Run(ctx, "o1", "c1")
	if err != nil || got.Status != campaign.StatusPaused {
		t.Fatalf("Run on a paused campaign: %+v, %v", got, err)
	}
	if pages, sends := e.queue.take(); len(pages)+len(sends) != 0 || e.store.campaign("c1").Version != 0 {
		t.Fatalf("paused campaign processed: %v %v", pages, sends)
	}
	if err := e.pages.Step(ctx, "o1", "gone"); err != nil {
		t.Fatalf("Step on an unknown campaign: %v, want nil (the chain ends)", err)
	}
	if _, err := e.pages.Run(ctx, "o1", "gone"); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("Run on an unknown campaign: %v", err)
	}
	if err := e.pages.Continue(ctx, "o1", "gone"); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("Continue on an unknown campaign: %v", err)
	}
}

// conflictStore commits nothing: another processor always wins.
type conflictStore struct{ *store }

func (conflictStore) CommitCampaignPage(context.Context, string, string, int, page.Cursor, campaign.PageCounts, time.Time) error {
	return campaign.ErrConflict
}

func TestLostCommitIsNoError(t *testing.T) {
	e := newEnv(t)
	e.pages.Store = conflictStore{e.store}
	ctx := context.Background()
	if _, err := e.pages.Run(ctx, "o1", "c1"); err != nil {
		t.Fatalf("Run after a lost commit: %v", err)
	}
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatalf("Step after a lost commit: %v", err)
	}
	// The winner queues the next page job, not the loser.
	if pages, _ := e.queue.take(); len(pages) != 0 {
		t.Fatalf("loser queued page jobs %v", pages)
	}
}

func TestStepStopsOrRetries(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		retry bool
		is    error
	}{
		{"template no longer approved", func(e *env) {
			paused := sale
			paused.Status = "PAUSED"
			e.graph.set(nil, paused)
		}, false, nil},
		{"template deleted", func(e *env) { e.graph.set(nil) }, false, nil},
		{"template takes other parameters", func(e *env) {
			changed := sale
			changed.Components = []meta.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}"}}
			e.graph.set(nil, changed)
		}, false, nil},
		{"number disconnected", func(e *env) { e.store.integrations[0].Status = integration.StatusDisconnected }, false, nil},
		{"token refused by Meta", func(e *env) { e.graph.set(&meta.GraphError{HTTPStatus: 401, Code: 190}) }, false, nil},
		{"Meta unavailable", func(e *env) { e.graph.set(&meta.GraphError{HTTPStatus: 503, Code: 2}) }, true, nil},
		{"integrations unreadable", func(e *env) { e.store.listErr = errors.New("table unavailable") }, true, nil},
		{"queue unavailable", func(e *env) { e.queue.err = errors.New("sqs down") }, true, campaign.ErrEnqueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			err := e.pages.Step(context.Background(), "o1", "c1")
			if (err != nil) != tt.retry {
				t.Fatalf("Step = %v, want retry %v", err, tt.retry)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Step = %v, want %v", err, tt.is)
			}
			if pages, _ := e.queue.take(); len(pages) != 0 {
				t.Fatalf("page job queued: %v", pages)
			}
			if c := e.store.campaign("c1"); c.Version != 0 || c.Status != campaign.StatusRunning {
				t.Fatalf("page committed: %+v", c)
			}
		})
	}
}

func TestContinue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.pages.Continue(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if pages, _ := e.queue.take(); len(pages) != 1 || pages[0] != sendgate.CampaignPageJob("o1", "c1") {
		t.Fatalf("page jobs %v", pages)
	}
	e.queue.err = errors.New("sqs down")
	if err := e.pages.Continue(ctx, "o1", "c1"); !errors.Is(err, campaign.ErrEnqueue) {
		t.Fatalf("failed enqueue: %v, want ErrEnqueue", err)
	}
}

func TestCheckTemplate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sp, err := e.pages.CheckTemplate(ctx, number, "spring_sale", "en_US", map[string][]string{"body": {"{{lead.name}}", "{{custom.discount}}"}})
	if err != nil || sp.Name != "spring_sale" || sp.Category != "MARKETING" {
		t.Fatalf("CheckTemplate = %+v, %v", sp, err)
	}
	_, err = e.pages.CheckTemplate(ctx, number, "spring_sale", "en_US", map[string][]string{"body": {"{{lead.name}}"}})
	var me *campaign.MismatchError
	var ce *watemplate.CheckError
	if !errors.As(err, &me) || me.Err.Code != watemplate.CodeParameters || !errors.As(err, &ce) || !campaign.Stopped(err) {
		t.Fatalf("too few parameters: %v, want a MismatchError", err)
	}
	_, err = e.pages.CheckTemplate(ctx, number, "no_such", "en_US", nil)
	if errors.As(err, &me) || !errors.As(err, &ce) || ce.Code != watemplate.CodeUnknown {
		t.Fatalf("unknown template: %v, want a plain CheckError", err)
	}
}

func TestCheckParameters(t *testing.T) {
	ok := map[string][]string{"header": {"Spring"}, "body": {"{{lead.name}}", "{{ custom.coupon }}", "20% off"}, "buttons": {"{{custom.code}}"}}
	if err := campaign.CheckParameters(ok); err != nil {
		t.Fatalf("valid parameters refused: %v", err)
	}
	tests := []struct {
		params map[string][]string
		field  string
	}{
		{map[string][]string{"footer": {"x"}}, "parameters.footer"},
		{map[string][]string{"body": make([]string, 21)}, "parameters.body"},
		{map[string][]string{"body": {"ok", " "}}, "parameters.body[1]"},
		{map[string][]string{"body": {strings.Repeat("x", 1025)}}, "parameters.body[0]"},
		{map[string][]string{"body": {"{{lead.password}}"}}, "parameters.body[0]"},
		{map[string][]string{"buttons": {"Hi {{lead.name}}"}}, "parameters.buttons[0]"},
	}
	for _, tt := range tests {
		err := campaign.CheckParameters(tt.params)
		var pe *campaign.ParameterError
		if !errors.As(err, &pe) || pe.Field != tt.field || pe.Message == "" {
			t.Errorf("CheckParameters(%.60v) = %v, want a ParameterError on %s", tt.params, err, tt.field)
		}
	}
}

func TestStopped(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", integration.ErrNoActiveWhatsApp), true},
		{&integration.InactiveNumberError{PhoneNumberID: "1"}, true},
		{&watemplate.CheckError{Code: watemplate.CodeNotApproved}, true},
		{&watemplate.FetchError{Err: &meta.GraphError{HTTPStatus: 403, Code: 200}}, true},
		{&watemplate.FetchError{Err: &meta.GraphError{HTTPStatus: 500, Code: 1}}, false},
		{&watemplate.FetchError{Err: fmt.Errorf("%w: kms", watemplate.ErrOpenToken)}, false},
		{campaign.ErrEnqueue, false},
		{errors.New("table unavailable"), false},
	}
	for _, tt := range tests {
		if got := campaign.Stopped(tt.err); got != tt.want {
			t.Errorf("Stopped(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestSkipReasons(t *testing.T) {
	got, _ := json.Marshal(campaign.SkipReasons())
	if string(got) != `["no_phone","opted_out","consent_required","missing_parameter","plan_limit"]` {
		t.Fatalf("SkipReasons = %s", got)
	}
}

// At the plan's daily WhatsApp limit a campaign's leads are skipped with
// plan_limit and the campaign pauses after the page; a page processed
// again counts its messages once, and resuming goes on with the next page.
func TestPlanLimitPausesTheCampaign(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.store.campaigns["c1"]
	c.PageSize = 1
	e.store.campaigns["c1"] = c
	q := &quota{left: 1, taken: map[string]bool{}}
	e.pages.Quota = q
	// Page 1: Asha takes the one message left.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.queue.take(); len(sends) != 1 {
		t.Fatalf("page 1 sends %v", sends)
	}
	// Page 2: Bina is over the limit: skipped, and the campaign pauses
	// with no job for page 3.
	if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
		t.Fatal(err)
	}
	pages, sends := e.queue.take()
	c = e.store.campaign("c1")
	if len(pages)+len(sends) != 0 || c.Status != campaign.StatusPaused || c.Skipped[campaign.SkipPlanLimit] != 1 || c.Queued != 1 {
		t.Fatalf("at the limit: pages %v sends %v campaign %+v", pages, sends, c)
	}
	// Asha's message asked for again (a page processed twice) counts once.
	if err := q.TakeOnce(ctx, "o1", plan.WhatsAppPerDay, campaign.ClientMessageID("c1", "asha")); err != nil || q.left != 0 {
		t.Fatalf("a counted message counted again: %v, %d left", err, q.left)
	}
	// The next day: resumed, the campaign goes on from page 3.
	q.left = 10
	if err := e.store.SetCampaignStatus(ctx, "o1", "c1", campaign.StatusPaused, campaign.StatusRunning, t0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := e.pages.Step(ctx, "o1", "c1"); err != nil {
			t.Fatal(err)
		}
	}
	c = e.store.campaign("c1")
	if c.Status != campaign.StatusCompleted || c.Skipped[campaign.SkipPlanLimit] != 1 || c.Matched != 6 || c.Queued != 1 {
		t.Fatalf("after resuming: %+v", c)
	}
}
