package intake

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/meta"
)

// FormConsent returns the opt-ins a Lead Ads submission ml gives under the
// org's consent mapping: one entry per rule whose question was answered
// yes (or whose custom disclaimer checkbox was ticked), at the
// submission's time at, for lead leadID of org orgID, with source
// conversation.SourceLeadAdsForm and evidence "leadgen:<id>#<question>".
// Two rules for the same channel and purpose give one entry.
func FormConsent(m conversation.ConsentMapping, ml meta.Lead, orgID, leadID string, at time.Time) []conversation.ConsentEntry {
	if len(m.Rules) == 0 {
		return nil
	}
	a := conversation.Answer{FormID: ml.FormID, Answers: map[string][]string{}, Checked: map[string]bool{}}
	for _, f := range ml.FieldData {
		k := strings.ToLower(strings.TrimSpace(f.Name))
		a.Answers[k] = append(a.Answers[k], f.Values...)
	}
	for _, d := range ml.CustomDisclaimerResponses {
		a.Checked[strings.TrimSpace(d.CheckboxKey)] = d.IsChecked.Yes()
	}
	var out []conversation.ConsentEntry
	seen := map[string]bool{}
	for _, r := range m.Rules {
		ev, ok := r.Matches(a)
		k := conversation.ConsentKey(r.Channel, r.Purpose)
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, conversation.ConsentEntry{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: orgID, LeadID: leadID,
			Channel: r.Channel, Purpose: r.Purpose, Action: conversation.OptIn, At: at.UTC(), Evidence: "leadgen:" + ml.ID + "#" + ev,
			Source: conversation.SourceLeadAdsForm})
	}
	return out
}
