// Package outbound sends the messages the api function queues: it re-checks
// the gates (consent, WhatsApp's 24-hour customer-service window, an active
// integration), paces sends per business number and per recipient across
// concurrent invocations (a DynamoDB-backed limiter), calls the WhatsApp
// Cloud API or SES v2, and records the outcome on the message's state
// machine (queued → sending → accepted / failed / unknown).
//
// A message is sent at most once: only the invocation whose claim (queued →
// sending) succeeds calls the provider, and a message found in "sending"
// whose sender is gone is marked unknown, never sent again.
package outbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
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
	From    string `json:"from,omitempty"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
	// UnsubscribeURL, when set, is an https URL that unsubscribes the
	// recipient with one POST (RFC 8058). The email then carries it in
	// List-Unsubscribe with List-Unsubscribe-Post; without it only a mailto
	// to the From address is offered.
	UnsubscribeURL string `json:"unsubscribe_url,omitempty"`
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

// waMessage is the part of a WhatsApp Cloud API message object the sender
// reads.
type waMessage struct {
	MessagingProduct string `json:"messaging_product"`
	To               string `json:"to"`
	Type             string `json:"type"`
}

// parseWhatsApp reads the recipient and type of a WhatsApp payload. An
// absent type is "text", as for the Cloud API.
func parseWhatsApp(payload string) (waMessage, error) {
	var m waMessage
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

func parseEmail(payload string) (Email, error) {
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
