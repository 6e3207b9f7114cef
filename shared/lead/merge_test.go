package lead_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadluence/backend/shared/lead"
)

// The conflict rule of a merge: the survivor's own values stand, its empty
// ones take the other's, tags are joined, custom fields filled, consent is
// the most protective, the other's contacts become secondary ones.
func TestMergeLeads(t *testing.T) {
	early, late := "2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z"
	survivor := lead.Lead{ID: "S", OrgID: "o", Name: "Asha", Phone: "+919800000001", Source: "manual", Status: lead.StatusQualified,
		Tags: []string{"vip"}, CustomFields: map[string]string{"city": "Pune"}, PipelineID: "default", StageID: "qualified",
		Phones: []string{"+919800000009"}, LastInboundAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Consent:      map[string]string{"whatsapp:marketing": "opt_in@" + late, "email:all": "opt_in@" + early, "sms:all": "opt_out@" + early},
		UniqueFields: []string{"city"}}
	other := lead.Lead{ID: "O", OrgID: "o", Name: "Asha K", Phone: "+919800000002", Email: "asha@example.com", Source: "lead_ads",
		Status: lead.StatusNew, AssigneeID: "u7", Tags: []string{"hot", "vip"}, CustomFields: map[string]string{"city": "Mumbai", "pan": "X1"},
		Emails: []string{"a.k@example.com"}, Phones: []string{"+919800000001"}, LastInboundAt: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC),
		Consent:      map[string]string{"whatsapp:marketing": "opt_out@" + early, "email:all": "opt_in@" + late, "sms:all": "opt_in@" + late, "whatsapp:all": "opt_in@" + early},
		UniqueFields: []string{"city", "pan"}}
	got := lead.MergeLeads(survivor, other)
	want := survivor
	want.Email, want.AssigneeID = "asha@example.com", "u7"
	want.Phones = []string{"+919800000009", "+919800000002"}
	want.Emails = []string{"a.k@example.com"}
	want.Tags = []string{"vip", "hot"}
	want.CustomFields = map[string]string{"city": "Pune", "pan": "X1"}
	want.UniqueFields = []string{"city", "pan"}
	want.LastInboundAt = other.LastInboundAt
	want.Consent = map[string]string{"whatsapp:marketing": "opt_out@" + early, "email:all": "opt_in@" + late, "sms:all": "opt_out@" + early,
		"whatsapp:all": "opt_in@" + early}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("merged (-want +got):\n%s", diff)
	}
	// The inputs are left as they were.
	if len(survivor.Tags) != 1 || len(survivor.CustomFields) != 1 || survivor.Consent["whatsapp:marketing"] != "opt_in@"+late {
		t.Fatalf("survivor changed: %+v", survivor)
	}
}
