package meta_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/shared/meta"
)

const eventsDir = "../../events/meta"

// eventFiles returns every sample payload in events/meta.
func eventFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("glob %s: %v (%d files)", eventsDir, err, len(paths))
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

// decoded is every change of a webhook, decoded by its accessor.
type decoded struct {
	leadgen  []meta.LeadgenValue
	whatsapp []meta.WhatsAppValue
}

func decodeAll(t *testing.T, w meta.Webhook) decoded {
	t.Helper()
	var d decoded
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			switch w.Object {
			case meta.ObjectPage:
				v, err := c.Leadgen()
				if err != nil {
					t.Fatalf("Leadgen(): %v", err)
				}
				d.leadgen = append(d.leadgen, v)
			case meta.ObjectWhatsAppBusinessAccount:
				v, err := c.WhatsApp()
				if err != nil {
					t.Fatalf("WhatsApp(): %v", err)
				}
				d.whatsapp = append(d.whatsapp, v)
			default:
				t.Fatalf("unexpected object %q", w.Object)
			}
		}
	}
	return d
}

func TestParseWebhookEveryEvent(t *testing.T) {
	want := []string{
		"leadgen.json", "leadgen-batch.json", "whatsapp-text.json", "whatsapp-image.json", "whatsapp-audio.json",
		"whatsapp-video.json", "whatsapp-document.json", "whatsapp-sticker.json", "whatsapp-location.json",
		"whatsapp-contacts.json", "whatsapp-interactive-button.json", "whatsapp-interactive-list.json",
		"whatsapp-button.json", "whatsapp-reaction.json", "whatsapp-unsupported.json", "whatsapp-status-sent.json",
		"whatsapp-status-delivered.json", "whatsapp-status-read.json", "whatsapp-status-failed.json",
		"whatsapp-errors.json", "whatsapp-stop.json",
	}
	files := eventFiles(t)
	for _, name := range want {
		if _, ok := files[name]; !ok {
			t.Errorf("events/meta/%s is missing", name)
		}
	}
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			w, err := meta.ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			d := decodeAll(t, w)
			if len(d.leadgen)+len(d.whatsapp) == 0 {
				t.Fatal("no changes decoded")
			}
			for _, v := range d.whatsapp {
				if v.Metadata.PhoneNumberID != "106540352242922" || v.Metadata.DisplayPhoneNumber != "15550783881" {
					t.Errorf("metadata = %+v", v.Metadata)
				}
				for _, m := range v.Messages {
					if _, err := m.Time(); err != nil {
						t.Error(err)
					}
					if !strings.HasPrefix(m.ID, "wamid.") || m.Type == "" {
						t.Errorf("message id %q type %q", m.ID, m.Type)
					}
				}
				for _, s := range v.Statuses {
					if _, err := s.Time(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
}

func parseFile(t *testing.T, name string) decoded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	w, err := meta.ParseWebhook(b)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, w)
}

func TestParseLeadgenEvents(t *testing.T) {
	tests := []struct {
		file string
		want []meta.LeadgenValue
	}{
		{"leadgen.json", []meta.LeadgenValue{{
			LeadgenID: "1220000000000001", PageID: "104858765678112", FormID: "901234567890123",
			AdID: "120210000000000001", AdgroupID: "120210000000000001", CreatedTime: 1767261600,
		}}},
		{"leadgen-batch.json", []meta.LeadgenValue{
			{LeadgenID: "1220000000000002", PageID: "104858765678112", FormID: "901234567890123", AdID: "120210000000000001", AdgroupID: "120210000000000001", CreatedTime: 1767261660},
			{LeadgenID: "1220000000000003", PageID: "104858765678112", FormID: "901234567890124", AdID: "120210000000000002", AdgroupID: "120210000000000002", CreatedTime: 1767261660},
			// Legacy numeric ids: kept digit for digit (beyond float64 precision), ad id 0 dropped.
			{LeadgenID: "1220000000000004", PageID: "104858765678112", FormID: "901234567890124", CreatedTime: 1767261720},
			{LeadgenID: "1220000000000002", PageID: "104858765678112", FormID: "901234567890123", AdID: "120210000000000001", AdgroupID: "120210000000000001", CreatedTime: 1767261660},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseFile(t, tt.file).leadgen); diff != "" {
				t.Errorf("leadgen values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWhatsAppMessageEvents(t *testing.T) {
	const biz = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
	ctx := &meta.MessageContext{From: "15550783881", ID: biz}
	tests := []struct {
		file string
		want meta.Message // ID, From and Timestamp are not compared
	}{
		{"whatsapp-text.json", meta.Message{Type: "text", Text: &meta.Text{Body: "Hi, is the free consultation still available this week?"}}},
		{"whatsapp-stop.json", meta.Message{Type: "text", Text: &meta.Text{Body: "STOP"}}},
		{"whatsapp-image.json", meta.Message{Type: "image", Image: &meta.Media{ID: "1003383421387256", MimeType: "image/jpeg", SHA256: "6e5b2f1d0c9a8b7e6f5d4c3b2a19081726354453627180910a0b0c0d0e0f1011", Caption: "Photo of the prescription"}}},
		{"whatsapp-audio.json", meta.Message{Type: "audio", Audio: &meta.Media{ID: "1003383421387257", MimeType: "audio/ogg; codecs=opus", SHA256: "1f2e3d4c5b6a79880716253443526170819a0b1c2d3e4f5061728394a5b6c7d8", Voice: true}}},
		{"whatsapp-video.json", meta.Message{Type: "video", Video: &meta.Media{ID: "1003383421387258", MimeType: "video/mp4", SHA256: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", Caption: "Walkthrough of the clinic entrance"}}},
		{"whatsapp-document.json", meta.Message{Type: "document", Document: &meta.Media{ID: "1003383421387259", MimeType: "application/pdf", SHA256: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0", Caption: "My previous reports", Filename: "reports-example.pdf"}}},
		{"whatsapp-sticker.json", meta.Message{Type: "sticker", Sticker: &meta.Media{ID: "1003383421387260", MimeType: "image/webp", SHA256: "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"}}},
		{"whatsapp-location.json", meta.Message{Type: "location", Location: &meta.Location{Latitude: 12.9715987, Longitude: 77.5945627, Name: "Example Clinic", Address: "1 Example Road, Bengaluru"}}},
		{"whatsapp-interactive-button.json", meta.Message{Type: "interactive", Context: ctx, Interactive: &meta.Interactive{Type: "button_reply", ButtonReply: &meta.Reply{ID: "book-slot", Title: "Book a slot"}}}},
		{"whatsapp-interactive-list.json", meta.Message{Type: "interactive", Context: ctx, Interactive: &meta.Interactive{Type: "list_reply", ListReply: &meta.Reply{ID: "slot-tue-1000", Title: "Tuesday 10:00", Description: "Dr. Example, 30 minutes"}}}},
		{"whatsapp-button.json", meta.Message{Type: "button", Context: ctx, Button: &meta.Button{Payload: "Stop promotions", Text: "Stop promotions"}}},
		{"whatsapp-reaction.json", meta.Message{Type: "reaction", Reaction: &meta.Reaction{MessageID: biz, Emoji: "👍"}}},
		{"whatsapp-unsupported.json", meta.Message{Type: "unsupported", Unsupported: &meta.Unsupported{Type: "poll_creation"}, Errors: []meta.Error{{
			Code: 131051, Title: "Message type unknown", Message: "Message type unknown", ErrorData: &meta.ErrorData{Details: "Message type is currently not supported."},
		}}}},
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return s == "ID" || s == "From" || s == "Timestamp"
	}, cmp.Ignore())
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			vs := parseFile(t, tt.file).whatsapp
			if len(vs) != 1 || len(vs[0].Messages) != 1 {
				t.Fatalf("want one value with one message, got %+v", vs)
			}
			v := vs[0]
			if diff := cmp.Diff([]meta.Contact{{Profile: meta.Profile{Name: "Asha Example"}, WaID: "16505551234"}}, v.Contacts); diff != "" {
				t.Errorf("contacts (-want +got):\n%s", diff)
			}
			m := v.Messages[0]
			if m.From != "16505551234" || m.Timestamp != "1767261600" {
				t.Errorf("from %q timestamp %q", m.From, m.Timestamp)
			}
			if got, _ := m.Time(); !got.Equal(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("Time() = %v", got)
			}
			if diff := cmp.Diff(tt.want, m, ignore); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWhatsAppContactsEvent(t *testing.T) {
	m := parseFile(t, "whatsapp-contacts.json").whatsapp[0].Messages[0]
	if len(m.Contacts) != 1 {
		t.Fatalf("contacts = %+v", m.Contacts)
	}
	c := m.Contacts[0]
	c.Addresses, c.URLs = nil, nil
	want := meta.SharedContact{
		Name:     meta.ContactName{FormattedName: "Ravi Sample", FirstName: "Ravi", LastName: "Sample"},
		Phones:   []meta.ContactPhone{{Phone: "+1 (650) 555-0199", WaID: "16505550199", Type: "MOBILE"}},
		Emails:   []meta.ContactEmail{{Email: "ravi.sample@example.com", Type: "WORK"}},
		Org:      &meta.ContactOrg{Company: "Example Corp", Department: "Sales", Title: "Manager"},
		Birthday: "1990-01-01",
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("shared contact (-want +got):\n%s", diff)
	}
	if !json.Valid(m.Contacts[0].Addresses) || !json.Valid(m.Contacts[0].URLs) {
		t.Error("addresses/urls not kept as raw JSON")
	}
}

func TestParseWhatsAppStatusEvents(t *testing.T) {
	const biz = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
	utility := &meta.Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"}
	tests := []struct {
		file string
		want meta.Status
	}{
		{"whatsapp-status-sent.json", meta.Status{ID: biz, Status: "sent", Timestamp: "1767261900", RecipientID: "16505551234",
			Conversation: &meta.Conversation{ID: "6ceb9d929c0ac7e3ca8bfa8a4e3e1a31", ExpirationTimestamp: "1767348300", Origin: &meta.ConversationOrigin{Type: "utility"}},
			Pricing:      utility}},
		{"whatsapp-status-delivered.json", meta.Status{ID: biz, Status: "delivered", Timestamp: "1767261902", RecipientID: "16505551234",
			Conversation: &meta.Conversation{ID: "6ceb9d929c0ac7e3ca8bfa8a4e3e1a31", Origin: &meta.ConversationOrigin{Type: "utility"}},
			Pricing:      utility}},
		{"whatsapp-status-read.json", meta.Status{ID: biz, Status: "read", Timestamp: "1767261960", RecipientID: "16505551234"}},
		{"whatsapp-status-failed.json", meta.Status{ID: biz, Status: "failed", Timestamp: "1767261901", RecipientID: "16505551234",
			Errors: []meta.Error{{Code: 131026, Title: "Message undeliverable", Message: "Message undeliverable",
				ErrorData: &meta.ErrorData{Details: "Message Undeliverable."}, Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			vs := parseFile(t, tt.file).whatsapp
			if len(vs) != 1 || len(vs[0].Statuses) != 1 || len(vs[0].Messages) != 0 {
				t.Fatalf("want one value with one status, got %+v", vs)
			}
			if diff := cmp.Diff(tt.want, vs[0].Statuses[0]); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWhatsAppErrorsEvent(t *testing.T) {
	v := parseFile(t, "whatsapp-errors.json").whatsapp[0]
	want := []meta.Error{{Code: 130429, Title: "Rate limit hit", Message: "Rate limit hit",
		ErrorData: &meta.ErrorData{Details: "Message failed to send because there were too many messages sent from this phone number in a short period of time"},
		Href:      "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}}
	if diff := cmp.Diff(want, v.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestParseWebhookRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", meta.ErrMalformedWebhook},
		{"not json", "hello", meta.ErrMalformedWebhook},
		{"form encoded", "object=page&entry=1", meta.ErrMalformedWebhook},
		{"array", `[{"object":"page","entry":[]}]`, meta.ErrMalformedWebhook},
		{"string", `"page"`, meta.ErrMalformedWebhook},
		{"null", `null`, meta.ErrMalformedWebhook},
		{"empty object", `{}`, meta.ErrMalformedWebhook},
		{"no object", `{"entry":[]}`, meta.ErrMalformedWebhook},
		{"object not string", `{"object":1,"entry":[]}`, meta.ErrMalformedWebhook},
		{"no entry", `{"object":"page"}`, meta.ErrMalformedWebhook},
		{"null entry", `{"object":"page","entry":null}`, meta.ErrMalformedWebhook},
		{"entry object", `{"object":"page","entry":{"id":"1"}}`, meta.ErrMalformedWebhook},
		{"changes not array", `{"object":"page","entry":[{"id":"1","changes":{}}]}`, meta.ErrMalformedWebhook},
		{"entry id bool", `{"object":"page","entry":[{"id":true,"changes":[]}]}`, meta.ErrMalformedWebhook},
		{"entry time float", `{"object":"page","entry":[{"id":"1","time":1.5,"changes":[]}]}`, meta.ErrMalformedWebhook},
		{"truncated", `{"object":"page","entry":[`, meta.ErrMalformedWebhook},
		{"trailing data", `{"object":"page","entry":[]} {}`, meta.ErrMalformedWebhook},
		{"too large", `{"object":"page","entry":[],"pad":"` + strings.Repeat("x", meta.MaxWebhookBytes) + `"}`, meta.ErrWebhookTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := meta.ParseWebhook([]byte(tt.body)); !errors.Is(err, tt.want) {
				t.Errorf("ParseWebhook = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseWebhookTolerates(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty entry", `{"object":"page","entry":[]}`},
		{"unknown members", `{"object":"page","entry":[{"id":"1","time":2,"changes":[],"new":{"x":[1]}}],"extra":true}`},
		{"leading whitespace", " \n\t" + `{"object":"page","entry":[]}`},
		{"time as string", `{"object":"page","entry":[{"id":"1","time":"1767261600","changes":[]}]}`},
		{"id as number", `{"object":"page","entry":[{"id":104858765678112,"changes":[]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := meta.ParseWebhook([]byte(tt.body)); err != nil {
				t.Errorf("ParseWebhook = %v", err)
			}
		})
	}
}

func TestChangeAccessors(t *testing.T) {
	tests := []struct {
		name        string
		change      meta.Change
		leadgenErr  error
		whatsappErr error
	}{
		{"leadgen", meta.Change{Field: "leadgen", Value: json.RawMessage(`{"leadgen_id":"1","page_id":"2","form_id":"3","created_time":4}`)}, nil, meta.ErrUnexpectedField},
		{"messages", meta.Change{Field: "messages", Value: json.RawMessage(`{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"2"}}`)}, meta.ErrUnexpectedField, nil},
		{"template status", meta.Change{Field: "message_template_status_update", Value: json.RawMessage(`{"event":"APPROVED"}`)}, meta.ErrUnexpectedField, meta.ErrUnexpectedField},
		{"leadgen without id", meta.Change{Field: "leadgen", Value: json.RawMessage(`{"page_id":"2"}`)}, meta.ErrMalformedWebhook, meta.ErrUnexpectedField},
		{"leadgen null", meta.Change{Field: "leadgen", Value: json.RawMessage(`null`)}, meta.ErrMalformedWebhook, meta.ErrUnexpectedField},
		{"leadgen missing value", meta.Change{Field: "leadgen"}, meta.ErrMalformedWebhook, meta.ErrUnexpectedField},
		{"leadgen id object", meta.Change{Field: "leadgen", Value: json.RawMessage(`{"leadgen_id":{}}`)}, meta.ErrMalformedWebhook, meta.ErrUnexpectedField},
		{"leadgen id float", meta.Change{Field: "leadgen", Value: json.RawMessage(`{"leadgen_id":1.5}`)}, meta.ErrMalformedWebhook, meta.ErrUnexpectedField},
		{"messages without phone id", meta.Change{Field: "messages", Value: json.RawMessage(`{"messaging_product":"whatsapp","metadata":{}}`)}, meta.ErrUnexpectedField, meta.ErrMalformedWebhook},
		{"messages array", meta.Change{Field: "messages", Value: json.RawMessage(`[]`)}, meta.ErrUnexpectedField, meta.ErrMalformedWebhook},
		{"messages wrong type", meta.Change{Field: "messages", Value: json.RawMessage(`{"metadata":{"phone_number_id":"1"},"messages":{}}`)}, meta.ErrUnexpectedField, meta.ErrMalformedWebhook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.change.Leadgen()
			if !errors.Is(err, tt.leadgenErr) || (tt.leadgenErr == nil && err != nil) {
				t.Errorf("Leadgen() = %v, want %v", err, tt.leadgenErr)
			}
			_, err = tt.change.WhatsApp()
			if !errors.Is(err, tt.whatsappErr) || (tt.whatsappErr == nil && err != nil) {
				t.Errorf("WhatsApp() = %v, want %v", err, tt.whatsappErr)
			}
		})
	}
}

func TestLeadgenValueIDForms(t *testing.T) {
	tests := []struct {
		name, value string
		want        meta.LeadgenValue
	}{
		{"strings", `{"leadgen_id":"9007199254740993","page_id":"1","form_id":"2","ad_id":"3","adgroup_id":"4","created_time":1767261600}`,
			meta.LeadgenValue{LeadgenID: "9007199254740993", PageID: "1", FormID: "2", AdID: "3", AdgroupID: "4", CreatedTime: 1767261600}},
		{"numbers beyond 2^53", `{"leadgen_id":9007199254740993,"page_id":1,"form_id":2,"ad_id":3,"adgroup_id":4,"created_time":"1767261600"}`,
			meta.LeadgenValue{LeadgenID: "9007199254740993", PageID: "1", FormID: "2", AdID: "3", AdgroupID: "4", CreatedTime: 1767261600}},
		{"organic zero ad", `{"leadgen_id":"5","ad_id":0,"adgroup_id":"0","created_time":null}`,
			meta.LeadgenValue{LeadgenID: "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := meta.Change{Field: "leadgen", Value: json.RawMessage(tt.value)}.Leadgen()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
