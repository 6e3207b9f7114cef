// Package sendgate is what every producer of outbound messages (the api's
// sends and campaigns, the ingest function's automations) and the sender
// must agree on, kept free of AWS service clients so that producers do not
// link the sender's: the gates a message passes before it is queued and
// again before it is sent (consent, WhatsApp's 24-hour customer-service
// window, an active integration), the stored payload and detail
// conventions those gates read, and the outbound queue's job format.
package sendgate

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Job is the body of an outbound queue message. A Job of the empty Kind
// (KindSend) names a message to send: the api function enqueues one after
// the message is stored as queued (dynamostore QueueOutbound); the sender
// consumes it. A Job of KindCampaignPage asks the sender to process the
// next page of leads of campaign CampaignID of org OrgID (see
// docs/campaigns.md).
type Job struct {
	Kind       string `json:"kind,omitempty"`
	OrgID      string `json:"org_id"`
	LeadID     string `json:"lead_id,omitempty"`
	MessageID  string `json:"message_id,omitempty"`
	CampaignID string `json:"campaign_id,omitempty"`
}

// Job kinds.
const (
	// KindSend sends the message OrgID / LeadID / MessageID.
	KindSend = ""
	// KindCampaignPage processes the next page of campaign CampaignID.
	KindCampaignPage = "campaign_page"
)

// campaignPageRef prefixes the message id of a campaign page job written
// through an enqueue function that only carries (org, lead, message) ids;
// see CampaignPageRef.
const campaignPageRef = "campaign_page:"

// CampaignPageJob is the job "process the next page of this campaign".
func CampaignPageJob(orgID, campaignID string) Job {
	return Job{Kind: KindCampaignPage, OrgID: orgID, CampaignID: campaignID}
}

// CampaignPageRef is the message id under which a campaign page job travels
// through an enqueue function shaped (org, lead, message): a Job with an
// empty LeadID and this MessageID is encoded as CampaignPageJob(org,
// campaignID). It lets the api function's existing enqueue put page jobs
// on the queue.
func CampaignPageRef(campaignID string) string { return campaignPageRef + campaignID }

// RequeueStuckAfter is how long a message may stay queued after it was
// written before a producer that finds it so (a retried send, a campaign
// page processed again) puts its job on the queue again: the producer may
// have stopped between the write and the enqueue. The sender claims each
// message once (queued → sending), so a second job never sends twice.
const RequeueStuckAfter = 10 * time.Minute

// Encode returns the job as the queue message body. A send job whose ids
// are a CampaignPageRef is encoded as the campaign page job it stands for.
func (j Job) Encode() string {
	if j.Kind == KindSend && j.LeadID == "" && strings.HasPrefix(j.MessageID, campaignPageRef) {
		j = CampaignPageJob(j.OrgID, strings.TrimPrefix(j.MessageID, campaignPageRef))
	}
	b, _ := json.Marshal(j) // strings only: cannot fail
	return string(b)
}

// ErrBadJob means a queue message body is not a Job.
var ErrBadJob = errors.New("not an outbound job")

// DecodeJob parses a queue message body. A send job needs org_id, lead_id
// and message_id; a campaign page job org_id and campaign_id; any other
// kind is an ErrBadJob.
func DecodeJob(body string) (Job, error) {
	var j Job
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w: %w", ErrBadJob, err)
	}
	var required map[string]string
	switch j.Kind {
	case KindSend:
		required = map[string]string{"org_id": j.OrgID, "lead_id": j.LeadID, "message_id": j.MessageID}
	case KindCampaignPage:
		required = map[string]string{"org_id": j.OrgID, "campaign_id": j.CampaignID}
	default:
		return Job{}, fmt.Errorf("decode job: unknown kind %q: %w", j.Kind, ErrBadJob)
	}
	var missing []string
	for name, v := range required {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Job{}, fmt.Errorf("decode job: missing %s: %w", strings.Join(missing, ", "), ErrBadJob)
	}
	return j, nil
}

// Email is the Payload of an email message (conversation.Message.Payload,
// as JSON). An empty From means the sender's configured default address.
type Email struct {
	From string `json:"from,omitempty"`
	// ReplyTo, when set, is where replies go (SES ReplyToAddresses). The
	// api sets none: an address the org has not verified could be anyone's.
	ReplyTo string `json:"reply_to,omitempty"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// DetailCategory is the key of conversation.Message.Details that holds a
// WhatsApp template's category: CategoryMarketing, CategoryUtility or
// CategoryAuthentication. A template message without it is treated as
// marketing, the strictest consent rule.
const DetailCategory = "category"

// Template categories, as Meta names them (lower-cased).
const (
	CategoryMarketing      = "marketing"
	CategoryUtility        = "utility"
	CategoryAuthentication = "authentication"
)

// WhatsAppMessage is the part of a WhatsApp Cloud API message object (the
// Payload of a WhatsApp message) the gates and the sender read.
type WhatsAppMessage struct {
	MessagingProduct string `json:"messaging_product"`
	To               string `json:"to"`
	Type             string `json:"type"`
}

// ParseWhatsApp reads the recipient (digits only) and type of a WhatsApp
// payload. An absent type is "text", as for the Cloud API; a payload
// without a recipient is an error.
func ParseWhatsApp(payload string) (WhatsAppMessage, error) {
	var m WhatsAppMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return m, fmt.Errorf("whatsapp payload: %w", err)
	}
	if m.Type == "" {
		m.Type = "text"
	}
	m.To = digitsOf(m.To)
	if m.To == "" {
		return m, errors.New("whatsapp payload: no recipient in \"to\"")
	}
	return m, nil
}

// ParseEmail reads an email payload; to, subject and text or html are
// required.
func ParseEmail(payload string) (Email, error) {
	var e Email
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		return e, fmt.Errorf("email payload: %w", err)
	}
	if e.To == "" || e.Subject == "" || (e.Text == "" && e.HTML == "") {
		return e, errors.New("email payload: to, subject and text or html are required")
	}
	return e, nil
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
