package sqsqueue_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/sqsqueue"
)

// recorder keeps the inputs it is given and answers with err.
type recorder struct {
	got []*sqs.SendMessageInput
	err error
}

func (r *recorder) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.got = append(r.got, in)
	if r.err != nil {
		return nil, r.err
	}
	return &sqs.SendMessageOutput{MessageId: aws.String("m1")}, nil
}

var _ sqsqueue.Client = (*sqs.Client)(nil)

const url = "https://sqs.ap-south-1.amazonaws.com/123456789012/leadluence-intake"

func TestSend(t *testing.T) {
	r := &recorder{}
	q := sqsqueue.New(r, url)
	if q.URL() != url {
		t.Errorf("URL() = %q", q.URL())
	}
	if err := q.Send(context.Background(), `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]types.MessageAttributeValue{"object": {DataType: aws.String("String"), StringValue: aws.String("page")}}
	if err := q.SendWithAttributes(context.Background(), "two", attrs); err != nil {
		t.Fatal(err)
	}
	if len(r.got) != 2 {
		t.Fatalf("%d calls, want 2", len(r.got))
	}
	for i, want := range []struct {
		body  string
		attrs map[string]types.MessageAttributeValue
	}{{`{"a":1}`, nil}, {"two", attrs}} {
		in := r.got[i]
		if aws.ToString(in.QueueUrl) != url || aws.ToString(in.MessageBody) != want.body || in.DelaySeconds != 0 ||
			in.MessageGroupId != nil || in.MessageDeduplicationId != nil || len(in.MessageSystemAttributes) != 0 {
			t.Errorf("call %d: %+v", i, in)
		}
		if len(in.MessageAttributes) != len(want.attrs) ||
			(want.attrs != nil && aws.ToString(in.MessageAttributes["object"].StringValue) != "page") {
			t.Errorf("call %d: attributes %+v, want %+v", i, in.MessageAttributes, want.attrs)
		}
	}
}

func TestSendErrorNamesTheQueue(t *testing.T) {
	boom := errors.New("throttled")
	q := sqsqueue.New(&recorder{err: boom}, url)
	err := q.Send(context.Background(), "x")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "leadluence-intake") {
		t.Fatalf("Send = %v; want it to wrap %v and name the queue", err, boom)
	}
}
