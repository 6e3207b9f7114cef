package app_test

import (
	"slices"
	"testing"
)

// duplicateIDs returns the ids of GET /v1/leads/{id}/duplicates as s, with
// their reasons.
func (e *testEnv) duplicateIDs(t *testing.T, s session, leadID string) map[string][]string {
	t.Helper()
	r := e.do(t, "GET", "/v1/leads/"+leadID+"/duplicates", s.Access, nil)
	expect(t, r, 200)
	out := map[string][]string{}
	for _, it := range r.items() {
		l, _ := it["lead"].(map[string]any)
		var reasons []string
		for _, x := range it["reasons"].([]any) {
			reasons = append(reasons, x.(string))
		}
		out[l["id"].(string)] = reasons
	}
	return out
}

// Duplicates: a lead whose number is another's read in the org's region
// (the country code wrong or left out) and a lead whose Gmail address is
// another's without dots and +tag are found, from either side; an agent sees only its own
// leads, and a lead of another org is 404.
func TestLeadDuplicates(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Dup Co")
	agent := e.member(t, owner, "agent")
	other := e.signup(t, "Other Dup Co")

	a := e.createLead(t, owner, map[string]any{"name": "Asha Dup", "phone": "+16505550199", "email": "Asha.K+work@gmail.com"}).str("id")
	byPhone := e.createLead(t, owner, map[string]any{"name": "Asha D", "phone": "6505550199"}).str("id")
	byEmail := e.createLead(t, owner, map[string]any{"name": "A. K.", "email": "ashak@gmail.com"}).str("id")
	e.createLead(t, owner, map[string]any{"name": "Someone Else", "phone": "+919812300000", "email": "else@example.com"})

	got := e.duplicateIDs(t, owner, a)
	if len(got) != 2 || !slices.Equal(got[byPhone], []string{"phone"}) || !slices.Equal(got[byEmail], []string{"email"}) {
		t.Fatalf("duplicates of %s: %v, want %s by phone and %s by email", a, got, byPhone, byEmail)
	}
	// Both ways: the canonical address finds the dotted, tagged one.
	if got := e.duplicateIDs(t, owner, byEmail); len(got) != 1 || !slices.Equal(got[a], []string{"email"}) {
		t.Fatalf("duplicates of the canonical address %s: %v, want %s by email", byEmail, got, a)
	}

	// The agent's own lead; the owner's duplicates are not shown to it.
	mine := e.createLead(t, agent, map[string]any{"name": "Agent Dup", "email": "asha.k+other@gmail.com"}).str("id")
	if got := e.duplicateIDs(t, agent, mine); len(got) != 0 {
		t.Fatalf("agent sees others' leads as duplicates: %v", got)
	}
	if got := e.duplicateIDs(t, owner, mine); !slices.Equal(got[byEmail], []string{"email"}) || !slices.Equal(got[a], []string{"email"}) {
		t.Fatalf("owner: duplicates of the agent's lead %v, want %s and %s", got, byEmail, a)
	}
	// The entry follows the email: changed, the old canonical form no
	// longer finds the lead.
	expect(t, e.do(t, "PATCH", "/v1/leads/"+a, owner.Access, map[string]any{"email": "asha.dup@example.com"}), 200)
	if got := e.duplicateIDs(t, owner, byEmail); len(got) != 1 || got[mine] == nil {
		t.Fatalf("duplicates of %s after the email change: %v, want only %s", byEmail, got, mine)
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+a+"/duplicates", agent.Access, nil), 404)
	expect(t, e.do(t, "GET", "/v1/leads/"+a+"/duplicates", other.Access, nil), 404)
}
