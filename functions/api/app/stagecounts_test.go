package app_test

import (
	"fmt"
	"sync"
	"testing"
)

// stageCounts reads a pipeline's lead_count per stage as s sees it.
func (e *testEnv) stageCounts(t *testing.T, s session, pipelineID string) map[string]int {
	t.Helper()
	r := e.do(t, "GET", "/v1/pipelines/"+pipelineID+"?counts=true", s.Access, nil)
	expect(t, r, 200)
	out := map[string]int{}
	list, _ := r.Body["stages"].([]any)
	for _, st := range list {
		m := st.(map[string]any)
		n, ok := m["lead_count"].(float64)
		if !ok {
			t.Fatalf("stage without lead_count: %s", r.Raw)
		}
		out[m["id"].(string)] = int(n)
	}
	return out
}

// TestStageCounts: GET /v1/pipelines/{id}?counts=true counts each stage's
// leads, exactly after concurrent creates, moves and deletes; an agent
// counts its own leads; without counts the stages carry none.
func TestStageCounts(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Counts Co")
	agent := e.member(t, owner, "agent")

	plain := e.do(t, "GET", "/v1/pipelines/default", owner.Access, nil)
	expect(t, plain, 200)
	if st := plain.Body["stages"].([]any)[0].(map[string]any); st["lead_count"] != nil {
		t.Fatalf("counts without counts=true: %s", plain.Raw)
	}

	const n = 12
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			who := owner
			if i%3 == 0 {
				who = agent
			}
			r := e.do(t, "POST", "/v1/leads", who.Access, map[string]any{"name": fmt.Sprintf("Count %d", i), "phone": fmt.Sprintf("+9198222%05d", i)})
			if r.Status == 201 {
				ids[i] = r.str("id")
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id == "" {
			t.Fatalf("lead %d not created", i)
		}
	}
	// Half move to contacted, a quarter to won, one is deleted, at once.
	for i, id := range ids {
		wg.Go(func() {
			switch {
			case i == n-1:
				expect(t, e.do(t, "DELETE", "/v1/leads/"+id, owner.Access, nil), 204)
			case i%2 == 0:
				expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"stage_id": "contacted"}), 200)
			case i%4 == 1:
				expect(t, e.do(t, "PATCH", "/v1/leads/"+id, owner.Access, map[string]any{"status": "won"}), 200)
			}
		})
	}
	wg.Wait()
	want := map[string]int{"new": 0, "contacted": 0, "qualified": 0, "unqualified": 0, "won": 0, "lost": 0}
	mine := map[string]int{"new": 0, "contacted": 0, "qualified": 0, "unqualified": 0, "won": 0, "lost": 0}
	for i := range ids {
		stage := "new"
		switch {
		case i == n-1:
			continue
		case i%2 == 0:
			stage = "contacted"
		case i%4 == 1:
			stage = "won"
		}
		want[stage]++
		if i%3 == 0 {
			mine[stage]++
		}
	}
	if got := e.stageCounts(t, owner, "default"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("owner's counts %v, want %v", got, want)
	}
	if got := e.stageCounts(t, agent, "default"); fmt.Sprint(got) != fmt.Sprint(mine) {
		t.Fatalf("agent's counts %v, want %v", got, mine)
	}
	problemCode(t, e.do(t, "GET", "/v1/pipelines/nope?counts=true", owner.Access, nil), 404, "not_found")
}
