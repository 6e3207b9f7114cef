package app_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/sendgate"
)

// reengagementRefusal is the Cloud API's answer to a free-form message
// outside the 24-hour window.
const reengagementRefusal = `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,` +
	`"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbC"}}`

// withReengager builds an env whose sender runs the re-engagement
// automation with settings st, over a Cloud API answering every send 131047.
func withReengager(t *testing.T, st automation.Settings) *env {
	t.Helper()
	e := newEnv(t, options{graphURL: refuser(t, http.StatusBadRequest, reengagementRefusal)})
	r, err := app.NewReengager(config.Sender{OutboundQueueURL: e.queueURL}, e.sender, e.sqs, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.sender.Reengage = r
	if err := automation.NewStore(e.Store).PutSettings(e.Ctx, e.OrgID, st); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) outboundOf(l lead.Lead) []conversation.Message {
	e.t.Helper()
	msgs, err := e.Store.Messages(e.Ctx, e.OrgID, l.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []conversation.Message
	for _, m := range msgs {
		if m.Direction == conversation.Outbound {
			out = append(out, m)
		}
	}
	return out
}

var autoReengage = automation.Settings{Reengagement: automation.Reengagement{AutoSend: true, Template: "still_interested", Language: "en"}}

// TestReengagementQueuedOnceWhenSendAnswers131047: the send itself answers
// 131047 (WhatsApp's clock saw the window closed); the org's template is
// queued once, however often the job is redelivered, and its own failure
// queues nothing more.
func TestReengagementQueuedOnceWhenSendAnswers131047(t *testing.T) {
	e := withReengager(t, autoReengage)
	l := e.newLead(time.Now().Add(-23*time.Hour), marketingOptIn())
	m := e.queueText(l, "Shall we fix the site visit?")
	rec := e.enqueue(m)
	if failed := e.deliver(rec); len(failed) != 0 {
		t.Fatalf("retries asked: %v", failed)
	}
	if got := e.wantStatus(m, conversation.StatusFailed, "Re-engagement message"); got.ErrorCode != 131047 {
		t.Fatalf("failure %d", got.ErrorCode)
	}
	e.deliver(rec) // a redelivery queues nothing more
	msgs := e.outboundOf(l)
	if len(msgs) != 2 {
		t.Fatalf("%d outbound messages, want the failed text and one template: %+v", len(msgs), msgs)
	}
	tm := msgs[1]
	if tm.ID == m.ID {
		tm = msgs[0]
	}
	if tm.Type != "template" || tm.ClientMessageID != automation.ReengageClientID(m.ID) || tm.Details["template"] != "still_interested" ||
		tm.Details[sendgate.DetailCategory] != sendgate.CategoryMarketing || tm.Number != numberID {
		t.Fatalf("template message %+v", tm)
	}
	job := e.receive(20 * time.Second)
	j, err := sendgate.DecodeJob(job.Body)
	if err != nil || j.MessageID != tm.ID {
		t.Fatalf("job %+v (%v), want the template's", j, err)
	}
	// The stand-in refuses the template too: no template answers a template.
	e.deliver(job)
	e.wantStatus(tm, conversation.StatusFailed, "Re-engagement message")
	if n := len(e.outboundOf(l)); n != 2 {
		t.Fatalf("%d outbound messages after the template failed, want 2", n)
	}
}

func TestReengagementNeedsConsentAndAutoSend(t *testing.T) {
	e := withReengager(t, autoReengage)
	// No marketing opt-in: the template would start contact, so no send.
	l := e.newLead(time.Now().Add(-23*time.Hour), nil)
	m := e.queueText(l, "Shall we fix the site visit?")
	e.deliver(e.enqueue(m))
	e.wantStatus(m, conversation.StatusFailed, "Re-engagement message")
	if msgs := e.outboundOf(l); len(msgs) != 1 {
		t.Fatalf("sent without consent: %+v", msgs)
	}
	// Auto-send off: nothing, even with consent.
	off := autoReengage
	off.Reengagement.AutoSend = false
	if err := automation.NewStore(e.Store).PutSettings(e.Ctx, e.OrgID, off); err != nil {
		t.Fatal(err)
	}
	l = e.newLead(time.Now().Add(-23*time.Hour), marketingOptIn())
	m = e.queueText(l, "Shall we fix the site visit?")
	e.deliver(e.enqueue(m))
	e.wantStatus(m, conversation.StatusFailed, "Re-engagement message")
	if msgs := e.outboundOf(l); len(msgs) != 1 {
		t.Fatalf("sent while off: %+v", msgs)
	}
}
