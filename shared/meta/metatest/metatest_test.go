package metatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
)

const (
	pageID  = "104858765678112"
	formID  = "901234567890123"
	phoneID = "106540352242922"
	display = "15550783881"
	wabaID  = "102290129340398"
	cust    = "16505551234"
)

// receiver is a webhook endpoint that records what it got.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	status int
}

func newReceiver(t *testing.T, status int) (*receiver, string) {
	t.Helper()
	rc := &receiver{status: status}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.sigs = append(rc.sigs, r.Header.Get(meta.SignatureHeader))
		rc.mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		w.WriteHeader(rc.status)
	}))
	t.Cleanup(hs.Close)
	return rc, hs.URL + "/webhooks/meta"
}

func TestDeliverSigns(t *testing.T) {
	secret := []byte("shh-app-secret")
	srv := metatest.New(metatest.Options{AppSecret: secret})
	defer srv.Close()
	rc, url := newReceiver(t, http.StatusOK)
	ctx := context.Background()
	payload := metatest.InboundPayload(phoneID, display, metatest.Text(cust, "hello"))

	status, err := srv.Deliver(ctx, url, payload)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	if _, err := srv.DeliverUnsigned(ctx, url, payload); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DeliverWithSignature(ctx, url, payload, "sha256=00"); err != nil {
		t.Fatal(err)
	}
	if len(rc.bodies) != 3 || string(rc.bodies[0]) != string(payload) {
		t.Fatalf("received %d bodies", len(rc.bodies))
	}
	if err := meta.VerifySignature(secret, rc.bodies[0], rc.sigs[0]); err != nil {
		t.Errorf("signed delivery: %v", err)
	}
	if err := meta.VerifySignature(secret, rc.bodies[1], rc.sigs[1]); err != meta.ErrSignatureMissing {
		t.Errorf("unsigned delivery: %v", err)
	}
	if err := meta.VerifySignature(secret, rc.bodies[2], rc.sigs[2]); err != meta.ErrSignatureMalformed {
		t.Errorf("bad signature delivery: %v", err)
	}
}

func TestDeliverReportsStatus(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	_, url := newReceiver(t, http.StatusServiceUnavailable)
	status, err := srv.Deliver(context.Background(), url, metatest.LeadgenPayload(pageID, formID, "1", time.Now()))
	if err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("Deliver = %d, %v", status, err)
	}
	if string(srv.AppSecret()) != metatest.DefaultAppSecret || srv.Version() != "v21.0" {
		t.Errorf("defaults: secret %q version %q", srv.AppSecret(), srv.Version())
	}
}

func TestDeliverRefusesNonLoopback(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	for _, u := range []string{"https://example.com/hook", "http://10.0.0.1/hook", "ftp://127.0.0.1/x", "::"} {
		if _, err := srv.Deliver(context.Background(), u, []byte("{}")); err == nil {
			t.Errorf("Deliver(%q) succeeded", u)
		}
	}
}

func TestNewRefusesNonLoopbackAddr(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a public address did not panic")
		}
	}()
	metatest.New(metatest.Options{Addr: "0.0.0.0:0"})
}

func TestNewAddrAndVersion(t *testing.T) {
	srv := metatest.New(metatest.Options{Addr: "localhost:0", Version: "v22.0"})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	c := meta.NewClient(srv.URL, "v22.0", nil)
	if _, err := c.Page(context.Background(), pageID, "tok"); err != nil {
		t.Errorf("v22.0: %v", err)
	}
	c.Version = "v21.0"
	if _, err := c.Page(context.Background(), pageID, "tok"); err == nil {
		t.Error("wrong version answered")
	}
	srv.Close() // twice is fine
}

func TestInboundPayloadEveryType(t *testing.T) {
	const ctxID = "wamid.business-message"
	msgs := []metatest.InboundMessage{
		metatest.Text(cust, "Hi"),
		metatest.Image(cust, "a photo"),
		metatest.Audio(cust),
		metatest.Video(cust, "a video"),
		metatest.Document(cust, "report.pdf", "my report"),
		metatest.Sticker(cust),
		metatest.Location(cust, 12.97, 77.59, "Example Clinic", "1 Example Road"),
		metatest.Contacts(cust, "Ravi Sample", "+1 650 555 0199"),
		metatest.ButtonReply(cust, ctxID, "book", "Book"),
		metatest.ListReply(cust, ctxID, "tue", "Tuesday", "10:00"),
		metatest.Button(cust, ctxID, "STOP", "Stop promotions"),
		metatest.Reaction(cust, ctxID, "👍"),
		metatest.Unsupported(cust),
		metatest.Text("919876500001", "second sender").WithName("Ravi Sample").At(time.Unix(1767261600, 0)),
	}
	w, err := meta.ParseWebhook(metatest.InboundPayload(phoneID, display, msgs...))
	if err != nil {
		t.Fatal(err)
	}
	if w.Object != meta.ObjectWhatsAppBusinessAccount || len(w.Entry) != 1 || w.Entry[0].ID != metatest.DefaultWABAID {
		t.Fatalf("webhook = %+v", w)
	}
	v, err := w.Entry[0].Changes[0].WhatsApp()
	if err != nil {
		t.Fatal(err)
	}
	wantContacts := []meta.Contact{{Profile: meta.Profile{Name: "Test Customer"}, WaID: cust}, {Profile: meta.Profile{Name: "Ravi Sample"}, WaID: "919876500001"}}
	if diff := cmp.Diff(wantContacts, v.Contacts); diff != "" {
		t.Errorf("contacts (-want +got):\n%s", diff)
	}
	var types []string
	seen := map[string]bool{}
	for _, m := range v.Messages {
		types = append(types, m.Type)
		if seen[m.ID] || !strings.HasPrefix(m.ID, "wamid.") {
			t.Errorf("message id %q duplicate or malformed", m.ID)
		}
		seen[m.ID] = true
		if _, err := m.Time(); err != nil {
			t.Error(err)
		}
		if m.Context != nil && (m.Context.From != display || m.Context.ID != ctxID) {
			t.Errorf("context = %+v", m.Context)
		}
	}
	wantTypes := []string{"text", "image", "audio", "video", "document", "sticker", "location", "contacts",
		"interactive", "interactive", "button", "reaction", "unsupported", "text"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	ms := v.Messages
	switch {
	case ms[0].Text.Body != "Hi", ms[1].Image.Caption != "a photo", !ms[2].Audio.Voice,
		ms[4].Document.Filename != "report.pdf", ms[6].Location.Name != "Example Clinic",
		ms[7].Contacts[0].Phones[0].WaID != "16505550199",
		ms[8].Interactive.ButtonReply.ID != "book", ms[9].Interactive.ListReply.Description != "10:00",
		ms[10].Button.Payload != "STOP", ms[11].Reaction.Emoji != "👍", ms[12].Errors[0].Code != 131051,
		ms[13].Timestamp != "1767261600":
		t.Errorf("message contents wrong: %+v", ms)
	}
}

func TestStatusPayloads(t *testing.T) {
	const wamid = "wamid.out-1"
	at := time.Unix(1767261600, 0)
	w, err := meta.ParseWebhook(metatest.StatusPayload(phoneID, display,
		metatest.StatusDelivered(wamid, cust).At(at.Add(time.Second)),
		metatest.StatusSent(wamid, cust).At(at),
		metatest.StatusRead(wamid, cust),
		metatest.StatusFailed(wamid, cust, 131026, "Message undeliverable"),
	))
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Entry[0].Changes[0].WhatsApp()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Statuses) != 4 {
		t.Fatalf("statuses = %+v", v.Statuses)
	}
	d, s, r, f := v.Statuses[0], v.Statuses[1], v.Statuses[2], v.Statuses[3]
	if d.Status != "delivered" || d.Timestamp != "1767261601" || d.Conversation == nil || d.Pricing == nil {
		t.Errorf("delivered = %+v", d)
	}
	if s.Status != "sent" || s.Conversation.ExpirationTimestamp != "1767348000" || s.Conversation.ID != d.Conversation.ID {
		t.Errorf("sent = %+v", s)
	}
	if r.Status != "read" || r.Conversation != nil || r.Pricing != nil {
		t.Errorf("read = %+v", r)
	}
	if f.Status != "failed" || len(f.Errors) != 1 || f.Errors[0].Code != 131026 || f.Errors[0].Title != "Message undeliverable" {
		t.Errorf("failed = %+v", f)
	}
	for _, st := range v.Statuses {
		if st.ID != wamid || st.RecipientID != cust {
			t.Errorf("status = %+v", st)
		}
	}
}

func TestErrorsPayload(t *testing.T) {
	w, err := meta.ParseWebhook(metatest.ErrorsPayload(phoneID, display, meta.Error{Code: 130429, Title: "Rate limit hit"}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Entry[0].Changes[0].WhatsApp()
	if err != nil || len(v.Errors) != 1 || v.Errors[0].Code != 130429 {
		t.Errorf("errors value = %+v, %v", v, err)
	}
}

func TestServerPayloadsUseState(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	srv.AddForm(pageID, formID, "Form")
	srv.AddPhoneNumber(phoneID, display, "Example Clinic", "200000000000001", "wa")
	at := time.Unix(1767261600, 0)
	id := srv.AddLead(formID, map[string][]string{"email": {"a@example.com"}}, at)

	w, err := meta.ParseWebhook(srv.LeadgenPayload(pageID, formID, id, at))
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Entry[0].Changes[0].Leadgen()
	if err != nil {
		t.Fatal(err)
	}
	if w.Object != "page" || w.Entry[0].ID != pageID || w.Entry[0].Time == 0 ||
		v.LeadgenID != id || v.FormID != formID || v.PageID != pageID || v.CreatedTime != at.Unix() || v.AdID == "" {
		t.Errorf("leadgen payload = %+v %+v", w, v)
	}
	for _, p := range [][]byte{srv.InboundPayload(phoneID, display, metatest.Text(cust, "x")), srv.StatusPayload(phoneID, display, metatest.StatusRead("wamid.x", cust))} {
		w, err := meta.ParseWebhook(p)
		if err != nil || w.Entry[0].ID != "200000000000001" {
			t.Errorf("entry id = %+v, %v; want the number's WABA", w, err)
		}
	}
	// Package-level builder leaves ad ids out.
	v2, _ := mustParse(t, metatest.LeadgenPayload(pageID, formID, id, at)).Entry[0].Changes[0].Leadgen()
	if v2.AdID != "" || v2.LeadgenID != id {
		t.Errorf("package LeadgenPayload = %+v", v2)
	}
}

func mustParse(t *testing.T, b []byte) meta.Webhook {
	t.Helper()
	w, err := meta.ParseWebhook(b)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestBatch(t *testing.T) {
	at := time.Unix(1767261600, 0)
	a := metatest.LeadgenPayload(pageID, formID, "1", at)
	b := metatest.LeadgenPayload(pageID, formID, "2", at)
	body, err := metatest.Batch(a, b, a)
	if err != nil {
		t.Fatal(err)
	}
	w := mustParse(t, body)
	var ids []string
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			v, err := c.Leadgen()
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, v.LeadgenID)
		}
	}
	if diff := cmp.Diff([]string{"1", "2", "1"}, ids); diff != "" {
		t.Errorf("batched ids (-want +got):\n%s", diff)
	}
	if _, err := metatest.Batch(a, metatest.InboundPayload(phoneID, display, metatest.Text(cust, "x"))); err == nil {
		t.Error("Batch mixed objects")
	}
	if _, err := metatest.Batch(); err == nil {
		t.Error("Batch of nothing")
	}
	if _, err := metatest.Batch([]byte("nope")); err == nil {
		t.Error("Batch of garbage")
	}
}

func TestNewWAMIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := metatest.NewWAMID()
		if seen[id] || !strings.HasPrefix(id, "wamid.HBgM") {
			t.Fatalf("NewWAMID = %q (duplicate %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestRejectsTokenInURL(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	resp, err := http.Get(srv.URL + "/v21.0/" + pageID + "?access_token=tok")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || body.Error.Code != 100 || !strings.Contains(body.Error.Message, "Authorization header") {
		t.Errorf("status %d body %+v", resp.StatusCode, body)
	}
}

func TestGraphErrorShapes(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	srv.AddForm(pageID, formID, "Form")
	tests := []struct {
		name, method, path, auth string
		status, code             int
	}{
		{"unknown field", "GET", "/v21.0/" + pageID + "?fields=id,access_token", "Bearer tok", 400, 100},
		{"unknown edge", "GET", "/v21.0/" + pageID + "/feed", "Bearer tok", 404, 100},
		{"wrong method", "DELETE", "/v21.0/" + pageID, "Bearer tok", 404, 100},
		{"bad filtering", "GET", "/v21.0/" + formID + "/leads?filtering=oops", "Bearer tok", 400, 100},
		{"bad cursor", "GET", "/v21.0/" + formID + "/leads?after=!!", "Bearer tok", 400, 100},
		{"basic auth", "GET", "/v21.0/" + pageID, "Basic dG9rOg==", 400, 190},
		{"no version", "GET", "/" + pageID, "Bearer tok", 400, 2500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			req.Header.Set("Authorization", tt.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Message   string `json:"message"`
					Type      string `json:"type"`
					Code      int    `json:"code"`
					FBTraceID string `json:"fbtrace_id"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			e := body.Error
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Message == "" || e.Type == "" || e.FBTraceID == "" {
				t.Errorf("status %d error %+v", resp.StatusCode, e)
			}
		})
	}
}

func TestCallsResetAndFailNext(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	c := meta.NewClient(srv.URL, "", nil)
	ctx := context.Background()
	srv.FailNext(2, http.StatusBadGateway)
	for i := range 3 {
		_, err := c.Page(ctx, pageID, "tok")
		if (err != nil) != (i < 2) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if n := srv.Calls("GET", "/v21.0/"+pageID); n != 3 {
		t.Errorf("Calls full path = %d", n)
	}
	if n := srv.Calls("", "/*"); n != 3 {
		t.Errorf("Calls without version = %d", n)
	}
	if n := srv.Calls("POST", "/*"); n != 0 {
		t.Errorf("Calls POST = %d", n)
	}
	srv.FailNext(5, http.StatusServiceUnavailable)
	srv.Reset()
	if n := srv.Calls("", "*"); n != 0 {
		t.Errorf("Calls after Reset = %d", n)
	}
	if _, err := c.Page(ctx, pageID, "tok"); err == nil {
		t.Error("page survived Reset")
	} else if ge, ok := errors.AsType[*meta.GraphError](err); !ok || ge.Code != 190 {
		t.Errorf("after Reset (token unknown, no failure pending): %v", err)
	}
}

func TestAddPanicsOnUnknownParents(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	for name, f := range map[string]func(){
		"AddForm": func() { srv.AddForm("nope", "1", "x") },
		"AddLead": func() { srv.AddLead("nope", nil, time.Now()) },
		"PutLead": func() { srv.PutLead(meta.Lead{FormID: "nope"}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := metatest.New(metatest.Options{})
	defer srv.Close()
	srv.AddPage(pageID, "Example Clinic", "tok")
	srv.AddForm(pageID, formID, "Form")
	srv.AddPhoneNumber(phoneID, display, "Example Clinic", wabaID, "wa")
	c := meta.NewClient(srv.URL, "", nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			id := srv.AddLead(formID, map[string][]string{"n": {string(rune('a' + i))}}, time.Now())
			if _, err := c.Lead(ctx, id, "tok"); err != nil {
				t.Error(err)
			}
			if _, err := c.SendMessage(ctx, phoneID, "wa", map[string]any{"messaging_product": "whatsapp", "to": cust, "type": "text", "text": map[string]string{"body": "hi"}}); err != nil {
				t.Error(err)
			}
			_ = srv.Calls("", "*")
		})
	}
	wg.Wait()
	if n := len(srv.Sent(phoneID)); n != 8 {
		t.Errorf("Sent = %d, want 8", n)
	}
}

// TestApp: GET /app answers the Application node of the app that issued
// the token, with Meta's default fields (link, name, id) or those asked.
func TestApp(t *testing.T) {
	srv := metatest.New(metatest.Options{AppID: "111222333444555"})
	defer srv.Close()
	srv.AddPage("104858765678112", "Demo Clinic", "page-token")
	srv.AddPage("104858765678113", "Other Clinic", "other-token")
	srv.SetTokenApp("other-token", "999888777666555")
	get := func(token, query string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/"+srv.Version()+"/app"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /app: %d %v", resp.StatusCode, err)
		}
		return out
	}
	if got := get("page-token", ""); got["id"] != "111222333444555" || got["name"] == nil ||
		got["link"] != "https://www.facebook.com/games/?app_id=111222333444555" {
		t.Fatalf("default fields: %v", got)
	}
	if got := get("other-token", "?fields=id"); len(got) != 1 || got["id"] != "999888777666555" {
		t.Fatalf("fields=id of another app's token: %v", got)
	}
	c := meta.NewClient(srv.URL, srv.Version(), nil)
	if id, err := c.App(context.Background(), "page-token"); err != nil || id != "111222333444555" {
		t.Fatalf("meta.Client.App: %q %v", id, err)
	}
}
