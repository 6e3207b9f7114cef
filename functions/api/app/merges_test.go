package app_test

import (
	"strings"
	"testing"
)

// Merging two leads through the API: managers and above only, the
// absorbed lead answers 404 and its contacts are the survivor's (a
// WhatsApp message from its number lands on the survivor, through the
// ingest path), its notes moved; undo brings it back, a second undo is
// 409, another org's merge is 404.
func TestMergeLeadsAndUndo(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	other := e.signup(t, "Verma Homes")
	survivor := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "+919812300001", "tags": []string{"vip"}}).str("id")
	absorbed := e.createLead(t, owner, map[string]any{"name": "Asha K", "phone": "+919812300002", "email": "asha.k@example.com",
		"tags": []string{"hot"}}).str("id")
	expect(t, e.do(t, "POST", "/v1/leads/"+absorbed+"/notes", owner.Access, map[string]any{"body": "Wants a 2BHK."}), 201)
	foreign := e.createLead(t, other, map[string]any{"name": "Elsewhere", "phone": "+919812300003"}).str("id")

	body := map[string]any{"other_lead_id": absorbed}
	problemCode(t, e.do(t, "POST", "/v1/leads/"+survivor+"/merge", agent.Access, body), 403, "forbidden")
	expect(t, e.do(t, "POST", "/v1/leads/"+survivor+"/merge", manager.Access, map[string]any{"other_lead_id": foreign}), 404)
	expect(t, e.do(t, "POST", "/v1/leads/"+survivor+"/merge", manager.Access, map[string]any{"other_lead_id": survivor}), 422)
	r := e.do(t, "POST", "/v1/leads/"+survivor+"/merge", manager.Access, body)
	expect(t, r, 200)
	mergeID := r.str("id")
	if r.str("state") != "done" || r.str("lead", "email") != "asha.k@example.com" || !strings.Contains(r.Raw, `"phones":["+919812300002"]`) ||
		!strings.Contains(r.Raw, `"tags":["vip","hot"]`) {
		t.Fatalf("merge answer: %s", r.Raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+absorbed, owner.Access, nil), 404)
	// Asked again (the answer was lost): the same merge.
	if again := e.do(t, "POST", "/v1/leads/"+survivor+"/merge", manager.Access, body); again.Status != 200 || again.str("id") != mergeID {
		t.Fatalf("merge asked again: %d %s", again.Status, again.Raw)
	}
	if n := e.do(t, "GET", "/v1/leads/"+survivor+"/notes", owner.Access, nil); !strings.Contains(n.Raw, "Wants a 2BHK.") {
		t.Fatalf("survivor's notes: %s", n.Raw)
	}
	if got := e.intakeInbound(t, owner.OrgID, "919812300002", "Still looking for a flat"); got != survivor {
		t.Fatalf("message from the absorbed lead's number landed on %s, want the survivor %s", got, survivor)
	}
	if m := e.do(t, "GET", "/v1/leads/"+survivor+"/messages", owner.Access, nil); !strings.Contains(m.Raw, "Still looking for a flat") {
		t.Fatalf("survivor's messages: %s", m.Raw)
	}
	if a := e.do(t, "GET", "/v1/leads/"+survivor+"/activities", owner.Access, nil); !strings.Contains(a.Raw, `"merged"`) {
		t.Fatalf("survivor's timeline has no merged activity: %s", a.Raw)
	}

	// The person's export, asked by the absorbed lead's phone, is the
	// survivor's with its secondary contacts.
	exp := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"phone": "+919812300002"}})
	doc := e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id")+"/export", owner.Access, nil, "Accept-Encoding", "identity")
	expect(t, doc, 200)
	if !strings.Contains(doc.Raw, `"phones":["+919812300002"]`) || !strings.Contains(doc.Raw, `"id":"`+survivor+`"`) {
		t.Fatalf("export after the merge: %s", doc.Raw)
	}

	problemCode(t, e.do(t, "POST", "/v1/merges/"+mergeID+"/undo", agent.Access, nil), 403, "forbidden")
	expect(t, e.do(t, "POST", "/v1/merges/"+mergeID+"/undo", other.Access, nil), 404)
	u := e.do(t, "POST", "/v1/merges/"+mergeID+"/undo", manager.Access, nil)
	expect(t, u, 200)
	if u.str("state") != "undone" || !strings.Contains(u.Raw, `"phones":[]`) {
		t.Fatalf("undo answer: %s", u.Raw)
	}
	back := e.do(t, "GET", "/v1/leads/"+absorbed, owner.Access, nil)
	expect(t, back, 200)
	if back.str("email") != "asha.k@example.com" {
		t.Fatalf("restored lead: %s", back.Raw)
	}
	if n := e.do(t, "GET", "/v1/leads/"+absorbed+"/notes", owner.Access, nil); !strings.Contains(n.Raw, "Wants a 2BHK.") {
		t.Fatalf("restored lead's notes: %s", n.Raw)
	}
	problemCode(t, e.do(t, "POST", "/v1/merges/"+mergeID+"/undo", manager.Access, nil), 409, "merge_closed")
}
