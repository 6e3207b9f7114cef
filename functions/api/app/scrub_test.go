package app_test

import (
	"strings"
	"testing"
)

// TestCorrectionScrubsTheTimeline: after a data-subject correction the
// lead's earlier activities hold none of the corrected fields' values
// (marked scrubbed), other fields' changes stay, and the correction's own
// entry keeps the corrected value.
func TestCorrectionScrubsTheTimeline(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Scrub Co")
	l := e.createLead(t, owner, map[string]any{"name": "Rohan Mhta", "phone": "98765 43277", "custom_fields": map[string]string{"city": "Pnue"}})
	id := l.str("id")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"name": "Rohan Mehtaa", "email": "rohan.m@example.com"}), 200)
	up := e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"custom_fields": map[string]string{"city": "Puen", "budget": "1 Cr"}})
	expect(t, up, 200)
	version := int(up.Body["version"].(float64))

	r := fileRequest(t, e, owner, map[string]any{"type": "correction", "subject": map[string]any{"lead_id": id}, "lead_version": version,
		"changes": map[string]any{"name": "Rohan Mehta", "custom_fields": map[string]string{"city": "Pune", "budget": "1 Cr"}}})
	if r.str("status") != "completed" {
		t.Fatalf("correction %s", r.Raw)
	}
	tl := e.do(t, "GET", "/v1/leads/"+id+"/activities", owner.Access, nil)
	expect(t, tl, 200)
	for _, gone := range []string{"Mhta", "Mehtaa", "Pnue", "Puen"} {
		if strings.Contains(tl.Raw, gone) {
			t.Fatalf("the timeline still holds %q: %s", gone, tl.Raw)
		}
	}
	if !strings.Contains(tl.Raw, "rohan.m@example.com") || !strings.Contains(tl.Raw, "1 Cr") || !strings.Contains(tl.Raw, `"new":"Rohan Mehta"`) {
		t.Fatalf("the timeline lost what was not corrected: %s", tl.Raw)
	}
	scrubbed := 0
	for _, it := range tl.items() {
		changes, _ := it["changes"].([]any)
		for _, c := range changes {
			if c.(map[string]any)["scrubbed"] == true {
				scrubbed++
			}
		}
	}
	// name (updated) and custom_fields.city (updated) once each.
	if scrubbed != 2 {
		t.Fatalf("%d scrubbed changes, want 2: %s", scrubbed, tl.Raw)
	}
}
