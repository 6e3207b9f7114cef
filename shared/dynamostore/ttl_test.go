package dynamostore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// rawTable reads and writes items of the store's table directly.
type rawTable struct {
	t     *testing.T
	db    *dynamodb.Client
	table string
}

func newRawStore(t *testing.T) (*dynamostore.Store, rawTable) {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := devstacktest.Fresh(t).TableName
	return dynamostore.New(db, table), rawTable{t: t, db: db, table: table}
}

func (r rawTable) item(pk, sk string) map[string]types.AttributeValue {
	r.t.Helper()
	out, err := r.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &r.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil || out.Item == nil {
		r.t.Fatalf("raw item %s/%s: %v (found %v)", pk, sk, err, out != nil && out.Item != nil)
	}
	return out.Item
}

// ttl returns an item's ttl, 0 when it has none.
func (r rawTable) ttl(pk, sk string) int64 {
	r.t.Helper()
	v, ok := r.item(pk, sk)["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// removeTTL strips an item's ttl, as items written before ttl existed.
func (r rawTable) removeTTL(pk, sk string) {
	r.t.Helper()
	_, err := r.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: &r.table, UpdateExpression: aws.String("REMOVE #ttl"),
		ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
		Key:                      map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil {
		r.t.Fatal(err)
	}
}

func near(got, want int64) bool { return got >= want-5 && got <= want+5 }

func statusSK(at time.Time, st conversation.Status) string {
	return "STATUS#" + leftPad(strconv.FormatInt(at.Unix(), 10)) + "#" + string(st)
}

func leftPad(s string) string {
	for len(s) < 20 {
		s = "0" + s
	}
	return s
}

func TestTimeBoundItemsCarryTTL(t *testing.T) {
	ctx := context.Background()
	s, raw := newRawStore(t)
	l := newLead("org1", "TTL", "+919876543201", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	msgTTL := func(at time.Time) int64 { return at.AddDate(0, 12, 0).Unix() }
	claimTTL := time.Now().Add(30 * 24 * time.Hour).Unix()

	// Inbound: message, provider id guard and status log, 12 months after the message.
	at := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	in := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: "org1", LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: "wamid.ttl1", Type: "text", Text: "hi",
		Status: conversation.StatusReceived, At: at}
	if err := s.PutInboundMessage(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("ORG#org1#LEAD#"+l.ID, "MSG#"+in.ID); got != msgTTL(at) {
		t.Errorf("inbound message ttl %d, want %d", got, msgTTL(at))
	}
	if got := raw.ttl("WAMID#wamid.ttl1", "WAMID"); got != msgTTL(at) {
		t.Errorf("inbound guard ttl %d, want %d", got, msgTTL(at))
	}
	readAt := at.Add(10 * time.Minute)
	if _, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: "wamid.ttl1", Status: conversation.StatusRead, At: readAt}); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("WAMID#wamid.ttl1", statusSK(readAt, conversation.StatusRead)); got != msgTTL(at) {
		t.Errorf("status log ttl %d, want the message's %d", got, msgTTL(at))
	}

	// Outbound: message 12 months, client guard 30 days, provider id guard the message's.
	out := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: "org1", LeadID: l.ID,
		Channel: conversation.ChannelEmail, Direction: conversation.Outbound, Type: "email", Text: "Hello", ClientMessageID: "c-ttl", At: at}
	if _, _, err := s.QueueOutbound(ctx, out); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("ORG#org1#LEAD#"+l.ID, "MSG#"+out.ID); got != msgTTL(at) {
		t.Errorf("email message ttl %d, want %d", got, msgTTL(at))
	}
	if got := raw.ttl("ORG#org1", "CLIENTMSG#c-ttl"); !near(got, claimTTL) {
		t.Errorf("client guard ttl %d, want about %d", got, claimTTL)
	}
	if err := s.ClaimSend(ctx, "org1", l.ID, out.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSent(ctx, "org1", l.ID, out.ID, "ses-ttl-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("WAMID#ses-ttl-1", "WAMID"); got != msgTTL(at) {
		t.Errorf("sent guard ttl %d, want the message's %d", got, msgTTL(at))
	}

	// A campaign message's guard lives as long as the message (it indexes the campaign's messages).
	camp := out
	camp.ID, camp.ClientMessageID = ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), "campaign:c1:"+l.ID
	camp.Details = map[string]string{conversation.DetailCampaignID: "c1"}
	if _, _, err := s.QueueOutbound(ctx, camp); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("ORG#org1", "CLIENTMSG#"+camp.ClientMessageID); got != msgTTL(at) {
		t.Errorf("campaign guard ttl %d, want the message's %d", got, msgTTL(at))
	}

	// Claims: 30 days; parked events: 90 days.
	if err := s.ClaimEvent(ctx, "org1", "leadgen:ttl", "ref"); err != nil {
		t.Fatal(err)
	}
	if got := raw.ttl("ORG#org1", "EVENT#leadgen:ttl"); !near(got, claimTTL) {
		t.Errorf("event claim ttl %d, want about %d", got, claimTTL)
	}
	if err := s.ParkEvent(ctx, "org1", integration.KindFacebookPage, "p1", "leadgen:parked", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if got, want := raw.ttl("PARKED#org1#facebook_page#p1", "leadgen:parked"), time.Now().Add(90*24*time.Hour).Unix(); !near(got, want) {
		t.Errorf("parked event ttl %d, want about %d", got, want)
	}
}

func TestExpiredMessagesAndClaimsAreGone(t *testing.T) {
	ctx := context.Background()
	s, raw := newRawStore(t)
	l := newLead("org1", "Old", "+919876543202", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, -13, 0).UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(old), ulid.DefaultEntropy()).String(), OrgID: "org1", LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: "wamid.old", Type: "text", Text: "old",
		Status: conversation.StatusReceived, At: old}
	if err := s.PutInboundMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	raw.item("ORG#org1#LEAD#"+l.ID, "MSG#"+m.ID) // still in the table: DynamoDB Local never deletes
	if msgs, err := s.Messages(ctx, "org1", l.ID); err != nil || len(msgs) != 0 {
		t.Errorf("messages = %+v, %v; want the expired one left out", msgs, err)
	}
	if msgs, _, err := s.MessagesPage(ctx, "org1", l.ID, true, 10, page.Cursor{}); err != nil || len(msgs) != 0 {
		t.Errorf("messages page = %+v, %v; want the expired one left out", msgs, err)
	}
	if _, err := s.MessageByProviderID(ctx, "wamid.old"); err == nil {
		t.Error("expired message found by its provider id")
	}
	entries, _, err := s.Inbox(ctx, "org1", conversation.InboxFilter{}, 10, page.Cursor{})
	if err != nil || len(entries) != 1 || entries[0].Last != nil {
		t.Errorf("inbox = %+v, %v; want the conversation without its expired message", entries, err)
	}

	// An expired claim no longer stops the event.
	if err := s.ClaimEvent(ctx, "org1", "leadgen:old", "ref"); err != nil {
		t.Fatal(err)
	}
	_, err = raw.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &raw.table, UpdateExpression: aws.String("SET #ttl = :t"),
		ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}},
		Key:                       map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ORG#org1"}, "SK": &types.AttributeValueMemberS{Value: "EVENT#leadgen:old"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.EventClaimed(ctx, "org1", "leadgen:old"); err != nil || ok {
		t.Fatalf("expired claim read back: %v %v", ok, err)
	}
	if err := s.ClaimEvent(ctx, "org1", "leadgen:old", "ref2"); err != nil {
		t.Fatalf("claim over an expired one = %v", err)
	}
}

func TestBackfillTTL(t *testing.T) {
	ctx := context.Background()
	s, raw := newRawStore(t)
	l := newLead("org1", "Legacy", "+919876543203", "")
	if err := s.CreateLead(ctx, l); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-48 * time.Hour).Truncate(time.Second).UTC()
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: "org1", LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: "wamid.legacy", Type: "text", Text: "hi",
		Status: conversation.StatusReceived, At: at}
	if err := s.PutInboundMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStatus(ctx, conversation.StatusEvent{ProviderID: "wamid.legacy", Status: conversation.StatusRead, At: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimEvent(ctx, "org1", "leadgen:legacy", "ref"); err != nil {
		t.Fatal(err)
	}
	if err := s.ParkEvent(ctx, "org1", integration.KindFacebookPage, "p1", "leadgen:legacy", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	keys := [][2]string{
		{"ORG#org1#LEAD#" + l.ID, "MSG#" + m.ID}, {"WAMID#wamid.legacy", "WAMID"},
		{"WAMID#wamid.legacy", statusSK(at.Add(time.Minute), conversation.StatusRead)},
		{"ORG#org1", "EVENT#leadgen:legacy"}, {"PARKED#org1#facebook_page#p1", "leadgen:legacy"},
	}
	want := make([]int64, len(keys))
	for i, k := range keys {
		want[i] = raw.ttl(k[0], k[1])
		raw.removeTTL(k[0], k[1])
	}

	now := time.Now()
	total, pages := 0, 0
	var cursor page.Cursor
	for {
		n, next, err := s.BackfillTTL(ctx, now, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		total, pages = total+n, pages+1
		if next.IsZero() {
			break
		}
		cursor = next
	}
	if total != len(keys) || pages < 2 {
		t.Errorf("backfilled %d items in %d pages, want %d in several", total, pages, len(keys))
	}
	for i, k := range keys {
		if got := raw.ttl(k[0], k[1]); !near(got, want[i]) {
			t.Errorf("%s/%s: ttl %d after backfill, want about %d", k[0], k[1], got, want[i])
		}
	}
	if got := raw.ttl("ORG#org1", "LEAD#"+l.ID); got != 0 {
		t.Errorf("lead given a ttl %d", got)
	}
	if n, _, err := s.BackfillTTL(ctx, now, 100, page.Cursor{}); err != nil || n != 0 {
		t.Errorf("second run set %d (%v), want 0", n, err)
	}
}
