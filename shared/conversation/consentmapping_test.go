package conversation_test

import (
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/conversation"
)

func TestConsentMappingValidate(t *testing.T) {
	wa := conversation.ChannelWhatsApp
	ok := []conversation.ConsentRule{
		{Question: "whatsapp_ok?", Yes: []string{"Yes", "Haan"}, Channel: wa, Purpose: conversation.PurposeService},
		{Disclaimer: "promo", Channel: conversation.ChannelEmail, Purpose: conversation.PurposeMarketing, FormID: "123"},
		{Question: "all", Yes: []string{"yes"}, Channel: wa, Purpose: conversation.PurposeAll},
	}
	if err := (conversation.ConsentMapping{Rules: ok}).Validate(); err != nil {
		t.Fatalf("valid mapping refused: %v", err)
	}
	for _, tt := range []struct {
		rule  conversation.ConsentRule
		field string
	}{
		{conversation.ConsentRule{Yes: []string{"y"}, Channel: wa, Purpose: "service"}, "rules[0].question"},
		{conversation.ConsentRule{Question: "q", Disclaimer: "d", Yes: []string{"y"}, Channel: wa, Purpose: "service"}, "rules[0].question"},
		{conversation.ConsentRule{Question: "q", Channel: wa, Purpose: "service"}, "rules[0].yes"},
		{conversation.ConsentRule{Disclaimer: "d", Yes: []string{"y"}, Channel: wa, Purpose: "service"}, "rules[0].yes"},
		{conversation.ConsentRule{Question: "q", Yes: []string{" "}, Channel: wa, Purpose: "service"}, "rules[0].yes[0]"},
		{conversation.ConsentRule{Question: "q", Yes: []string{"y"}, Channel: "sms", Purpose: "service"}, "rules[0].channel"},
		{conversation.ConsentRule{Question: "q", Yes: []string{"y"}, Channel: wa, Purpose: "sales"}, "rules[0].purpose"},
	} {
		err := (conversation.ConsentMapping{Rules: []conversation.ConsentRule{tt.rule}}).Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
			t.Errorf("%+v: %v, want an error on %s", tt.rule, err, tt.field)
		}
	}
}

func TestConsentRuleMatches(t *testing.T) {
	a := conversation.Answer{FormID: "f1", Answers: map[string][]string{"whatsapp_ok?": {"  yes  please "}}, Checked: map[string]bool{"promo": true, "news": false}}
	tests := []struct {
		name string
		rule conversation.ConsentRule
		ev   string
		ok   bool
	}{
		{"answer yes, any case and spacing", conversation.ConsentRule{Question: "WhatsApp_OK?", Yes: []string{"Yes Please"}}, "question:whatsapp_ok?", true},
		{"answer not a yes", conversation.ConsentRule{Question: "whatsapp_ok?", Yes: []string{"yes"}}, "", false},
		{"question not asked", conversation.ConsentRule{Question: "other", Yes: []string{"yes please"}}, "", false},
		{"ticked checkbox", conversation.ConsentRule{Disclaimer: "promo"}, "disclaimer:promo", true},
		{"unticked checkbox", conversation.ConsentRule{Disclaimer: "news"}, "disclaimer:news", false},
		{"another form", conversation.ConsentRule{Disclaimer: "promo", FormID: "f2"}, "", false},
		{"this form", conversation.ConsentRule{Disclaimer: "promo", FormID: "f1"}, "disclaimer:promo", true},
	}
	for _, tt := range tests {
		ev, ok := tt.rule.Matches(a)
		if ok != tt.ok || (ok && ev != tt.ev) {
			t.Errorf("%s: Matches = %q, %v; want %q, %v", tt.name, ev, ok, tt.ev, tt.ok)
		}
	}
}
