package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/dlq/replay"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// setup provisions a queue "work" and its DLQ under a unique prefix. The
// queue dead-letters a message after one receive, so a test can make SQS
// itself redrive one.
func setup(t *testing.T) (*sqs.Client, string, replay.Queues) {
	t.Helper()
	ctx := context.Background()
	q := topology.Queue{Name: "work", VisibilityTimeout: time.Second, MaxReceiveCount: 1, Retention: time.Hour}
	st := topology.Stack{Table: topology.Default().Table, Key: topology.Default().Key, Queues: []topology.Queue{q}}
	fresh := devstacktest.FreshStack(t, st)
	prefix := fresh.Prefix
	client := sqs.NewFromConfig(fresh.AWS)
	qs, err := replay.Resolve(ctx, client, q, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if qs.Source.Name != prefix+"work" || qs.DLQ.Name != prefix+"work-dlq" || qs.MaxReceiveCount != 1 || qs.Source.URL == "" || qs.DLQ.ARN == "" {
		t.Fatalf("resolved %+v", qs)
	}
	return client, prefix, qs
}

func str(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// redrive sends body to the queue at url and receives it once without
// deleting it, then waits until SQS has moved it to the DLQ at dlqURL.
func redrive(t *testing.T, c *sqs.Client, url, dlqURL, body string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{replay.AttrObject: str("page")}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 1, WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive the message to dead-letter: %v %v", out, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for visible(t, c, dlqURL) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("SQS did not move the message to the DLQ")
		}
		// A receive past maxReceiveCount triggers the move on real SQS.
		_, _ = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 1})
		time.Sleep(200 * time.Millisecond)
	}
}

// visible is the queue's number of visible messages.
func visible(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &n)
	return n
}

// drain receives and deletes every message of the queue at url (at once,
// before the 1 s visibility timeout would dead-letter it again).
func drain(t *testing.T, c *sqs.Client, url string) []sqstypes.Message {
	t.Helper()
	ctx := context.Background()
	var got []sqstypes.Message
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			VisibilityTimeout: 30, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, out.Messages...)
	}
}

func ids(msgs []replay.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	sort.Strings(out)
	return out
}

// TestListAndReplay runs the whole operator workflow against the SQS
// stand-in: list peeks without consuming, replay by id moves exactly one,
// replay of all moves the rest with body and attributes intact, and a
// second replay finds nothing to move.
func TestListAndReplay(t *testing.T) {
	ctx := context.Background()
	client, _, qs := setup(t)

	// One message dead-lettered by SQS itself (maxReceiveCount), four put
	// on the DLQ the way a consumer dead-letters with a reason, or without.
	bodies := map[string]string{
		"redriven":  `{"object":"page","entry":[{"id":"1","changes":[{"field":"leadgen","value":{"leadgen_id":"444"}}]}]}`,
		"reason-1":  "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"text\":\"नमस्ते 👋 \\u00e9\"}]}\r\n\t trailing  ",
		"reason-2":  `not json at all: <>&'" ` + strings.Repeat("Z", 1000),
		"no-reason": strings.Repeat(`{"k":"v"},`, 10_000), // ~100 KB
		"binary":    "ZXhhY3QgYnl0ZXM=",
	}
	redrive(t, client, qs.Source.URL, qs.DLQ.URL, bodies["redriven"])
	dlqAttrs := map[string]map[string]sqstypes.MessageAttributeValue{
		"reason-1": {replay.AttrObject: str("whatsapp_business_account"), replay.AttrFailureReason: str("graph api: token expired (code 190)"),
			"received_at": {DataType: aws.String("Number"), StringValue: aws.String("1767225600000")}},
		"reason-2":  {replay.AttrObject: str("unknown"), replay.AttrFailureReason: str("payload is not JSON\nsecond line")},
		"no-reason": {replay.AttrObject: str("page"), "payload": str("whole")},
		"binary": {"blob": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 0xff}},
			replay.AttrReplayCount: {DataType: aws.String("Number"), StringValue: aws.String("2")}},
	}
	for _, k := range []string{"reason-1", "reason-2", "no-reason", "binary"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &qs.DLQ.URL, MessageBody: aws.String(bodies[k]), MessageAttributes: dlqAttrs[k]}); err != nil {
			t.Fatal(err)
		}
	}
	keyOf := map[string]string{} // body -> key
	for k, b := range bodies {
		keyOf[b] = k
	}

	// list: five messages with their reasons; all still there afterwards.
	l, err := replay.List(ctx, client, qs, replay.Scan{Hold: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 5 || l.Truncated || l.Incomplete {
		t.Fatalf("listed %d messages (truncated %v, incomplete %v), want 5", len(l.Messages), l.Truncated, l.Incomplete)
	}
	wantReason := map[string]string{
		"redriven": "exceeded maxReceiveCount (1)", "reason-1": "graph api: token expired (code 190)",
		"reason-2": "payload is not JSON\nsecond line", "no-reason": "exceeded maxReceiveCount (1)", "binary": "exceeded maxReceiveCount (1)",
	}
	wantObject := map[string]string{"redriven": "page", "reason-1": "whatsapp_business_account", "reason-2": "unknown", "no-reason": "page", "binary": ""}
	idOf := map[string]string{}
	for _, m := range l.Messages {
		k, ok := keyOf[m.Body]
		if !ok {
			t.Fatalf("listed an unknown body %.40q", m.Body)
		}
		idOf[k] = m.ID
		if m.Reason != wantReason[k] || m.Object != wantObject[k] || m.Size != len(bodies[k]) || m.ReceiveCount < 1 || m.SentAt.IsZero() {
			t.Errorf("%s: listed %+v", k, struct {
				Reason, Object string
				Size, Receives int
				Sent           time.Time
			}{m.Reason, m.Object, m.Size, m.ReceiveCount, m.SentAt})
		}
	}
	if len(idOf) != 5 {
		t.Fatalf("listed ids %v, want one per body", idOf)
	}
	// A second pass sees them all again at once: the first neither
	// consumed them nor left them hidden.
	again, err := replay.List(ctx, client, qs, replay.Scan{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(again.Messages)) != fmt.Sprint(ids(l.Messages)) {
		t.Fatalf("second list %v, first %v", ids(again.Messages), ids(l.Messages))
	}
	if got := drain(t, client, qs.Source.URL); len(got) != 0 {
		t.Fatalf("list put %d messages on the source queue", len(got))
	}

	// replay one by id: exactly that one moves.
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	var last replay.Progress
	sum, err := replay.Replay(ctx, client, qs, replay.Options{IDs: []string{idOf["reason-1"]}, Now: func() time.Time { return now },
		Progress: func(p replay.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 1 || sum.Skipped != 0 || sum.Failed != 0 || last.Done != 1 || last.Total != 1 || last.Last.ID != idOf["reason-1"] {
		t.Fatalf("replay by id: %+v, last progress %+v", sum, last)
	}
	moved := drain(t, client, qs.Source.URL)
	if len(moved) != 1 || aws.ToString(moved[0].Body) != bodies["reason-1"] {
		t.Fatalf("source queue got %d messages after replaying one", len(moved))
	}
	checkAttrs(t, "reason-1", moved[0].MessageAttributes, dlqAttrs["reason-1"], 1, now)
	rest, err := replay.List(ctx, client, qs, replay.Scan{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Messages) != 4 {
		t.Fatalf("DLQ holds %d after replaying one, want 4", len(rest.Messages))
	}
	for _, m := range rest.Messages {
		if m.ID == idOf["reason-1"] {
			t.Fatal("the replayed message is still in the DLQ")
		}
	}

	// replay --all: the other four, bodies byte for byte, attributes intact.
	sum, err = replay.Replay(ctx, client, qs, replay.Options{All: true, Now: func() time.Time { return now }, Progress: func(p replay.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 4 || sum.Skipped != 0 || sum.Failed != 0 || last.Done != 4 || last.Moved != 4 {
		t.Fatalf("replay all: %+v, problems %v, last progress %+v", sum, sum.Problems, last)
	}
	moved = append(moved, drain(t, client, qs.Source.URL)...)
	if len(moved) != 5 {
		t.Fatalf("source queue got %d messages in all, want 5", len(moved))
	}
	seen := map[string]bool{}
	for _, m := range moved {
		k, ok := keyOf[aws.ToString(m.Body)]
		if !ok {
			t.Fatalf("source queue got a body that is not byte-for-byte one sent: %.60q", aws.ToString(m.Body))
		}
		if seen[k] {
			t.Fatalf("%s arrived twice", k)
		}
		seen[k] = true
		switch k {
		case "redriven":
			checkAttrs(t, k, m.MessageAttributes, map[string]sqstypes.MessageAttributeValue{replay.AttrObject: str("page")}, 1, now)
		case "binary":
			checkAttrs(t, k, m.MessageAttributes, dlqAttrs[k], 3, now)
		default:
			checkAttrs(t, k, m.MessageAttributes, dlqAttrs[k], 1, now)
		}
	}
	if n := visible(t, client, qs.DLQ.URL); n != 0 {
		t.Fatalf("DLQ still shows %d messages", n)
	}

	// Running it again moves nothing.
	sum, err = replay.Replay(ctx, client, qs, replay.Options{All: true})
	if err != nil || sum.Moved != 0 || sum.Skipped != 0 || sum.Failed != 0 {
		t.Fatalf("second replay all: %+v %v", sum, err)
	}
	sum, err = replay.Replay(ctx, client, qs, replay.Options{IDs: []string{idOf["reason-1"]}})
	if err != nil || sum.Moved != 0 || sum.Skipped != 1 || sum.Failed != 0 || len(sum.Problems) != 1 || !strings.Contains(sum.Problems[0].Err.Error(), "not in") {
		t.Fatalf("second replay by id: %+v %v", sum, err)
	}
	if got := drain(t, client, qs.Source.URL); len(got) != 0 {
		t.Fatalf("a second replay put %d messages on the source queue", len(got))
	}
}

// checkAttrs compares what arrived on the source queue with what was on
// the DLQ: failure_reason dropped, replayed_at and replay_count set, every
// other attribute unchanged.
func checkAttrs(t *testing.T, key string, got, dlq map[string]sqstypes.MessageAttributeValue, count int, now time.Time) {
	t.Helper()
	want := map[string]string{}
	for k, v := range dlq {
		if k == replay.AttrFailureReason || k == replay.AttrReplayCount {
			continue
		}
		want[k] = attrString(v)
	}
	want[replay.AttrReplayedAt] = "String=" + now.Format(time.RFC3339Nano)
	want[replay.AttrReplayCount] = fmt.Sprintf("Number=%d", count)
	gotS := map[string]string{}
	for k, v := range got {
		gotS[k] = attrString(v)
	}
	if fmt.Sprint(gotS) != fmt.Sprint(want) {
		t.Errorf("%s: attributes\n got %v\nwant %v", key, gotS, want)
	}
}

func attrString(v sqstypes.MessageAttributeValue) string {
	if v.BinaryValue != nil {
		return aws.ToString(v.DataType) + "=" + fmt.Sprintf("%x", v.BinaryValue)
	}
	return aws.ToString(v.DataType) + "=" + aws.ToString(v.StringValue)
}

// TestReplaySkipsMessagesFromAnotherQueue: a message SQS dead-lettered
// from a different queue (sharing the DLQ) is left where it is.
func TestReplaySkipsMessagesFromAnotherQueue(t *testing.T) {
	ctx := context.Background()
	client, prefix, qs := setup(t)
	other, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "other"), Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameRedrivePolicy): fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":1}`, qs.DLQ.ARN),
	}})
	if err != nil {
		t.Fatal(err)
	}
	redrive(t, client, aws.ToString(other.QueueUrl), qs.DLQ.URL, "from-other")
	sum, err := replay.Replay(ctx, client, qs, replay.Options{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 0 || sum.Skipped != 1 || sum.Failed != 0 || !strings.Contains(sum.Problems[0].Err.Error(), "dead-lettered from") {
		t.Fatalf("summary %+v %v", sum, sum.Problems)
	}
	l, err := replay.List(ctx, client, qs, replay.Scan{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 1 || l.Messages[0].Body != "from-other" || !strings.HasSuffix(l.Messages[0].SourceARN, ":"+prefix+"other") {
		t.Fatalf("the skipped message is not back in the DLQ: %+v", l.Messages)
	}
}

func TestResolveRejectsMissingQueue(t *testing.T) {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = replay.Resolve(context.Background(), sqs.NewFromConfig(cfg), topology.Queue{Name: "nope"}, fmt.Sprintf("missing%d-", time.Now().UnixNano()))
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "-prefix") {
		t.Fatalf("err = %v", err)
	}
}

func TestResendAttributes(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	in := map[string]sqstypes.MessageAttributeValue{
		replay.AttrFailureReason: str("boom"),
		replay.AttrReplayedAt:    str("2020-01-01T00:00:00Z"),
		replay.AttrReplayCount:   {DataType: aws.String("Number"), StringValue: aws.String("4")},
		replay.AttrObject:        str("page"),
	}
	out, err := replay.ResendAttributes(in, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || attrString(out[replay.AttrObject]) != "String=page" ||
		attrString(out[replay.AttrReplayCount]) != "Number=5" || attrString(out[replay.AttrReplayedAt]) != "String=2026-05-06T07:08:09Z" {
		t.Fatalf("out = %v", out)
	}
	if _, ok := in[replay.AttrFailureReason]; !ok {
		t.Fatal("input was modified")
	}

	full := map[string]sqstypes.MessageAttributeValue{replay.AttrFailureReason: str("x")}
	for i := range 9 {
		full[fmt.Sprintf("a%d", i)] = str("v")
	}
	if _, err := replay.ResendAttributes(full, now); err == nil {
		t.Fatal("11 attributes accepted")
	}
}

func TestBar(t *testing.T) {
	if got := replay.BarLine(replay.Progress{Done: 5, Total: 10, Moved: 4, Failed: 1}); got != "[###############...............] 5/10  moved 4  skipped 0  failed 1" {
		t.Errorf("BarLine = %q", got)
	}
	if got := replay.BarLine(replay.Progress{Done: 3, Total: 2, Moved: 3}); !strings.HasPrefix(got, "[##############################] 3/3") {
		t.Errorf("BarLine past the total = %q", got)
	}
	if got := replay.BarLine(replay.Progress{}); !strings.Contains(got, "0/0") {
		t.Errorf("BarLine empty = %q", got)
	}

	var plain bytes.Buffer
	b := replay.NewBar(&plain, false)
	b.Update(replay.Progress{Done: 1, Moved: 1, Last: replay.Result{ID: "a", Outcome: replay.Moved}})
	b.Update(replay.Progress{Done: 2, Moved: 1, Failed: 1, Last: replay.Result{ID: "b", Outcome: replay.Failed, Err: errors.New("no\x1b[31m")}})
	b.Finish()
	if plain.String() != "moved a\nfailed b: no [31m\n" {
		t.Errorf("plain output %q", plain.String())
	}

	var tty bytes.Buffer
	b = replay.NewBar(&tty, true)
	b.Update(replay.Progress{Done: 1, Total: 2, Moved: 1, Last: replay.Result{ID: "a", Outcome: replay.Moved}})
	b.Update(replay.Progress{Done: 2, Total: 2, Moved: 1, Skipped: 1, Last: replay.Result{ID: "b", Outcome: replay.Skipped, Err: errors.New("gone")}})
	b.Finish()
	out := tty.String()
	if !strings.Contains(out, "\r\x1b[Kskipped b: gone\n") || !strings.HasSuffix(out, "2/2  moved 1  skipped 1  failed 0\n") || strings.Count(out, "\n") != 2 {
		t.Errorf("tty output %q", out)
	}
}

func TestOneLine(t *testing.T) {
	if got := replay.OneLine("a\nb\tc\x1b[2Jd é"); got != "a b c [2Jd é" {
		t.Errorf("OneLine = %q", got)
	}
}
