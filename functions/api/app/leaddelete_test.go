package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// scanTable returns every item of the test's table, as JSON.
func scanTable(t *testing.T, db *dynamodb.Client, table string) []string {
	t.Helper()
	var out []string
	for _, item := range devstacktest.ScanTable(t, db, table) {
		b, err := json.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestLeadDeleteRemovesHistoryAndKeepsOptOut(t *testing.T) {
	e := newMsgEnv(t)
	ctx := context.Background()
	owner := e.signup(t, "Sharma Realty")
	e.connect(t, owner)
	other := e.signup(t, "Verma Homes")
	devi := e.createLead(t, owner, map[string]any{"name": "Devi", "phone": "98765 43212", "email": "Devi@Example.com"}).str("id")
	twin := e.createLead(t, other, map[string]any{"name": "Devi V", "phone": "+91 98765 43212"}).str("id")

	// History in both directions: an inbound message, an outbound one sent
	// with its provider id and status log, a STOP in the consent ledger, an
	// activity and the conversation summary.
	at := time.Now().Add(-time.Hour).UTC()
	e.inbound(t, owner.OrgID, devi, "Is the flat still available?", at, nil)
	e.sendDelivered(t, owner, devi, "Yes, it is.")
	stopAt := time.Now().Add(-time.Minute).UTC()
	e.inbound(t, owner.OrgID, devi, "STOP", stopAt, &conversation.ConsentEntry{
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: stopAt, Source: "keyword"})
	if err := e.store.AttachEvent(ctx, owner.OrgID, "leadgen:test-"+devi, lead.Activity{ID: ulid.Make().String(), OrgID: owner.OrgID,
		LeadID: devi, Kind: "lead_ads_resubmission", At: time.Now(), Details: map[string]string{"city": "Pune"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := e.store.Messages(ctx, owner.OrgID, devi)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("history before delete: %d messages, %v", len(msgs), err)
	}
	var wamids []string
	for _, m := range msgs {
		if m.ProviderID != "" {
			wamids = append(wamids, m.ProviderID)
		}
	}
	if len(wamids) != 3 {
		t.Fatalf("provider ids %v", wamids)
	}

	expect(t, e.do(t, "DELETE", "/v1/leads/"+devi, owner.Access, nil), 204)
	expect(t, e.do(t, "GET", "/v1/leads/"+devi, owner.Access, nil), 404)

	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	suppressed := 0
	for _, item := range scanTable(t, db, e.cfg.TableName) {
		switch {
		case strings.Contains(item, `"SUPPRESS#`):
			suppressed++
			for _, clear := range []string{"98765", "9876543212", "devi@", "Devi", "example.com", devi} {
				if strings.Contains(strings.ToLower(item), strings.ToLower(clear)) {
					t.Errorf("suppression entry holds %q: %s", clear, item)
				}
			}
			continue
		case strings.Contains(item, `"AUDIT#`):
			// The audit trail names the deleted lead by id, with counts.
			continue
		case strings.Contains(item, `"EVENT#`):
			// A processed-event claim stays until its ttl, so a redelivered
			// Lead Ads event cannot bring the lead back.
			continue
		}
		for _, gone := range append([]string{devi, "PURGE#LEADS", "Is the flat", "Yes, it is"}, wamids...) {
			if strings.Contains(item, gone) {
				t.Errorf("after delete an item still holds %q: %s", gone, item)
			}
		}
	}
	if suppressed != 2 {
		t.Errorf("suppression entries = %d, want 2 (phone and email)", suppressed)
	}
	var deleted map[string]any
	for _, r := range e.do(t, "GET", "/v1/audit", owner.Access, nil).items() {
		if r["action"] == "lead.delete" {
			deleted = r
		}
	}
	if b, _ := json.Marshal(deleted); !strings.Contains(string(b), `"deleted_message":"3"`) || strings.Contains(string(b), "flat") {
		t.Errorf("audit of the delete: %s", b)
	}

	// Re-created through the API with the phone written another way: it
	// starts opted out on WhatsApp, so a send is refused.
	again := e.createLead(t, owner, map[string]any{"name": "Devi again", "phone": "+91-98765-43212"}).str("id")
	problemCode(t, e.send(t, owner, again, textMsg("Hello again")), 409, "opted_out")
	states, history := prefs(t, e.do(t, "GET", "/v1/leads/"+again+"/preferences", owner.Access, nil))
	if states["whatsapp:service"] != "opted_out" || states["email:service"] != "unknown" {
		t.Fatalf("re-created lead preferences %v", states)
	}
	// Its ledger shows the carried opt-out, with the person's own source,
	// so staff cannot opt it back in.
	if len(history) != 1 || history[0]["action"] != "opt_out" || history[0]["source"] != "keyword" || history[0]["evidence"] != "suppression" {
		t.Fatalf("re-created lead history %v", history)
	}
	problemCode(t, e.do(t, "PUT", "/v1/leads/"+again+"/preferences", owner.Access, map[string]any{"channel": "whatsapp", "purpose": "service",
		"state": "opted_in", "reason": "Asked again by phone"}), 409, "opted_out_by_person")
	// The other org's lead with the same phone is untouched.
	states, _ = prefs(t, e.do(t, "GET", "/v1/leads/"+twin+"/preferences", other.Access, nil))
	if states["whatsapp:service"] != "unknown" {
		t.Fatalf("other org's lead preferences %v", states)
	}

	// Deleted again, then created by ingest (an inbound WhatsApp message
	// from the number): ingest opens the same key and carries the opt-out.
	expect(t, e.do(t, "DELETE", "/v1/leads/"+again, owner.Access, nil), 204)
	ingestStore := dynamostore.New(db, e.cfg.TableName)
	contacts, err := suppression.Open(ctx, ingestStore, envelope.New(kms.NewFromConfig(cfg), e.cfg.KeyID, envelope.Options{}))
	if err != nil || contacts == nil {
		t.Fatalf("open suppression key: %v, %v", contacts, err)
	}
	fresh := lead.Lead{ID: ulid.Make().String(), OrgID: owner.OrgID, Name: "+919876543212", Phone: "+919876543212", Source: "whatsapp",
		Status: lead.StatusNew, Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: time.Now(), UpdatedAt: time.Now(), Version: 1}
	if err := ingestStore.UseSuppression(contacts).CreateLead(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	got, err := ingestStore.GetLead(ctx, owner.OrgID, fresh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Consent["whatsapp:all"]+got.Consent["whatsapp:service"], "opt_out@") {
		t.Fatalf("lead created by ingest consent %v", got.Consent)
	}
	problemCode(t, e.send(t, owner, fresh.ID, textMsg("Hello")), 409, "opted_out")
}
