package retention_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/retention"
)

func TestSanitizeText(t *testing.T) {
	cases := []struct {
		name, in string
		want     string
		gone     []string // must not survive
	}{
		{name: "plain", in: "Hi, is the flat still available?", want: "Hi, is the flat still available?"},
		{name: "indian mobile", in: "call me on +91 98765 43210 please", want: "call me on [number] please", gone: []string{"98765", "43210"}},
		{name: "dashed phone", in: "my number is 650-555-0126", gone: []string{"555", "0126"}},
		{name: "parenthesised phone", in: "(022) 2345 6789 office", gone: []string{"2345", "6789"}},
		{name: "split across words", in: "98765 and then 43210", gone: []string{"98765", "43210"}},
		{name: "short groups", in: "it is 98 76 5 43 21 0", gone: []string{"98", "76", "43", "21"}},
		{name: "email", in: "write to Priya.Sharma+work@example.co.in thanks", want: "write to [email] thanks", gone: []string{"Priya", "example"}},
		{name: "obfuscated email", in: "priya (at) example (dot) com", gone: []string{"priya", "example"}},
		{name: "card", in: "card 4111 1111 1111 1111 exp 12/29", gone: []string{"4111", "1111"}},
		{name: "card no spaces", in: "4111111111111111", want: "[number]"},
		{name: "aadhaar", in: "aadhaar 1234 5678 9012", gone: []string{"1234", "5678", "9012"}},
		{name: "pan", in: "PAN ABCDE1234F", want: "PAN [id]", gone: []string{"ABCDE1234F", "1234"}},
		{name: "devanagari digits", in: "नंबर ९८७६५४३२१० है", gone: []string{"९८७६५४३२१०"}},
		{name: "link", in: "see https://example.com/u?phone=9876543210", want: "see [link]", gone: []string{"9876543210", "example"}},
		{name: "small numbers stay", in: "2 BHK at 3 pm", want: "2 BHK at 3 pm"},
		{name: "long text cut", in: strings.Repeat("hello ", 30)},
	}
	digits := regexp.MustCompile(`\p{Nd}{5,}`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := retention.SanitizeText(c.in)
			if c.want != "" && got != c.want {
				t.Errorf("SanitizeText(%q) = %q, want %q", c.in, got, c.want)
			}
			for _, g := range c.gone {
				if strings.Contains(got, g) {
					t.Errorf("SanitizeText(%q) = %q keeps %q", c.in, got, g)
				}
			}
			if digits.MatchString(got) {
				t.Errorf("SanitizeText(%q) = %q keeps a run of digits", c.in, got)
			}
			if n := utf8.RuneCountInString(got); n > retention.PreviewRunes {
				t.Errorf("SanitizeText(%q) has %d runes, more than %d", c.in, n, retention.PreviewRunes)
			}
			if strings.Count(strings.Map(keepDigit, got), "")-1 >= 5 {
				t.Errorf("SanitizeText(%q) = %q keeps five digits or more", c.in, got)
			}
		})
	}
}

func keepDigit(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

func TestSanitizeMessage(t *testing.T) {
	at := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	m := conversation.Message{
		ID: "01J", OrgID: "o", LeadID: "l", Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound,
		Type: "image", Text: "photo of the flat, call 9876543210", Status: conversation.StatusRead,
		Media:   &conversation.Media{ID: "media-1", Caption: "my id card"},
		Details: map[string]string{conversation.DetailCampaignID: "c1", "latitude": "19.07"},
		Payload: `{"to":"919876543210"}`, Reason: "sent to 9876543210 failed",
	}
	got := retention.Sanitize(m, at)
	if got.Media != nil || got.Payload != "" {
		t.Errorf("media or payload kept: %+v", got)
	}
	if len(got.Details) != 1 || got.Details[conversation.DetailCampaignID] != "c1" {
		t.Errorf("details = %v, want only the campaign id", got.Details)
	}
	if !got.SanitizedAt.Equal(at) || got.Status != m.Status || got.ID != m.ID || got.Type != m.Type {
		t.Errorf("sanitized message = %+v", got)
	}
	if strings.Contains(got.Text+got.Reason, "9876543210") {
		t.Errorf("number kept: %q %q", got.Text, got.Reason)
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, c := range []struct {
		days int
		ok   bool
		eff  int
	}{{0, true, 90}, {1, true, 1}, {30, true, 30}, {365, true, 365}, {366, false, 0}, {-1, false, 0}} {
		err := retention.Settings{ContentDays: c.days}.Validate()
		if (err == nil) != c.ok {
			t.Errorf("Validate(%d) = %v", c.days, err)
		}
		if c.ok && (retention.Settings{ContentDays: c.days}).EffectiveContentDays() != c.eff {
			t.Errorf("EffectiveContentDays(%d) != %d", c.days, c.eff)
		}
	}
}
