package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

const leadgen = `{"object":"page","entry":[{"id":"153125381133","time":1795860929,"changes":[{"field":"leadgen","value":{"ad_id":"120211234567890123","form_id":"1006393297382416","leadgen_id":"1265891478201447","created_time":1795860928,"page_id":"153125381133","adgroup_id":"120211234567890123"}}]}]}`

func TestHandshake(t *testing.T) {
	e := newEnv(t)
	ok := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {devVerifyToken}, "hub.challenge": {"1158201444"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q.Encode()
	}
	for _, tc := range []struct {
		name   string
		query  string
		status int
	}{
		{"matching token", ok.Encode(), 200},
		{"wrong token", with("hub.verify_token", "dev-verify-tokem"), 403},
		{"token prefix", with("hub.verify_token", "dev-verify"), 403},
		{"token longer", with("hub.verify_token", devVerifyToken+"x"), 403},
		{"no token", with("hub.verify_token", ""), 403},
		{"wrong mode", with("hub.mode", "unsubscribe"), 403},
		{"no mode", with("hub.mode", ""), 403},
		{"no challenge", with("hub.challenge", ""), 400},
		{"challenge too long", with("hub.challenge", strings.Repeat("9", 1025)), 400},
		{"bad escape", "hub.mode=subscribe&hub.verify_token=%zz", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.call(t, getEvent(t, tc.query))
			expectStatus(t, resp, tc.status)
			if tc.status == 200 {
				if resp.Body != "1158201444" || resp.Headers["Content-Type"] != "text/plain; charset=utf-8" {
					t.Fatalf("answer %q (%s), want the challenge as text/plain", resp.Body, resp.Headers["Content-Type"])
				}
			} else if strings.Contains(resp.Body, "1158201444") {
				t.Fatalf("refused handshake echoed the challenge: %s", resp.Body)
			}
		})
	}
	t.Run("query parameters without a raw query string", func(t *testing.T) {
		ev := getEvent(t, ok.Encode())
		ev.RawQueryString = ""
		resp := e.call(t, ev)
		expectStatus(t, resp, 200)
	})
	e.expectEmpty(t)
}

func TestSignedPostIsEnqueuedVerbatim(t *testing.T) {
	e := newEnv(t)
	// Meta's bytes as sent, white space and key order included.
	body := []byte("{\n  \"object\": \"page\",\n  \"entry\": " + leadgen[len(`{"object":"page","entry":`):len(leadgen)-1] + "\n}\n")
	before := time.Now().UnixMilli()
	ev := signedPost(t, body)
	expectReceived(t, e.call(t, ev))

	msgs := e.drain(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the intake queue, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Body != string(body) {
		t.Fatalf("enqueued body differs from the signed bytes:\n got %q\nwant %q", m.Body, body)
	}
	at, _ := strconv.ParseInt(m.Attrs[intakemsg.AttrReceivedAt], 10, 64)
	if at < before-1000 || at > time.Now().UnixMilli() {
		t.Errorf("received_at %d is not the time of the POST (%d)", at, before)
	}
	delete(m.Attrs, intakemsg.AttrReceivedAt)
	want := map[string]string{intakemsg.AttrObject: "page", intakemsg.AttrPayload: intakemsg.PayloadWhole, intakemsg.AttrEncoding: intakemsg.EncodingText}
	if diff := cmp.Diff(want, m.Attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

func TestBadSignaturesEnqueueNothing(t *testing.T) {
	e := newEnv(t)
	body := []byte(leadgen)
	good := meta.Sign([]byte(devAppSecret), body)
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"missing", nil},
		{"empty", []string{meta.SignatureHeader, ""}},
		{"sha1 only", []string{"X-Hub-Signature", "sha1=4535db3719822abb58424b1b2a7a64504e98448a"}},
		{"malformed: no prefix", []string{meta.SignatureHeader, good[len("sha256="):]}},
		{"malformed: not hex", []string{meta.SignatureHeader, "sha256=" + strings.Repeat("zz", 32)}},
		{"malformed: short", []string{meta.SignatureHeader, good[:len(good)-2]}},
		{"malformed: two values", []string{meta.SignatureHeader, good + "," + good}},
		{"other app secret", []string{meta.SignatureHeader, meta.Sign([]byte("other-app-secret"), body)}},
		{"other body", []string{meta.SignatureHeader, meta.Sign([]byte(devAppSecret), append(body, ' '))}},
		{"one bit flipped", []string{meta.SignatureHeader, good[:len(good)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", good[len(good)-1])+1)%16])}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectStatus(t, e.call(t, postEvent(t, body, tc.headers...)), 401)
		})
	}
	// The signature covers the raw bytes: a base64-encoded event is checked
	// against the decoded body, not the base64 text.
	ev := postEvent(t, body, meta.SignatureHeader, meta.Sign([]byte(devAppSecret), []byte(base64.StdEncoding.EncodeToString(body))))
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	expectStatus(t, e.call(t, ev), 401)
	e.expectEmpty(t)
}

func TestBase64Body(t *testing.T) {
	e := newEnv(t)
	body := []byte(leadgen)
	ev := signedPost(t, body)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	expectReceived(t, e.call(t, ev))
	msgs := e.drain(t)
	if len(msgs) != 1 || msgs[0].Body != leadgen || msgs[0].Attrs[intakemsg.AttrEncoding] != intakemsg.EncodingText {
		t.Fatalf("queue holds %+v, want the decoded body as text", msgs)
	}

	ev.Body = "not base64!"
	expectStatus(t, e.call(t, ev), 400)
	// A signed empty body has nothing to keep (and SQS takes no empty message).
	expectStatus(t, e.call(t, signedPost(t, nil)), 400)
	e.expectEmpty(t)
}

func TestTooLarge(t *testing.T) {
	e := newEnv(t)
	big := bytes.Repeat([]byte(" "), app.DefaultMaxBodyBytes+1)
	copy(big, leadgen)
	expectStatus(t, e.call(t, signedPost(t, big)), 413)

	// The same through a base64 event: the limit is on the decoded bytes.
	ev := signedPost(t, big)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(big), true
	expectStatus(t, e.call(t, ev), 413)
	ev = signedPost(t, big)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(bytes.Repeat(big, 2)), true
	expectStatus(t, e.call(t, ev), 413)
	e.expectEmpty(t)

	// Exactly at the limit is accepted, and nothing of it is lost.
	body, ids := whatsappBatch(app.DefaultMaxBodyBytes - 4096)
	body = append(body, bytes.Repeat([]byte("\n"), app.DefaultMaxBodyBytes-len(body))...)
	expectReceived(t, e.call(t, signedPost(t, body)))
	checkFragments(t, body, ids, e.drain(t))
}

func TestQueueFailureAnswers5xx(t *testing.T) {
	e := newEnv(t)
	// Point the function at a queue that does not exist.
	webhookEnv(t, e.stack, e.queueURL+"-missing")
	cfg, err := config.Load[config.Webhook]()
	if err != nil {
		t.Fatal(err)
	}
	logs := &devstacktest.LogBuffer{}
	h, err := app.New(context.Background(), cfg, logging.New(logs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	big, _ := whatsappBatch(600 << 10)
	for _, body := range [][]byte{[]byte(leadgen), big} {
		resp, err := h(context.Background(), signedPost(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode < 500 || resp.StatusCode > 599 {
			t.Fatalf("status %d when the queue is unreachable, want 5xx so Meta retries", resp.StatusCode)
		}
	}
	if !strings.Contains(logs.String(), "webhook enqueue failed") {
		t.Errorf("failure not logged:\n%s", logs)
	}
}

// TestLargeWhatsAppBatch sends the largest realistic WhatsApp notification,
// 1 MB: it is cut into fragments that together hold every change once.
func TestLargeWhatsAppBatch(t *testing.T) {
	e := newEnv(t)
	body, ids := whatsappBatch(1 << 20)
	expectReceived(t, e.call(t, signedPost(t, body)))
	msgs := e.drain(t)
	if len(msgs) < 4 {
		t.Fatalf("%d messages for 1 MB, want a split set of at least 4", len(msgs))
	}
	checkFragments(t, body, ids, msgs)
}

// TestOversizedChangeIsSplitInsideItsValue: one change whose statuses alone
// exceed a message is cut along its statuses, its metadata in every piece.
func TestOversizedChangeIsSplitInsideItsValue(t *testing.T) {
	e := newEnv(t)
	var statuses []string
	var ids []string
	for i := 0; len(strings.Join(statuses, ",")) < 700<<10; i++ {
		id := fmt.Sprintf("wamid.HBgMOTE5ODc2NTAwMDAxFQIAERgS%010d", i)
		statuses = append(statuses, fmt.Sprintf(`{"id":%q,"status":"delivered","timestamp":"1795860930","recipient_id":"919876500001","conversation":{"id":"c1","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"marketing"}}`, id))
		ids = append(ids, id+"/delivered")
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[` +
		strings.Join(statuses, ",") + `]},"field":"messages"}]}]}`)
	expectReceived(t, e.call(t, signedPost(t, body)))
	msgs := e.drain(t)
	if len(msgs) < 3 {
		t.Fatalf("%d messages, want a split set", len(msgs))
	}
	checkFragments(t, body, ids, msgs)
	for _, m := range msgs {
		if !strings.Contains(m.Body, `"metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}`) {
			t.Fatalf("fragment %s lacks the change's metadata", m.Attrs[intakemsg.AttrSplitIndex])
		}
	}
}

// checkFragments checks that msgs is the split set of body: same split id
// (the body's SHA-256), indexes 0..n-1, each a Meta webhook of the same
// object, and that together they hold every id of the body exactly once
// and every change, byte for byte, exactly once.
func checkFragments(t *testing.T, body []byte, ids []string, msgs []queued) {
	t.Helper()
	var got []string
	var changes []string
	for i, m := range msgs {
		if m.Attrs[intakemsg.AttrPayload] != intakemsg.PayloadFragment || m.Attrs[intakemsg.AttrSplitIndex] != strconv.Itoa(i) ||
			m.Attrs[intakemsg.AttrSplitCount] != strconv.Itoa(len(msgs)) || m.Attrs[intakemsg.AttrSplitID] != msgs[0].Attrs[intakemsg.AttrSplitID] ||
			m.Attrs[intakemsg.AttrObject] != meta.ObjectWhatsAppBusinessAccount {
			t.Fatalf("message %d attributes %v", i, m.Attrs)
		}
		frag := m.payload(t)
		w, err := meta.ParseWebhook(frag)
		if err != nil {
			t.Fatalf("fragment %d is not a webhook: %v", i, err)
		}
		for _, en := range w.Entry {
			for _, c := range en.Changes {
				v, err := c.WhatsApp()
				if err != nil {
					t.Fatalf("fragment %d: %v", i, err)
				}
				for _, msg := range v.Messages {
					got = append(got, msg.ID)
				}
				for _, st := range v.Statuses {
					got = append(got, st.ID+"/"+st.Status)
				}
			}
		}
		changes = append(changes, rawChanges(t, frag)...)
	}
	sort.Strings(got)
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ids across the fragments (-body +fragments):\n%s", diff)
	}
	// When whole changes were kept, they are the body's, byte for byte.
	if orig := rawChanges(t, body); len(orig) == len(changes) {
		sort.Strings(orig)
		sort.Strings(changes)
		if diff := cmp.Diff(orig, changes); diff != "" {
			t.Fatalf("changes differ from the signed bytes:\n%s", diff)
		}
	}
}

// rawChanges returns the raw bytes of every change of a webhook.
func rawChanges(t *testing.T, body []byte) []string {
	t.Helper()
	var w struct {
		Entry []struct {
			Changes []json.RawMessage `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			out = append(out, string(c))
		}
	}
	return out
}

// TestNonJSONIsEnqueued: a body with a valid signature is enqueued whatever
// it holds; ingest dead-letters what it cannot read, with a reason.
func TestNonJSONIsEnqueued(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     []byte
		payload  string
		encoding string
	}{
		{"text", []byte("hub.mode=not-json&x=1"), intakemsg.PayloadWhole, intakemsg.EncodingText},
		{"truncated JSON", []byte(leadgen[:100]), intakemsg.PayloadWhole, intakemsg.EncodingText},
		{"binary", []byte{0x00, 0xff, 0xfe, '{', 0x01}, intakemsg.PayloadWhole, intakemsg.EncodingBase64},
		{"control character", []byte(leadgen[:50] + "\x07" + leadgen[50:]), intakemsg.PayloadWhole, intakemsg.EncodingBase64},
		{"JSON with U+FFFF", []byte("{\"object\":\"page\",\"entry\":[],\"x\":\"\uffff\"}"), intakemsg.PayloadWhole, intakemsg.EncodingBase64},
		{"large text", bytes.Repeat([]byte("not json, "), 60<<10), intakemsg.PayloadPart, intakemsg.EncodingBase64},
		{"large binary", bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 200<<10), intakemsg.PayloadPart, intakemsg.EncodingBase64},
		{"large JSON string", []byte(`{"object":"page","entry":[],"x":"` + strings.Repeat("a", 300<<10) + `"}`), intakemsg.PayloadPart, intakemsg.EncodingBase64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ev := signedPost(t, tc.body)
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(tc.body), true
			expectReceived(t, e.call(t, ev))
			msgs := e.drain(t)
			if len(msgs) == 0 {
				t.Fatal("nothing enqueued")
			}
			var joined []byte
			for i, m := range msgs {
				if m.Attrs[intakemsg.AttrPayload] != tc.payload || m.Attrs[intakemsg.AttrEncoding] != tc.encoding {
					t.Fatalf("message %d attributes %v, want payload %s encoding %s", i, m.Attrs, tc.payload, tc.encoding)
				}
				joined = append(joined, m.payload(t)...)
			}
			if !bytes.Equal(joined, tc.body) {
				t.Fatalf("the messages hold %d bytes that differ from the %d signed bytes", len(joined), len(tc.body))
			}
			if tc.payload == intakemsg.PayloadWhole && len(msgs) != 1 {
				t.Fatalf("%d messages for a small body", len(msgs))
			}
		})
	}
}

func TestObjectAttribute(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ body, want string }{
		{leadgen, "page"},
		{`{"entry":[{"id":"1","changes":[{"field":"object","value":{"object":"x"}}]}],"object":"whatsapp_business_account"}`, "whatsapp_business_account"},
		{`{"obj\u0065ct":"instagram","entry":[]}`, "instagram"},
		{`{"object":"Page","entry":[]}`, intakemsg.ObjectUnknown},
		{`{"object":"a\"b","entry":[]}`, intakemsg.ObjectUnknown},
		{`{"object":7,"entry":[]}`, intakemsg.ObjectUnknown},
		{`{"entry":[]}`, intakemsg.ObjectUnknown},
		{`["object","page"]`, intakemsg.ObjectUnknown},
	} {
		expectReceived(t, e.call(t, signedPost(t, []byte(tc.body))))
		msgs := e.drain(t)
		if len(msgs) != 1 || msgs[0].Attrs[intakemsg.AttrObject] != tc.want || msgs[0].Body != tc.body {
			t.Errorf("%s: enqueued %+v, want object %q", tc.body, msgs, tc.want)
		}
	}
}

func TestGoldenEvents(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		file    string
		status  int
		body    string
		enqueue string // the exact bytes expected on the queue, if any
	}{
		{file: "handshake-ok.json", status: 200, body: "1158201444"},
		{file: "handshake-bad-token.json", status: 403},
		{file: "post-leadgen.json", status: 200, body: app.Received, enqueue: leadgen},
		{file: "post-bad-signature.json", status: 401},
		{file: "post-base64.json", status: 200, body: app.Received},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev := loadEvent(t, tc.file)
			resp := e.call(t, ev)
			expectStatus(t, resp, tc.status)
			if tc.body != "" && resp.Body != tc.body {
				t.Fatalf("body %q, want %q", resp.Body, tc.body)
			}
			msgs := e.drain(t)
			if tc.status != 200 || ev.RequestContext.HTTP.Method == "GET" {
				if len(msgs) != 0 {
					t.Fatalf("%d messages enqueued", len(msgs))
				}
				return
			}
			want := tc.enqueue
			if ev.IsBase64Encoded {
				raw, _ := base64.StdEncoding.DecodeString(ev.Body)
				want = string(raw)
			}
			if len(msgs) != 1 || msgs[0].Body != want {
				t.Fatalf("enqueued %+v, want the signed bytes %q", msgs, want)
			}
			if at := msgs[0].Attrs[intakemsg.AttrReceivedAt]; at != strconv.FormatInt(ev.RequestContext.TimeEpoch, 10) {
				t.Errorf("received_at %s, want the event's time %d", at, ev.RequestContext.TimeEpoch)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	ev := signedPost(t, []byte(leadgen))
	ev.RawPath, ev.RequestContext.HTTP.Path = "/webhooks/other", "/webhooks/other"
	expectStatus(t, e.call(t, ev), 404)
	ev = signedPost(t, []byte(leadgen))
	ev.RequestContext.HTTP.Method = "PUT"
	resp := e.call(t, ev)
	expectStatus(t, resp, 405)
	if resp.Headers["Allow"] != "GET, POST" {
		t.Errorf("Allow = %q", resp.Headers["Allow"])
	}
	e.expectEmpty(t)
}

// TestSecretsStayOutOfLogs: neither secret, nor a signature, nor any of the
// payload reaches a log line, whatever the outcome.
func TestSecretsStayOutOfLogs(t *testing.T) {
	e := newEnv(t)
	body := []byte(leadgen)
	e.call(t, signedPost(t, body))
	e.call(t, postEvent(t, body, meta.SignatureHeader, meta.Sign([]byte("x"), body)))
	e.call(t, getEvent(t, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+devVerifyToken))
	e.call(t, getEvent(t, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess-"+devVerifyToken))
	e.drain(t)
	logs := e.logs.String()
	for _, s := range []string{devAppSecret, devVerifyToken, meta.Sign([]byte(devAppSecret), body)[7:], "1265891478201447", "1158201444",
		e.appSecretCiphertext, e.verifyTokenCiphertext} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
	for _, want := range []string{"webhook enqueued", "webhook refused", "webhook subscription verified", "webhook handshake refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestNewRefusesCiphertextsForAnotherPurpose: the app secret's ciphertext
// cannot stand in for the verify token and vice versa.
func TestNewRefusesCiphertextsForAnotherPurpose(t *testing.T) {
	s := provisioned(t)
	webhookEnv(t, s, "http://127.0.0.1:1/unused")
	t.Setenv(topology.EnvMetaAppSecretCiphertext, s.verifyTokenCiphertext)
	t.Setenv(topology.EnvMetaVerifyTokenCiphertext, s.appSecretCiphertext)
	cfg, err := config.Load[config.Webhook]()
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(context.Background(), cfg, logging.New(&devstacktest.LogBuffer{}, slog.LevelDebug))
	if err == nil {
		t.Fatal("app.New accepted swapped ciphertexts")
	}
	for _, leak := range []string{devAppSecret, devVerifyToken, s.appSecretCiphertext} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error leaks %q: %v", leak, err)
		}
	}
	if !strings.Contains(err.Error(), topology.EnvMetaAppSecretCiphertext) {
		t.Errorf("error %v does not name the variable to fix", err)
	}
}

func TestConfigNeedsBothCiphertexts(t *testing.T) {
	s := provisioned(t)
	webhookEnv(t, s, "http://127.0.0.1:1/unused")
	t.Setenv(topology.EnvMetaAppSecretCiphertext, "")
	t.Setenv(topology.EnvMetaVerifyTokenCiphertext, "")
	_, err := config.Load[config.Webhook]()
	if err == nil {
		t.Fatal("config loaded without the ciphertexts")
	}
	for _, k := range []string{topology.EnvMetaAppSecretCiphertext, topology.EnvMetaVerifyTokenCiphertext} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %v does not name %s", err, k)
		}
	}
	webhookEnv(t, s, "http://127.0.0.1:1/unused")
	cfg, err := config.Load[config.Webhook]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBodyBytes != 3<<20 || cfg.KeyID != s.res.KeyID {
		t.Errorf("config %+v: want 3 MiB body limit and the key id", cfg)
	}
}

// TestPurposesMatchTopology: the purposes the function decrypts with are
// the ones the stack grants and the local runner encrypts for.
func TestPurposesMatchTopology(t *testing.T) {
	fn, _ := topology.Default().Function("webhook")
	got := map[string]string{}
	for _, p := range fn.Params {
		got[p.Env] = p.Purpose
	}
	want := map[string]string{
		"LEADLUENCE_META_APP_SECRET_CIPHERTEXT":   app.PurposeAppSecret,
		"LEADLUENCE_META_VERIFY_TOKEN_CIPHERTEXT": app.PurposeVerifyToken,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("params (-function +topology):\n%s", diff)
	}
	if diff := cmp.Diff([]string{app.PurposeAppSecret, app.PurposeVerifyToken}, fn.Access.KeyDecryptPurposes); diff != "" {
		t.Errorf("granted purposes (-function +topology):\n%s", diff)
	}
}

// TestServesTheTopologyRoutes: every route the topology gives the webhook
// (and so the CDK stack and the local runner) reaches a handler.
func TestServesTheTopologyRoutes(t *testing.T) {
	e := newEnv(t)
	fn, _ := topology.Default().Function("webhook")
	if len(fn.Routes) != 2 {
		t.Fatalf("topology routes %v, want GET and POST %s", fn.Routes, app.Path)
	}
	for _, r := range fn.Routes {
		if r.Path != app.Path {
			t.Errorf("topology route %s is not %s", r.Key(), app.Path)
		}
		ev := signedPost(t, []byte(leadgen))
		if r.Method == "GET" {
			ev = getEvent(t, "hub.mode=subscribe&hub.challenge=1&hub.verify_token="+devVerifyToken)
		}
		ev.RouteKey = r.Key()
		if resp := e.call(t, ev); resp.StatusCode != 200 {
			t.Errorf("%s answered %d", r.Key(), resp.StatusCode)
		}
	}
	e.drain(t)
}

// TestMetaSamples: every Meta body in events/meta, signed, is enqueued as
// one message holding exactly its bytes, with its object.
func TestMetaSamples(t *testing.T) {
	files, err := filepath.Glob("../../../events/meta/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in events/meta: %v", err)
	}
	e := newEnv(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			w, err := meta.ParseWebhook(body)
			if err != nil {
				t.Fatal(err)
			}
			expectReceived(t, e.call(t, signedPost(t, body)))
			msgs := e.drain(t)
			if len(msgs) != 1 {
				t.Fatalf("enqueued %d messages, want 1", len(msgs))
			}
			if msgs[0].Body != string(body) || msgs[0].Attrs[intakemsg.AttrObject] != w.Object {
				t.Fatalf("enqueued object %q and %d bytes, want object %q and the %d signed bytes",
					msgs[0].Attrs[intakemsg.AttrObject], len(msgs[0].Body), w.Object, len(body))
			}
		})
	}
}
