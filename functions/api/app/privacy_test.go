package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/privacy"
	"github.com/leadluence/backend/shared/suppression"
)

// intakeInbound applies an inbound WhatsApp message from waID to the
// connected number the way the ingest function does (intake.Processor over
// a store with the suppression key opened as ingest opens it), and returns
// the lead it landed on.
func (e *msgEnv) intakeInbound(t *testing.T, orgID, waID, text string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealer := envelope.New(kms.NewFromConfig(cfg), e.cfg.KeyID, envelope.Options{})
	st := dynamostore.New(dynamodb.NewFromConfig(cfg), e.cfg.TableName)
	contacts, err := suppression.Open(ctx, st, sealer)
	if err != nil || contacts == nil {
		t.Fatalf("open suppression key: %v, %v", contacts, err)
	}
	st.UseSuppression(contacts)
	p := &intake.Processor{Store: st, Graph: meta.NewClient(e.sim.URL, e.sim.Version(), nil), Tokens: sealer,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), DefaultRegion: "IN"}
	if _, err := p.Process(ctx, e.sim.InboundPayload(waNumber, "15550783881", metatest.Text(waID, text))); err != nil {
		t.Fatal(err)
	}
	id, err := st.LeadIDByPhone(ctx, orgID, "+"+waID)
	if err != nil {
		t.Fatalf("lead of %s after intake: %v", waID, err)
	}
	return id
}

func fileRequest(t *testing.T, e *testEnv, s session, body map[string]any) response {
	t.Helper()
	r := e.do(t, "POST", "/v1/privacy-requests", s.Access, body)
	expect(t, r, 201)
	return r
}

func timeOf(t *testing.T, r response, path ...string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, r.str(path...))
	if err != nil {
		t.Fatalf("%v: %v in %s", path, err, r.Raw)
	}
	return at
}

func historyActions(r response) []string {
	var out []string
	list, _ := r.Body["history"].([]any)
	for _, h := range list {
		out = append(out, h.(map[string]any)["action"].(string))
	}
	return out
}

func TestPrivacyRequestRolesDueDatesAndListing(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	admin := e.member(t, owner, "admin")
	agent := e.member(t, owner, "agent")
	viewer := e.member(t, owner, "viewer")
	other := e.signup(t, "Verma Homes")
	asha := e.createLead(t, owner, map[string]any{"name": "Asha", "phone": "98765 43210"}).str("id")

	body := map[string]any{"type": "access", "subject": map[string]any{"phone": "+91 (98765) 43210"}, "note": "Asked by phone on Monday"}
	for _, s := range []session{agent, viewer} {
		problemCode(t, e.do(t, "POST", "/v1/privacy-requests", s.Access, body), 403, "forbidden")
		problemCode(t, e.do(t, "GET", "/v1/privacy-requests", s.Access, nil), 403, "forbidden")
	}
	r := fileRequest(t, e.testEnv, owner, body)
	id := r.str("id")
	if r.str("status") != "completed" || r.str("type") != "access" || r.str("actor_id") != owner.UserID ||
		r.str("subject", "phone") != "+919876543210" || r.Body["overdue"] != false {
		t.Fatalf("access request %s", r.Raw)
	}
	if ids, _ := r.Body["lead_ids"].([]any); len(ids) != 1 || ids[0] != asha {
		t.Fatalf("matched %v, want the lead found by its phone written another way", r.Body["lead_ids"])
	}
	if due, at := timeOf(t, r, "due_at"), timeOf(t, r, "created_at"); !due.Equal(at.Add(30 * 24 * time.Hour)) {
		t.Fatalf("due %v, filed %v: want 30 days", due, at)
	}
	if got := strings.Join(historyActions(r), ","); got != "received,matched,exported" {
		t.Fatalf("history %s", got)
	}
	for _, s := range []session{agent, viewer} {
		problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+id, s.Access, nil), 403, "forbidden")
	}
	expect(t, e.do(t, "GET", "/v1/privacy-requests/"+id, admin.Access, nil), 200)
	// Another org's request does not exist for this one.
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+id, other.Access, nil), 404, "not_found")
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+id+"/export", other.Access, nil), 404, "not_found")
	if items := e.do(t, "GET", "/v1/privacy-requests", other.Access, nil).items(); len(items) != 0 {
		t.Fatalf("other org lists %d requests", len(items))
	}

	// Invalid requests are refused before anything is stored.
	for name, bad := range map[string]map[string]any{
		"no subject":            {"type": "erasure", "subject": map[string]any{}},
		"bad phone":             {"type": "access", "subject": map[string]any{"phone": "not a phone"}},
		"correction no changes": {"type": "correction", "subject": map[string]any{"lead_id": asha}},
		"changes on access":     {"type": "access", "subject": map[string]any{"lead_id": asha}, "changes": map[string]any{"name": "X"}},
		"unknown type":          {"type": "forget", "subject": map[string]any{"lead_id": asha}},
	} {
		if got := e.do(t, "POST", "/v1/privacy-requests", owner.Access, bad); got.Status != 422 {
			t.Errorf("%s: status %d, want 422: %s", name, got.Status, got.Raw)
		}
	}

	// An open request past its due date is flagged overdue; one filed 29
	// days ago is not. (Written through the store: no clock to wait for.)
	for _, days := range []int{31, 29} {
		at := time.Now().Add(-time.Duration(days) * 24 * time.Hour).UTC()
		old := privacy.Request{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: owner.OrgID, Type: privacy.TypeErasure,
			Subject: privacy.Subject{Email: "gone@example.com"}, Status: privacy.StatusOpen, ActorID: owner.UserID, CreatedAt: at,
			DueAt: privacy.DueDate(at), Version: 1, History: []privacy.Event{{At: at, ActorID: owner.UserID, Action: privacy.EventReceived}}}
		if err := e.store.CreatePrivacyRequest(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	open := e.do(t, "GET", "/v1/privacy-requests?status=open", owner.Access, nil)
	expect(t, open, 200)
	items := open.items()
	if len(items) != 2 || items[0]["overdue"] != false || items[1]["overdue"] != true {
		t.Fatalf("open requests (newest first) %s", open.Raw)
	}
	// Cursor paging over all of them.
	seen := map[string]bool{}
	cursor := ""
	for range 5 {
		pg := e.do(t, "GET", "/v1/privacy-requests?limit=2"+cursor, owner.Access, nil)
		expect(t, pg, 200)
		for _, it := range pg.items() {
			seen[it["id"].(string)] = true
		}
		next := pg.str("next_cursor")
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(seen) != 3 || !seen[id] {
		t.Fatalf("paged through %d requests, want 3", len(seen))
	}
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests?status=completed&limit=2"+cursor, owner.Access, nil), 400, "invalid_cursor")

	// Every request is audited, naming the person only by keyed reference.
	var filed int
	for _, a := range e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil).items() {
		b, _ := json.Marshal(a)
		if strings.HasPrefix(a["action"].(string), "privacy.") {
			filed++
			if strings.Contains(string(b), "98765") {
				t.Errorf("audit record holds the phone: %s", b)
			}
		}
	}
	if filed < 2 {
		t.Fatalf("%d privacy audit records, want the request and the export", filed)
	}
}

func TestPrivacyExportDocumentAndDownload(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	admin := e.member(t, owner, "admin")
	e.connect(t, owner)
	// The person first wrote on WhatsApp (intake created the lead), then
	// staff added their email, tags and a custom field.
	leadID := e.intakeInbound(t, owner.OrgID, "919812345670", "Is the 2BHK in Baner available?")
	l := e.do(t, "PATCH", "/v1/leads/"+leadID, owner.Access, map[string]any{"name": "Zenobia", "email": "Zenobia@Example.com",
		"tags": []string{"vip"}, "custom_fields": map[string]string{"budget": "90L"}})
	expect(t, l, 200)
	wamid := e.sendDelivered(t, owner, leadID, "Yes, it is.")
	// A campaign message (campaigns record their messages by campaign id in
	// the message details and the client message id).
	camp := campaign.Campaign{OrgID: owner.OrgID, ID: ulid.Make().String(), Name: "Diwali offer", Status: "running", TemplateName: "spring_sale",
		TemplateLanguage: "en_US", PhoneNumberID: waNumber, CreatedBy: owner.UserID, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := e.store.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.QueueOutbound(ctx, conversation.Message{ID: ulid.Make().String(), OrgID: owner.OrgID, LeadID: leadID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Outbound, Type: "template", At: time.Now(), Number: waNumber,
		ClientMessageID: "campaign:" + camp.ID + ":" + leadID, Details: map[string]string{conversation.DetailCampaignID: camp.ID}}); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now().UTC()
	e.inbound(t, owner.OrgID, leadID, "STOP", stopAt, &conversation.ConsentEntry{Channel: conversation.ChannelWhatsApp,
		Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: stopAt, Source: "keyword"})

	r := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"email": "ZENOBIA@example.com"}})
	id := r.str("id")
	if r.str("status") != "completed" || r.str("export", "url") != "/v1/privacy-requests/"+id+"/export" {
		t.Fatalf("export request %s", r.Raw)
	}
	// Only the user who filed it may download it.
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+id+"/export", admin.Access, nil), 404, "not_found")

	// Plain JSON when the client does not take gzip ...
	plain := e.do(t, "GET", "/v1/privacy-requests/"+id+"/export", owner.Access, nil, "Accept-Encoding", "identity")
	expect(t, plain, 200)
	if plain.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(plain.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("plain download headers %v", plain.Header)
	}
	// ... and gzip as stored when it does (Go's client decompresses it).
	req, err := http.NewRequest("GET", e.srv.URL+"/v1/privacy-requests/"+id+"/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+owner.Access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Uncompressed || string(zipped) != plain.Raw {
		t.Fatalf("gzip download: status %d, uncompressed %v, same document %v", resp.StatusCode, resp.Uncompressed, string(zipped) == plain.Raw)
	}

	var doc privacy.Document
	if err := json.Unmarshal([]byte(plain.Raw), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != privacy.SchemaName || doc.SchemaVersion != 1 || doc.RequestID != id || len(doc.Leads) != 1 {
		t.Fatalf("document head %+v", doc)
	}
	d := doc.Leads[0]
	if d.Name != "Zenobia" || d.Phone != "+919812345670" || d.Email != "zenobia@example.com" || len(d.Tags) != 1 || d.CustomFields["budget"] != "90L" {
		t.Fatalf("lead fields %+v", d)
	}
	if d.Provenance == nil || d.Provenance.IntegrationKind != "whatsapp" || !strings.HasPrefix(d.Consent["whatsapp:all"], "opt_out@") {
		t.Fatalf("provenance %+v consent %v", d.Provenance, d.Consent)
	}
	dirs := map[string]int{}
	var delivered, campaignMsg bool
	for _, m := range d.Messages {
		dirs[m.Direction]++
		for _, st := range m.StatusLog {
			if m.ProviderID == wamid && st.Status == "delivered" {
				delivered = true
			}
		}
		campaignMsg = campaignMsg || m.Details[conversation.DetailCampaignID] == camp.ID
	}
	if dirs["inbound"] != 2 || dirs["outbound"] != 2 || !delivered || !campaignMsg {
		t.Fatalf("messages by direction %v, delivered in status log %v, campaign message %v", dirs, delivered, campaignMsg)
	}
	// The person's first message recorded a WhatsApp service opt-in; their
	// STOP then opted out of the whole channel.
	if len(d.ConsentLedger) != 2 || d.ConsentLedger[0].Action != "opt_in" || d.ConsentLedger[0].Purpose != "service" ||
		d.ConsentLedger[0].Source != "inbound_message" || d.ConsentLedger[1].Action != "opt_out" || d.ConsentLedger[1].Source != "keyword" {
		t.Fatalf("consent ledger %+v", d.ConsentLedger)
	}
	if len(d.Campaigns) != 1 || d.Campaigns[0].Name != "Diwali offer" || len(d.Campaigns[0].Messages) != 1 {
		t.Fatalf("campaigns %+v", d.Campaigns)
	}
	got := e.do(t, "GET", "/v1/privacy-requests/"+id, owner.Access, nil)
	if acts := historyActions(got); acts[len(acts)-1] != "downloaded" {
		t.Fatalf("history after download %v", acts)
	}
	var downloads int
	for _, a := range e.do(t, "GET", "/v1/audit?limit=100", owner.Access, nil).items() {
		if a["action"] == privacy.ActionDownload && a["target_id"] == id {
			downloads++
		}
	}
	if downloads != 2 {
		t.Fatalf("%d audited downloads, want 2", downloads)
	}

	// After its download period the export is gone: 410.
	stored, err := e.store.GetPrivacyRequest(ctx, owner.OrgID, id)
	if err != nil {
		t.Fatal(err)
	}
	stored.Export.ExpiresAt = time.Now().Add(-time.Minute)
	stored.Version++
	if err := e.store.PutPrivacyRequest(ctx, stored); err != nil {
		t.Fatal(err)
	}
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+id+"/export", owner.Access, nil), 410, "export_expired")
	if got := e.do(t, "GET", "/v1/privacy-requests/"+id, owner.Access, nil); got.Body["export"].(map[string]any)["expired"] != true {
		t.Fatalf("expired export shown as %s", got.Raw)
	}
}

func TestPrivacyCorrectionThroughLeadRules(t *testing.T) {
	e := newMsgEnv(t)
	owner := e.signup(t, "Sharma Realty")
	l := e.createLead(t, owner, map[string]any{"name": "Rohan", "phone": "98765 43299", "tags": []string{"old"}})
	id, version := l.str("id"), int(l.Body["version"].(float64))

	r := fileRequest(t, e.testEnv, owner, map[string]any{"type": "correction", "subject": map[string]any{"phone": "9876543299"},
		"lead_version": version, "changes": map[string]any{"name": "Rohan Mehta", "email": "Rohan@Example.com", "tags": []string{"vip"},
			"custom_fields": map[string]string{"city": "Pune"}}})
	if r.str("status") != "completed" {
		t.Fatalf("correction %s", r.Raw)
	}
	hist, _ := r.Body["history"].([]any)
	last := hist[len(hist)-1].(map[string]any)
	details := last["details"].(map[string]any)
	if last["action"] != "corrected" || details["version"] != "2" || details["fields"] != "name,email,custom_fields,tags" || details["lead_id"] != id {
		t.Fatalf("history %v", last)
	}
	got := e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil)
	if got.str("name") != "Rohan Mehta" || got.str("email") != "rohan@example.com" || got.Body["version"].(float64) != 2 ||
		got.Body["custom_fields"].(map[string]any)["city"] != "Pune" {
		t.Fatalf("corrected lead %s", got.Raw)
	}
	if strings.Contains(r.Raw, "Mehta") || strings.Contains(r.Raw, "Pune") {
		t.Fatalf("the request record keeps the changed values: %s", r.Raw)
	}
	// A stale version fails the request, changing nothing.
	stale := fileRequest(t, e.testEnv, owner, map[string]any{"type": "correction", "subject": map[string]any{"lead_id": id},
		"lead_version": version, "changes": map[string]any{"name": "Someone Else"}})
	if stale.str("status") != "failed" || stale.str("reason") != "version_mismatch" {
		t.Fatalf("stale correction %s", stale.Raw)
	}
	// A change the lead rules refuse fails it too, with the field.
	bad := fileRequest(t, e.testEnv, owner, map[string]any{"type": "correction", "subject": map[string]any{"lead_id": id},
		"changes": map[string]any{"phone": "12"}})
	if bad.str("status") != "failed" || bad.str("reason") != "invalid_change" {
		t.Fatalf("refused correction %s", bad.Raw)
	}
	// Nobody matches: failed, no_matching_lead.
	none := fileRequest(t, e.testEnv, owner, map[string]any{"type": "correction", "subject": map[string]any{"email": "nobody@example.com"},
		"changes": map[string]any{"name": "X"}})
	if none.str("reason") != "no_matching_lead" {
		t.Fatalf("unmatched correction %s", none.Raw)
	}
	if got := e.do(t, "GET", "/v1/leads/"+id, owner.Access, nil); got.str("name") != "Rohan Mehta" || got.Body["version"].(float64) != 2 {
		t.Fatalf("lead after failed corrections %s", got.Raw)
	}
}

func TestPrivacyErasure(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	const waID, email = "919812340077", "quillon.erase@example.com"
	leadID := e.intakeInbound(t, owner.OrgID, waID, "Hello, any 3BHK flats?")
	expect(t, e.do(t, "PATCH", "/v1/leads/"+leadID, owner.Access, map[string]any{"name": "Quillon", "email": email}), 200)
	stopAt := time.Now().UTC()
	e.inbound(t, owner.OrgID, leadID, "STOP", stopAt, &conversation.ConsentEntry{Channel: conversation.ChannelWhatsApp,
		Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: stopAt, Source: "keyword"})
	// Earlier requests about the person: an export (its document stored)
	// and a correction.
	exp := fileRequest(t, e.testEnv, owner, map[string]any{"type": "export", "subject": map[string]any{"phone": "098123 40077"},
		"note": "Quillon called from 98123 40077"})
	fileRequest(t, e.testEnv, owner, map[string]any{"type": "correction", "subject": map[string]any{"email": email},
		"changes": map[string]any{"tags": []string{"asked-for-data"}}})
	// Someone else's request stays as it is.
	e.createLead(t, owner, map[string]any{"name": "Other", "phone": "98765 40001"})
	kept := fileRequest(t, e.testEnv, owner, map[string]any{"type": "access", "subject": map[string]any{"phone": "98765 40001"}})

	er := fileRequest(t, e.testEnv, owner, map[string]any{"type": "erasure", "subject": map[string]any{"email": "Quillon.Erase@example.com"}})
	if er.str("status") != "completed" || er.Body["subject"].(map[string]any)["pseudonymized"] != true || er.str("subject", "email") != "" {
		t.Fatalf("erasure %s", er.Raw)
	}
	receipt, _ := er.Body["receipt"].(map[string]any)
	// Two ledger entries: the service opt-in of the first message, the STOP.
	if receipt["lead"] != float64(1) || receipt["message"] != float64(2) || receipt["consent"] != float64(2) ||
		receipt["privacy_request_pseudonymized"] != float64(2) || receipt["privacy_export_chunk"] == nil {
		t.Fatalf("receipt %v", receipt)
	}
	expect(t, e.do(t, "GET", "/v1/leads/"+leadID, owner.Access, nil), 404)
	// Earlier requests keep only the keyed references; the export is gone.
	old := e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id"), owner.Access, nil)
	if old.Body["subject"].(map[string]any)["pseudonymized"] != true || old.Body["subject"].(map[string]any)["phone"] != nil ||
		old.Body["note"] != nil || len(old.Body["refs"].([]any)) != 2 {
		t.Fatalf("earlier request after erasure %s", old.Raw)
	}
	problemCode(t, e.do(t, "GET", "/v1/privacy-requests/"+exp.str("id")+"/export", owner.Access, nil), 410, "export_expired")
	if k := e.do(t, "GET", "/v1/privacy-requests/"+kept.str("id"), owner.Access, nil); k.str("subject", "phone") != "+919876540001" {
		t.Fatalf("another person's request changed: %s", k.Raw)
	}

	// The whole table holds nothing of the person in clear; the references
	// are the suppression entries' keyed hashes.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, x := range er.Body["refs"].([]any) {
		_, h, _ := strings.Cut(x.(string), ":")
		refs[h] = true
	}
	suppressed := 0
	for _, item := range scanTable(t, dynamodb.NewFromConfig(cfg), e.cfg.TableName) {
		low := strings.ToLower(item)
		for _, clear := range []string{"9812340077", "98123 40077", "quillon", "3bhk"} {
			if strings.Contains(low, clear) {
				t.Errorf("after erasure an item holds %q: %s", clear, item)
			}
		}
		if strings.Contains(item, `"SUPPRESS#`) {
			suppressed++
			for h := range refs {
				if strings.Contains(item, "SUPPRESS#"+h) {
					delete(refs, h)
				}
			}
		}
	}
	if suppressed != 2 || len(refs) != 0 {
		t.Fatalf("%d suppression entries; references without one: %v", suppressed, refs)
	}

	// The person writes again: intake creates a fresh lead that starts
	// opted out, so nothing is sent to them.
	fresh := e.intakeInbound(t, owner.OrgID, waID, "Hi again")
	if fresh == leadID {
		t.Fatal("the erased lead came back")
	}
	got, err := e.store.GetLead(ctx, owner.OrgID, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Consent["whatsapp:all"], "opt_out@") || got.Name == "Quillon" {
		t.Fatalf("fresh lead %+v", got)
	}
	problemCode(t, e.send(t, owner, fresh, textMsg("Welcome back")), 409, "opted_out")
}
