package sendgate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/sendgate"
)

func TestJobRoundTrip(t *testing.T) {
	j := sendgate.Job{OrgID: "o1", LeadID: "l1", MessageID: "m1"}
	if got := j.Encode(); got != `{"org_id":"o1","lead_id":"l1","message_id":"m1"}` {
		t.Fatalf("encoded %s", got)
	}
	back, err := sendgate.DecodeJob(j.Encode())
	if err != nil || back != j {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	for _, bad := range []string{``, `nope`, `{"org_id":"o1","lead_id":"l1"}`, `{"org_id":"","lead_id":"l","message_id":"m"}`} {
		if _, err := sendgate.DecodeJob(bad); !errors.Is(err, sendgate.ErrBadJob) {
			t.Errorf("DecodeJob(%q) = %v, want ErrBadJob", bad, err)
		}
	}
}

func TestOptedOut(t *testing.T) {
	const (
		early = "2024-05-01T10:00:00Z"
		late  = "2024-05-02T10:00:00Z"
	)
	tests := []struct {
		name      string
		consent   map[string]string
		ch        conversation.Channel
		marketing bool
		want      bool
	}{
		{"no consent recorded", nil, conversation.ChannelWhatsApp, false, false},
		{"channel opt-out", map[string]string{"whatsapp:all": "opt_out@" + early}, conversation.ChannelWhatsApp, false, true},
		{"opt-in after opt-out", map[string]string{"whatsapp:all": "opt_in@" + late}, conversation.ChannelWhatsApp, false, false},
		{"other channel's opt-out", map[string]string{"email:all": "opt_out@" + early}, conversation.ChannelWhatsApp, false, false},
		{"marketing opt-out, service message", map[string]string{"whatsapp:marketing": "opt_out@" + early}, conversation.ChannelWhatsApp, false, false},
		{"marketing opt-out, marketing message", map[string]string{"whatsapp:marketing": "opt_out@" + early}, conversation.ChannelWhatsApp, true, true},
		{"START after marketing opt-out", map[string]string{"whatsapp:marketing": "opt_out@" + early, "whatsapp:all": "opt_in@" + late}, conversation.ChannelWhatsApp, true, false},
		{"marketing opt-out after START", map[string]string{"whatsapp:marketing": "opt_out@" + late, "whatsapp:all": "opt_in@" + early}, conversation.ChannelWhatsApp, true, true},
		{"same second blocks", map[string]string{"whatsapp:marketing": "opt_out@" + early, "whatsapp:all": "opt_in@" + early}, conversation.ChannelWhatsApp, true, true},
		{"unreadable opt-out blocks", map[string]string{"email:all": "opt_out@yesterday"}, conversation.ChannelEmail, false, true},
		{"email opt-out", map[string]string{"email:all": "opt_out@" + late}, conversation.ChannelEmail, false, true},
		{"staff service opt-in after STOP", map[string]string{"whatsapp:all": "opt_out@" + early, "whatsapp:service": "opt_in@" + late}, conversation.ChannelWhatsApp, false, false},
		{"staff service opt-in leaves marketing out", map[string]string{"whatsapp:all": "opt_out@" + early, "whatsapp:service": "opt_in@" + late}, conversation.ChannelWhatsApp, true, true},
		{"staff service opt-out", map[string]string{"whatsapp:service": "opt_out@" + early}, conversation.ChannelWhatsApp, false, true},
		{"staff service opt-out, marketing message", map[string]string{"whatsapp:service": "opt_out@" + early}, conversation.ChannelWhatsApp, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sendgate.OptedOut(tt.consent, tt.ch, tt.marketing); got != tt.want {
				t.Fatalf("OptedOut = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
	active := &integration.Integration{Status: integration.StatusActive}
	text := conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{"messaging_product":"whatsapp","to":"919812345678","type":"text","text":{"body":"hi"}}`}
	tmpl := func(category string) conversation.Message {
		m := conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{"messaging_product":"whatsapp","to":"919812345678","type":"template","template":{"name":"x","language":{"code":"en"}}}`}
		if category != "" {
			m.Details = map[string]string{sendgate.DetailCategory: category}
		}
		return m
	}
	email := conversation.Message{Channel: conversation.ChannelEmail, Payload: `{"to":"a@example.com","subject":"s","text":"t"}`}
	inWindow := lead.Lead{LastInboundAt: now.Add(-23 * time.Hour)}
	outOfWindow := lead.Lead{LastInboundAt: now.Add(-25 * time.Hour)}
	marketingOut := lead.Lead{Consent: map[string]string{"whatsapp:marketing": "opt_out@2024-05-01T00:00:00Z"}}
	serviceIn := lead.Lead{LastInboundAt: now.Add(-25 * time.Hour), Consent: map[string]string{"whatsapp:service": "opt_in@2024-05-01T00:00:00Z"}}
	marketingIn := lead.Lead{LastInboundAt: now.Add(-time.Hour), Consent: map[string]string{"whatsapp:marketing": "opt_in@2024-05-01T00:00:00Z"}}
	inWindowService := lead.Lead{LastInboundAt: now.Add(-time.Hour), Consent: map[string]string{"whatsapp:service": "opt_in@2024-05-01T00:00:00Z"}}
	campaign := func(m conversation.Message) conversation.Message {
		m.Details[conversation.DetailCampaignID] = "c1"
		return m
	}
	welcome := tmpl(sendgate.CategoryUtility)
	welcome.ClientMessageID = conversation.AutomationClientIDPrefix + "leadads:1"
	marketingEmail := email
	marketingEmail.Details = map[string]string{sendgate.DetailPurpose: conversation.PurposeMarketing}
	tests := []struct {
		name string
		m    conversation.Message
		l    lead.Lead
		in   *integration.Integration
		want string
	}{
		{"text inside the window", text, inWindow, active, ""},
		{"text outside the window", text, outOfWindow, active, sendgate.TitleOutsideWindow},
		{"text never written", text, lead.Lead{}, active, sendgate.TitleOutsideWindow},
		{"template outside the window without an opt-in", tmpl(sendgate.CategoryUtility), outOfWindow, active, sendgate.TitleConsentRequired},
		{"utility template outside the window, service opt-in", tmpl(sendgate.CategoryUtility), serviceIn, active, ""},
		{"utility template inside the window without an opt-in", tmpl(sendgate.CategoryUtility), inWindow, active, ""},
		{"marketing template inside the window without an opt-in", tmpl(sendgate.CategoryMarketing), inWindow, active, sendgate.TitleConsentRequired},
		{"marketing template, service opt-in only", tmpl(sendgate.CategoryMarketing), serviceIn, active, sendgate.TitleConsentRequired},
		{"marketing template, marketing opt-in", tmpl(sendgate.CategoryMarketing), marketingIn, active, ""},
		{"campaign utility template inside the window without an opt-in", campaign(tmpl(sendgate.CategoryUtility)), inWindow, active, sendgate.TitleConsentRequired},
		{"campaign utility template, service opt-in", campaign(tmpl(sendgate.CategoryUtility)), inWindowService, active, ""},
		{"lead ads welcome without an opt-in", welcome, inWindow, active, sendgate.TitleConsentRequired},
		{"lead ads welcome, service opt-in", welcome, serviceIn, active, ""},
		{"utility template, marketing opt-out", tmpl(sendgate.CategoryUtility), lead.Lead{LastInboundAt: inWindow.LastInboundAt, Consent: marketingOut.Consent}, active, ""},
		{"marketing template, marketing opt-out", tmpl(sendgate.CategoryMarketing), marketingOut, active, sendgate.TitleOptedOut},
		{"template without category counts as marketing", tmpl(""), marketingOut, active, sendgate.TitleOptedOut},
		{"no integration", text, inWindow, nil, sendgate.TitleIntegrationInactive},
		{"token invalid", text, inWindow, &integration.Integration{Status: integration.StatusTokenInvalid}, sendgate.TitleIntegrationInactive},
		{"unreadable payload", conversation.Message{Channel: conversation.ChannelWhatsApp, Payload: `{`}, inWindow, active, sendgate.TitleInvalidPayload},
		{"email", email, lead.Lead{}, nil, ""},
		{"marketing email without an opt-in", marketingEmail, lead.Lead{}, nil, sendgate.TitleConsentRequired},
		{"marketing email, email marketing opt-in", marketingEmail, lead.Lead{Consent: map[string]string{"email:marketing": "opt_in@2024-05-01T00:00:00Z"}}, nil, ""},
		{"marketing email, whatsapp marketing opt-in", marketingEmail, lead.Lead{Consent: map[string]string{"whatsapp:marketing": "opt_in@2024-05-01T00:00:00Z"}}, nil, sendgate.TitleConsentRequired},
		{"email opted out", email, lead.Lead{Consent: map[string]string{"email:all": "opt_out@2024-05-01T00:00:00Z"}}, nil, sendgate.TitleOptedOut},
		{"email after a marketing unsubscribe", email, lead.Lead{Consent: map[string]string{"email:marketing": "opt_out@2024-05-01T00:00:00Z"}}, nil, sendgate.TitleOptedOut},
		{"email without body", conversation.Message{Channel: conversation.ChannelEmail, Payload: `{"to":"a@example.com","subject":"s"}`}, lead.Lead{}, nil, sendgate.TitleInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendgate.Check(tt.m, tt.l, tt.in, now)
			got := ""
			if r != nil {
				got = r.Title
				if r.Reason == "" {
					t.Error("refusal without a reason")
				}
			}
			if got != tt.want {
				t.Fatalf("Check = %q (%v), want %q", got, r, tt.want)
			}
			if got == sendgate.TitleConsentRequired && (r.Channel != tt.m.Channel || r.Purpose == "") {
				t.Fatalf("consent refusal names %q %q, want the message's channel and a purpose", r.Channel, r.Purpose)
			}
		})
	}
}

func TestCampaignPageJob(t *testing.T) {
	j := sendgate.CampaignPageJob("o1", "c1")
	want := `{"kind":"campaign_page","org_id":"o1","campaign_id":"c1"}`
	if got := j.Encode(); got != want {
		t.Fatalf("encoded %s, want %s", got, want)
	}
	// A page job put through an (org, lead, message) enqueue is written as
	// the typed page job.
	if got := (sendgate.Job{OrgID: "o1", MessageID: sendgate.CampaignPageRef("c1")}).Encode(); got != want {
		t.Fatalf("bridged %s, want %s", got, want)
	}
	// With a lead id it stays a send job.
	if got := (sendgate.Job{OrgID: "o1", LeadID: "l1", MessageID: sendgate.CampaignPageRef("c1")}).Encode(); got != `{"org_id":"o1","lead_id":"l1","message_id":"campaign_page:c1"}` {
		t.Fatalf("send job with a page-like id encoded %s", got)
	}
	back, err := sendgate.DecodeJob(want)
	if err != nil || back != j {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	for _, bad := range []string{`{"kind":"campaign_page","org_id":"o1"}`, `{"kind":"other","org_id":"o1","campaign_id":"c1"}`} {
		if _, err := sendgate.DecodeJob(bad); !errors.Is(err, sendgate.ErrBadJob) {
			t.Errorf("DecodeJob(%s) = %v, want ErrBadJob", bad, err)
		}
	}
}

func TestWindowOpen(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		last time.Time
		want bool
	}{
		{"never wrote", time.Time{}, false},
		{"an hour ago", now.Add(-time.Hour), true},
		{"just inside", now.Add(-sendgate.CustomerServiceWindow + time.Second), true},
		{"exactly 24 hours ago", now.Add(-sendgate.CustomerServiceWindow), false},
		{"two days ago", now.Add(-48 * time.Hour), false},
	}
	for _, tt := range tests {
		if got := sendgate.WindowOpen(tt.last, now); got != tt.want {
			t.Errorf("%s: WindowOpen = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMarketing(t *testing.T) {
	tmpl := func(category string) conversation.Message {
		return conversation.Message{Channel: conversation.ChannelWhatsApp, Details: map[string]string{sendgate.DetailCategory: category}}
	}
	tests := []struct {
		name    string
		m       conversation.Message
		msgType string
		want    bool
	}{
		{"marketing template", tmpl(sendgate.CategoryMarketing), "template", true},
		{"utility template", tmpl(sendgate.CategoryUtility), "template", false},
		{"authentication template, upper case", tmpl("AUTHENTICATION"), "template", false},
		{"template without category", conversation.Message{Channel: conversation.ChannelWhatsApp}, "template", true},
		{"text", tmpl(sendgate.CategoryMarketing), "text", false},
		{"email", conversation.Message{Channel: conversation.ChannelEmail}, "template", false},
	}
	for _, tt := range tests {
		if got := sendgate.Marketing(tt.m, tt.msgType); got != tt.want {
			t.Errorf("%s: Marketing = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParsePayloads(t *testing.T) {
	wa, err := sendgate.ParseWhatsApp(`{"messaging_product":"whatsapp","to":"+91 98123-45678"}`)
	if err != nil || wa.To != "919812345678" || wa.Type != "text" {
		t.Fatalf("ParseWhatsApp = %+v, %v; want digits only and type text", wa, err)
	}
	for _, bad := range []string{`{`, `{"type":"text"}`, `{"to":"n/a"}`} {
		if _, err := sendgate.ParseWhatsApp(bad); err == nil {
			t.Errorf("ParseWhatsApp(%s) accepted", bad)
		}
	}
	e, err := sendgate.ParseEmail(`{"to":"a@example.com","subject":"s","html":"<p>h</p>"}`)
	if err != nil || e.To != "a@example.com" || e.HTML != "<p>h</p>" {
		t.Fatalf("ParseEmail = %+v, %v", e, err)
	}
	for _, bad := range []string{`[]`, `{"to":"a@example.com","text":"t"}`, `{"subject":"s","text":"t"}`, `{"to":"a@example.com","subject":"s"}`} {
		if _, err := sendgate.ParseEmail(bad); err == nil {
			t.Errorf("ParseEmail(%s) accepted", bad)
		}
	}
}

func TestRefusalError(t *testing.T) {
	if got := (&sendgate.Refusal{Title: sendgate.TitleOptedOut, Reason: "r"}).Error(); got != "opted_out: r" {
		t.Errorf("gate refusal %q", got)
	}
	if got := (&sendgate.Refusal{Code: 131047, Title: "Re-engagement message", Reason: "r"}).Error(); got != "Re-engagement message (131047): r" {
		t.Errorf("provider refusal %q", got)
	}
}
