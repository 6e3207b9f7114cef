package dynamostore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/leadimport"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/shared/policy"
	"github.com/leadluence/backend/shared/privacy"
	"github.com/leadluence/backend/shared/ratelimit"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// usedOrg is what seedUsedOrg wrote: the org's users and lead contacts.
type usedOrg struct {
	users    []account.User
	contacts []string
	// apiKeys are the ids of its API keys (their request counters name
	// only the key).
	apiKeys []string
}

// seedUsedOrg builds an org that used most features, with activities
// activities on one lead (to make its history long).
func seedUsedOrg(t *testing.T, s *dynamostore.Store, org, tag string, activities int) usedOrg {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var u usedOrg
	owner := account.User{ID: ulid.Make().String(), OrgID: org, Name: "Owner " + tag, Email: "owner-" + tag + "@example.com", Role: account.RoleOwner,
		Active: true, PasswordHash: "hash", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(ctx, account.Org{ID: org, Name: "Org " + tag, DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	agent := owner
	agent.ID, agent.Name, agent.Email, agent.Role = ulid.Make().String(), "Agent "+tag, "agent-"+tag+"@example.com", account.RoleAgent
	if err := s.CreateUser(ctx, agent); err != nil {
		t.Fatal(err)
	}
	u.users = []account.User{owner, agent}
	for _, usr := range u.users {
		exp := now.Add(time.Hour)
		first := account.RefreshToken{ID: ulid.Make().String(), FamilyID: ulid.Make().String(), UserID: usr.ID, OrgID: org, SecretHash: []byte("h"), ExpiresAt: exp}
		if err := s.StartSession(ctx, first, exp); err != nil {
			t.Fatal(err)
		}
		next := first
		next.ID = ulid.Make().String()
		if err := s.RotateRefreshToken(ctx, first, next); err != nil {
			t.Fatal(err)
		}
	}
	// One-time account tokens: an invitation with its token, a password
	// reset, and an email verification that has expired (DynamoDB Local
	// never removes it).
	_, invHash, _ := auth.NewOneTimeToken()
	inv := account.Invitation{ID: ulid.Make().String(), OrgID: org, Email: "invitee-" + tag + "@example.com", Role: account.RoleAgent,
		InvitedBy: owner.ID, Status: account.InvitationPending, CreatedAt: now, ExpiresAt: now.Add(account.InvitationTTL), TokenHash: invHash}
	if err := s.CreateInvitation(ctx, inv, account.OneTimeToken{Hash: invHash, Purpose: account.PurposeInvite, OrgID: org,
		InvitationID: inv.ID, CreatedAt: now, ExpiresAt: inv.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []account.OneTimeToken{
		{Purpose: account.PurposePasswordReset, OrgID: org, UserID: owner.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{Purpose: account.PurposeVerifyEmail, OrgID: org, UserID: agent.ID, CreatedAt: now.Add(-8 * 24 * time.Hour), ExpiresAt: now.Add(-24 * time.Hour)},
	} {
		_, tok.Hash, _ = auth.NewOneTimeToken()
		if err := s.PutAccountToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	// A lead import with its key and a row's outcome.
	imp := leadimport.Import{ID: ulid.Make().String(), OrgID: org, ActorID: owner.ID, Key: "key-" + tag, Status: leadimport.StatusRunning,
		Rows: 1, Chunks: 1, CreatedAt: now, UpdatedAt: now}
	if prior, err := s.CreateImport(ctx, imp); err != nil || prior != "" {
		t.Fatalf("create import: %q %v", prior, err)
	}
	if _, err := s.PutRowOutcome(ctx, org, imp.ID, leadimport.RowOutcome{Row: 2, Outcome: leadimport.Rejected, Reason: leadimport.ReasonInvalid, Field: "email"},
		now.Add(leadimport.Keep)); err != nil {
		t.Fatal(err)
	}
	// Two-factor sign-in of the owner (on), with a login challenge; an
	// API key with a request counted.
	if err := s.PutMFAEnrolment(ctx, account.MFA{OrgID: org, UserID: owner.ID, SealedSecret: []byte("sealed"), CreatedAt: now,
		RecoveryHashes: []string{"h1-" + tag, "h2-" + tag}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmMFA(ctx, org, owner.ID, auth.TOTPStep(now), now); err != nil {
		t.Fatal(err)
	}
	_, chHash, _ := auth.NewOneTimeToken()
	if err := s.PutAccountToken(ctx, account.OneTimeToken{Hash: chHash, Purpose: account.PurposeMFAChallenge, OrgID: org, UserID: owner.ID,
		CreatedAt: now, ExpiresAt: now.Add(account.MFAChallengeTTL)}); err != nil {
		t.Fatal(err)
	}
	_, keyHash, prefix, _ := auth.NewAPIKey()
	apiKey := account.APIKey{ID: ulid.Make().String(), OrgID: org, Name: "Form " + tag, Scopes: []account.APIKeyScope{account.ScopeLeadsWrite},
		Prefix: prefix, Hash: keyHash, CreatedBy: owner.ID, CreatedAt: now}
	if err := s.CreateAPIKey(ctx, apiKey); err != nil {
		t.Fatal(err)
	}
	u.apiKeys = append(u.apiKeys, apiKey.ID)
	if ok, _, err := s.StartBucket(ctx, account.APIKeyBucketKey(apiKey.ID), now, now.Add(time.Second)); err != nil || !ok {
		t.Fatalf("take api key request: %v %v", ok, err)
	}
	if err := s.TouchAPIKey(ctx, apiKey, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Request bucket shards, on a shard other than 0 too, usage counters
	// and the plan.
	for shard := range 3 {
		k := ratelimit.Key{Kind: ratelimit.OrgRequests, ID: org, Shard: shard}
		if ok, _, err := s.StartBucket(ctx, k, now, now.Add(time.Second)); err != nil || !ok {
			t.Fatalf("take request: %v %v", ok, err)
		}
	}
	if _, _, err := s.AddUsage(ctx, plan.Counter{OrgID: org, Metric: plan.LeadsPerMonth, Period: plan.Month.Key(now)}, 0, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrgPlan(ctx, org, plan.Business); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRetentionSettings(ctx, org, retention.Settings{ContentDays: 60, UpdatedAt: now, UpdatedBy: owner.ID}); err != nil {
		t.Fatal(err)
	}
	phoneID := fmt.Sprint(time.Now().UnixNano())
	if err := s.ConnectIntegration(ctx, integration.Integration{OrgID: org, Kind: integration.KindWhatsApp, ExternalID: phoneID, Name: "Number " + tag,
		SealedToken: []byte("sealed"), ConnectedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.ParkEvent(ctx, org, integration.KindWhatsApp, phoneID, "event-"+tag, []byte(`{"org":"`+org+`"}`)); err != nil {
		t.Fatal(err)
	}
	// A second number, disconnected: its Meta data purge is still pending.
	oldID := phoneID + "9"
	if err := s.ConnectIntegration(ctx, integration.Integration{OrgID: org, Kind: integration.KindWhatsApp, ExternalID: oldID, Name: "Old number " + tag,
		SealedToken: []byte("sealed"), ConnectedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectIntegration(ctx, org, integration.KindWhatsApp, oldID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEmailSender(ctx, account.EmailSender{OrgID: org, Email: "hello-" + tag + "@example.com", Status: account.SenderPending, CheckedAt: now}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCampaign(ctx, campaign.Campaign{OrgID: org, ID: ulid.Make().String(), Name: "Campaign " + tag, Status: "draft",
		TemplateName: "hello", TemplateLanguage: "en", PhoneNumberID: phoneID, CreatedBy: owner.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAutomationSettings(ctx, org, automation.Settings{UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConsentMapping(ctx, org, conversation.ConsentMapping{Rules: []conversation.ConsentRule{{Question: "whatsapp_ok?",
		Yes: []string{"Yes"}, Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeService}}, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// The assignment rule, with a turn and an intake ticket on it.
	if err := s.PutAssignmentRule(ctx, org, lead.AssignmentRule{Type: lead.RuleRoundRobin, UserIDs: []string{agent.ID}, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeTurn(ctx, org, "leadgen:"+tag); err != nil {
		t.Fatal(err)
	}
	if err := s.AcknowledgePolicy(ctx, policy.Acknowledgement{OrgID: org, VersionID: "2026-01", UserID: owner.ID, At: now}); err != nil {
		t.Fatal(err)
	}
	// The default pipeline once changed, and one more.
	def := lead.DefaultPipeline(org)
	def.Version, def.Name = 1, "Sales "+tag
	if err := s.PutPipeline(ctx, def); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPipeline(ctx, lead.Pipeline{ID: ulid.Make().String(), OrgID: org, Name: "Rentals " + tag, Version: 1,
		Stages: []lead.Stage{{ID: ulid.Make().String(), Name: "Enquiry", Kind: lead.StageOpen}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFieldDefs(ctx, org, 0, lead.FieldDefs{Version: 1, Fields: []lead.FieldDef{{Key: "pan", Label: "PAN", Type: lead.FieldText, Unique: true,
		CreatedAt: now, UpdatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		phone := fmt.Sprintf("+9198%08d", time.Now().UnixNano()%100000000)
		email := fmt.Sprintf("lead%d-%s@example.com", i, tag)
		l := newLead(org, fmt.Sprintf("Lead %d %s", i, tag), phone, email)
		// A unique custom field value: its guard is the org's too.
		l.CustomFields, l.UniqueFields = map[string]string{"pan": fmt.Sprintf("PAN%d%s", i, tag)}, []string{"pan"}
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
		u.contacts = append(u.contacts, phone, email)
		for j := range 3 {
			at := now.Add(time.Duration(j-10) * time.Minute)
			m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: org, LeadID: l.ID,
				Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(),
				Type: "text", Text: "hello from " + phone, Status: conversation.StatusReceived, At: at}
			var consent *conversation.ConsentEntry
			if j == 2 {
				consent = &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
					Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: at, Evidence: m.ID, Source: "keyword"}
			}
			if err := s.PutInboundMessage(ctx, m, consent); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: m.ProviderID, Status: conversation.StatusRead, At: at.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		n := 1
		if i == 0 {
			n = activities
		}
		for j := range n {
			if err := s.AttachEvent(ctx, org, fmt.Sprintf("leadgen:%s-%d-%d", tag, i, j), lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID,
				Kind: "lead_ads_resubmission", At: now}); err != nil {
				t.Fatal(err)
			}
		}
		// A note and a change with its timeline entry.
		if err := s.AddNote(ctx, lead.Note{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, AuthorID: owner.ID, Body: "Called " + phone,
			CreatedAt: now, UpdatedAt: now, Version: 1}, lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Kind: lead.ActivityNoteAdded,
			At: now, ActorID: owner.ID}); err != nil {
			t.Fatal(err)
		}
		// Two tasks with reminders, one of them recorded: a notification.
		for k := range 2 {
			m := 5
			task := lead.Task{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Title: "Call " + phone, DueAt: now.Add(time.Minute),
				AssigneeID: owner.ID, Status: lead.TaskOpen, RemindBeforeMinutes: &m, CreatedBy: owner.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
			if err := s.AddTask(ctx, task, lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Kind: lead.ActivityTaskCreated,
				At: now, ActorID: owner.ID}); err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				continue
			}
			r := lead.Reminder{Kind: lead.ReminderTask, OrgID: org, LeadID: l.ID, ID: task.ID, UserID: owner.ID, At: task.DueAt,
				RemindAt: task.RemindAt(), Version: 1}
			if ok, err := s.FireReminder(ctx, r, lead.Notification{ID: lead.ReminderID(r), OrgID: org, UserID: owner.ID,
				Kind: lead.NotificationTaskReminder, LeadID: l.ID, TaskID: task.ID, DueAt: task.DueAt, CreatedAt: now}, now); err != nil || !ok {
				t.Fatalf("fire reminder: %v %v", ok, err)
			}
		}
		// A booked appointment with a reminder to come.
		m := 30
		appt := lead.Appointment{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, StartsAt: now.Add(24 * time.Hour), EndsAt: now.Add(25 * time.Hour),
			Location: "Site office, " + phone, AssigneeID: owner.ID, Status: lead.AppointmentBooked, RemindBeforeMinutes: &m, CreatedBy: owner.ID,
			CreatedAt: now, UpdatedAt: now, Version: 1}
		if err := s.BookAppointment(ctx, appt, lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Kind: lead.ActivityAppointmentBooked,
			At: now, ActorID: owner.ID}); err != nil {
			t.Fatal(err)
		}
		cur, err := s.GetLead(ctx, org, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		next := cur
		next.Name, next.Version = l.Name+" renamed", cur.Version+1
		if err := s.UpdateLead(ctx, cur, next, lead.Activity{ID: ulid.Make().String(), OrgID: org, LeadID: l.ID, Kind: lead.ActivityUpdated, At: now,
			ActorID: owner.ID, Changes: []lead.Change{{Field: "name", Old: l.Name, New: next.Name}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A data-subject request about the first lead, with its export
	// document in its own partition.
	req := privacy.Request{ID: ulid.Make().String(), OrgID: org, Type: privacy.TypeExport, Subject: privacy.Subject{Phone: u.contacts[0]},
		Status: privacy.StatusCompleted, ActorID: owner.ID, CreatedAt: now, DueAt: privacy.DueDate(now), Version: 1,
		Export: &privacy.Export{SchemaVersion: privacy.SchemaVersion, Chunks: 2, ExpiresAt: now.Add(privacy.ExportAvailable)}}
	if err := s.CreatePrivacyRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.PutExportChunks(ctx, org, req.ID, [][]byte{[]byte("chunk one " + u.contacts[0]), []byte("chunk two")}, req.Export.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.AppendAudit(ctx, audit.Record{ID: ulid.Make().String(), OrgID: org, ActorID: owner.ID, Action: fmt.Sprint("test.action", i),
			TargetType: "org", TargetID: org, Outcome: audit.OutcomeSuccess, At: now, Details: map[string]string{"email": owner.Email}}); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// mentions reports whether any attribute of item contains one of words.
func mentions(item map[string]types.AttributeValue, words []string) bool {
	for k, av := range item {
		for _, s := range append(devstacktest.AttrStrings(av), k) {
			for _, w := range words {
				if strings.Contains(strings.ToLower(s), strings.ToLower(w)) {
					return true
				}
			}
		}
	}
	return false
}

// Ninety days after closure, the retention run deletes everything keyed by
// or naming the org, bounded and resumable, leaving a deletion receipt and a
// platform audit record; another org is untouched.
func TestPurgeClosedOrgRemovesEverything(t *testing.T) {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := devstacktest.Fresh(t).TableName
	s := dynamostore.New(db, table)
	s.UseSuppression(testHasher(t))

	gone := "01PURGEDORG000000000000000"
	kept := "01KEPTORG00000000000000000"
	g := seedUsedOrg(t, s, gone, "gone", 320)
	seedUsedOrg(t, s, kept, "kept", 5)
	// A deleted lead of the org whose purge is still pending.
	l := newLead(gone, "Deleted lead", "+919800000999", "deleted-gone@example.com")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	for j := range 310 {
		if err := s.AttachEvent(ctx, gone, fmt.Sprint("leadgen:deleted-", j), lead.Activity{ID: ulid.Make().String(), OrgID: gone, LeadID: l.ID,
			Kind: "lead_ads_resubmission", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := s.GetLead(ctx, gone, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.DeleteLead(ctx, cur); err != nil || !d.Pending {
		t.Fatalf("delete lead %+v %v, want pending", d, err)
	}
	// Two leads merged: the merge record holds copies of both, the moved
	// history is tagged.
	ma, mb := newLead(gone, "Merged A", "+919800000997", ""), newLead(gone, "Merged B", "+919800000998", "merged-b@example.com")
	for _, x := range []lead.Lead{ma, mb} {
		if err := s.CreateLead(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RunMerge(ctx, newMerge(ma, mb, "u1")); err != nil {
		t.Fatal(err)
	}
	// The other org's items, counted before.
	words := []string{gone}
	for _, u := range g.users {
		words = append(words, u.ID, u.Email)
	}
	words = append(words, g.contacts...)
	words = append(words, g.apiKeys...)
	words = append(words, l.Phone, l.Email, mb.Phone, mb.Email, mb.ID)
	countKept := func() int {
		n := 0
		for _, item := range devstacktest.ScanTable(t, db, table) {
			if mentions(item, []string{kept}) {
				n++
			}
		}
		return n
	}
	keptBefore := countKept()

	closedAt := time.Now().Add(-91 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	if err := s.SetOrgClosed(ctx, gone, g.users, closedAt); err != nil {
		t.Fatal(err)
	}
	// An org closed within the reopen window is not purged.
	r := &retention.Runner{Closed: s, Audit: s, Rate: 100, Margin: time.Second}
	if res, err := r.PurgeClosedOrgs(ctx, closedAt.Add(89*24*time.Hour)); err != nil || res.Orgs != 0 || !res.Complete {
		t.Fatalf("purge within the window: %+v %v", res, err)
	}

	// A run with little time stops before its deadline... The run's clock
	// moves 100 ms each time it is read and the deadline is an hour away
	// with a margin of an hour less one second, so the run stops after a
	// few reads whatever the machine's speed (a wall-clock deadline flakes
	// on a loaded machine).
	start := time.Now()
	var reads atomic.Int64
	r.Now = func() time.Time { return start.Add(time.Duration(reads.Add(1)) * 100 * time.Millisecond) }
	r.Margin = time.Hour - time.Second
	short, cancel := context.WithDeadline(ctx, start.Add(time.Hour))
	defer cancel()
	res, err := r.PurgeClosedOrgs(short, start)
	if err != nil || res.Complete || res.Finished != 0 || res.Items == 0 {
		t.Fatalf("short run: %+v %v, want stopped with some items removed", res, err)
	}
	if o, err := s.GetOrg(ctx, gone); err != nil || o.ClosedAt.IsZero() {
		t.Fatalf("org after a partial purge: %+v %v", o, err)
	}
	if rc, ok, err := s.DeletionReceipt(ctx, gone); err != nil || !ok || !rc.PurgedAt.IsZero() {
		t.Fatalf("receipt during the purge: %+v %v %v", rc, ok, err)
	}
	// ... and the next run finishes it.
	r.Now, r.Margin, r.Rate = nil, time.Second, 1e6
	res2, err := r.PurgeClosedOrgs(ctx, time.Now())
	if err != nil || !res2.Complete || res2.Finished != 1 {
		t.Fatalf("second run: %+v %v", res2, err)
	}

	var receipts, platform int
	for _, item := range devstacktest.ScanTable(t, db, table) {
		pk := item["PK"].(*types.AttributeValueMemberS).Value
		switch {
		case pk == "DELETED#ORGS":
			receipts++
			if mentions(item, words[1:]) {
				t.Errorf("receipt names a user or contact: %v", item)
			}
		case pk == "AUDIT#platform":
			platform++
		case mentions(item, words):
			t.Errorf("left after the purge: %v", item)
		}
	}
	if receipts != 1 || platform != 2 {
		t.Fatalf("%d receipts and %d platform audit records, want 1 and 2 (one per run that removed items)", receipts, platform)
	}
	rc, ok, err := s.DeletionReceipt(ctx, gone)
	if err != nil || !ok || rc.PurgedAt.IsZero() || !rc.ClosedAt.Equal(closedAt) {
		t.Fatalf("receipt %+v %v %v", rc, ok, err)
	}
	total := 0
	for _, n := range rc.Counts {
		total += n
	}
	if total != res.Items+res2.Items || rc.Counts["org"] != 1 || rc.Counts["user"] != 2 || rc.Counts["refresh"] != 4 || rc.Counts["message"] != 6 ||
		rc.Counts["privacy_request"] != 1 || rc.Counts["privacy_export_chunk"] != 2 || rc.Counts["note"] != 2 ||
		rc.Counts["account_token"] != 4 || rc.Counts["invitation"] != 1 || rc.Counts["mfa"] != 1 || rc.Counts["api_key"] != 1 ||
		rc.Counts["api_key_lookup"] != 1 || rc.Counts["rate_bucket"] != 4 || rc.Counts["item"] != 0 {
		t.Fatalf("receipt counts %v (total %d), runs removed %d", rc.Counts, total, res.Items+res2.Items)
	}
	if n := countKept(); n != keptBefore {
		t.Fatalf("the other org has %d items, had %d", n, keptBefore)
	}
	if _, err := s.GetOrg(ctx, gone); err != account.ErrNotFound {
		t.Fatalf("purged org read = %v", err)
	}
	// Running again does nothing.
	if res, err := r.PurgeClosedOrgs(ctx, time.Now()); err != nil || res.Orgs != 0 {
		t.Fatalf("run after the purge: %+v %v", res, err)
	}
}
