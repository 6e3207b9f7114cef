package conversation

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SourceLeadAdsForm is the source of an opt-in a person gave on a Lead Ads
// form, by answering a consent question or ticking a custom disclaimer
// checkbox the org mapped (ConsentMapping); its evidence names the
// submission and the question: "leadgen:<id>#question:<key>" or
// "leadgen:<id>#disclaimer:<checkbox key>".
const SourceLeadAdsForm = "lead_ads_form"

// MaxConsentRules bounds an org's consent mapping.
const MaxConsentRules = 20

// ConsentMapping is how an org's Lead Ads forms record consent: each rule
// names a form question (or custom disclaimer checkbox) and the channel
// and purpose a "yes" opts the person in to. It is one org setting, not
// one per Lead Ads integration: the same consent question is used across
// the forms and pages of an org, and a rule outlives a page disconnected
// and connected again; a rule may name one form (FormID) when forms
// differ.
type ConsentMapping struct {
	Rules     []ConsentRule `json:"rules" maxItems:"20" doc:"At most 20 rules; an empty list maps nothing."`
	UpdatedAt time.Time     `json:"updated_at,omitzero" readOnly:"true" required:"false"`
	UpdatedBy string        `json:"updated_by,omitempty" readOnly:"true" required:"false"`
}

// ConsentRule maps one Lead Ads form question, or one custom disclaimer
// checkbox, to an opt-in.
type ConsentRule struct {
	// Question is the question's key as the lead's field_data names it
	// (case-insensitive); Disclaimer the checkbox_key of a custom
	// disclaimer checkbox. Exactly one is set.
	Question   string `json:"question,omitempty" maxLength:"100" doc:"The form question's key, as the lead's field_data names it (case-insensitive). Give question or disclaimer."`
	Disclaimer string `json:"disclaimer,omitempty" maxLength:"100" doc:"The checkbox_key of a custom disclaimer checkbox: ticked means yes."`
	// Yes are the answers to Question that mean yes (case- and space-
	// insensitive); required with Question.
	Yes []string `json:"yes,omitempty" maxItems:"10" doc:"Answers to question that mean yes (case-insensitive); required with question."`
	// FormID, when set, limits the rule to one Lead Ads form.
	FormID  string  `json:"form_id,omitempty" maxLength:"64" doc:"Only leads of this form; empty means every form."`
	Channel Channel `json:"channel" enum:"whatsapp,email"`
	Purpose string  `json:"purpose" enum:"service,marketing,all" doc:"all opts in to both purposes of the channel."`
}

// Validate checks the mapping's rules; an error names the rule and field
// ("rules[0].yes: ...").
func (m ConsentMapping) Validate() error {
	if len(m.Rules) > MaxConsentRules {
		return fmt.Errorf("rules: at most %d", MaxConsentRules)
	}
	for i, r := range m.Rules {
		at := fmt.Sprintf("rules[%d].", i)
		q, d := strings.TrimSpace(r.Question), strings.TrimSpace(r.Disclaimer)
		switch {
		case (q == "") == (d == ""):
			return fmt.Errorf("%squestion: give exactly one of question and disclaimer", at)
		case q != "" && len(r.Yes) == 0:
			return fmt.Errorf("%syes: name the answers that mean yes", at)
		case d != "" && len(r.Yes) > 0:
			return fmt.Errorf("%syes: a disclaimer checkbox means yes when ticked; give no answers", at)
		case r.Channel != ChannelWhatsApp && r.Channel != ChannelEmail:
			return fmt.Errorf("%schannel: must be whatsapp or email", at)
		case r.Purpose != PurposeService && r.Purpose != PurposeMarketing && r.Purpose != PurposeAll:
			return fmt.Errorf("%spurpose: must be service, marketing or all", at)
		}
		for j, y := range r.Yes {
			if strings.TrimSpace(y) == "" {
				return fmt.Errorf("%syes[%d]: must not be blank", at, j)
			}
		}
	}
	return nil
}

// Answer is how a rule reads a form: Answers maps each question key
// (lower-cased) to its values, Checked each disclaimer checkbox key to
// whether it was ticked.
type Answer struct {
	FormID  string
	Answers map[string][]string
	Checked map[string]bool
}

// Matches reports whether the rule applies to the form and its answer means
// yes, and the evidence suffix naming the question ("question:<key>" or
// "disclaimer:<key>").
func (r ConsentRule) Matches(a Answer) (evidence string, ok bool) {
	if r.FormID != "" && r.FormID != a.FormID {
		return "", false
	}
	if d := strings.TrimSpace(r.Disclaimer); d != "" {
		return "disclaimer:" + d, a.Checked[d]
	}
	q := strings.ToLower(strings.TrimSpace(r.Question))
	for _, v := range a.Answers[q] {
		for _, y := range r.Yes {
			if strings.EqualFold(strings.Join(strings.Fields(v), " "), strings.Join(strings.Fields(y), " ")) {
				return "question:" + q, true
			}
		}
	}
	return "", false
}

// ConsentMappingStore keeps an org's consent mapping (dynamostore.Store);
// an org that never set one has the zero mapping (no rules).
type ConsentMappingStore interface {
	ConsentMapping(ctx context.Context, orgID string) (ConsentMapping, error)
	PutConsentMapping(ctx context.Context, orgID string, m ConsentMapping) error
}
