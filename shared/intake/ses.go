package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
)

// SES reports what happened to an email (delivery, bounce, complaint)
// through an SNS topic subscribed to the intake queue, so those events take
// the same path as Meta's: the SQS body is the SNS notification whose
// Message is the SES event.

// snsEnvelope is the part of an SNS notification intake reads.
type snsEnvelope struct {
	Type     string `json:"Type"`
	TopicArn string `json:"TopicArn"`
	Message  string `json:"Message"`
}

// sesEvent is an SES event-publishing record (eventType) or notification
// (notificationType).
type sesEvent struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		MessageID string `json:"messageId"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		Timestamp         string `json:"timestamp"`
		BouncedRecipients []struct {
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		Timestamp             string `json:"timestamp"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Delivery *struct {
		Timestamp string `json:"timestamp"`
	} `json:"delivery"`
}

// isSNS reports whether payload is an SNS notification rather than a Meta
// webhook, without decoding more than the envelope.
func isSNS(payload []byte) (snsEnvelope, bool) {
	if !bytes.Contains(payload, []byte(`"TopicArn"`)) {
		return snsEnvelope{}, false
	}
	var env snsEnvelope
	if err := json.Unmarshal(payload, &env); err != nil || env.Type != "Notification" || env.TopicArn == "" {
		return snsEnvelope{}, false
	}
	return env, true
}

// emailEvent applies one SES event: a delivery moves the message to
// delivered; a bounce or complaint fails it with the reason, and a hard
// bounce or a complaint also writes an email opt-out to the lead's consent
// ledger, so nobody mails that address again.
func (p *Processor) emailEvent(ctx context.Context, env snsEnvelope, c *Counts) error {
	var ev sesEvent
	if err := json.Unmarshal([]byte(env.Message), &ev); err != nil {
		return permanent("SES event in an SNS notification: %v", err)
	}
	kind := ev.EventType
	if kind == "" {
		kind = ev.NotificationType
	}
	if ev.Mail.MessageID == "" {
		return permanent("SES %s event without mail.messageId", kind)
	}
	m, err := p.Store.MessageByProviderID(ctx, ev.Mail.MessageID)
	if errors.Is(err, conversation.ErrUnknownMessage) {
		return fmt.Errorf("%w: SES %s for unknown message", ErrRetry, kind)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRetry, err)
	}
	st := conversation.StatusEvent{ProviderID: ev.Mail.MessageID, At: p.now()}
	optOut := ""
	switch {
	case kind == "Delivery" && ev.Delivery != nil:
		st.Status, st.At = conversation.StatusDelivered, sesTime(ev.Delivery.Timestamp, st.At)
	case kind == "Bounce" && ev.Bounce != nil:
		st.Status, st.At = conversation.StatusFailed, sesTime(ev.Bounce.Timestamp, st.At)
		st.ErrorTitle = "bounce: " + ev.Bounce.BounceType + "/" + ev.Bounce.BounceSubType
		if ev.Bounce.BounceType == "Permanent" {
			optOut = "hard_bounce"
		}
	case kind == "Complaint" && ev.Complaint != nil:
		// The mail was delivered; the recipient marked it as spam.
		st.Status, st.At = conversation.StatusDelivered, sesTime(ev.Complaint.Timestamp, st.At)
		optOut = "complaint"
	default:
		p.Log.InfoContext(ctx, "ignoring SES event", "type", kind)
		return nil
	}
	if _, err := p.Store.ApplyStatus(ctx, st); err != nil {
		return fmt.Errorf("%w: apply SES %s: %w", ErrRetry, kind, err)
	}
	c.Statuses++
	if optOut == "" {
		return nil
	}
	// Keyed by the SES message id, so a redelivered event writes no second entry.
	entry := conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(st.At), ulid.DefaultEntropy()).String(), OrgID: m.OrgID, LeadID: m.LeadID,
		Channel: conversation.ChannelEmail, Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: st.At,
		Evidence: ev.Mail.MessageID, Source: optOut}
	if err := p.Store.AppendConsentOnce(ctx, entry); err != nil {
		return fmt.Errorf("%w: email opt-out: %w", ErrRetry, err)
	}
	c.OptOuts++
	return nil
}

func sesTime(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && eventTime(t) {
		return t.UTC()
	}
	return fallback
}
