package meta_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
)

const (
	pageID     = "104858765678112"
	pageToken  = "page-token-1"
	formID     = "901234567890123"
	phoneID    = "106540352242922"
	display    = "15550783881"
	wabaID     = "102290129340398"
	phoneToken = "wa-token-1"
)

// tokenSpy records every request URL and fails the test if a token shows up in one.
type tokenSpy struct {
	t      *testing.T
	tokens []string
	next   http.RoundTripper
}

func (s *tokenSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	for _, tok := range s.tokens {
		if strings.Contains(r.URL.String(), tok) {
			s.t.Errorf("token %q in URL %s", tok, r.URL)
		}
	}
	return s.next.RoundTrip(r)
}

// newSim starts a simulator with one page, form, number and template, and
// a client pointed at it.
func newSim(t *testing.T) (*metatest.Server, *meta.Client) {
	t.Helper()
	srv := metatest.New(metatest.Options{AppSecret: []byte("sim-secret")})
	t.Cleanup(srv.Close)
	srv.AddPage(pageID, "Example Clinic", pageToken)
	srv.AddForm(pageID, formID, "Free consultation")
	srv.AddPhoneNumber(phoneID, display, "Example Clinic", wabaID, phoneToken)
	spy := &tokenSpy{t: t, tokens: []string{pageToken, phoneToken}, next: http.DefaultTransport}
	c := meta.NewClient(srv.URL, "v21.0", &http.Client{Transport: spy, Timeout: 10 * time.Second})
	return srv, c
}

func graphError(t *testing.T, err error) *meta.GraphError {
	t.Helper()
	ge, ok := errors.AsType[*meta.GraphError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *GraphError", err, err)
	}
	return ge
}

func TestClientLead(t *testing.T) {
	srv, c := newSim(t)
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	id := srv.AddLead(formID, map[string][]string{
		"full_name":      {"Asha Example"},
		"phone_number":   {"+16505551234"},
		"email":          {"asha@example.com"},
		"which_service?": {"Dental", "Skin"},
	}, at)

	got, err := c.Lead(context.Background(), id, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	want := meta.Lead{ID: id, CreatedTime: "2026-01-01T10:00:00+0000", FormID: formID, Platform: "fb", FieldData: []meta.FieldData{
		{Name: "email", Values: []string{"asha@example.com"}},
		{Name: "full_name", Values: []string{"Asha Example"}},
		{Name: "phone_number", Values: []string{"+16505551234"}},
		{Name: "which_service?", Values: []string{"Dental", "Skin"}},
	}}
	if diff := cmp.Diff(want, got, cmpIgnoreAdIDs); diff != "" {
		t.Errorf("Lead (-want +got):\n%s", diff)
	}
	if got.AdID == "" || got.AdsetID == "" || got.CampaignID == "" {
		t.Errorf("ad ids missing: %+v", got)
	}
	if created, err := got.Created(); err != nil || !created.Equal(at) {
		t.Errorf("Created() = %v, %v; want %v", created, err, at)
	}

	// Instagram organic lead through PutLead.
	igID := srv.PutLead(meta.Lead{FormID: formID, Platform: "ig", IsOrganic: true, FieldData: []meta.FieldData{{Name: "email", Values: []string{"ig@example.com"}}}})
	ig, err := c.Lead(context.Background(), igID, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if ig.Platform != "ig" || !ig.IsOrganic || ig.AdID != "" {
		t.Errorf("instagram lead = %+v", ig)
	}
	// The custom disclaimer checkboxes come with the lead.
	withBox := srv.PutLead(meta.Lead{FormID: formID, FieldData: []meta.FieldData{{Name: "email", Values: []string{"box@example.com"}}},
		CustomDisclaimerResponses: []meta.DisclaimerResponse{{CheckboxKey: "whatsapp_offers", IsChecked: "1"}}})
	boxed, err := c.Lead(context.Background(), withBox, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(boxed.CustomDisclaimerResponses) != 1 || boxed.CustomDisclaimerResponses[0].CheckboxKey != "whatsapp_offers" ||
		!boxed.CustomDisclaimerResponses[0].IsChecked.Yes() {
		t.Errorf("disclaimer responses = %+v", boxed.CustomDisclaimerResponses)
	}
	if n := srv.Calls(http.MethodGet, "/v21.0/"+id); n != 1 {
		t.Errorf("Calls(GET lead) = %d, want 1", n)
	}
}

var cmpIgnoreAdIDs = cmp.FilterPath(func(p cmp.Path) bool {
	s := p.String()
	return s == "AdID" || s == "AdsetID" || s == "CampaignID"
}, cmp.Ignore())

func TestClientPageAndPhoneNumber(t *testing.T) {
	_, c := newSim(t)
	ctx := context.Background()
	p, err := c.Page(ctx, pageID, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta.Page{ID: pageID, Name: "Example Clinic"}, p); diff != "" {
		t.Errorf("Page (-want +got):\n%s", diff)
	}
	n, err := c.PhoneNumber(ctx, phoneID, phoneToken)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta.PhoneNumber{ID: phoneID, DisplayPhoneNumber: display, VerifiedName: "Example Clinic", QualityRating: "GREEN"}, n); diff != "" {
		t.Errorf("PhoneNumber (-want +got):\n%s", diff)
	}
}

func TestClientPageFormsPaging(t *testing.T) {
	srv, c := newSim(t)
	c.PageSize = 2
	for i := range 4 {
		srv.AddForm(pageID, fmt.Sprintf("90000000000000%d", i), fmt.Sprintf("Form %d", i))
	}
	srv.AddPage("999", "Other page", "other-token")
	srv.AddForm("999", "888", "Not ours")

	forms, err := c.PageForms(context.Background(), pageID, pageToken)
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.Form{
		{ID: "900000000000000", Name: "Form 0", Status: "ACTIVE"},
		{ID: "900000000000001", Name: "Form 1", Status: "ACTIVE"},
		{ID: "900000000000002", Name: "Form 2", Status: "ACTIVE"},
		{ID: "900000000000003", Name: "Form 3", Status: "ACTIVE"},
		{ID: formID, Name: "Free consultation", Status: "ACTIVE"},
	}
	if diff := cmp.Diff(want, forms); diff != "" {
		t.Errorf("PageForms (-want +got):\n%s", diff)
	}
	if n := srv.Calls(http.MethodGet, "/*/leadgen_forms"); n != 3 {
		t.Errorf("leadgen_forms calls = %d, want 3 pages", n)
	}
}

func TestClientFormLeadsPagingAndSince(t *testing.T) {
	srv, c := newSim(t)
	c.PageSize = 3
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 7 {
		ids = append(ids, srv.AddLead(formID, map[string][]string{"email": {fmt.Sprintf("l%d@example.com", i)}}, base.Add(time.Duration(i)*time.Hour)))
	}
	all := func(since time.Time) []string {
		t.Helper()
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("paging does not end")
			}
			leads, next, err := c.FormLeads(context.Background(), formID, pageToken, since, after)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range leads {
				got = append(got, l.ID)
			}
			if next == "" {
				return got
			}
			after = next
		}
	}
	// Newest first, across three pages.
	want := []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, all(time.Time{})); diff != "" {
		t.Errorf("all leads (-want +got):\n%s", diff)
	}
	// since is exclusive: the lead created exactly at since is not returned.
	if diff := cmp.Diff([]string{ids[6], ids[5]}, all(base.Add(4*time.Hour))); diff != "" {
		t.Errorf("leads since +4h (-want +got):\n%s", diff)
	}
	if got := all(base.Add(100 * time.Hour)); len(got) != 0 {
		t.Errorf("leads in the future = %v", got)
	}
	if n := srv.Calls(http.MethodGet, "/*/leads"); n != 3+1+1 {
		t.Errorf("leads calls = %d, want 5", n)
	}
}

func TestClientTemplatesPaging(t *testing.T) {
	srv, c := newSim(t)
	c.PageSize = 1
	tpl := []meta.Template{
		{Name: "appointment_reminder", Language: "en_US", Category: "UTILITY", Components: []meta.TemplateComponent{
			{Type: "HEADER", Format: "TEXT", Text: "Reminder"},
			{Type: "BODY", Text: "Hi {{1}}, see you on {{2}}."},
			{Type: "BUTTONS", Buttons: json.RawMessage(`[{"type":"QUICK_REPLY","text":"Stop promotions"}]`)},
		}},
		{Name: "appointment_reminder", Language: "hi", Category: "UTILITY", Status: "PENDING"},
	}
	for _, x := range tpl {
		srv.AddTemplate(wabaID, x)
	}
	got, err := c.Templates(context.Background(), wabaID, phoneToken)
	if err != nil {
		t.Fatal(err)
	}
	tpl[0].Status = "APPROVED"
	if diff := cmp.Diff(tpl, got, cmpopts.EquateEmpty(), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ID" }, cmp.Ignore())); diff != "" {
		t.Errorf("Templates (-want +got):\n%s", diff)
	}
	if got[0].ID == "" {
		t.Error("template without id")
	}
	if n := srv.Calls(http.MethodGet, "/v21.0/"+wabaID+"/message_templates"); n != 2 {
		t.Errorf("template calls = %d, want 2", n)
	}
}

func TestClientSendMessage(t *testing.T) {
	srv, c := newSim(t)
	ctx := context.Background()
	srv.AddTemplate(wabaID, meta.Template{Name: "welcome", Language: "en_US", Category: "MARKETING"})
	payloads := []any{
		map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "text", "text": map[string]any{"body": "Hello Asha"}},
		json.RawMessage(`{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"welcome","language":{"code":"en_US"}}}`),
		[]byte(`{"messaging_product":"whatsapp","to":"16505551234","type":"reaction","reaction":{"message_id":"wamid.x","emoji":"👍"}}`),
	}
	var ids []string
	for _, p := range payloads {
		r, err := c.SendMessage(ctx, phoneID, phoneToken, p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.MessageID, "wamid.") || r.WaID != "16505551234" {
			t.Errorf("SendResult = %+v", r)
		}
		ids = append(ids, r.MessageID)
	}
	sent := srv.Sent(phoneID)
	if len(sent) != 3 {
		t.Fatalf("Sent = %d messages, want 3", len(sent))
	}
	for i, s := range sent {
		if s.ID != ids[i] || s.PhoneNumberID != phoneID {
			t.Errorf("Sent[%d] = %+v, want id %s", i, s, ids[i])
		}
	}
	if sent[0].Type != "text" || sent[0].Text != "Hello Asha" || sent[0].To != "+16505551234" || sent[1].Type != "template" {
		t.Errorf("Sent = %+v", sent)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("wamids not unique: %v", ids)
	}

	// Simulator validation answers Graph errors.
	bad := []struct {
		name    string
		payload any
		status  int
		code    int
	}{
		{"no messaging_product", map[string]any{"to": "16505551234", "type": "text", "text": map[string]any{"body": "x"}}, 400, 100},
		{"no body", map[string]any{"messaging_product": "whatsapp", "to": "16505551234", "type": "text"}, 400, 100},
		{"bad to", map[string]any{"messaging_product": "whatsapp", "to": "12", "type": "text", "text": map[string]any{"body": "x"}}, 400, 100},
		{"unknown template", map[string]any{"messaging_product": "whatsapp", "to": "16505551234", "type": "template", "template": map[string]any{"name": "nope", "language": map[string]any{"code": "en_US"}}}, 404, 132001},
	}
	for _, tt := range bad {
		_, err := c.SendMessage(ctx, phoneID, phoneToken, tt.payload)
		ge := graphError(t, err)
		if ge.HTTPStatus != tt.status || ge.Code != tt.code || !ge.Permanent() {
			t.Errorf("%s: %+v, want HTTP %d code %d permanent", tt.name, ge, tt.status, tt.code)
		}
	}
	if _, err := c.SendMessage(ctx, phoneID, phoneToken, []byte("not json")); !errors.Is(err, meta.ErrInvalidArgument) {
		t.Errorf("invalid payload: %v", err)
	}
	if len(srv.Sent(phoneID)) != 3 {
		t.Error("failed sends were recorded")
	}
}

func TestClientTokenErrors(t *testing.T) {
	srv, c := newSim(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		token   string
		revoke  bool
		status  int
		subcode int
	}{
		{"missing", "", false, 400, 0},
		{"unknown", "nobody-knows-me", false, 400, 0},
		{"revoked", pageToken, true, 401, 460},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.revoke {
				srv.RevokeToken(tt.token)
			}
			_, err := c.Page(ctx, pageID, tt.token)
			ge := graphError(t, err)
			if ge.HTTPStatus != tt.status || ge.Code != 190 || ge.Subcode != tt.subcode || ge.Type != "OAuthException" || ge.FBTraceID == "" {
				t.Errorf("GraphError = %+v", ge)
			}
			if !ge.TokenInvalid() || ge.Retryable() || ge.Permanent() || meta.IsRetryable(err) {
				t.Errorf("TokenInvalid %v Retryable %v Permanent %v IsRetryable %v", ge.TokenInvalid(), ge.Retryable(), ge.Permanent(), meta.IsRetryable(err))
			}
			if strings.Contains(err.Error(), pageToken) {
				t.Errorf("error text leaks the token: %v", err)
			}
		})
	}
}

func TestClientNotFound(t *testing.T) {
	srv, c := newSim(t)
	ctx := context.Background()
	srv.AddPage("555", "Other", "other-token")
	srv.AddForm("555", "556", "Other form")
	otherLead := srv.AddLead("556", nil, time.Now())
	calls := []struct {
		name string
		call func() error
	}{
		{"unknown lead", func() error { _, err := c.Lead(ctx, "1220000000099999", pageToken); return err }},
		{"lead of another page", func() error { _, err := c.Lead(ctx, otherLead, pageToken); return err }},
		{"unknown page", func() error { _, err := c.Page(ctx, "123", pageToken); return err }},
		{"unknown phone", func() error { _, err := c.PhoneNumber(ctx, "123", phoneToken); return err }},
		{"phone with page token", func() error { _, err := c.PhoneNumber(ctx, phoneID, pageToken); return err }},
		{"forms of unknown page", func() error { _, err := c.PageForms(ctx, "123", pageToken); return err }},
		{"leads of unknown form", func() error { _, _, err := c.FormLeads(ctx, "123", pageToken, time.Time{}, ""); return err }},
		{"templates of unknown waba", func() error { _, err := c.Templates(ctx, "123", phoneToken); return err }},
		{"send from unknown number", func() error {
			_, err := c.SendMessage(ctx, "123", phoneToken, map[string]any{"messaging_product": "whatsapp", "to": "16505551234", "text": map[string]any{"body": "x"}})
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			ge := graphError(t, tt.call())
			if ge.HTTPStatus != http.StatusNotFound || ge.Code != 100 || ge.Subcode != 33 || ge.Type != "GraphMethodException" {
				t.Errorf("GraphError = %+v", ge)
			}
			if !ge.Permanent() || ge.Retryable() || ge.TokenInvalid() {
				t.Errorf("classification of %+v", ge)
			}
		})
	}
}

func TestClientFailNextRetryable(t *testing.T) {
	tests := []struct {
		status int
		code   int
	}{
		{http.StatusServiceUnavailable, 2},
		{http.StatusInternalServerError, 2},
		{http.StatusTooManyRequests, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv, c := newSim(t)
			srv.FailNext(1, tt.status)
			_, err := c.Page(context.Background(), pageID, pageToken)
			ge := graphError(t, err)
			if ge.HTTPStatus != tt.status || ge.Code != tt.code || !ge.Transient {
				t.Errorf("GraphError = %+v", ge)
			}
			if !ge.Retryable() || ge.Permanent() || !meta.IsRetryable(err) {
				t.Errorf("not retryable: %+v", ge)
			}
			// The next call succeeds again.
			if _, err := c.Page(context.Background(), pageID, pageToken); err != nil {
				t.Errorf("call after the injected failure: %v", err)
			}
		})
	}
}

func TestClientTimeoutRetryable(t *testing.T) {
	srv, c := newSim(t)
	srv.Delay(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Page(ctx, pageID, pageToken)
	if err == nil || !meta.IsRetryable(err) || !errors.Is(err, meta.ErrTransport) {
		t.Errorf("timed-out call: %v, IsRetryable %v", err, meta.IsRetryable(err))
	}
	srv.Delay(0)
	if _, err := c.Page(context.Background(), pageID, pageToken); err != nil {
		t.Errorf("after Delay(0): %v", err)
	}
}

func TestClientConnectionRefusedRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := meta.NewClient("http://"+addr, "", nil)
	_, err = c.Page(context.Background(), pageID, pageToken)
	if !meta.IsRetryable(err) || !errors.Is(err, meta.ErrTransport) {
		t.Errorf("connection refused: %v, IsRetryable %v", err, meta.IsRetryable(err))
	}
}

func TestClientOversizedResponse(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"declared length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(meta.MaxResponseBytes+1))
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"id":"`))
		}},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"id":"1","name":"`))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for written := 0; written <= meta.MaxResponseBytes; written += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			w.Write([]byte(`"}`))
		}},
		{"oversized error body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(strings.Repeat(" ", meta.MaxResponseBytes+10)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(tt.handler)
			defer hs.Close()
			c := meta.NewClient(hs.URL, "v21.0", hs.Client())
			_, err := c.Page(context.Background(), pageID, pageToken)
			if !errors.Is(err, meta.ErrResponseTooLarge) || meta.IsRetryable(err) {
				t.Errorf("Page = %v, want ErrResponseTooLarge, not retryable", err)
			}
		})
	}
}

func TestClientRequestShape(t *testing.T) {
	var got *http.Request
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Write([]byte(`{"data":[],"paging":{"cursors":{"before":"a","after":"b"}}}`))
	}))
	defer hs.Close()
	c := meta.NewClient(hs.URL+"/", "v22.0", hs.Client())
	since := time.Unix(1767261600, 0)
	leads, next, err := c.FormLeads(context.Background(), formID, "secret-token", since, "cursor-1")
	if err != nil || len(leads) != 0 || next != "" {
		t.Fatalf("FormLeads = %v, %q, %v", leads, next, err)
	}
	if got.URL.Path != "/v22.0/"+formID+"/leads" {
		t.Errorf("path = %s", got.URL.Path)
	}
	q := got.URL.Query()
	if f := q.Get("filtering"); f != `[{"field":"time_created","operator":"GREATER_THAN","value":1767261600}]` {
		t.Errorf("filtering = %s", f)
	}
	if q.Get("after") != "cursor-1" || q.Get("limit") != "100" || !strings.Contains(q.Get("fields"), "field_data") {
		t.Errorf("query = %v", q)
	}
	if q.Has("access_token") || got.Header.Get("Authorization") != "Bearer secret-token" {
		t.Errorf("token not (only) in the Authorization header: %v %v", q, got.Header)
	}
}

func TestClientRejectsUnsafeIDs(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the server: %s", r.URL)
	}))
	defer hs.Close()
	c := meta.NewClient(hs.URL, "v21.0", hs.Client())
	for _, id := range []string{"", "..", "1/../../me", "1?fields=access_token", "1#x", "1 2", "me%2F"} {
		if _, err := c.Lead(context.Background(), id, "t"); !errors.Is(err, meta.ErrInvalidArgument) {
			t.Errorf("Lead(%q) = %v, want ErrInvalidArgument", id, err)
		}
	}
}

func TestGraphErrorClassification(t *testing.T) {
	tests := []struct {
		name                               string
		e                                  meta.GraphError
		tokenInvalid, retryable, permanent bool
	}{
		{"expired token", meta.GraphError{HTTPStatus: 400, Code: 190, Subcode: 463}, true, false, false},
		{"api session", meta.GraphError{HTTPStatus: 400, Code: 102}, true, false, false},
		{"invalid token subcode", meta.GraphError{HTTPStatus: 400, Code: 1, Subcode: 467}, true, false, false},
		{"token on 500", meta.GraphError{HTTPStatus: 500, Code: 190}, true, false, false},
		{"rate limit 4", meta.GraphError{HTTPStatus: 400, Code: 4}, false, true, false},
		{"user rate limit 17", meta.GraphError{HTTPStatus: 400, Code: 17}, false, true, false},
		{"page rate limit 32", meta.GraphError{HTTPStatus: 400, Code: 32}, false, true, false},
		{"341", meta.GraphError{HTTPStatus: 400, Code: 341}, false, true, false},
		{"613", meta.GraphError{HTTPStatus: 400, Code: 613}, false, true, false},
		{"80007", meta.GraphError{HTTPStatus: 400, Code: 80007}, false, true, false},
		{"whatsapp throughput", meta.GraphError{HTTPStatus: 400, Code: 130429}, false, true, false},
		{"whatsapp pair rate", meta.GraphError{HTTPStatus: 400, Code: 131056}, false, true, false},
		{"unknown error 1", meta.GraphError{HTTPStatus: 400, Code: 1}, false, true, false},
		{"is_transient", meta.GraphError{HTTPStatus: 400, Code: 9999, Transient: true}, false, true, false},
		{"bad gateway without body", meta.GraphError{HTTPStatus: 502}, false, true, false},
		{"429 without code", meta.GraphError{HTTPStatus: 429}, false, true, false},
		{"invalid parameter", meta.GraphError{HTTPStatus: 400, Code: 100}, false, false, true},
		{"permission", meta.GraphError{HTTPStatus: 403, Code: 200}, false, false, true},
		{"re-engagement window", meta.GraphError{HTTPStatus: 400, Code: 131047}, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			if e.TokenInvalid() != tt.tokenInvalid || e.Retryable() != tt.retryable || e.Permanent() != tt.permanent {
				t.Errorf("TokenInvalid %v Retryable %v Permanent %v, want %v %v %v",
					e.TokenInvalid(), e.Retryable(), e.Permanent(), tt.tokenInvalid, tt.retryable, tt.permanent)
			}
			wrapped := fmt.Errorf("fetch lead 1: %w", &e)
			if meta.IsRetryable(wrapped) != tt.retryable {
				t.Errorf("IsRetryable(wrapped) = %v", meta.IsRetryable(wrapped))
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"transport", fmt.Errorf("x: %w", meta.ErrTransport), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"net timeout", fmt.Errorf("x: %w", net.Error(timeoutErr{})), true},
		{"too large", meta.ErrResponseTooLarge, false},
		{"bad response", meta.ErrBadResponse, false},
		{"invalid argument", meta.ErrInvalidArgument, false},
	}
	for _, tt := range tests {
		if got := meta.IsRetryable(tt.err); got != tt.want {
			t.Errorf("%s: IsRetryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestClientMeTellsWhoseTokenItIs: a page's public fields read with any
// valid token, but /me answers the page only for the page's own token.
func TestClientMeTellsWhoseTokenItIs(t *testing.T) {
	srv, c := newSim(t)
	ctx := context.Background()
	srv.AddPage("999", "Other page", "other-token")
	srv.AddUserToken("100090000000001", "user-token")
	for _, tok := range []string{pageToken, "other-token", "user-token"} {
		if p, err := c.Page(ctx, pageID, tok); err != nil || p.ID != pageID {
			t.Fatalf("Page with %s = %+v, %v", tok, p, err)
		}
	}
	for tok, want := range map[string]string{pageToken: pageID, "other-token": "999", "user-token": "100090000000001"} {
		got, err := c.Me(ctx, tok)
		if err != nil || got != want {
			t.Errorf("Me with %s = %q, %v; want %q", tok, got, err, want)
		}
	}
	sys, err := c.Me(ctx, phoneToken)
	if err != nil || sys == "" || sys == phoneID {
		t.Errorf("Me with a WhatsApp token = %q, %v; want a system user", sys, err)
	}
	if _, err := c.Me(ctx, "unknown-token"); graphError(t, err).Code != 190 {
		t.Errorf("Me with an unknown token: %v", err)
	}
}

// TestClientWABAPhoneNumbers lists a WABA's numbers across pages; a WABA
// the token has no number in is not found.
func TestClientWABAPhoneNumbers(t *testing.T) {
	srv, c := newSim(t)
	ctx := context.Background()
	c.PageSize = 1
	srv.AddPhoneNumber("106540352242923", "15550783882", "Example Clinic", wabaID, phoneToken)
	srv.AddPhoneNumber("106540352242924", "15550783883", "Elsewhere", "102290129349999", "another-wa-token")
	nums, err := c.WABAPhoneNumbers(ctx, wabaID, phoneToken)
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.PhoneNumber{
		{ID: phoneID, DisplayPhoneNumber: display, VerifiedName: "Example Clinic", QualityRating: "GREEN"},
		{ID: "106540352242923", DisplayPhoneNumber: "15550783882", VerifiedName: "Example Clinic", QualityRating: "GREEN"},
	}
	if diff := cmp.Diff(want, nums); diff != "" {
		t.Errorf("WABAPhoneNumbers (-want +got):\n%s", diff)
	}
	if srv.Calls(http.MethodGet, "/*/phone_numbers") != 2 {
		t.Errorf("phone_numbers called %d times, want 2 pages", srv.Calls(http.MethodGet, "/*/phone_numbers"))
	}
	if _, err := c.WABAPhoneNumbers(ctx, "102290129349999", phoneToken); graphError(t, err).Code != 100 {
		t.Errorf("numbers of a WABA the token cannot see: %v", err)
	}
}

func TestCheckedReadsStringsAndBooleans(t *testing.T) {
	for raw, want := range map[string]bool{`"1"`: true, `"true"`: true, `"TRUE"`: true, `true`: true, `"0"`: false, `false`: false, `""`: false, `1`: true} {
		var r meta.DisclaimerResponse
		if err := json.Unmarshal([]byte(`{"checkbox_key":"k","is_checked":`+raw+`}`), &r); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if r.IsChecked.Yes() != want {
			t.Errorf("is_checked %s: Yes = %v, want %v", raw, r.IsChecked.Yes(), want)
		}
	}
}
