package intake_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/meta"
)

func TestFormConsent(t *testing.T) {
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	m := conversation.ConsentMapping{Rules: []conversation.ConsentRule{
		{Question: "whatsapp_ok?", Yes: []string{"Yes"}, Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService},
		{Question: "whatsapp_again?", Yes: []string{"Yes"}, Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService},
		{Disclaimer: "email_offers", Channel: conversation.ChannelEmail, Purpose: conversation.PurposeMarketing},
	}}
	ml := meta.Lead{ID: "lg1", FormID: "f1", FieldData: []meta.FieldData{{Name: "Whatsapp_OK?", Values: []string{"yes"}},
		{Name: "whatsapp_again?", Values: []string{"Yes"}}},
		CustomDisclaimerResponses: []meta.DisclaimerResponse{{CheckboxKey: "email_offers", IsChecked: "1"}}}
	got := intake.FormConsent(m, ml, "o1", "l1", at)
	if len(got) != 2 {
		t.Fatalf("entries %+v, want one per channel and purpose", got)
	}
	wa, em := got[0], got[1]
	if wa.Channel != conversation.ChannelWhatsApp || wa.Purpose != conversation.PurposeService || wa.Action != conversation.OptIn ||
		wa.Source != conversation.SourceLeadAdsForm || wa.Evidence != "leadgen:lg1#question:whatsapp_ok?" || !wa.At.Equal(at) ||
		wa.OrgID != "o1" || wa.LeadID != "l1" || wa.ID == "" {
		t.Fatalf("whatsapp entry %+v", wa)
	}
	if em.Channel != conversation.ChannelEmail || em.Purpose != conversation.PurposeMarketing || em.Evidence != "leadgen:lg1#disclaimer:email_offers" {
		t.Fatalf("email entry %+v", em)
	}
	ml.FieldData, ml.CustomDisclaimerResponses = []meta.FieldData{{Name: "whatsapp_ok?", Values: []string{"No"}}},
		[]meta.DisclaimerResponse{{CheckboxKey: "email_offers", IsChecked: "false"}}
	if got := intake.FormConsent(m, ml, "o1", "l1", at); len(got) != 0 {
		t.Fatalf("no and unticked gave %+v", got)
	}
	if got := intake.FormConsent(conversation.ConsentMapping{}, ml, "o1", "l1", at); got != nil {
		t.Fatalf("no mapping gave %+v", got)
	}
}
