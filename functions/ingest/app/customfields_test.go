package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/lead"
)

// Lead Ads answers under a defined custom field are stored canonical when
// they fit it and as received when not; the lead is never refused, even
// without a required field or with a unique value another lead holds.
func TestLeadAdsAnswersMeetCustomFieldDefinitions(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	defs := lead.FieldDefs{Version: 1, Fields: []lead.FieldDef{
		{Key: "city", Label: "City", Type: lead.FieldSingleSelect, Options: []lead.FieldOption{{Value: "pune", Label: "Pune"}}, CreatedAt: now},
		{Key: "budget", Label: "Budget", Type: lead.FieldNumber, Required: true, CreatedAt: now},
		{Key: "site_visit", Label: "Site visit", Type: lead.FieldBoolean, CreatedAt: now},
		{Key: "pan", Label: "PAN", Type: lead.FieldText, Unique: true, CreatedAt: now},
		{Key: "move_in", Label: "Move in", Type: lead.FieldDate, Required: true, CreatedAt: now},
	}}
	if err := e.store.PutFieldDefs(e.ctx, e.orgID, 0, defs); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Minute).Truncate(time.Second)
	for i, ph := range []string{"+919812300001", "+919812300002"} {
		id := e.sim.AddLead(formID, map[string][]string{"full_name": {"Form Lead"}, "phone_number": {ph}, "city": {"PUNE"},
			"budget": {"50-75L"}, "site_visit": {"Yes"}, "pan": {"ABCDE1234F"}}, at.Add(time.Duration(i)*time.Second))
		if failed := e.deliver(e.sim.LeadgenPayload(pageID, formID, id, at)); len(failed) != 0 {
			t.Fatalf("retries asked: %v", failed)
		}
		l := e.leadByPhone(ph)
		if l.CustomFields["city"] != "pune" || l.CustomFields["site_visit"] != "true" || l.CustomFields["budget"] != "50-75L" ||
			l.CustomFields["pan"] != "ABCDE1234F" || len(l.UniqueFields) != 0 {
			t.Fatalf("lead %d: custom fields %v, guarded %v", i, l.CustomFields, l.UniqueFields)
		}
		var flagged []string
		for _, fe := range lead.CustomFieldIssues(defs, l) {
			flagged = append(flagged, fe.Field)
		}
		if !slices.Equal(flagged, []string{"custom_fields.budget", "custom_fields.move_in"}) {
			t.Fatalf("issues %v", flagged)
		}
	}
}
