package conversation

import (
	"strings"
	"time"
)

// PurposeService is the purpose of every message that is not marketing
// (replies, reminders, utility and authentication templates). Staff record
// it (either way), a person's own WhatsApp message records its opt-in, and
// a Lead Ads answer the org mapped may; keywords and providers opt out of
// the whole channel (PurposeAll) or of marketing.
const PurposeService = "service"

// SourceStaff is the source of a consent entry set by staff through the
// API; its entry names the user (By) and why (Reason).
const SourceStaff = "staff"

// SourceImport is an opt-in recorded by a lead import (POST
// /v1/leads/import), with the evidence the file gave and the importing user.
const SourceImport = "import"

// State is a lead's preference for one channel and purpose.
type State string

// States.
const (
	StateOptedIn  State = "opted_in"
	StateOptedOut State = "opted_out"
	StateUnknown  State = "unknown"
)

// ConsentKey is the key of a lead's current consent (lead.Lead.Consent)
// for a channel and a stored purpose (all, marketing, service).
func ConsentKey(ch Channel, purpose string) string { return string(ch) + ":" + purpose }

// Preference reads a lead's current consent (lead.Lead.Consent:
// "channel:purpose" → "opt_out@<RFC 3339>" | "opt_in@<RFC 3339>") for
// messages of purpose (PurposeMarketing or PurposeService) on ch. The keys
// that count are the whole channel's and the purpose's own; the newest
// action among them decides, an opt-out and an opt-in in the same second
// is an opt-out, and an opt-out with an unreadable time is an opt-out.
// With no key it is StateUnknown. It returns the time of the deciding
// entry (zero when unknown or unreadable). The send gates
// (sendgate.Consent) read consent through this function, so what the
// preference view shows is what the gates apply.
func Preference(consent map[string]string, ch Channel, purpose string) (State, time.Time) {
	keys := []string{ConsentKey(ch, PurposeAll), ConsentKey(ch, purpose)}
	var out, in time.Time
	var hasOut, hasIn bool
	for _, k := range keys {
		v, ok := consent[k]
		if !ok {
			continue
		}
		action, at, _ := strings.Cut(v, "@")
		t, err := time.Parse(time.RFC3339Nano, at)
		switch action {
		case OptOut:
			if err != nil {
				return StateOptedOut, time.Time{}
			}
			if !hasOut || t.After(out) {
				out = t
			}
			hasOut = true
		case OptIn:
			if err == nil && (!hasIn || t.After(in)) {
				in = t
				hasIn = true
			}
		}
	}
	switch {
	case hasOut && (!hasIn || !in.After(out)):
		return StateOptedOut, out
	case hasIn:
		return StateOptedIn, in
	}
	return StateUnknown, time.Time{}
}
