package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/shared/sesmail"
	"github.com/leadluence/backend/shared/unsubscribe"
)

// TestOneClickUnsubscribe follows an email from the api through the sender
// (SES stand-in) to its List-Unsubscribe link, POSTed as a mailbox provider
// does (RFC 8058): one email marketing opt-out, however often it is
// POSTed; a tampered token is 404; later emails are refused.
func TestOneClickUnsubscribe(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	addr := "asha.unsub." + cid() + "@example.com"
	leadID := e.createLead(t, owner, map[string]any{"name": "Asha", "email": addr}).str("id")

	// The sender, as the sender function builds it, with the api's URL.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealer := envelope.New(kms.NewFromConfig(cfg), e.cfg.KeyID, envelope.Options{})
	sender := &outbound.Sender{Store: e.store, Mailer: sesmail.New(sesv2.NewFromConfig(cfg), ""), Tokens: sealer, EmailFrom: "no-reply@leadluence.local",
		Unsubscribe: &unsubscribe.Links{BaseURL: e.srv.URL, Keys: &unsubscribe.Lazy{Store: e.store, Sealer: sealer}}}
	from := e.verifiedSender(t, owner)
	// The html part goes to SES as the api sanitized and stored it.
	expect(t, e.send(t, owner, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Your visit", "text": "See you Friday.",
		"html": `<p onclick="steal()">See you <b>Friday</b>.<script>alert(1)</script></p><form><input name="otp"></form><a href="javascript:alert(1)">map</a>`}), 202)
	var providerID string
	for _, job := range e.jobs(t) {
		res, err := sender.Send(ctx, outbound.Delivery{Job: sendgate.Job{OrgID: job["org_id"], LeadID: job["lead_id"], MessageID: job["message_id"]}, ReceiveCount: 1})
		if err != nil || res.Outcome != outbound.OutcomeSent {
			t.Fatalf("send %v: %+v, %v", job, res, err)
		}
		providerID = res.ProviderID
	}
	if mail := sentMail(t, providerID); mail.Body.HTML != "<p>See you <b>Friday</b>.</p>map" || mail.Body.Text != "See you Friday." ||
		mail.From != `"Sharma Realty" <`+from+`>` {
		t.Fatalf("SES copy: from %q, text %q, html %q", mail.From, mail.Body.Text, mail.Body.HTML)
	}
	headers := sentHeaders(t, providerID)
	link := strings.TrimSuffix(strings.TrimPrefix(headers["List-Unsubscribe"], "<"), ">")
	if !strings.HasPrefix(link, e.srv.URL+"/v1/unsubscribe/") || headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Fatalf("unsubscribe headers %v", headers)
	}
	path := strings.TrimPrefix(link, e.srv.URL)

	oneClick := func(path string) response {
		t.Helper()
		return e.do(t, "POST", path, "", "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
	}
	for range 2 {
		expect(t, oneClick(path), 200)
	}
	ledger, err := e.store.ConsentLedger(ctx, owner.OrgID, leadID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[0].Channel != conversation.ChannelEmail || ledger[0].Purpose != conversation.PurposeMarketing ||
		ledger[0].Action != conversation.OptOut || ledger[0].Source != "one_click_unsubscribe" || ledger[0].Evidence == "" ||
		strings.Contains(ledger[0].Evidence, addr) {
		t.Fatalf("ledger %+v", ledger)
	}

	// A tampered token is no link at all: a changed signature, or the
	// signature of this lead under another lead's id.
	dot := strings.LastIndexByte(path, '.')
	flip := map[byte]string{'A': "B"}[path[dot+1]]
	if flip == "" {
		flip = "A"
	}
	tampered := path[:dot+1] + flip + path[dot+2:]
	r := oneClick(tampered)
	expect(t, r, 404)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("tampered token answered %s: %s", ct, r.Raw)
	}
	expect(t, oneClick("/v1/unsubscribe/not-a-token"), 404)
	other := e.createLead(t, owner, map[string]any{"name": "Ravi", "email": "ravi.unsub." + cid() + "@example.com"}).str("id")
	expect(t, oneClick(unsubscribe.PathPrefix+base64.RawURLEncoding.EncodeToString([]byte(owner.OrgID+"\x00"+other))+path[dot:]), 404)
	// A valid token of a lead that is gone answers as any other.
	signer, err := unsubscribe.Open(ctx, e.store, sealer)
	if err != nil || signer == nil {
		t.Fatalf("open unsubscribe key: %v", err)
	}
	expect(t, oneClick("/v1/unsubscribe/"+signer.Token(owner.OrgID, "01J000000000000000000GONE0")), 200)

	// The lead gets no more email.
	problemCode(t, e.send(t, owner, leadID, map[string]any{"channel": "email", "client_message_id": cid(), "subject": "Offer", "text": "20% off"}), 409, "opted_out")
	if ledger, _ := e.store.ConsentLedger(ctx, owner.OrgID, leadID); len(ledger) != 1 {
		t.Fatalf("ledger after all %+v", ledger)
	}
}

// sesCopy is the SES stand-in's copy of a sent mail.
type sesCopy struct {
	MessageID string `json:"messageId"`
	From      string `json:"from"`
	Body      struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
}

// sentMail returns the SES stand-in's copy of the mail SES accepted as
// messageID, waiting for it a few seconds.
func sentMail(t *testing.T, messageID string) sesCopy {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/") + "/store")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Emails []sesCopy `json:"emails"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(st.Emails, func(m sesCopy) bool { return m.MessageID == messageID }); i >= 0 {
			return st.Emails[i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("SES stand-in has no mail %s", messageID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sentHeaders returns the headers of the mail SES accepted as messageID.
func sentHeaders(t *testing.T, messageID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range sentMail(t, messageID).Headers {
		out[h.Name] = h.Value
	}
	return out
}
