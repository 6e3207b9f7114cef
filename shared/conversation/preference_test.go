package conversation_test

import (
	"testing"
	"time"

	"github.com/leadluence/backend/shared/conversation"
)

func TestPreference(t *testing.T) {
	const (
		early = "2024-05-01T10:00:00Z"
		late  = "2024-05-02T10:00:00Z"
	)
	earlyT, _ := time.Parse(time.RFC3339, early)
	lateT, _ := time.Parse(time.RFC3339, late)
	tests := []struct {
		name    string
		consent map[string]string
		purpose string
		want    conversation.State
		since   time.Time
	}{
		{"nothing recorded", nil, conversation.PurposeMarketing, conversation.StateUnknown, time.Time{}},
		{"STOP covers marketing", map[string]string{"whatsapp:all": "opt_out@" + early}, conversation.PurposeMarketing, conversation.StateOptedOut, earlyT},
		{"STOP covers service", map[string]string{"whatsapp:all": "opt_out@" + early}, conversation.PurposeService, conversation.StateOptedOut, earlyT},
		{"marketing only", map[string]string{"whatsapp:marketing": "opt_out@" + early}, conversation.PurposeService, conversation.StateUnknown, time.Time{}},
		{"opt-in after STOP", map[string]string{"whatsapp:all": "opt_out@" + early, "whatsapp:marketing": "opt_in@" + late}, conversation.PurposeMarketing, conversation.StateOptedIn, lateT},
		{"same second is out", map[string]string{"whatsapp:all": "opt_in@" + early, "whatsapp:service": "opt_out@" + early}, conversation.PurposeService, conversation.StateOptedOut, earlyT},
		{"other channel", map[string]string{"email:all": "opt_out@" + early}, conversation.PurposeService, conversation.StateUnknown, time.Time{}},
		{"unreadable opt-out", map[string]string{"whatsapp:service": "opt_out@soon"}, conversation.PurposeService, conversation.StateOptedOut, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, since := conversation.Preference(tt.consent, conversation.ChannelWhatsApp, tt.purpose)
			if got != tt.want || !since.Equal(tt.since) {
				t.Fatalf("Preference = %s at %v, want %s at %v", got, since, tt.want, tt.since)
			}
		})
	}
}
