package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// signedUp is a fresh table with one org and its owner, signed up now.
func signedUp(t *testing.T) (devstacktest.Env, *dynamostore.Store, account.User) {
	t.Helper()
	res := devstacktest.Fresh(t)
	s := dynamostore.New(dynamodb.NewFromConfig(res.AWS), res.TableName)
	now := time.Now().UTC()
	orgID := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: orgID, Name: "O", Email: strings.ToLower(orgID) + "@example.com",
		Role: account.RoleOwner, Active: true, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(context.Background(), account.Org{ID: orgID, Name: "O", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	return res, s, owner
}

// command runs the retention command on table and returns its output; a
// non-zero exit fails the test.
func command(t *testing.T, table string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		var out, errs strings.Builder
		if code := run(append(args, "-table", table), &out, &errs); code != 0 {
			t.Fatalf("retention %v: exit %d: %s", args, code, errs.String())
		}
		return out.String()
	}
}

func TestPlanThenRun(t *testing.T) {
	ctx := context.Background()
	res, s, owner := signedUp(t)
	now, orgID := owner.CreatedAt, owner.OrgID
	l := lead.Lead{ID: ulid.Make().String(), OrgID: orgID, Name: "L", Phone: "+919876500001", Source: "manual", Status: lead.StatusNew,
		Tags: []string{}, CustomFields: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, age := range []int{10, 100, 120} {
		at := now.AddDate(0, 0, -age)
		id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
		if err := s.PutInboundMessage(ctx, conversation.Message{ID: id, OrgID: orgID, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
			Direction: conversation.Inbound, ProviderID: "wamid." + id, Type: "text", Text: "call 9876543210", Status: conversation.StatusReceived, At: at}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cmd := command(t, res.TableName)
	// Now, two are due; in 100 days, all three; the plan writes nothing.
	if out := cmd("plan"); !strings.Contains(out, orgID) || !strings.Contains(out, "2 due in 1 orgs") {
		t.Fatalf("plan:\n%s", out)
	}
	future := now.AddDate(0, 0, 100).Format(time.RFC3339)
	if out := cmd("plan", "--as-of", future); !strings.Contains(out, "3 due in 1 orgs") {
		t.Fatalf("plan in 100 days:\n%s", out)
	}
	if out := cmd("run"); !strings.Contains(out, "2 sanitized in 1 orgs, complete") {
		t.Fatalf("run:\n%s", out)
	}
	if out := cmd("run"); !strings.Contains(out, "0 sanitized in 1 orgs, complete") {
		t.Fatalf("second run:\n%s", out)
	}
	if out := cmd("run", "--as-of", future, "-rate", "500"); !strings.Contains(out, "1 sanitized in 1 orgs, complete") {
		t.Fatalf("run in 100 days:\n%s", out)
	}
	// The org was filed at sign-up, its messages when written: register
	// has nothing to do.
	if out := cmd("register"); !strings.Contains(out, "0 orgs, 0 messages, 0 owners") || !strings.Contains(out, "ttl given to 0 items") ||
		!strings.Contains(out, "board: 0 leads") {
		t.Fatalf("register:\n%s", out)
	}

	// An org, its owner and a message written before the data lifecycle
	// existed (no settings item, no owners index entry, no due keys, no
	// ttl) are filed once, then sanitized.
	db := dynamodb.NewFromConfig(res.AWS)
	oldOrg, oldLead, oldOwner := ulid.Make().String(), ulid.Make().String(), ulid.Make().String()
	at := now.AddDate(0, 0, -200)
	oldMsg := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, item := range []map[string]types.AttributeValue{
		{"PK": str("ORG#" + oldOrg), "SK": str("ORG"), "type": str("org"), "id": str(oldOrg), "name": str("Old")},
		{"PK": str("ORG#" + oldOrg), "SK": str("USER#" + oldOwner), "type": str("user"), "id": str(oldOwner), "org_id": str(oldOrg),
			"name": str("Old owner"), "email": str(strings.ToLower(oldOwner) + "@example.com"), "role": str("owner"),
			"active": &types.AttributeValueMemberBOOL{Value: true}, "password_hash": str("x")},
		{"PK": str("ORG#" + oldOrg), "SK": str("LEAD#" + oldLead), "type": str("lead"), "id": str(oldLead), "org_id": str(oldOrg),
			"name": str("Old lead"), "phone": str("+919876543210"), "source": str("manual"), "status": str("qualified"),
			"version": &types.AttributeValueMemberN{Value: "1"}},
		{"PK": str("ORG#" + oldOrg + "#LEAD#" + oldLead), "SK": str("MSG#" + oldMsg), "type": str("message"), "id": str(oldMsg),
			"org_id": str(oldOrg), "lead_id": str(oldLead), "text": str("call 9876543210"), "at": str(at.Format(time.RFC3339Nano))},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &res.TableName, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	if out := cmd("plan"); strings.Contains(out, oldOrg) {
		t.Fatalf("an unfiled org is planned:\n%s", out)
	}
	if out := cmd("register"); !strings.Contains(out, "1 orgs, 1 messages, 1 owners") || !strings.Contains(out, "ttl given to 1 items") ||
		!strings.Contains(out, "board: 1 leads") {
		t.Fatalf("register:\n%s", out)
	}
	if out := cmd("register"); !strings.Contains(out, "0 orgs, 0 messages, 0 owners") || !strings.Contains(out, "ttl given to 0 items") ||
		!strings.Contains(out, "board: 0 leads") {
		t.Fatalf("second register:\n%s", out)
	}
	if c, err := s.CountStage(ctx, oldOrg, lead.DefaultPipelineID, "qualified", ""); err != nil || c != 1 {
		t.Fatalf("the old lead's column counts %d (%v) after register, want 1", c, err)
	}
	owners, _, err := s.OrgOwners(ctx, 100, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, o := range owners {
		listed = listed || o.ID == oldOwner
	}
	if !listed {
		t.Fatalf("owner written before the owners index is not in it after register: %+v", owners)
	}
	if out := cmd("run"); !strings.Contains(out, oldOrg) || !strings.Contains(out, "1 sanitized in 2 orgs") {
		t.Fatalf("run after register:\n%s", out)
	}
	if m, err := s.GetMessage(ctx, oldOrg, oldLead, oldMsg); err != nil || m.SanitizedAt.IsZero() || strings.Contains(m.Text, "98765") {
		t.Fatalf("old message %+v, %v", m, err)
	}
}

func TestUsage(t *testing.T) {
	var out, errs strings.Builder
	for _, args := range [][]string{{}, {"purge"}, {"run", "--as-of", "tomorrow"}, {"run", "-rate", "0"}} {
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("retention %v: exit %d, want 2", args, code)
		}
	}
}

// A run at 91 days after an org's closure purges it; before, nothing.
func TestRunPurgesClosedOrgs(t *testing.T) {
	ctx := context.Background()
	res, s, owner := signedUp(t)
	now, orgID := owner.CreatedAt, owner.OrgID
	if err := s.SetOrgClosed(ctx, orgID, []account.User{owner}, now); err != nil {
		t.Fatal(err)
	}
	cmd := command(t, res.TableName)
	if out := cmd("run", "--as-of", now.AddDate(0, 0, 89).Format(time.RFC3339)); !strings.Contains(out, "closed orgs purged: 0 of 0") {
		t.Fatalf("run within the reopen window:\n%s", out)
	}
	if _, err := s.GetOrg(ctx, orgID); err != nil {
		t.Fatalf("org within the reopen window: %v", err)
	}
	if out := cmd("run", "--as-of", now.AddDate(0, 0, 91).Format(time.RFC3339)); !strings.Contains(out, "closed orgs purged: 1 of 1") {
		t.Fatalf("run after the reopen window:\n%s", out)
	}
	if _, err := s.GetOrg(ctx, orgID); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("purged org read = %v", err)
	}
	if rc, ok, err := s.DeletionReceipt(ctx, orgID); err != nil || !ok || rc.PurgedAt.IsZero() || rc.Counts["user"] != 1 {
		t.Fatalf("receipt %+v %v %v", rc, ok, err)
	}
}

// A run also finishes the purge of a disconnected integration.
func TestRunPurgesDisconnectedIntegrations(t *testing.T) {
	ctx := context.Background()
	res := devstacktest.Fresh(t)
	s := dynamostore.New(dynamodb.NewFromConfig(res.AWS), res.TableName)
	orgID := ulid.Make().String()
	if err := s.ConnectIntegration(ctx, integration.Integration{OrgID: orgID, Kind: integration.KindFacebookPage, ExternalID: "9090",
		Name: "Page", SealedToken: []byte("x"), ConnectedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectIntegration(ctx, orgID, integration.KindFacebookPage, "9090", time.Now()); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	if code := run([]string{"run", "-table", res.TableName}, &out, &errs); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "integration purges finished: 1 of 1") || !strings.Contains(out.String(), "deleted leads purged: 0 of 0") {
		t.Fatalf("run:\n%s", out.String())
	}
	if p, err := s.IntegrationPurges(ctx, orgID); err != nil || len(p) != 1 || p[0].State != retention.PurgeDone {
		t.Fatalf("purge %+v, %v", p, err)
	}
}
