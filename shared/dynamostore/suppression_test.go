package dynamostore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// A function that cannot create the suppression key (ingest, backfill)
// may start before the api function created it. Its store looks for the
// key again at each use until it exists, so a lead it creates after the
// key appeared still carries a deleted lead's opt-out.
func TestLazySuppressionFindsAKeyCreatedLater(t *testing.T) {
	ctx := context.Background()
	client, key := devstacktest.NewKMSKey(t)
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, table := dynamodb.NewFromConfig(cfg), devstacktest.Fresh(t).TableName
	ingest := dynamostore.New(db, table)
	sealer := envelope.New(client, *key.KeyId, envelope.Options{})
	ingest.UseLazySuppression(&suppression.Lazy{Store: ingest, Sealer: sealer})

	// No key yet: creating a lead works and carries nothing.
	early := newLead("org1", "Early", "+919876500101", "")
	if err := ingest.CreateLead(ctx, early); err != nil {
		t.Fatalf("create lead before the key exists: %v", err)
	}

	// The api function starts: it creates the key and deletes an
	// opted-out lead of the same table.
	k, err := suppression.LoadKey(ctx, ingest, sealer)
	if err != nil {
		t.Fatal(err)
	}
	h, err := suppression.NewHasher(k)
	if err != nil {
		t.Fatal(err)
	}
	api := dynamostore.New(db, table).UseSuppression(h)
	l := newLead("org1", "Ravi", "+919876500102", "")
	if err := api.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	m := conversation.Message{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(), Type: "text", Text: "STOP", Status: conversation.StatusReceived, At: time.Now().UTC()}
	if err := api.PutInboundMessage(ctx, m, &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: "org1", LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: m.At, Evidence: m.ID, Source: "keyword"}); err != nil {
		t.Fatal(err)
	}
	cur, err := api.GetLead(ctx, "org1", l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.DeleteLead(ctx, cur); err != nil {
		t.Fatal(err)
	}

	// The long-running ingest store now finds the key and the entry.
	again := newLead("org1", "Ravi", "+919876500102", "")
	if err := ingest.CreateLead(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := ingest.GetLead(ctx, "org1", again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Consent["whatsapp:all"], "opt_out@") {
		t.Fatalf("lead created after the key appeared: consent %v, want the carried opt-out", got.Consent)
	}
}
