// Package metatest is a local stand-in for the parts of Meta that Leadluence
// talks to: the Graph API calls of meta.Client (lead retrieval, page and
// phone-number lookups, /me, /app, a WABA's phone numbers, form and template
// listing, WhatsApp message sends)
// answered with Meta's documented JSON shapes and error objects, and webhook
// emitters that build real-shaped Lead Ads and WhatsApp payloads and POST
// them signed with X-Hub-Signature-256. With Options.StatusWebhook set, it
// also reports every accepted send the way WhatsApp does: signed "sent",
// "delivered" and "read" status webhooks (or "failed" with 131026 for an
// undeliverable recipient), in order, in the background.
//
// Tests and `make dev` run against it instead of Meta:
//
//	srv := metatest.New(metatest.Options{AppSecret: secret})
//	defer srv.Close()
//	srv.AddPage("104858765678112", "Demo Clinic", "page-token")
//	srv.AddForm("104858765678112", "901234567890123", "Free consultation")
//	id := srv.AddLead("901234567890123", map[string][]string{"full_name": {"Asha Example"}}, time.Now())
//	srv.Deliver(ctx, webhookURL, srv.LeadgenPayload("104858765678112", "901234567890123", id, time.Now()))
//
// To have every accepted send reported to the webhook (a send to
// UndeliverableWaID fails with 131026):
//
//	srv := metatest.New(metatest.Options{AppSecret: secret, StatusWebhook: metatest.StatusWebhook{URL: webhookURL}})
//
// The server listens on loopback only and refuses to deliver webhooks
// anywhere else. It deliberately rejects access tokens passed in the URL
// (Meta accepts them): Leadluence sends tokens only in the Authorization
// header, and the simulator holds code to that.
package metatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadluence/backend/shared/meta"
)

// Defaults used when Options leave a field empty.
const (
	// DefaultAppSecret signs webhooks when Options.AppSecret is empty.
	DefaultAppSecret = "metatest-app-secret" //nolint:gosec // G101: a published secret for the local simulator only
	// DefaultVersion is the Graph API version served when Options.Version is empty.
	DefaultVersion = meta.DefaultVersion
	// DefaultAppID is the id of the Meta app every token belongs to unless
	// Options.AppID or SetTokenApp says otherwise.
	DefaultAppID = "730912845562211"
	// DefaultWABAID is the WhatsApp Business Account id put in entry[].id by
	// the package-level payload builders (Meta's documentation example).
	DefaultWABAID = "102290129340398"
)

const (
	maxRequestBytes = 1 << 20
	maxSentPerPhone = 10000
	defaultLimit    = 25
	maxLimit        = 100
)

// Options configure a Server.
type Options struct {
	// AppSecret signs delivered webhooks; empty means DefaultAppSecret.
	AppSecret []byte
	// Version is the only Graph API version served, e.g. "v21.0"; empty means DefaultVersion.
	Version string
	// Addr is the loopback address to listen on, e.g. "127.0.0.1:4010";
	// empty means a free port on 127.0.0.1.
	Addr string
	// StatusWebhook, when its URL is set, makes the server report the
	// statuses of every message it accepts to that webhook.
	StatusWebhook StatusWebhook
	// AppID is the Meta app the tokens belong to (GET /app); empty means
	// DefaultAppID.
	AppID string
}

// SentMessage is a message posted to /{phone-number-id}/messages.
type SentMessage struct {
	// ID is the wamid the simulator answered with.
	ID            string
	PhoneNumberID string
	To            string
	Type          string
	// Text is text.body for text messages, "" otherwise.
	Text string
	// Payload is the request body as posted.
	Payload json.RawMessage
	At      time.Time
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:<port>", to use as meta.Client.BaseURL.
	URL string

	secret  []byte
	version string
	appID   string
	ln      net.Listener
	hs      *http.Server
	hc      *http.Client
	close   sync.Once

	// Status reporting: hook is nil when off; ctx ends at Close, which
	// waits for wg (one goroutine per message being reported).
	hook   *statusHook
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// pending counts the messages being reported.
	pending atomic.Int64

	mu     sync.Mutex
	st     state
	closed bool // set by Close; no reporting starts after it
}

type state struct {
	pages     map[string]*page
	forms     map[string]*form
	leads     map[string]*lead
	phones    map[string]*phone
	templates map[string][]meta.Template // by WABA id
	revoked   map[string]bool
	users     map[string]string // user access token → user id
	tokenApps map[string]string // access token → the app that issued it, when not the server's
	failN     int
	failCode  int
	delay     time.Duration
	calls     map[call]int
	sent      map[string][]SentMessage
	attempts  []StatusAttempt
	seq       int64
}

type call struct{ method, path string }

type page struct{ id, name, token string }

type form struct {
	id, pageID, name, status  string
	adID, adsetID, campaignID string
	leads                     []string
}

type lead struct {
	meta.Lead
	created time.Time
	seq     int64
}

type phone struct {
	meta.PhoneNumber
	wabaID, token string
}

// New starts a simulator on opts.Addr (default a free 127.0.0.1 port). Like
// httptest.NewServer it panics if it cannot listen, or if Addr or the
// StatusWebhook URL is not a loopback address.
func New(opts Options) *Server {
	s := &Server{secret: opts.AppSecret, version: opts.Version, appID: opts.AppID}
	if s.appID == "" {
		s.appID = DefaultAppID
	}
	if len(s.secret) == 0 {
		s.secret = []byte(DefaultAppSecret)
	}
	hook, err := newStatusHook(opts.StatusWebhook, s.secret)
	if err != nil {
		panic(fmt.Sprintf("metatest: %v", err))
	}
	s.hook = hook
	if s.version == "" {
		s.version = DefaultVersion
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
		panic(fmt.Sprintf("metatest: Addr %q is not a loopback host:port", addr))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(fmt.Sprintf("metatest: listen on %s: %v", addr, err))
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.hc = &http.Client{Timeout: 30 * time.Second}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.resetLocked()
	go func() { _ = s.hs.Serve(ln) }()
	return s
}

// Close stops the server and drops open connections; it cancels every status
// not yet reported and returns once no delivery is in flight. It is safe to
// call twice.
func (s *Server) Close() {
	s.close.Do(func() {
		_ = s.hs.Close()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.hc.CloseIdleConnections()
	})
}

// AppSecret returns the secret delivered webhooks are signed with.
func (s *Server) AppSecret() []byte { return slices.Clone(s.secret) }

// Version returns the Graph API version served, e.g. "v21.0".
func (s *Server) Version() string { return s.version }

// Reset forgets every page, form, lead, number, template, revoked token,
// injected failure, delay, call count, sent message and status attempt.
// Statuses of messages sent before still get reported.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.st = state{
		pages:     map[string]*page{},
		forms:     map[string]*form{},
		leads:     map[string]*lead{},
		phones:    map[string]*phone{},
		templates: map[string][]meta.Template{},
		revoked:   map[string]bool{},
		users:     map[string]string{},
		tokenApps: map[string]string{},
		calls:     map[call]int{},
		sent:      map[string][]SentMessage{},
		seq:       s.st.seq,
	}
}

// AddPage registers a page whose token grants access to it, its forms and
// their leads. Adding an existing page replaces its name and token.
func (s *Server) AddPage(pageID, name, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.pages[pageID] = &page{id: pageID, name: name, token: token}
}

// AddForm registers an ACTIVE lead form on a page added before; it panics
// if the page is unknown. Leads added to the form get synthetic ad, ad set
// and campaign ids.
func (s *Server) AddForm(pageID, formID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.pages[pageID]; !ok {
		panic(fmt.Sprintf("metatest: AddForm: unknown page %q (call AddPage first)", pageID))
	}
	if f, ok := s.st.forms[formID]; ok {
		f.pageID, f.name = pageID, name
		return
	}
	n := s.next()
	s.st.forms[formID] = &form{
		id: formID, pageID: pageID, name: name, status: "ACTIVE",
		adID:       strconv.FormatInt(120210000000000000+n, 10),
		adsetID:    strconv.FormatInt(120210000000100000+n, 10),
		campaignID: strconv.FormatInt(120210000000200000+n, 10),
	}
}

// AddLead stores a paid Facebook lead on a form added before, with the
// answers in fields, created at at, and returns its new leadgen id. It
// panics if the form is unknown.
func (s *Server) AddLead(formID string, fields map[string][]string, at time.Time) (leadgenID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newLeadIDLocked()
	s.addLeadLocked(formID, id, fields, at)
	return id
}

// AddLeadWithID is AddLead with a chosen leadgen id; an existing lead with
// that id is replaced.
func (s *Server) AddLeadWithID(formID, leadgenID string, fields map[string][]string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLeadLocked(formID, leadgenID, fields, at)
}

// PutLead stores l as is (use it for Instagram or organic leads): l.FormID
// must name a form added before; an empty l.ID is generated, an empty
// l.CreatedTime is now. It returns the lead id and panics on an unknown
// form or an unparsable CreatedTime.
func (s *Server) PutLead(l meta.Lead) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.formLocked("PutLead", l.FormID)
	if l.ID == "" {
		l.ID = s.newLeadIDLocked()
	}
	if l.CreatedTime == "" {
		l.CreatedTime = formatGraphTime(time.Now())
	}
	created, err := l.Created()
	if err != nil {
		panic(fmt.Sprintf("metatest: PutLead: %v", err))
	}
	s.storeLeadLocked(f, &lead{Lead: l, created: created})
	return l.ID
}

func (s *Server) addLeadLocked(formID, id string, fields map[string][]string, at time.Time) {
	f := s.formLocked("AddLead", formID)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	data := make([]meta.FieldData, 0, len(names))
	for _, name := range names {
		data = append(data, meta.FieldData{Name: name, Values: slices.Clone(fields[name])})
	}
	at = at.UTC().Truncate(time.Second)
	s.storeLeadLocked(f, &lead{
		Lead: meta.Lead{
			ID: id, CreatedTime: formatGraphTime(at), AdID: f.adID, AdsetID: f.adsetID,
			CampaignID: f.campaignID, FormID: f.id, Platform: "fb", FieldData: data,
		},
		created: at,
	})
}

func (s *Server) storeLeadLocked(f *form, l *lead) {
	if old, ok := s.st.leads[l.ID]; ok {
		if of := s.st.forms[old.FormID]; of != nil {
			of.leads = slices.DeleteFunc(of.leads, func(id string) bool { return id == l.ID })
		}
	}
	l.seq = s.next()
	s.st.leads[l.ID] = l
	f.leads = append(f.leads, l.ID)
}

func (s *Server) formLocked(op, formID string) *form {
	f, ok := s.st.forms[formID]
	if !ok {
		panic(fmt.Sprintf("metatest: %s: unknown form %q (call AddForm first)", op, formID))
	}
	return f
}

func (s *Server) newLeadIDLocked() string {
	for {
		id := strconv.FormatInt(1220000000000000+s.next(), 10)
		if _, taken := s.st.leads[id]; !taken {
			return id
		}
	}
}

// AddPhoneNumber registers a WhatsApp business number of WABA wabaID whose
// token grants access to it, to sending from it, and to the WABA's
// templates. Its quality rating is GREEN.
func (s *Server) AddPhoneNumber(phoneNumberID, display, verifiedName, wabaID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.phones[phoneNumberID] = &phone{
		PhoneNumber: meta.PhoneNumber{ID: phoneNumberID, DisplayPhoneNumber: display, VerifiedName: verifiedName, QualityRating: "GREEN"},
		wabaID:      wabaID, token: token,
	}
}

// AddUserToken registers a user access token of userID: like a token from
// Facebook Login, it reads the public fields of any page (id, name,
// category) but not a page's forms or leads, and /me answers the user.
// Connecting a page with it must be refused: it is not a page token.
func (s *Server) AddUserToken(userID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.users[token] = userID
}

// SetTokenApp makes a token (of a page, number or user added before or
// after) one that another Meta app issued: GET /app with it answers appID.
func (s *Server) SetTokenApp(token, appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tokenApps[token] = appID
}

// AppID returns the id of the app the server's tokens belong to.
func (s *Server) AppID() string { return s.appID }

// AddTemplate adds a message template to a WABA; an empty ID is generated
// and an empty Status is APPROVED. A template with the same name and
// language is replaced.
func (s *Server) AddTemplate(wabaID string, t meta.Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == "" {
		t.ID = strconv.FormatInt(1500000000000000+s.next(), 10)
	}
	if t.Status == "" {
		t.Status = "APPROVED"
	}
	t.Components = slices.Clone(t.Components)
	ts := slices.DeleteFunc(s.st.templates[wabaID], func(o meta.Template) bool {
		return o.Name == t.Name && o.Language == t.Language
	})
	s.st.templates[wabaID] = append(ts, t)
}

// RevokeToken makes every later call with token answer HTTP 401 with Graph
// error code 190, subcode 460 (session invalidated), as Meta does after a
// password change or an app removal.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.revoked[token] = true
}

// FailNext makes the next n Graph API calls answer status (e.g. 503 or 429)
// with a transient Graph error object: code 4 for 429, code 2 for 5xx,
// code 1 otherwise. n <= 0 cancels pending failures.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.failN, s.st.failCode = max(n, 0), status
}

// Delay makes every later Graph API call wait d before answering (0 stops
// delaying); a caller's deadline shorter than d sees a timeout.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.delay = d
}

// Calls counts the requests received whose method equals method ("" for
// any) and whose URL path matches pathPattern (path.Match syntax), either in
// full ("/v21.0/*/leads") or without the version segment ("/*/leads").
func (s *Server) Calls(method, pathPattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, count := range s.st.calls {
		if method != "" && !strings.EqualFold(method, c.method) {
			continue
		}
		if matchPath(pathPattern, c.path) || matchPath(pathPattern, strings.TrimPrefix(c.path, "/"+s.version)) {
			n += count
		}
	}
	return n
}

func matchPath(pattern, p string) bool {
	ok, err := path.Match(pattern, p)
	return err == nil && ok
}

// Sent returns the messages posted from phoneNumberID, oldest first (at
// most the last 10,000).
func (s *Server) Sent(phoneNumberID string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.sent[phoneNumberID])
}

func (s *Server) next() int64 {
	s.st.seq++
	return s.st.seq
}

// ServeHTTP answers Graph API requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.st.calls[call{r.Method, r.URL.Path}]++
	delay, fail := s.st.delay, 0
	if s.st.failN > 0 {
		s.st.failN--
		fail = s.st.failCode
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		writeJSON(w, failure(fail))
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
		if err != nil {
			writeJSON(w, graphErr(http.StatusRequestEntityTooLarge, 100, 0, "OAuthException", "(#100) Request body too large"))
			return
		}
		body = b
	}
	s.mu.Lock()
	resp := s.route(r, body)
	s.mu.Unlock()
	writeJSON(w, resp)
}

// response is a status and a JSON-encodable body.
type response struct {
	status int
	body   any
}

func ok(body any) response { return response{http.StatusOK, body} }

func graphErr(status, code, subcode int, typ, msg string) response {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": traceID()}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	return response{status, map[string]any{"error": e}}
}

func failure(status int) response {
	code, msg := 1, "An unknown error occurred"
	switch {
	case status == http.StatusTooManyRequests:
		code, msg = 4, "(#4) Application request limit reached"
	case status >= 500:
		code, msg = 2, "An unexpected error has occurred. Please retry your request later."
	}
	r := graphErr(status, code, 0, "OAuthException", msg)
	r.body.(map[string]any)["error"].(map[string]any)["is_transient"] = true
	return r
}

func notFound(method, id string) response {
	return graphErr(http.StatusNotFound, 100, 33, "GraphMethodException", fmt.Sprintf(
		"Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
		strings.ToLower(method), id))
}

func badParam(msg string) response {
	return graphErr(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) "+msg)
}

func writeJSON(w http.ResponseWriter, r response) {
	b, err := json.Marshal(r.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if r.status >= 400 {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_request"`)
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(b)
}

// route answers one request; s.mu is held.
func (s *Server) route(r *http.Request, body []byte) response {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if segs[0] != s.version {
		return graphErr(http.StatusBadRequest, 2500, 0, "OAuthException",
			fmt.Sprintf("Unknown path components: %s (metatest serves %s)", r.URL.Path, s.version))
	}
	segs = segs[1:]
	q := r.URL.Query()
	if q.Has("access_token") {
		return badParam("metatest: pass the access token in the Authorization header, not in the URL")
	}
	token, denied := s.authenticate(r)
	if denied != nil {
		return *denied
	}
	switch {
	case len(segs) == 1 && segs[0] == "me" && r.Method == http.MethodGet:
		return s.getMe(token, q)
	case len(segs) == 1 && segs[0] == "app" && r.Method == http.MethodGet:
		return s.getApp(token, q)
	case len(segs) == 1 && segs[0] != "" && r.Method == http.MethodGet:
		return s.getNode(segs[0], token, q)
	case len(segs) == 2 && segs[1] == "phone_numbers" && r.Method == http.MethodGet:
		return s.listPhoneNumbers(r, segs[0], token, q)
	case len(segs) == 2 && segs[1] == "leadgen_forms" && r.Method == http.MethodGet:
		return s.listForms(r, segs[0], token, q)
	case len(segs) == 2 && segs[1] == "leads" && r.Method == http.MethodGet:
		return s.listLeads(r, segs[0], token, q)
	case len(segs) == 2 && segs[1] == "message_templates" && r.Method == http.MethodGet:
		return s.listTemplates(r, segs[0], token, q)
	case len(segs) == 2 && segs[1] == "messages" && r.Method == http.MethodPost:
		return s.sendMessage(segs[0], token, body)
	case len(segs) >= 1 && segs[0] != "":
		return notFound(r.Method, segs[0])
	default:
		return graphErr(http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: "+r.URL.Path)
	}
}

// authenticate checks the bearer token as Meta would: missing or unknown →
// 400 code 190, revoked → 401 code 190 subcode 460.
func (s *Server) authenticate(r *http.Request) (string, *response) {
	deny := func(status, subcode int, msg string) (string, *response) {
		resp := graphErr(status, 190, subcode, "OAuthException", msg)
		return "", &resp
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return deny(http.StatusBadRequest, 0, "An access token is required to request this resource.")
	}
	scheme, token, found := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return deny(http.StatusBadRequest, 0, "Malformed access token")
	}
	if s.st.revoked[token] {
		return deny(http.StatusUnauthorized, 460, "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.")
	}
	for _, p := range s.st.pages {
		if p.token == token {
			return token, nil
		}
	}
	for _, p := range s.st.phones {
		if p.token == token {
			return token, nil
		}
	}
	if _, ok := s.st.users[token]; ok {
		return token, nil
	}
	return deny(http.StatusBadRequest, 0, "Invalid OAuth access token - Cannot parse access token")
}

// node is a Graph object: its type name, known fields, default fields and values.
type node struct {
	typ      string
	known    []string
	defaults []string
	values   map[string]any
}

func (s *Server) getNode(id, token string, q map[string][]string) response {
	var n node
	switch {
	case s.st.leads[id] != nil && s.leadVisible(s.st.leads[id], token):
		n = leadNode(s.st.leads[id])
	case s.st.pages[id] != nil:
		// A page's public fields are readable with any valid token (a
		// user's, another page's), as on Graph: reading them proves
		// nothing about whose token it is.
		n = pageNode(s.st.pages[id])
	case s.st.phones[id] != nil && s.st.phones[id].token == token:
		n = phoneNode(s.st.phones[id])
	case s.st.forms[id] != nil && s.formVisible(s.st.forms[id], token):
		n = formNode(s.st.forms[id])
	default:
		return notFound(http.MethodGet, id)
	}
	v, bad := n.pick(firstOf(q["fields"]))
	if bad != nil {
		return *bad
	}
	return ok(v)
}

func pageNode(p *page) node {
	return node{"Page", []string{"id", "name", "category"}, []string{"id", "name"},
		map[string]any{"id": p.id, "name": p.name, "category": "Medical & health"}}
}

// getMe answers /me as Graph does: the node the token acts as. A page
// token's /me is its page; a user token's is the user; a WhatsApp token
// (a system user's) is a system user with an id derived from the token.
func (s *Server) getMe(token string, q map[string][]string) response {
	var n node
	if id, ok := s.st.users[token]; ok {
		n = node{"User", []string{"id", "name"}, []string{"id", "name"}, map[string]any{"id": id, "name": "Test User"}}
	}
	for _, id := range sortedKeys(s.st.pages) {
		if p := s.st.pages[id]; n.typ == "" && p.token == token {
			n = pageNode(p)
		}
	}
	if n.typ == "" {
		n = node{"User", []string{"id", "name"}, []string{"id", "name"}, map[string]any{"id": systemUserID(token), "name": "System User"}}
	}
	v, bad := n.pick(firstOf(q["fields"]))
	if bad != nil {
		return *bad
	}
	return ok(v)
}

// getApp answers /app: the Application node of the app that issued the
// token (default fields link, name and id, as Meta answers them).
func (s *Server) getApp(token string, q map[string][]string) response {
	id := s.appID
	if other, ok := s.st.tokenApps[token]; ok {
		id = other
	}
	n := node{"Application", []string{"id", "name", "link", "category", "namespace"}, []string{"link", "name", "id"},
		map[string]any{"id": id, "name": "metatest app " + id, "link": "https://www.facebook.com/games/?app_id=" + id}}
	v, bad := n.pick(firstOf(q["fields"]))
	if bad != nil {
		return *bad
	}
	return ok(v)
}

// systemUserID is a stable numeric id for the system user behind a token.
func systemUserID(token string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(token); i++ {
		h = (h ^ uint64(token[i])) * 1099511628211
	}
	return strconv.FormatUint(610000000000000+h%100000000000000, 10)
}

// listPhoneNumbers answers /{waba-id}/phone_numbers: every number of the
// WABA, for a token that holds one of them (access to the WABA).
func (s *Server) listPhoneNumbers(r *http.Request, wabaID, token string, q map[string][]string) response {
	allowed := false
	for _, p := range s.st.phones {
		allowed = allowed || (p.wabaID == wabaID && p.token == token)
	}
	if !allowed {
		return notFound(http.MethodGet, wabaID)
	}
	var items []node
	for _, id := range sortedKeys(s.st.phones) {
		if p := s.st.phones[id]; p.wabaID == wabaID {
			items = append(items, phoneNode(p))
		}
	}
	return s.paginate(r, items, q)
}

func phoneNode(p *phone) node {
	all := []string{"id", "display_phone_number", "verified_name", "quality_rating", "code_verification_status", "platform_type"}
	return node{"WhatsAppBusinessPhoneNumber", all, all, map[string]any{
		"id": p.ID, "display_phone_number": p.DisplayPhoneNumber, "verified_name": p.VerifiedName,
		"quality_rating": p.QualityRating, "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API"}}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// pick returns the requested fields (id always included, empty values
// left out, as Graph does) or an error naming an unknown field.
func (n node) pick(fields string) (map[string]any, *response) {
	want := n.defaults
	if strings.TrimSpace(fields) != "" {
		want = strings.Split(fields, ",")
	}
	out := map[string]any{"id": n.values["id"]}
	for _, f := range want {
		f = strings.TrimSpace(f)
		if !slices.Contains(n.known, f) {
			resp := badParam(fmt.Sprintf("Tried accessing nonexisting field (%s) on node type (%s)", f, n.typ))
			return nil, &resp
		}
		if v, present := n.values[f]; present && v != "" && v != nil {
			out[f] = v
		}
	}
	return out, nil
}

func leadNode(l *lead) node {
	return node{"Lead",
		[]string{"id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name", "form_id", "field_data",
			"custom_disclaimer_responses", "is_organic", "platform"},
		[]string{"created_time", "id", "field_data"},
		map[string]any{
			"id": l.ID, "created_time": l.CreatedTime, "ad_id": l.AdID, "adset_id": l.AdsetID,
			"campaign_id": l.CampaignID, "form_id": l.FormID, "field_data": fieldData(l.FieldData),
			"is_organic": l.IsOrganic, "platform": l.Platform, "custom_disclaimer_responses": disclaimers(l.CustomDisclaimerResponses),
		}}
}

// disclaimers is a lead's checkbox answers, absent (nil) when it has none.
func disclaimers(d []meta.DisclaimerResponse) any {
	if len(d) == 0 {
		return nil
	}
	return d
}

func fieldData(fd []meta.FieldData) []meta.FieldData {
	if fd == nil {
		return []meta.FieldData{}
	}
	return fd
}

func formNode(f *form) node {
	return node{"LeadgenForm", []string{"id", "name", "status", "locale", "leads_count"}, []string{"id", "name", "status"},
		map[string]any{"id": f.id, "name": f.name, "status": f.status, "locale": "en_US", "leads_count": len(f.leads)}}
}

func (s *Server) leadVisible(l *lead, token string) bool {
	f := s.st.forms[l.FormID]
	return f != nil && s.formVisible(f, token)
}

func (s *Server) formVisible(f *form, token string) bool {
	p := s.st.pages[f.pageID]
	return p != nil && p.token == token
}

func (s *Server) listForms(r *http.Request, pageID, token string, q map[string][]string) response {
	p := s.st.pages[pageID]
	if p == nil || p.token != token {
		return notFound(http.MethodGet, pageID)
	}
	var items []node
	for _, id := range sortedKeys(s.st.forms) {
		if f := s.st.forms[id]; f.pageID == pageID {
			items = append(items, formNode(f))
		}
	}
	return s.paginate(r, items, q)
}

func (s *Server) listLeads(r *http.Request, formID, token string, q map[string][]string) response {
	f := s.st.forms[formID]
	if f == nil || !s.formVisible(f, token) {
		return notFound(http.MethodGet, formID)
	}
	filters, bad := parseFiltering(firstOf(q["filtering"]))
	if bad != nil {
		return *bad
	}
	var ls []*lead
	for _, id := range f.leads {
		l := s.st.leads[id]
		if l != nil && filters.match(l.created.Unix()) {
			ls = append(ls, l)
		}
	}
	// Newest first, as Meta lists leads.
	slices.SortFunc(ls, func(a, b *lead) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return int(b.seq - a.seq)
	})
	items := make([]node, len(ls))
	for i, l := range ls {
		items[i] = leadNode(l)
	}
	return s.paginate(r, items, q)
}

func (s *Server) listTemplates(r *http.Request, wabaID, token string, q map[string][]string) response {
	allowed := false
	for _, p := range s.st.phones {
		allowed = allowed || (p.wabaID == wabaID && p.token == token)
	}
	if !allowed {
		return notFound(http.MethodGet, wabaID)
	}
	all := []string{"id", "name", "language", "status", "category", "components"}
	var items []node
	for _, t := range s.st.templates[wabaID] {
		comps := t.Components
		if comps == nil {
			comps = []meta.TemplateComponent{}
		}
		items = append(items, node{"WhatsAppMessageTemplate", all, all, map[string]any{
			"id": t.ID, "name": t.Name, "language": t.Language, "status": t.Status, "category": t.Category, "components": comps}})
	}
	return s.paginate(r, items, q)
}

// paginate answers one page of items with Graph cursor paging: cursors are
// opaque encodings of item ids, "next" is present only when more follow.
func (s *Server) paginate(r *http.Request, items []node, q map[string][]string) response {
	limit := defaultLimit
	if l := firstOf(q["limit"]); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			return badParam("Param limit must be a positive integer")
		}
		limit = min(n, maxLimit)
	}
	start := 0
	if after := firstOf(q["after"]); after != "" {
		id, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil {
			return badParam("Invalid cursor")
		}
		i := slices.IndexFunc(items, func(n node) bool { return n.values["id"] == string(id) })
		if i < 0 {
			return badParam("Invalid cursor")
		}
		start = i + 1
	}
	end := min(start+limit, len(items))
	data := make([]map[string]any, 0, max(end-start, 0))
	for _, n := range items[min(start, end):end] {
		v, bad := n.pick(firstOf(q["fields"]))
		if bad != nil {
			return *bad
		}
		data = append(data, v)
	}
	out := map[string]any{"data": data}
	if len(data) == 0 {
		return ok(out)
	}
	cursor := func(v map[string]any) string { return base64.RawURLEncoding.EncodeToString([]byte(v["id"].(string))) }
	pg := map[string]any{"cursors": map[string]string{"before": cursor(data[0]), "after": cursor(data[len(data)-1])}}
	if end < len(items) {
		nq := r.URL.Query()
		nq.Del("before")
		nq.Set("limit", strconv.Itoa(limit))
		nq.Set("after", cursor(data[len(data)-1]))
		pg["next"] = s.URL + r.URL.Path + "?" + nq.Encode()
	}
	out["paging"] = pg
	return ok(out)
}

// filter is one "filtering" clause on time_created.
type filter struct {
	op    string
	value int64
}

type filters []filter

func (fs filters) match(created int64) bool {
	for _, f := range fs {
		var pass bool
		switch f.op {
		case "GREATER_THAN":
			pass = created > f.value
		case "GREATER_THAN_OR_EQUAL":
			pass = created >= f.value
		case "LESS_THAN":
			pass = created < f.value
		case "LESS_THAN_OR_EQUAL":
			pass = created <= f.value
		}
		if !pass {
			return false
		}
	}
	return true
}

func parseFiltering(raw string) (filters, *response) {
	if raw == "" {
		return nil, nil
	}
	fail := func(msg string) (filters, *response) {
		resp := badParam("Param filtering " + msg)
		return nil, &resp
	}
	var clauses []struct {
		Field    string          `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(raw), &clauses); err != nil {
		return fail("must be a JSON array of {field, operator, value}")
	}
	var fs filters
	for _, c := range clauses {
		if c.Field != "time_created" {
			return fail(fmt.Sprintf("field %q is not supported by metatest (only time_created)", c.Field))
		}
		switch c.Operator {
		case "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL":
		default:
			return fail(fmt.Sprintf("operator %q is not valid for time_created", c.Operator))
		}
		v := strings.Trim(string(c.Value), `"`)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fail("value for time_created must be a Unix timestamp")
		}
		fs = append(fs, filter{c.Operator, n})
	}
	return fs, nil
}

var sendTypes = []string{"text", "template", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive", "reaction"}

func (s *Server) sendMessage(phoneNumberID, token string, body []byte) response {
	p := s.st.phones[phoneNumberID]
	if p == nil || p.token != token {
		return notFound(http.MethodPost, phoneNumberID)
	}
	var msg struct {
		MessagingProduct string `json:"messaging_product"`
		To               string `json:"to"`
		Type             string `json:"type"`
		Text             *struct {
			Body string `json:"body"`
		} `json:"text"`
		Template *struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return badParam("Invalid parameter: the body must be a JSON object")
	}
	if msg.MessagingProduct != "whatsapp" {
		return badParam("The parameter messaging_product is required.")
	}
	if msg.Type == "" {
		msg.Type = "text"
	}
	if !slices.Contains(sendTypes, msg.Type) {
		return badParam(fmt.Sprintf("Param type must be one of {%s}", strings.Join(sendTypes, ", ")))
	}
	waID := digits(msg.To)
	if len(waID) < 8 || len(waID) > 15 {
		return badParam("The parameter to is required and must be a phone number.")
	}
	var text, category string
	switch msg.Type {
	case "text":
		if msg.Text == nil || msg.Text.Body == "" {
			return badParam("The parameter text['body'] is required.")
		}
		text = msg.Text.Body
	case "template":
		if msg.Template == nil || msg.Template.Name == "" {
			return badParam("The parameter template['name'] is required.")
		}
		i := slices.IndexFunc(s.st.templates[p.wabaID], func(t meta.Template) bool {
			return t.Name == msg.Template.Name && t.Language == msg.Template.Language.Code
		})
		if i < 0 {
			return graphErr(http.StatusNotFound, 132001, 2494073, "OAuthException", "(#132001) Template name does not exist in the translation")
		}
		t := s.st.templates[p.wabaID][i]
		if t.Status != "APPROVED" {
			return graphErr(http.StatusBadRequest, 132015, 0, "OAuthException", fmt.Sprintf("(#132015) Template is %s", strings.ToLower(t.Status)))
		}
		category = t.Category
	}
	id := NewWAMID()
	sent := append(s.st.sent[phoneNumberID], SentMessage{
		ID: id, PhoneNumberID: phoneNumberID, To: msg.To, Type: msg.Type, Text: text,
		Payload: json.RawMessage(slices.Clone(body)), At: time.Now(),
	})
	if len(sent) > maxSentPerPhone {
		sent = slices.Clone(sent[len(sent)-maxSentPerPhone:])
	}
	s.st.sent[phoneNumberID] = sent
	waba := p.wabaID
	if waba == "" {
		waba = DefaultWABAID
	}
	s.reportLocked(statusJob{wamid: id, recipient: waID, phoneNumberID: phoneNumberID, display: p.DisplayPhoneNumber,
		waba: waba, category: category, accepted: time.Now()})
	return ok(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": msg.To, "wa_id": waID}},
		"messages":          []map[string]string{{"id": id, "message_status": "accepted"}},
	})
}

var wamidSeq atomic.Uint64

// NewWAMID returns a fresh, unique WhatsApp message id shaped like Meta's
// ("wamid.HBgM..." followed by base64).
func NewWAMID() string {
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	raw := fmt.Sprintf("%012d%s%X", wamidSeq.Add(1), strings.ToUpper(hex.EncodeToString(rnd[:])), time.Now().Unix())
	return "wamid.HBgM" + base64.StdEncoding.EncodeToString([]byte(raw))
}

func traceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "A" + base64.RawURLEncoding.EncodeToString(b[:])
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func formatGraphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-0700") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNotLoopback = errors.New("metatest: refusing to deliver outside loopback")
