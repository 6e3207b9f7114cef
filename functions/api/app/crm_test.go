package app_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestLeadTimelineAndNotes: a lead's timeline records its creation, its
// changes with old and new values, and its notes' writes, newest first,
// each with its actor; notes obey the author-or-manager rule and the body
// limit; both go into the data-subject export and away with the erasure.
func TestLeadTimelineAndNotes(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "CRM Co")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	other := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	l := e.createLead(t, agent, map[string]any{"name": "Nisha Timeline", "phone": "+919812300077", "tags": []string{"warm"}})
	id := l.str("id")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+id, agent.Access, map[string]any{"status": "contacted", "name": "Nisha T", "tags": []string{"hot"},
		"custom_fields": map[string]string{"budget": "50L"}}), 200)

	// Notes: the agent's own, and the body limit (422, also for a blank one).
	n := e.do(t, "POST", "/v1/leads/"+id+"/notes", agent.Access, map[string]any{"body": "Called; site visit on Friday."})
	expect(t, n, 201)
	noteID := n.str("id")
	if n.str("author_id") != agent.UserID || n.str("body") != "Called; site visit on Friday." || n.str("lead_id") != id {
		t.Fatalf("note %s", n.Raw)
	}
	expect(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", agent.Access, map[string]any{"body": strings.Repeat("ä", 10001)}), 422)
	problemCode(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", agent.Access, map[string]any{"body": "   "}), 422, "validation_failed")
	expect(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", agent.Access, map[string]any{"body": strings.Repeat("ä", 10000)}), 201)
	problemCode(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", viewer.Access, map[string]any{"body": "hi"}), 403, "forbidden")
	problemCode(t, e.do(t, "POST", "/v1/leads/"+id+"/notes", other.Access, map[string]any{"body": "hi"}), 404, "not_found")
	on := e.do(t, "POST", "/v1/leads/"+id+"/notes", owner.Access, map[string]any{"body": "Owner's own note"})
	expect(t, on, 201)
	// Only the author or a manager and above changes a note.
	problemCode(t, e.do(t, "PATCH", "/v1/leads/"+id+"/notes/"+on.str("id"), agent.Access, map[string]any{"body": "mine"}), 403, "forbidden")
	problemCode(t, e.do(t, "DELETE", "/v1/leads/"+id+"/notes/"+on.str("id"), agent.Access, nil), 403, "forbidden")
	ed := e.do(t, "PATCH", "/v1/leads/"+id+"/notes/"+noteID, manager.Access, map[string]any{"body": "Called; site visit moved to Monday."})
	expect(t, ed, 200)
	if ed.str("body") != "Called; site visit moved to Monday." || ed.str("author_id") != agent.UserID || ed.Body["version"] != float64(2) {
		t.Fatalf("edited note %s", ed.Raw)
	}
	problemCode(t, e.do(t, "PATCH", "/v1/leads/"+id+"/notes/01JNOSUCHNOTE0000000000000", owner.Access, map[string]any{"body": "x"}), 404, "not_found")
	expect(t, e.do(t, "DELETE", "/v1/leads/"+id+"/notes/"+on.str("id"), owner.Access, nil), 204)

	notes := e.do(t, "GET", "/v1/leads/"+id+"/notes?limit=1", viewer.Access, nil)
	expect(t, notes, 200)
	if items := notes.items(); len(items) != 1 || notes.str("next_cursor") == "" {
		t.Fatalf("first notes page %s", notes.Raw)
	}
	rest := e.do(t, "GET", "/v1/leads/"+id+"/notes?limit=1&cursor="+url.QueryEscape(notes.str("next_cursor")), viewer.Access, nil)
	expect(t, rest, 200)
	if items := rest.items(); len(items) != 1 || items[0]["id"] != noteID || rest.Body["next_cursor"] != nil {
		t.Fatalf("second notes page %s", rest.Raw)
	}
	// A cursor of another listing is refused.
	problemCode(t, e.do(t, "GET", "/v1/leads/"+id+"/activities?limit=1&cursor="+url.QueryEscape(notes.str("next_cursor")), viewer.Access, nil), 400, "invalid_cursor")

	// The timeline, newest first.
	tl := e.do(t, "GET", "/v1/leads/"+id+"/activities", viewer.Access, nil)
	expect(t, tl, 200)
	var kinds []string
	byKind := map[string]map[string]any{}
	for _, it := range tl.items() {
		k := it["kind"].(string)
		kinds = append(kinds, k)
		if byKind[k] == nil {
			byKind[k] = it
		}
	}
	want := "note_deleted,note_edited,note_added,note_added,note_added,updated,stage_changed,status_changed,created"
	if strings.Join(kinds, ",") != want {
		t.Fatalf("timeline kinds %v, want %s", kinds, want)
	}
	actor := func(it map[string]any) string { return it["actor"].(map[string]any)["id"].(string) }
	if actor(byKind["created"]) != agent.UserID || actor(byKind["note_edited"]) != manager.UserID || actor(byKind["note_deleted"]) != owner.UserID {
		t.Fatalf("actors %s", tl.Raw)
	}
	st := byKind["status_changed"]["changes"].([]any)[0].(map[string]any)
	if st["field"] != "status" || st["old"] != "new" || st["new"] != "contacted" {
		t.Fatalf("status change %v", st)
	}
	changes := map[string]map[string]any{}
	for _, c := range byKind["updated"]["changes"].([]any) {
		changes[c.(map[string]any)["field"].(string)] = c.(map[string]any)
	}
	if c := changes["name"]; c["old"] != "Nisha Timeline" || c["new"] != "Nisha T" {
		t.Fatalf("name change %v", c)
	}
	if c := changes["custom_fields.budget"]; c["old"] != nil || c["new"] != "50L" {
		t.Fatalf("budget change %v", c)
	}
	if c := changes["tags"]; len(c["added"].([]any)) != 1 || len(c["removed"].([]any)) != 1 {
		t.Fatalf("tags change %v", c)
	}
	if byKind["note_edited"]["details"].(map[string]any)["note_id"] != noteID {
		t.Fatalf("note activity %v", byKind["note_edited"])
	}
	if strings.Contains(tl.Raw, "Monday") {
		t.Fatal("the timeline holds a note's body")
	}
	// Paged one at a time, it is the same.
	var paged []string
	cursor := ""
	for range 10 {
		p := e.do(t, "GET", "/v1/leads/"+id+"/activities?limit=1&cursor="+url.QueryEscape(cursor), owner.Access, nil)
		expect(t, p, 200)
		for _, it := range p.items() {
			paged = append(paged, it["kind"].(string))
		}
		if cursor = p.str("next_cursor"); cursor == "" {
			break
		}
	}
	if strings.Join(paged, ",") != want {
		t.Fatalf("paged timeline %v", paged)
	}
	problemCode(t, e.do(t, "GET", "/v1/leads/"+id+"/activities", other.Access, nil), 404, "not_found")

	// The export carries the timeline and the notes.
	exp := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"lead_id": id}})
	doc := e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id")+"/export", owner.Access, nil, "Accept-Encoding", "identity")
	expect(t, doc, 200)
	var d struct {
		Leads []struct {
			Activities []struct {
				Kind    string `json:"kind"`
				ActorID string `json:"actor_id"`
			} `json:"activities"`
			Notes []struct {
				Body     string `json:"body"`
				AuthorID string `json:"author_id"`
			} `json:"notes"`
		} `json:"leads"`
	}
	if err := json.Unmarshal([]byte(doc.Raw), &d); err != nil || len(d.Leads) != 1 {
		t.Fatalf("export %v: %s", err, doc.Raw)
	}
	if len(d.Leads[0].Activities) != 9 || len(d.Leads[0].Notes) != 2 || d.Leads[0].Notes[0].Body != "Called; site visit moved to Monday." {
		t.Fatalf("exported activities %+v, notes %d", d.Leads[0].Activities, len(d.Leads[0].Notes))
	}

	// The erasure takes them with the lead.
	fileRequest(t, e.testEnv, owner, map[string]any{"type": "erasure", "subject": map[string]any{"lead_id": id}})
	s := e.store
	if notes, err := s.Notes(t.Context(), owner.OrgID, id); err != nil || len(notes) != 0 {
		t.Fatalf("notes after erasure %d, %v", len(notes), err)
	}
	if acts, err := s.Activities(t.Context(), owner.OrgID, id); err != nil || len(acts) != 0 {
		t.Fatalf("activities after erasure %d, %v", len(acts), err)
	}
}
