package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/load/figures"
)

// op is one operation of the mix: do sends one request for org o and
// returns the answer's status and problem code; want is its success status.
type op struct {
	name, route string
	weight      int
	want        int
	do          func(ctx context.Context, o *org) (int, string, error)
}

// org is one signed-up org with its connections and the leads it knows.
type org struct {
	i                                int
	email, password, token           string
	pageID, formID, numberID, waDisp string
	mu                               sync.Mutex
	leads                            []string // lead ids, for get
	waLeads                          []waLead // leads who wrote in: messages go to them
	loggingIn                        atomic.Bool
}

type waLead struct{ id, waID string }

func (o *org) pick(r *rand.Rand) (lead string, wa waLead) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.leads) > 0 {
		lead = o.leads[r.IntN(len(o.leads))]
	}
	if len(o.waLeads) > 0 {
		wa = o.waLeads[r.IntN(len(o.waLeads))]
	}
	return lead, wa
}

// load is one run's state.
type load struct {
	sys    *system
	o      options
	client *http.Client
	run1   string // distinguishes this run's emails
	phones atomic.Int64
	base   int64
	orgs   []*org
	// accounts are every owner that may log in (the seeded orgs and those
	// signed up during the run).
	accMu    sync.Mutex
	accounts []*org
	// newPhones are the numbers whose deliveries were to make new leads.
	newMu     sync.Mutex
	newPhones map[string]bool
	ops       []op
}

func newLoad(sys *system, o options) *load {
	// The API limits its public routes per client address, and a load run
	// stands for many clients: each request comes from its own connection
	// on a random loopback address (127.0.0.2 to 127.0.0.251; Linux
	// answers the whole 127/8), so no one address takes the whole run's
	// logins and sign-ups.
	dialer := &net.Dialer{Timeout: o.Timeout}
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := *dialer
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+rand.IntN(250)))} //nolint:gosec // spreads addresses, not security
		return d.DialContext(ctx, network, addr)
	}}
	l := &load{sys: sys, o: o, client: &http.Client{Transport: tr, Timeout: o.Timeout},
		run1: fmt.Sprintf("%d", time.Now().UnixNano()%1e9), base: rand.Int64N(800_000_000), newPhones: map[string]bool{}} //nolint:gosec // distinct numbers, not security
	l.ops = []op{
		{"wa_inbound", "POST /webhooks/meta", 15, http.StatusOK, l.waInbound},
		{"leadgen", "POST /webhooks/meta", 5, http.StatusOK, l.leadgen},
		{"signup", "POST /v1/auth/signup", 1, http.StatusCreated, l.signup},
		{"login", "POST /v1/auth/login", 3, http.StatusOK, l.login},
		{"create_lead", "POST /v1/leads", 12, http.StatusCreated, l.createLead},
		{"list_leads", "GET /v1/leads", 20, http.StatusOK, l.listLeads},
		{"get_lead", "GET /v1/leads/{id}", 20, http.StatusOK, l.getLead},
		{"send_message", "POST /v1/leads/{id}/messages", 8, http.StatusAccepted, l.sendMessage},
		{"inbox", "GET /v1/conversations", 16, http.StatusOK, l.inbox},
	}
	return l
}

// phone returns a fresh Indian mobile number's digits (country code first).
func (l *load) phone() string {
	return fmt.Sprintf("919%09d", l.base+l.phones.Add(1))
}

// call sends one API request and decodes a JSON answer into out (when not
// nil); it returns the status and the problem code of an error answer.
func (l *load) call(ctx context.Context, method, path, token string, body, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.sys.base+path, rd)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "leadluence-load")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return l.do(req, out)
}

func (l *load) do(req *http.Request, out any) (int, string, error) {
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &p)
		return resp.StatusCode, p.Code, nil
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, "", nil
}

// failed is the error of a setup step that failed with err or was
// answered status (with a problem code).
func failed(what string, status int, code string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: answered %d %s", what, status, code)
}

// deliver posts a webhook payload signed as Meta signs it.
func (l *load) deliver(ctx context.Context, payload []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.sys.hookURL, bytes.NewReader(payload))
	if err != nil {
		return 0, "", fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set(meta.SignatureHeader, meta.Sign([]byte(loadAppSecret), payload))
	return l.do(req, nil)
}

// --- setup ---

// setup signs up the orgs, connects each one's page and number and has
// -seeded-leads leads write in to each, then waits until the API lists them.
func (l *load) setup(ctx context.Context) error {
	say("setup: %d orgs, each with a page, a form, a WhatsApp number and %d leads who wrote in ...", l.o.Orgs, l.o.Seeded)
	l.orgs = make([]*org, l.o.Orgs)
	errs := make(chan error, l.o.Orgs)
	sem := make(chan struct{}, 4)
	for i := range l.orgs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			o, err := l.setupOrg(ctx, i)
			l.orgs[i] = o
			errs <- err
		}()
	}
	for range l.orgs {
		if err := <-errs; err != nil {
			return err
		}
	}
	l.accounts = append(l.accounts, l.orgs...)
	return nil
}

func (l *load) setupOrg(ctx context.Context, i int) (*org, error) {
	o := &org{i: i, email: fmt.Sprintf("owner.%s.%d@load.example.com", l.run1, i), password: "load-password-" + l.run1,
		pageID: fmt.Sprintf("1048587%08d", i), formID: fmt.Sprintf("5550%08d", i),
		numberID: fmt.Sprintf("1065403%08d", i), waDisp: fmt.Sprintf("1555078%04d", i)}
	pageToken, waToken, waba := fmt.Sprintf("EAAGload-page-%d", i), fmt.Sprintf("EAAGload-wa-%d", i), fmt.Sprintf("1022901%08d", i)
	name := fmt.Sprintf("Load Realty %d", i)
	l.sys.sim.AddPage(o.pageID, name, pageToken)
	l.sys.sim.AddForm(o.pageID, o.formID, "Book a site visit")
	l.sys.sim.AddPhoneNumber(o.numberID, o.waDisp, name, waba, waToken)
	var tok struct {
		AccessToken string `json:"access_token"`
		Org         struct {
			ID string `json:"id"`
		} `json:"org"`
	}
	status, code, err := l.call(ctx, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"org_name": name, "name": "Load Owner", "email": o.email, "password": o.password}, &tok)
	if err != nil || status != http.StatusCreated {
		return o, failed(fmt.Sprintf("sign up org %d", i), status, code, err)
	}
	o.token = tok.AccessToken
	// Business, before the org's first authenticated request: it connects
	// a page and a number and makes more requests a minute than free
	// allows.
	if err := l.sys.setPlan(ctx, tok.Org.ID, "business"); err != nil {
		return o, fmt.Errorf("org %d: %w", i, err)
	}
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/integrations/facebook-pages", map[string]string{"page_id": o.pageID, "page_access_token": pageToken}},
		{"/v1/integrations/whatsapp-numbers", map[string]string{"phone_number_id": o.numberID, "waba_id": waba,
			"display_phone_number": o.waDisp, "access_token": waToken}},
	} {
		if status, code, err := l.call(ctx, http.MethodPost, c.path, o.token, c.body, nil); err != nil || status != http.StatusCreated {
			return o, failed(fmt.Sprintf("org %d: connect %s", i, c.path), status, code, err)
		}
	}
	want := map[string]bool{}
	for range l.o.Seeded {
		from := l.phone()
		want["+"+from] = true
		payload := l.sys.sim.InboundPayload(o.numberID, o.waDisp, metatest.Text(from, "Hi, is the flat still available?"))
		if status, code, err := l.deliver(ctx, payload); err != nil || status != http.StatusOK {
			return o, failed(fmt.Sprintf("org %d: deliver a WhatsApp message", i), status, code, err)
		}
	}
	for {
		leads, err := l.allLeads(ctx, o)
		if err != nil {
			return o, err
		}
		o.waLeads = o.waLeads[:0]
		for _, ld := range leads {
			if ld.Phone != nil && want[*ld.Phone] {
				o.waLeads = append(o.waLeads, waLead{id: ld.ID, waID: strings.TrimPrefix(*ld.Phone, "+")})
				o.leads = append(o.leads, ld.ID)
			}
		}
		if len(o.waLeads) == len(want) {
			return o, nil
		}
		o.leads = o.leads[:0]
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("org %d: %d of %d WhatsApp leads appeared: %w", i, len(o.waLeads), len(want), ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

type leadItem struct {
	ID    string  `json:"id"`
	Phone *string `json:"phone"`
}

// allLeads lists every lead of the org through the API.
func (l *load) allLeads(ctx context.Context, o *org) ([]leadItem, error) {
	var all []leadItem
	cursor := ""
	for range 1000 {
		var page struct {
			Items      []leadItem `json:"items"`
			NextCursor *string    `json:"next_cursor"`
		}
		path := "/v1/leads?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		status, code, err := l.call(ctx, http.MethodGet, path, o.token, nil, &page)
		if err != nil || status != http.StatusOK {
			return nil, failed(fmt.Sprintf("org %d: list leads", o.i), status, code, err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		cursor = *page.NextCursor
	}
	return all, fmt.Errorf("org %d: list leads: too many pages", o.i)
}

// --- operations ---

func (l *load) waInbound(ctx context.Context, o *org) (int, string, error) {
	r := rand.New(rand.NewPCG(rand.Uint64(), 0)) //nolint:gosec // load mix, not security
	_, wa := o.pick(r)
	from := wa.waID
	if from == "" || r.IntN(2) == 0 {
		from = l.phone()
		l.newMu.Lock()
		l.newPhones["+"+from] = true
		l.newMu.Unlock()
	}
	return l.deliver(ctx, l.sys.sim.InboundPayload(o.numberID, o.waDisp, metatest.Text(from, "Can I visit on Saturday?")))
}

func (l *load) leadgen(ctx context.Context, o *org) (int, string, error) {
	p := l.phone()
	now := time.Now()
	id := l.sys.sim.AddLead(o.formID, map[string][]string{"full_name": {"Load Lead"}, "phone_number": {"+" + p},
		"email": {"lead." + p + "@example.com"}}, now)
	l.newMu.Lock()
	l.newPhones["+"+p] = true
	l.newMu.Unlock()
	return l.deliver(ctx, l.sys.sim.LeadgenPayload(o.pageID, o.formID, id, now))
}

func (l *load) signup(ctx context.Context, _ *org) (int, string, error) {
	n := l.phones.Add(1)
	o := &org{email: fmt.Sprintf("new.%s.%d@load.example.com", l.run1, n), password: "load-password-" + l.run1}
	status, code, err := l.call(ctx, http.MethodPost, "/v1/auth/signup", "",
		map[string]string{"org_name": fmt.Sprintf("Load Signup %d", n), "name": "New Owner", "email": o.email, "password": o.password}, nil)
	if err == nil && status == http.StatusCreated {
		l.accMu.Lock()
		l.accounts = append(l.accounts, o)
		l.accMu.Unlock()
	}
	return status, code, err
}

// errNoAccount is a login that found every account with a login in flight.
var errNoAccount = errors.New("skipped: every account has a login in flight")

// login logs in an account (a seeded org's owner or one signed up during
// the run) that has no login in flight, so one account never has two
// attempts at once.
func (l *load) login(ctx context.Context, _ *org) (int, string, error) {
	l.accMu.Lock()
	var acc *org
	for _, k := range rand.Perm(len(l.accounts)) { //nolint:gosec // load mix
		if l.accounts[k].loggingIn.CompareAndSwap(false, true) {
			acc = l.accounts[k]
			break
		}
	}
	l.accMu.Unlock()
	if acc == nil {
		return 0, "", errNoAccount
	}
	defer acc.loggingIn.Store(false)
	return l.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": acc.email, "password": acc.password}, nil)
}

func (l *load) createLead(ctx context.Context, o *org) (int, string, error) {
	p := l.phone()
	var out struct {
		ID string `json:"id"`
	}
	status, code, err := l.call(ctx, http.MethodPost, "/v1/leads", o.token, map[string]any{"name": "Load Lead", "phone": "+" + p,
		"email": "manual." + p + "@example.com", "tags": []string{"load"}, "source": "website"}, &out)
	if err == nil && status == http.StatusCreated && out.ID != "" {
		o.mu.Lock()
		o.leads = append(o.leads, out.ID)
		o.mu.Unlock()
	}
	return status, code, err
}

func (l *load) listLeads(ctx context.Context, o *org) (int, string, error) {
	return l.call(ctx, http.MethodGet, "/v1/leads?limit=25", o.token, nil, nil)
}

func (l *load) getLead(ctx context.Context, o *org) (int, string, error) {
	id, _ := o.pick(rand.New(rand.NewPCG(rand.Uint64(), 0))) //nolint:gosec // load mix
	return l.call(ctx, http.MethodGet, "/v1/leads/"+id, o.token, nil, nil)
}

func (l *load) sendMessage(ctx context.Context, o *org) (int, string, error) {
	_, wa := o.pick(rand.New(rand.NewPCG(rand.Uint64(), 0))) //nolint:gosec // load mix
	n := l.phones.Add(1)
	return l.call(ctx, http.MethodPost, "/v1/leads/"+wa.id+"/messages", o.token, map[string]string{"channel": "whatsapp", "type": "text",
		"client_message_id": fmt.Sprintf("load-%s-%d", l.run1, n), "text": "Yes, Saturday at 11 works. See you then!"}, nil)
}

func (l *load) inbox(ctx context.Context, o *org) (int, string, error) {
	return l.call(ctx, http.MethodGet, "/v1/conversations?limit=20", o.token, nil, nil)
}

// --- the run ---

// sample is one request's outcome.
type sample struct {
	op      int
	latency time.Duration
	kind    string // "" for a success
	done    time.Duration
}

// run schedules the requests, waits for them (at most drainTime after the
// schedule ends) and fills r.
func (l *load) run(ctx context.Context, r *figures.Result) {
	// The mix: a smooth weighted round-robin, so every window of the
	// schedule has each operation in proportion to its weight.
	total := 0
	for _, p := range l.ops {
		total += p.weight
	}
	current := make([]int, len(l.ops))
	next := func() int {
		best := 0
		for i, p := range l.ops {
			current[i] += p.weight
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		return best
	}
	n := int(l.o.Rate * l.o.Duration.Seconds())
	interval := time.Duration(float64(time.Second) / l.o.Rate)
	samples := make(chan sample, n)
	inflight := make(chan struct{}, l.o.MaxInFlight)
	var maxSeen atomic.Int64
	var sent atomic.Int64
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond)
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				n = i
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		k := next()
		o := l.orgs[i%len(l.orgs)]
		select {
		case inflight <- struct{}{}:
		default:
			samples <- sample{op: k, kind: "dropped", done: time.Since(start)}
			continue
		}
		if c := int64(len(inflight)); c > maxSeen.Load() {
			maxSeen.Store(c)
		}
		sent.Add(1)
		wg.Go(func() {
			defer func() { <-inflight }()
			p := l.ops[k]
			status, code, err := p.do(reqCtx, o)
			s := sample{op: k, latency: time.Since(due), done: time.Since(start)}
			switch {
			case errors.Is(err, errNoAccount):
				s.kind = err.Error()
			case err != nil && (reqCtx.Err() != nil || strings.Contains(err.Error(), "Client.Timeout") || strings.Contains(err.Error(), "deadline exceeded")):
				s.kind = "timeout"
			case err != nil:
				s.kind = "transport: " + shortErr(err)
			case status != p.want:
				s.kind = strings.TrimSpace(fmt.Sprintf("%d %s", status, code))
			}
			samples <- s
		})
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(drainTime):
		cancel()
		<-waited
	}
	close(samples)
	lat := make([][]time.Duration, len(l.ops))
	r.Ops = make([]figures.Op, len(l.ops))
	for i, p := range l.ops {
		r.Ops[i] = figures.Op{Name: p.name, Route: p.route, Weight: p.weight, Errors: map[string]int{}}
	}
	secs := int(l.o.Duration/time.Second) + int(drainTime/time.Second) + 2
	perSec, errSec := make([]int, secs), make([]int, secs)
	last := time.Duration(0)
	for s := range samples {
		o := &r.Ops[s.op]
		o.Count++
		if s.kind != "" {
			o.Errors[s.kind]++
			if strings.HasPrefix(s.kind, "429") {
				o.RateLimited++
			}
		}
		if s.kind != "dropped" {
			lat[s.op] = append(lat[s.op], s.latency)
			r.Completed++
		}
		sec := min(int(s.done/time.Second), secs-1)
		perSec[sec]++
		if s.kind != "" {
			errSec[sec]++
		}
		last = max(last, s.done)
	}
	for i := range r.Ops {
		r.Ops[i].Latency = figures.QuantilesOf(lat[i])
	}
	end := int(last/time.Second) + 1
	r.PerSecond, r.ErrorsPerSecond = perSec[:min(end, secs)], errSec[:min(end, secs)]
	r.Scheduled, r.Sent, r.Elapsed, r.MaxInFlightSeen = n, int(sent.Load()), last, int(maxSeen.Load())
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// settle waits (at most 30 s) for the intake to make the leads the
// deliveries were to make and for the simulator's status webhooks, then
// counts both.
func (l *load) settle(ctx context.Context, r *figures.Result) {
	l.newMu.Lock()
	want := len(l.newPhones)
	l.newMu.Unlock()
	r.Delivered = want
	deadline := time.Now().Add(30 * time.Second)
	for {
		found := 0
		for _, o := range l.orgs {
			leads, err := l.allLeads(ctx, o)
			if err != nil {
				say("count leads: %v", err)
				break
			}
			l.newMu.Lock()
			for _, ld := range leads {
				if ld.Phone != nil && l.newPhones[*ld.Phone] {
					found++
				}
			}
			l.newMu.Unlock()
		}
		r.Ingested = found
		if (found >= want && l.sys.sim.StatusesPending() == 0) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	for _, a := range l.sys.sim.StatusAttempts() {
		if a.Attempt == 1 {
			r.StatusWebhooks++
		}
		if a.HTTPStatus != http.StatusOK {
			r.StatusWebhookRetries++
		}
	}
}
