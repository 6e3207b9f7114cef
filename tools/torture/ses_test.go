package torture_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/tools/devstack"
)

// The SES leg: emails to leads through api -> outbound -> sender -> the SES
// stand-in, then SES's reports of them (deliveries, bounces, complaints)
// as SNS notifications straight onto the intake queue (SNS -> SQS does not
// pass the webhook), each 1-3 times, shuffled, consumed by ingest under the
// run's faults.

// sesFate is what happened to one email, as SES reports it.
type sesFate int

// The fates of an email.
const (
	fateDelivered  sesFate = iota // a Delivery event
	fateHardBounce                // a Permanent bounce
	fateSoftBounce                // a Transient bounce
	fateComplaint                 // a Delivery, then a Complaint (in any order on the queue)
)

func (f sesFate) String() string {
	return [...]string{"delivered", "hard bounce", "soft bounce", "complaint"}[f]
}

// status is the status the fate's events imply, by conversation.Status.Rank
// as ApplyStatus applies it: a bounce applies failed (rank 100, final),
// delivery and complaint both apply delivered (rank 4), so the message ends
// failed after any bounce and delivered otherwise, whatever the order.
func (f sesFate) status() conversation.Status {
	if f == fateHardBounce || f == fateSoftBounce {
		return conversation.StatusFailed
	}
	return conversation.StatusDelivered
}

// optOut is the Source of the one email opt-out the fate writes, or "".
func (f sesFate) optOut() string {
	switch f {
	case fateHardBounce:
		return "hard_bounce"
	case fateComplaint:
		return "complaint"
	}
	return ""
}

// sesEmail is one email the api accepted.
type sesEmail struct {
	org    *org
	cid    string
	leadID string
}

// sesMail is one mail the SES stand-in holds, as its /store page lists it.
type sesMail struct {
	MessageID   string `json:"messageId"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
}

// sesLeg is the SES leg's state and figures.
type sesLeg struct {
	// rng draws the leg's choices (leads, fates, copies, order) from the
	// run's seed apart from the consumers' draws, whose order the
	// interleaving decides, so a seed gives the same emails and events
	// as long as the same leads are stored.
	rng     *rand.Rand
	since   time.Time
	senders map[*org]string // the org's verified sender address
	emails  []sesEmail
	// fates is the fate of each mail the stand-in sent, by SES message id.
	fates map[string]sesFate
	// refused is the outcome of the send to an opted-out lead.
	refused string
	// unrecorded are the SES message ids of mails whose send could not be
	// recorded (the message is unknown): their events cannot be matched.
	unrecorded map[string]bool

	accepted, sent, events, copies int
	byFate                         map[sesFate]int
	outcomes                       map[conversation.Status]int
	optOuts, checked, dlqExplained int
}

// String is the leg's lines of the report.
func (s *sesLeg) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  ses: %d emails accepted by the api, %d mails sent by the SES stand-in (", s.accepted, s.sent)
	for f := fateDelivered; f <= fateComplaint; f++ {
		if f > fateDelivered {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", f, s.byFate[f])
	}
	fmt.Fprintf(&b, "); %d events in %d SNS notifications on the intake queue\n", s.events, s.copies)
	fmt.Fprintf(&b, "       %d final states checked:", s.checked)
	for _, st := range []conversation.Status{conversation.StatusAccepted, conversation.StatusDelivered, conversation.StatusFailed,
		conversation.StatusUnknown, conversation.StatusQueued, conversation.StatusSending} {
		if n := s.outcomes[st]; n > 0 {
			fmt.Fprintf(&b, " %s %d", st, n)
		}
	}
	fmt.Fprintf(&b, "; email opt-outs %d; send to an opted-out lead: %s; in the intake DLQ, explained %d\n", s.optOuts, s.refused, s.dlqExplained)
	return b.String()
}

// emailSetup makes each org able to email its leads, as an owner does
// through the api: it sets the org's own sender address (emails to leads
// never go from the platform address), follows the verification link SES
// mails to it, and creates a lead with an email address (Lead Ads leads
// carry one too). A service email, a staff member's one-to-one mail, needs
// no opt-in: only an opt-out refuses it.
func (h *harness) emailSetup() {
	h.ses = &sesLeg{rng: rand.New(rand.NewPCG(h.seed, 0x5e5)), since: time.Now(), //nolint:gosec // a test's schedule
		senders: map[*org]string{}, fates: map[string]sesFate{}, byFate: map[sesFate]int{},
		outcomes: map[conversation.Status]int{}}
	for i, o := range h.orgs {
		addr := fmt.Sprintf("team.%d.%d.%d@torture-realty.test", h.seed, h.ses.since.UnixNano(), i)
		h.callRetrying("PUT", "/v1/email/sender", o.access, map[string]string{"email": addr}, 200)
		if err := devstack.VerifyEmailIdentity(h.ctx, os.Getenv("AWS_ENDPOINT_URL_SESV2"), addr); err != nil {
			h.t.Fatal(err)
		}
		// The api asks SES again about a pending address a minute after
		// its last check: back-date that check, as a minute's wait would.
		if ok, err := h.store.ClaimEmailSenderCheck(h.ctx, o.id, addr, time.Now().Add(time.Hour), time.Now().Add(-2*time.Minute)); err != nil || !ok {
			h.t.Fatalf("back-date the sender check of org %s: %v %v", o.id, ok, err)
		}
		if r := h.callRetrying("GET", "/v1/email/sender", o.access, nil, 200); r.str("status") != "verified" {
			h.t.Fatalf("org %s's sender address is %q after the link was followed", o.id, r.str("status"))
		}
		h.ses.senders[o] = addr
		h.callRetrying("POST", "/v1/leads", o.access, map[string]any{"name": fmt.Sprintf("Mail Lead %d", i),
			"email": fmt.Sprintf("mail.lead.%d.%d@torture.test", h.seed, i)}, 201)
	}
}

// maxEmailsPerOrg keeps a run's emails per org near the api's emails per
// org and minute (60 by default), counting retries; over it the api
// answers 429 email_rate_limited and the client waits for the next minute.
const maxEmailsPerOrg = 40

// sendEmails emails about half the leads with an email address (Lead Ads
// and api leads) once each through the api (a client retrying 5xx with the
// same client_message_id, sending some twice anyway), then drains.
func (h *harness) sendEmails() {
	for oi, o := range h.orgs {
		leads := h.allLeads(o.id)
		sort.Slice(leads, func(i, j int) bool { return leads[i].ID < leads[j].ID })
		n := 0
		for _, l := range leads {
			if l.Email == "" || n == maxEmailsPerOrg || !(strings.HasPrefix(l.Name, "Mail Lead") || h.ses.rng.Float64() < 0.5) {
				continue
			}
			n++
			cid := fmt.Sprintf("torture-%d-o%d-mail-%d", h.seed, oi, n)
			body := map[string]any{"channel": "email", "client_message_id": cid, "subject": "Your site visit " + cid,
				"text": "Dear " + l.Name + ", see you at 11."}
			times := 1
			if h.ses.rng.Float64() < 0.2 {
				times = 2
			}
			for range times {
				r := h.callRetrying("POST", "/v1/leads/"+l.ID+"/messages", o.access, body)
				if r.status == http.StatusTooManyRequests {
					// The org's emails of this minute are taken (each
					// retried 5xx may have counted too): send again in the
					// next one.
					time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)))
					r = h.callRetrying("POST", "/v1/leads/"+l.ID+"/messages", o.access, body)
				}
				switch r.status {
				case 202, 200, 503: // a 503 is not queued: the message is failed, unsent
					if !h.hasEmail(cid) {
						h.ses.emails = append(h.ses.emails, sesEmail{org: o, cid: cid, leadID: l.ID})
					}
				default:
					h.t.Fatalf("email: %d %s", r.status, r.raw)
				}
			}
		}
	}
	h.ses.accepted = len(h.ses.emails)
	h.drain(90 * time.Second)
}

func (h *harness) hasEmail(cid string) bool {
	for _, e := range h.ses.emails {
		if e.cid == cid {
			return true
		}
	}
	return false
}

// sesMails returns the mails the SES stand-in sent to leads in this run
// by client message id (the subject ends with it).
func (h *harness) sesMails() map[string][]sesMail {
	url := fmt.Sprintf("%s/store?since=%d", strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/"), h.ses.since.Unix()-1)
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, url, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []sesMail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		h.t.Fatalf("read the SES stand-in's mails: %v", err)
	}
	out := map[string][]sesMail{}
	prefix := fmt.Sprintf("Your site visit torture-%d-", h.seed)
	for _, m := range st.Emails {
		if strings.HasPrefix(m.Subject, prefix) {
			cid := strings.TrimPrefix(m.Subject, "Your site visit ")
			out[cid] = append(out[cid], m)
		}
	}
	return out
}

// snsNotification wraps an SES event-publishing record in the SNS
// notification SNS delivers to an SQS subscription without raw message
// delivery (events/ses/ holds samples).
func (h *harness) snsNotification(event map[string]any, at time.Time) []byte {
	msg, err := json.Marshal(event)
	if err != nil {
		h.t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{
		"Type":             "Notification",
		"MessageId":        fmt.Sprintf("%08x-%04x-5%03x-9%03x-%012x", h.ses.rng.IntN(1<<30), h.ses.rng.IntN(1<<16), h.ses.rng.IntN(1<<12), h.ses.rng.IntN(1<<12), h.ses.rng.IntN(1<<30)),
		"TopicArn":         "arn:aws:sns:ap-south-1:123456789012:leadluence-ses-events",
		"Message":          string(msg),
		"Timestamp":        at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
		"SigningCertURL":   "https://sns.ap-south-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
		"UnsubscribeURL":   "https://sns.ap-south-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:ap-south-1:123456789012:leadluence-ses-events:0",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return body
}

// sesEvents draws a fate for each mail the stand-in sent and returns the
// SNS notifications of its events. At least one mail gets a fate that
// opts its lead out, so that the send gate is always tried.
func (h *harness) sesEvents(mails map[string][]sesMail) [][]byte {
	cids := make([]string, 0, len(mails))
	for cid := range mails {
		cids = append(cids, cid)
	}
	sort.Strings(cids)
	optOuts := 0
	var bodies [][]byte
	for i, cid := range cids {
		for _, m := range mails[cid] {
			f := sesFate(h.ses.rng.IntN(4))
			if i == len(cids)-1 && optOuts == 0 {
				f = fateComplaint
			}
			if f.optOut() != "" {
				optOuts++
			}
			h.ses.fates[m.MessageID] = f
			h.ses.byFate[f]++
			h.ses.sent++
			sentAt := time.Now().Add(-2 * time.Minute).UTC()
			mail := map[string]any{"timestamp": sentAt.Format(time.RFC3339Nano), "source": "\"Torture Realty\" <" + h.ses.senders[h.orgOf(cid)] + ">",
				"sourceArn": "arn:aws:ses:ap-south-1:123456789012:identity/" + h.ses.senders[h.orgOf(cid)], "sendingAccountId": "123456789012",
				"messageId": m.MessageID, "destination": m.Destination.To,
				"tags": map[string][]string{"ses:configuration-set": {"leadluence-events"}}}
			at := sentAt.Add(time.Duration(1+h.ses.rng.IntN(30)) * time.Second)
			var events []map[string]any
			delivery := map[string]any{"eventType": "Delivery", "mail": mail, "delivery": map[string]any{"timestamp": at.Format(time.RFC3339Nano),
				"processingTimeMillis": 1500, "recipients": m.Destination.To, "smtpResponse": "250 2.0.0 OK", "reportingMTA": "a8-70.smtp-out.amazonses.com"}}
			bounce := func(kind, sub, status, diag string) map[string]any {
				var rcpts []map[string]any
				for _, to := range m.Destination.To {
					rcpts = append(rcpts, map[string]any{"emailAddress": to, "action": "failed", "status": status, "diagnosticCode": diag})
				}
				return map[string]any{"eventType": "Bounce", "mail": mail, "bounce": map[string]any{"bounceType": kind, "bounceSubType": sub,
					"bouncedRecipients": rcpts, "timestamp": at.Format(time.RFC3339Nano), "feedbackId": fmt.Sprintf("0100-bounce-%d", h.ses.rng.IntN(1<<30)),
					"reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"}}
			}
			switch f {
			case fateDelivered:
				events = append(events, delivery)
			case fateHardBounce:
				events = append(events, bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown"))
			case fateSoftBounce:
				events = append(events, bounce("Transient", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 mailbox full"))
			case fateComplaint:
				var rcpts []map[string]any
				for _, to := range m.Destination.To {
					rcpts = append(rcpts, map[string]any{"emailAddress": to})
				}
				events = append(events, delivery, map[string]any{"eventType": "Complaint", "mail": mail, "complaint": map[string]any{
					"complainedRecipients": rcpts, "timestamp": at.Add(time.Minute).Format(time.RFC3339Nano), "feedbackId": fmt.Sprintf("0100-complaint-%d", h.ses.rng.IntN(1<<30)),
					"userAgent": "Mozilla/5.0", "complaintFeedbackType": "abuse", "arrivalDate": at.Add(time.Minute).Format(time.RFC3339Nano)}})
			}
			for _, ev := range events {
				bodies = append(bodies, h.snsNotification(ev, at))
			}
		}
	}
	h.ses.events = len(bodies)
	return bodies
}

func (h *harness) orgOf(cid string) *org {
	for _, e := range h.ses.emails {
		if e.cid == cid {
			return e.org
		}
	}
	h.t.Fatalf("no email %s", cid)
	return nil
}

// publish is SNS delivering each notification to the intake queue 1-3
// times (SNS delivers at least once), shuffled.
func (h *harness) publish(bodies [][]byte) {
	var copies [][]byte
	for _, b := range bodies {
		for range 1 + h.ses.rng.IntN(3) {
			copies = append(copies, b)
		}
	}
	h.ses.rng.Shuffle(len(copies), func(i, j int) { copies[i], copies[j] = copies[j], copies[i] })
	url := h.env.QueueURLs[topology.QueueIntake]
	for _, b := range copies {
		if _, err := h.sqs.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(b))}); err != nil {
			h.t.Fatalf("put an SNS notification on the intake queue: %v", err)
		}
	}
	h.ses.copies = len(copies)
}

// sesRun is the SES leg after setup: emails, their events, a drain.
func (h *harness) sesRun() {
	h.sendEmails()
	h.publish(h.sesEvents(h.sesMails()))
	h.drain(120 * time.Second)
}

// sesRefusal sends one more email to a lead whose email a hard bounce or a
// complaint opted out: the api must refuse it (409 opted_out).
func (h *harness) sesRefusal(rep *report) {
	mails := h.sesMails()
	for _, e := range h.ses.emails {
		for _, m := range mails[e.cid] {
			if h.ses.fates[m.MessageID].optOut() == "" {
				continue
			}
			if mm, ok, err := h.store.MessageByClientID(h.ctx, e.org.id, e.cid); err != nil || !ok || mm.ProviderID != m.MessageID {
				continue // the send was not recorded: its events could not be applied
			}
			cid := e.cid + "-after-opt-out"
			r := h.callRetrying("POST", "/v1/leads/"+e.leadID+"/messages", e.org.access, map[string]any{"channel": "email",
				"client_message_id": cid, "subject": "Another visit " + cid, "text": "Hello again."})
			code, _ := r.body["code"].(string)
			h.ses.refused = fmt.Sprintf("%d %s (lead %s, %s)", r.status, code, e.leadID, h.ses.fates[m.MessageID])
			if r.status != http.StatusConflict || code != "opted_out" {
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: an email to lead %s after its %s was answered %d %s, want 409 opted_out",
					e.org.id, e.leadID, h.ses.fates[m.MessageID], r.status, r.raw))
			}
			return
		}
	}
	h.ses.refused = "not tried (no recorded email opted its lead out)"
}

// checkSES checks every email the api accepted: sent at most once by the
// stand-in, its final status the one its events imply, and its lead's
// ledger holding exactly one email opt-out per hard bounce or complaint
// (none for deliveries and soft bounces). It returns the SES message ids
// whose send could not be recorded (their events cannot be matched).
func (h *harness) checkSES(rep *report) map[string]bool {
	unrecorded := map[string]bool{}
	mails := h.sesMails()
	wantOptOuts := map[string][]string{} // lead id -> SES message ids whose fate opts out
	leadOrg := map[string]*org{}
	for _, e := range h.ses.emails {
		leadOrg[e.leadID] = e.org
		if _, ok := wantOptOuts[e.leadID]; !ok {
			wantOptOuts[e.leadID] = nil
		}
		m, ok, err := h.store.MessageByClientID(h.ctx, e.org.id, e.cid)
		if err != nil {
			h.t.Fatal(err)
		}
		if !ok {
			rep.lost = append(rep.lost, fmt.Sprintf("org %s: email %s accepted by the api, not stored", e.org.id, e.cid))
			continue
		}
		h.ses.checked++
		h.ses.outcomes[m.Status]++
		ms := mails[e.cid]
		switch {
		case len(ms) > 1:
			rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: email %s sent %d times by SES", e.org.id, e.cid, len(ms)))
			continue
		case m.Status == conversation.StatusQueued || m.Status == conversation.StatusSending:
			rep.lost = append(rep.lost, fmt.Sprintf("org %s: email %s (message %s) left %s (sent %d times)", e.org.id, e.cid, m.ID, m.Status, len(ms)))
			continue
		case len(ms) == 0 && m.Status != conversation.StatusFailed && m.Status != conversation.StatusUnknown:
			rep.lost = append(rep.lost, fmt.Sprintf("org %s: email %s is %s but SES never sent it", e.org.id, e.cid, m.Status))
			continue
		case len(ms) == 0:
			continue // failed or unknown, never sent: accounted for
		}
		sent := ms[0]
		if m.ProviderID == "" {
			if m.Status == conversation.StatusUnknown {
				unrecorded[sent.MessageID] = true
				continue
			}
			rep.lost = append(rep.lost, fmt.Sprintf("org %s: email %s sent as %s, stored %s without its SES message id", e.org.id, e.cid, sent.MessageID, m.Status))
			continue
		}
		if m.ProviderID != sent.MessageID {
			rep.lost = append(rep.lost, fmt.Sprintf("org %s: email %s sent as %s, stored with SES message id %s", e.org.id, e.cid, sent.MessageID, m.ProviderID))
			continue
		}
		f := h.ses.fates[sent.MessageID]
		if want := f.status(); m.Status != want {
			rep.regressed = append(rep.regressed, fmt.Sprintf("org %s: email %s (%s, %s) is %s, want %s", e.org.id, e.cid, sent.MessageID, f, m.Status, want))
		}
		if f.optOut() != "" {
			wantOptOuts[e.leadID] = append(wantOptOuts[e.leadID], sent.MessageID)
		}
	}
	leadIDs := make([]string, 0, len(wantOptOuts))
	for id := range wantOptOuts {
		leadIDs = append(leadIDs, id)
	}
	sort.Strings(leadIDs)
	for _, id := range leadIDs {
		o, want := leadOrg[id], wantOptOuts[id]
		ledger, err := h.store.ConsentLedger(h.ctx, o.id, id)
		if err != nil {
			h.t.Fatal(err)
		}
		got := map[string]int{}
		n := 0
		for _, c := range ledger {
			if c.Channel == conversation.ChannelEmail && c.Action == conversation.OptOut {
				got[c.Evidence]++
				n++
			}
		}
		h.ses.optOuts += n
		for _, mid := range want {
			switch c := got[mid]; {
			case c == 0:
				rep.lost = append(rep.lost, fmt.Sprintf("org %s: lead %s has no email opt-out for the %s of %s", o.id, id, h.ses.fates[mid], mid))
			case c > 1:
				rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: lead %s has %d email opt-outs for the %s of %s", o.id, id, c, h.ses.fates[mid], mid))
			}
		}
		if n > len(want) {
			rep.duplicated = append(rep.duplicated, fmt.Sprintf("org %s: lead %s has %d email opt-outs, want %d (%v)", o.id, id, n, len(want), got))
		}
		l, err := h.store.GetLead(h.ctx, o.id, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if optedOut := strings.HasPrefix(l.Consent[string(conversation.ChannelEmail)+":"+conversation.PurposeAll], conversation.OptOut); optedOut != (len(want) > 0) {
			rep.regressed = append(rep.regressed, fmt.Sprintf("org %s: lead %s's email consent is %q after %d opting-out events", o.id, id,
				l.Consent[string(conversation.ChannelEmail)+":"+conversation.PurposeAll], len(want)))
		}
	}
	return unrecorded
}

// sesExplained reports whether a dead-lettered intake body is an SNS
// notification of an SES event about a mail whose send could not be
// recorded (the message is unknown, without its SES message id), which
// can never be matched.
func sesExplained(body string, unrecorded map[string]bool) bool {
	var n struct{ Type, TopicArn, Message string }
	if json.Unmarshal([]byte(body), &n) != nil || n.Type != "Notification" || n.TopicArn == "" {
		return false
	}
	var ev struct {
		Mail struct {
			MessageID string `json:"messageId"`
		} `json:"mail"`
	}
	return json.Unmarshal([]byte(n.Message), &ev) == nil && unrecorded[ev.Mail.MessageID]
}
