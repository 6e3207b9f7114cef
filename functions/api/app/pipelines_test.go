package app_test

import (
	"net/url"
	"strings"
	"testing"
)

// stageIDs lists a pipeline answer's stage ids in order.
func stageIDs(r response) []string {
	list, _ := r.Body["stages"].([]any)
	var out []string
	for _, s := range list {
		out = append(out, s.(map[string]any)["id"].(string))
	}
	return out
}

// column lists the ids of a board column's leads as caller sees them.
func (e *testEnv) column(t *testing.T, s session, pipelineID, stageID string) []string {
	t.Helper()
	r := e.do(t, "GET", "/v1/leads?pipeline_id="+url.QueryEscape(pipelineID)+"&stage_id="+url.QueryEscape(stageID), s.Access, nil)
	expect(t, r, 200)
	var ids []string
	for _, it := range r.items() {
		ids = append(ids, it["id"].(string))
	}
	return ids
}

// TestPipelinesAndStages: every org has the default pipeline mirroring the
// statuses; leads land in its first stage; status and stage move together;
// owners and admins manage pipelines, others read them; moving a lead
// writes stage_changed; a stage holding leads is deleted only with a
// target, each lead moved with its activity.
func TestPipelinesAndStages(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Board Co")
	admin := e.member(t, owner, "admin")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")

	// The default pipeline, before anyone changed it.
	list := e.do(t, "GET", "/v1/pipelines", agent.Access, nil)
	expect(t, list, 200)
	items := list.items()
	if len(items) != 1 || items[0]["id"] != "default" || items[0]["default"] != true || items[0]["version"] != float64(0) {
		t.Fatalf("pipelines of a new org %s", list.Raw)
	}
	def := e.do(t, "GET", "/v1/pipelines/default", viewer.Access, nil)
	expect(t, def, 200)
	if got := strings.Join(stageIDs(def), ","); got != "new,contacted,qualified,unqualified,won,lost" {
		t.Fatalf("default stages %s", got)
	}

	// A new lead lands in the first stage; the status names the stage.
	a := e.createLead(t, agent, map[string]any{"name": "Board Lead A", "phone": "+919811100001"})
	if a.str("pipeline_id") != "default" || a.str("stage_id") != "new" || a.str("status") != "new" {
		t.Fatalf("new lead %s", a.Raw)
	}
	b := e.createLead(t, owner, map[string]any{"name": "Board Lead B", "phone": "+919811100002", "status": "contacted"})
	if b.str("stage_id") != "contacted" {
		t.Fatalf("lead created contacted %s", b.Raw)
	}
	up := e.do(t, "PATCH", "/v1/leads/"+a.str("id"), agent.Access, map[string]any{"status": "contacted"})
	expect(t, up, 200)
	if up.str("stage_id") != "contacted" {
		t.Fatalf("status contacted moved the lead to %s", up.str("stage_id"))
	}
	if got := e.column(t, viewer, "default", "contacted"); len(got) != 2 || got[0] != b.str("id") || got[1] != a.str("id") {
		t.Fatalf("contacted column %v, want B then A (newest first)", got)
	}
	if got := e.column(t, agent, "default", "contacted"); len(got) != 1 || got[0] != a.str("id") {
		t.Fatalf("agent's contacted column %v, want only its own lead", got)
	}
	problemCode(t, e.do(t, "GET", "/v1/leads?stage_id=new", owner.Access, nil), 422, "validation_failed")

	// Only owners and admins write pipelines; limits name the field.
	body := map[string]any{"name": "Rentals", "stages": []map[string]string{{"name": "Enquiry"}, {"name": "Viewing"}, {"name": "Signed", "kind": "won"}}}
	for _, s := range []session{manager, agent, viewer} {
		problemCode(t, e.do(t, "POST", "/v1/pipelines", s.Access, body), 403, "forbidden")
	}
	long := e.do(t, "POST", "/v1/pipelines", owner.Access, map[string]any{"name": "P", "stages": []map[string]string{{"name": strings.Repeat("é", 101)}}})
	expect(t, long, 422)
	if !hasLocation(long, "body.stages[0].name") {
		t.Fatalf("long stage name %s", long.Raw)
	}
	many := make([]map[string]string, 51)
	for i := range many {
		many[i] = map[string]string{"name": "S"}
	}
	expect(t, e.do(t, "POST", "/v1/pipelines", owner.Access, map[string]any{"name": "P", "stages": many}), 422)
	created := e.do(t, "POST", "/v1/pipelines", admin.Access, body)
	expect(t, created, 201)
	pid, stages := created.str("id"), stageIDs(created)
	if len(stages) != 3 || created.Body["version"] != float64(1) {
		t.Fatalf("created pipeline %s", created.Raw)
	}

	// Rename, reorder, add; a stale version is 412; leaving a stage out 422.
	patch := map[string]any{"name": "Lettings", "stages": []map[string]string{
		{"id": stages[1], "name": "Viewing booked"}, {"id": stages[0], "name": "Enquiry"}, {"name": "Lost", "kind": "lost"}, {"id": stages[2], "name": "Signed"}}}
	ren := e.do(t, "PATCH", "/v1/pipelines/"+pid, owner.Access, patch, "If-Match", `"1"`)
	expect(t, ren, 200)
	got := stageIDs(ren)
	if ren.str("name") != "Lettings" || len(got) != 4 || got[0] != stages[1] || got[3] != stages[2] || ren.Body["version"] != float64(2) {
		t.Fatalf("patched pipeline %s", ren.Raw)
	}
	lostStage := got[2]
	problemCode(t, e.do(t, "PATCH", "/v1/pipelines/"+pid, owner.Access, map[string]any{"name": "X"}, "If-Match", `"1"`), 412, "version_mismatch")
	left := e.do(t, "PATCH", "/v1/pipelines/"+pid, owner.Access, map[string]any{"stages": []map[string]string{{"id": stages[0], "name": "Only"}}})
	expect(t, left, 422)
	problemCode(t, e.do(t, "PATCH", "/v1/pipelines/"+pid, agent.Access, map[string]any{"name": "X"}), 403, "forbidden")

	// Moving a lead to another pipeline and stage: stage_changed with old
	// and new; the status follows a won stage; a stage of another pipeline is 422.
	mv := e.do(t, "PATCH", "/v1/leads/"+a.str("id"), agent.Access, map[string]any{"pipeline_id": pid, "stage_id": stages[2]})
	expect(t, mv, 200)
	if mv.str("pipeline_id") != pid || mv.str("stage_id") != stages[2] || mv.str("status") != "won" {
		t.Fatalf("moved lead %s", mv.Raw)
	}
	bad := e.do(t, "PATCH", "/v1/leads/"+a.str("id"), agent.Access, map[string]any{"stage_id": "contacted"})
	expect(t, bad, 422)
	if !hasLocation(bad, "body.stage_id") {
		t.Fatalf("stage of another pipeline %s", bad.Raw)
	}
	acts := e.do(t, "GET", "/v1/leads/"+a.str("id")+"/activities", agent.Access, nil)
	expect(t, acts, 200)
	var stageChange map[string]any
	for _, it := range acts.items() {
		if it["kind"] == "stage_changed" {
			stageChange = it
			break // newest first
		}
	}
	changes, _ := stageChange["changes"].([]any)
	if len(changes) != 2 {
		t.Fatalf("stage_changed %v in %s", stageChange, acts.Raw)
	}
	pc, sc := changes[0].(map[string]any), changes[1].(map[string]any)
	if pc["field"] != "pipeline_id" || pc["old"] != "default" || pc["new"] != pid || sc["field"] != "stage_id" || sc["old"] != "contacted" || sc["new"] != stages[2] {
		t.Fatalf("stage_changed changes %v", changes)
	}

	// Deleting a stage that holds leads: 409 without a target, else the
	// leads move (an activity each) and the stage goes.
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/"+pid+"/stages/"+stages[2], owner.Access, nil), 409, "stage_not_empty")
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/"+pid+"/stages/"+stages[2]+"?move_to=nope", owner.Access, nil), 422, "validation_failed")
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/"+pid+"/stages/"+stages[2]+"?move_to="+lostStage, agent.Access, nil), 403, "forbidden")
	expect(t, e.do(t, "DELETE", "/v1/pipelines/"+pid+"/stages/"+stages[2]+"?move_to="+lostStage, owner.Access, nil), 204)
	moved := e.do(t, "GET", "/v1/leads/"+a.str("id"), owner.Access, nil)
	if moved.str("stage_id") != lostStage || moved.str("status") != "lost" {
		t.Fatalf("lead after its stage was deleted %s", moved.Raw)
	}
	if got := e.column(t, owner, pid, lostStage); len(got) != 1 || got[0] != a.str("id") {
		t.Fatalf("lost column %v", got)
	}
	if got := e.column(t, owner, pid, stages[2]); len(got) != 0 {
		t.Fatalf("deleted stage's column %v", got)
	}
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/"+pid+"/stages/"+stages[2], owner.Access, nil), 404, "not_found")
	after := e.do(t, "GET", "/v1/pipelines/"+pid, agent.Access, nil)
	if len(stageIDs(after)) != 3 {
		t.Fatalf("pipeline after the stage deletion %s", after.Raw)
	}

	// A pipeline with leads, and the default one, stay.
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/"+pid, owner.Access, nil), 409, "pipeline_not_empty")
	problemCode(t, e.do(t, "DELETE", "/v1/pipelines/default", owner.Access, nil), 409, "default_pipeline")
	back := e.do(t, "PATCH", "/v1/leads/"+a.str("id"), owner.Access, map[string]any{"pipeline_id": "default"})
	expect(t, back, 200)
	if back.str("stage_id") != "new" || back.str("status") != "new" {
		t.Fatalf("back in the default pipeline %s", back.Raw)
	}
	expect(t, e.do(t, "DELETE", "/v1/pipelines/"+pid, owner.Access, nil), 204)
	problemCode(t, e.do(t, "GET", "/v1/pipelines/"+pid, owner.Access, nil), 404, "not_found")

	// The default pipeline changed is stored; the audit trail has the writes.
	rn := e.do(t, "PATCH", "/v1/pipelines/default", owner.Access, map[string]any{"name": "Sales funnel"})
	expect(t, rn, 200)
	if rn.Body["version"] != float64(1) || rn.str("name") != "Sales funnel" {
		t.Fatalf("renamed default %s", rn.Raw)
	}
	trail := e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil)
	expect(t, trail, 200)
	seen := map[string]bool{}
	for _, it := range trail.items() {
		seen[it["action"].(string)] = true
	}
	for _, want := range []string{"pipeline.create", "pipeline.update", "pipeline.stage_delete", "pipeline.delete", "permission.denied"} {
		if !seen[want] {
			t.Errorf("audit trail lacks %s", want)
		}
	}
}
