// Package replay lists the messages of a dead-letter queue and moves them
// back to the queue they came from. It is the logic of the operator command
// tools/dlq (`make dlq`).
//
// # Peeking
//
// SQS has no read-only "peek". List receives every message of the
// dead-letter queue with a short visibility timeout (Scan.Hold), keeps each
// one hidden until the pass is over so that no message is counted twice,
// and then sets every visibility timeout back to 0, which makes the messages
// visible again at once. Nothing is deleted or changed except the receive
// count SQS keeps, which each peek raises by one. Our dead-letter queues
// have no redrive policy of their own and no consumer, so a higher receive
// count moves nothing anywhere; if the process dies before it resets the
// timeouts, the messages become visible again by themselves after Hold.
// This is the same mechanism the SQS console's "poll for messages" uses.
//
// # Replaying
//
// Replay sends a chosen message to the source queue with the same body and
// message attributes (AttrFailureReason dropped, AttrReplayedAt and
// AttrReplayCount set) and only then deletes it from the dead-letter queue.
// A message is therefore never lost: it is in one queue or the other, and
// a second run finds only what the first one left. A crash (or a failed
// delete) between the send and the delete leaves a copy in both queues, and
// a later replay sends that copy again. That duplicate is harmless because
// every consumer of our queues is idempotent: ingest keys its effects by
// leadgen id and wamid, so redelivery of the same event changes nothing a
// second time, exactly as when SQS itself delivers a message twice. Ctrl-C
// never falls between the send and the delete: the pair runs to completion
// under its own timeout, and the replay stops before the next message.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
)

// Message attributes this package reads or writes.
const (
	// AttrFailureReason (String) is set by a consumer that dead-letters a
	// message itself, to say why. Replay drops it.
	AttrFailureReason = "failure_reason"
	// AttrReplayedAt (String) is when the message was last replayed, as
	// RFC 3339 UTC with nanoseconds.
	AttrReplayedAt = "replayed_at"
	// AttrReplayCount (Number) is how many times the message has been
	// replayed from a dead-letter queue.
	AttrReplayCount = "replay_count"
	// AttrObject (String) is the Meta webhook's top-level "object", set by
	// the webhook function on every intake message.
	AttrObject = "object"
)

// MaxMessageAttributes is the number of message attributes SQS accepts on
// one message.
const MaxMessageAttributes = 10

// Defaults of Scan.
const (
	DefaultMax  = 1000
	DefaultHold = 30 * time.Second
)

// waitSeconds is the long-poll wait of each receive. A long poll asks every
// SQS server, so an empty answer means the queue has nothing visible (a
// short poll may answer empty while messages exist).
const waitSeconds = 1

// Client is the part of the SQS API this package uses; *sqs.Client
// implements it.
type Client interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Queue is one resolved SQS queue.
type Queue struct {
	Name string
	URL  string
	ARN  string
}

// Queues is a topology queue and its dead-letter queue, resolved.
type Queues struct {
	Source Queue
	DLQ    Queue
	// MaxReceiveCount is the source queue's redrive maxReceiveCount as
	// deployed (the topology's value when the queue reports none).
	MaxReceiveCount int
}

// Resolve finds q and its dead-letter queue, named prefix+q.Name and
// prefix+q.DLQName(), and checks that the queue's redrive policy really
// points at that dead-letter queue, so a replay cannot send messages to the
// wrong place. tools/provision names queues with the prefix it is given
// (make dev: ""); the CDK stack names them "<stack name>-<name>".
func Resolve(ctx context.Context, c Client, q topology.Queue, prefix string) (Queues, error) {
	src, err := lookup(ctx, c, prefix+q.Name)
	if err != nil {
		return Queues{}, err
	}
	dlq, err := lookup(ctx, c, prefix+q.DLQName())
	if err != nil {
		return Queues{}, err
	}
	qs := Queues{Source: src.Queue, DLQ: dlq.Queue, MaxReceiveCount: q.MaxReceiveCount}
	raw := src.attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return qs, nil
	}
	var policy struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(raw), &policy); err != nil {
		return Queues{}, fmt.Errorf("queue %s: read redrive policy %q: %w", src.Name, raw, err)
	}
	if policy.DeadLetterTargetArn != dlq.ARN {
		return Queues{}, fmt.Errorf("queue %s dead-letters to %s, not to %s (%s): check -prefix/-stack",
			src.Name, policy.DeadLetterTargetArn, dlq.Name, dlq.ARN)
	}
	// SQS writes maxReceiveCount as a number; some tools as a string.
	if n, err := strconv.Atoi(strings.Trim(string(policy.MaxReceiveCount), `"`)); err == nil && n > 0 {
		qs.MaxReceiveCount = n
	}
	return qs, nil
}

type resolved struct {
	Queue
	attrs map[string]string
}

func lookup(ctx context.Context, c Client, name string) (resolved, error) {
	u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		var missing *sqstypes.QueueDoesNotExist
		if errors.As(err, &missing) {
			return resolved{}, fmt.Errorf("queue %s does not exist here (check -prefix/-stack, AWS_REGION and AWS_ENDPOINT_URL_SQS): %w", name, err)
		}
		return resolved{}, fmt.Errorf("find queue %s: %w", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: u.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameQueueArn, sqstypes.QueueAttributeNameRedrivePolicy,
		},
	})
	if err != nil {
		return resolved{}, fmt.Errorf("read attributes of queue %s: %w", name, err)
	}
	return resolved{
		Queue: Queue{Name: name, URL: aws.ToString(u.QueueUrl), ARN: a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]},
		attrs: a.Attributes,
	}, nil
}

// Scan bounds one pass over a dead-letter queue.
type Scan struct {
	// Max is the most messages one pass receives; 0 means DefaultMax.
	Max int
	// Hold is how long a received message stays invisible while the pass
	// runs; 0 means DefaultHold. It must outlast the pass, or messages
	// already seen come back and the pass stops early (Incomplete). It is
	// also how long messages stay hidden if the process dies mid-pass.
	Hold time.Duration
}

func (s Scan) max() int {
	if s.Max <= 0 {
		return DefaultMax
	}
	return s.Max
}

func (s Scan) hold() int32 {
	h := s.Hold
	if h <= 0 {
		h = DefaultHold
	}
	sec := int32(min((h+time.Second-1)/time.Second, 12*time.Hour/time.Second)) // SQS caps visibility at 12 h
	return max(sec, 1)
}

// Message is one dead-lettered message as List shows it.
type Message struct {
	ID string
	// SentAt is when the message was first sent (to the source queue when
	// SQS itself dead-lettered it); zero when SQS did not say.
	SentAt time.Time
	// FirstReceivedAt is when the message was first received; zero when
	// SQS did not say.
	FirstReceivedAt time.Time
	// ReceiveCount is SQS's ApproximateReceiveCount, which includes the
	// receive of the pass that read it.
	ReceiveCount int
	// Reason is AttrFailureReason when the message has one, else
	// "exceeded maxReceiveCount (N)".
	Reason string
	// Size is the body's length in bytes.
	Size int
	// Object is the AttrObject attribute, "" when absent.
	Object string
	// SourceARN is the DeadLetterQueueSourceArn SQS adds when it moves a
	// message by redrive; "" for a message a consumer dead-lettered itself.
	SourceARN string
	// Body and Attributes are the message's body and message attributes.
	Body       string
	Attributes map[string]sqstypes.MessageAttributeValue
}

// Listing is the result of List.
type Listing struct {
	Messages []Message
	// Truncated is set when the pass stopped at Scan.Max: the dead-letter
	// queue may hold more.
	Truncated bool
	// Incomplete is set when messages already seen became visible again
	// before the pass ended (Scan.Hold too short for the queue), which
	// ends the pass: some messages may be missing.
	Incomplete bool
}

// List peeks at up to sc.Max messages of the dead-letter queue and leaves
// them there, visible (see the package comment). The messages come in the
// order SQS handed them out: a standard queue promises none.
func List(ctx context.Context, c Client, qs Queues, sc Scan) (l Listing, err error) {
	s := newScanner(c, qs.DLQ, sc.hold())
	defer func() { err = errors.Join(err, s.release(ctx)) }()
	limit := sc.max()
	for len(l.Messages) < limit {
		batch, done, err := s.receive(ctx, limit-len(l.Messages))
		if err != nil {
			return l, err
		}
		for _, m := range batch {
			s.keep(m)
			l.Messages = append(l.Messages, toMessage(m, qs.MaxReceiveCount))
		}
		if done {
			break
		}
	}
	l.Truncated = len(l.Messages) >= limit
	l.Incomplete = s.incomplete
	return l, nil
}

func toMessage(m sqstypes.Message, maxReceiveCount int) Message {
	sys := m.Attributes
	out := Message{
		ID:              aws.ToString(m.MessageId),
		SentAt:          epochMillis(sys[string(sqstypes.MessageSystemAttributeNameSentTimestamp)]),
		FirstReceivedAt: epochMillis(sys[string(sqstypes.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)]),
		SourceARN:       sys[string(sqstypes.MessageSystemAttributeNameDeadLetterQueueSourceArn)],
		Body:            aws.ToString(m.Body),
		Attributes:      m.MessageAttributes,
	}
	out.ReceiveCount, _ = strconv.Atoi(sys[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	out.Size = len(out.Body)
	out.Object = stringAttr(m.MessageAttributes, AttrObject)
	out.Reason = stringAttr(m.MessageAttributes, AttrFailureReason)
	if out.Reason == "" {
		out.Reason = "exceeded maxReceiveCount"
		if maxReceiveCount > 0 {
			out.Reason += " (" + strconv.Itoa(maxReceiveCount) + ")"
		}
	}
	return out
}

func stringAttr(attrs map[string]sqstypes.MessageAttributeValue, name string) string {
	v, ok := attrs[name]
	if !ok || strings.HasPrefix(aws.ToString(v.DataType), "Binary") {
		return ""
	}
	return aws.ToString(v.StringValue)
}

func epochMillis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// OneLine makes s safe to print on one terminal line: control characters
// (newlines, escape sequences) and other unprintable runes become spaces.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
}

// Outcome is what Replay did with one message.
type Outcome int

// Outcomes of Replay.
const (
	// Moved: sent to the source queue and deleted from the dead-letter queue.
	Moved Outcome = iota
	// Skipped: left alone on purpose (an --id not found, or a message
	// dead-lettered from another queue).
	Skipped
	// Failed: could not be moved; see Result.Err.
	Failed
)

// String returns "moved", "skipped" or "failed".
func (o Outcome) String() string {
	switch o {
	case Moved:
		return "moved"
	case Skipped:
		return "skipped"
	default:
		return "failed"
	}
}

// Result is the outcome for one message.
type Result struct {
	ID      string
	Outcome Outcome
	// Err says why a message was skipped or failed.
	Err error
}

// Progress is reported after each message Replay handles.
type Progress struct {
	// Done counts the messages handled so far; Total is how many the replay
	// expects to handle (the number of --id, or the dead-letter queue's
	// approximate size, at most Scan.Max), 0 when unknown. Done may pass an
	// estimated Total.
	Done, Total            int
	Moved, Skipped, Failed int
	// Last is the message just handled.
	Last Result
}

// Options selects what Replay moves.
type Options struct {
	Scan
	// All moves every message; otherwise only those in IDs.
	All bool
	// IDs are message ids to move (ignored with All).
	IDs []string
	// Now stamps AttrReplayedAt; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is called after each message.
	Progress func(Progress)
}

// Summary is the result of Replay.
type Summary struct {
	Moved, Skipped, Failed int
	// Problems lists every skipped or failed message with why.
	Problems []Result
	// Truncated and Incomplete are as in Listing.
	Truncated, Incomplete bool
}

// Replay moves the chosen messages from the dead-letter queue back to the
// source queue (see the package comment). Messages not chosen, skipped or
// failed stay in the dead-letter queue and are made visible again before
// it returns. It returns an error only when the pass itself broke (the
// receive failed, ctx was cancelled); a message that fails is counted in
// the Summary and the pass goes on.
func Replay(ctx context.Context, c Client, qs Queues, opts Options) (sum Summary, err error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	want := map[string]bool{}
	for _, id := range opts.IDs {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	if !opts.All && len(want) == 0 {
		return sum, errors.New("replay: choose messages with All or IDs")
	}
	limit := opts.max()
	p := Progress{Total: len(want)}
	if opts.All {
		p.Total = min(approxSize(ctx, c, qs.DLQ.URL), limit)
	}
	report := func(r Result) {
		p.Done++
		switch r.Outcome {
		case Moved:
			p.Moved++
		case Skipped:
			p.Skipped++
		default:
			p.Failed++
		}
		if r.Outcome != Moved {
			sum.Problems = append(sum.Problems, r)
		}
		p.Last = r
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}

	s := newScanner(c, qs.DLQ, opts.hold())
	defer func() { err = errors.Join(err, s.release(ctx)) }()
	received := 0
	for received < limit && (opts.All || len(want) > 0) && ctx.Err() == nil {
		batch, done, rerr := s.receive(ctx, limit-received)
		if rerr != nil {
			err = rerr
			break
		}
		for _, m := range batch {
			received++
			id := aws.ToString(m.MessageId)
			if (!opts.All && !want[id]) || ctx.Err() != nil {
				s.keep(m) // not chosen, or interrupted: leave it where it is
				continue
			}
			delete(want, id)
			r := move(ctx, c, qs, m, now())
			if r.Outcome != Moved {
				s.keep(m) // still in the DLQ: hide it for the rest of the pass
			}
			report(r)
		}
		if done {
			break
		}
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("replay interrupted: %w", context.Cause(ctx))
	}
	sum.Truncated = received >= limit
	sum.Incomplete = s.incomplete
	if err == nil {
		why := fmt.Errorf("not in %s (already replayed, or never dead-lettered)", qs.DLQ.Name)
		if sum.Truncated || sum.Incomplete {
			why = fmt.Errorf("not found among the %d messages of %s this pass saw", received, qs.DLQ.Name)
		}
		for _, id := range opts.IDs {
			if id = strings.TrimSpace(id); want[id] {
				delete(want, id)
				report(Result{ID: id, Outcome: Skipped, Err: why})
			}
		}
	}
	sum.Moved, sum.Skipped, sum.Failed = p.Moved, p.Skipped, p.Failed
	return sum, err
}

// moveTimeout bounds the send and delete of one message, which run even
// after ctx is cancelled so that an interrupt never falls between them.
const moveTimeout = 30 * time.Second

func move(ctx context.Context, c Client, qs Queues, m sqstypes.Message, now time.Time) Result {
	id := aws.ToString(m.MessageId)
	src := m.Attributes[string(sqstypes.MessageSystemAttributeNameDeadLetterQueueSourceArn)]
	if src != "" && qs.Source.ARN != "" && src != qs.Source.ARN {
		return Result{ID: id, Outcome: Skipped, Err: fmt.Errorf("dead-lettered from %s, not from %s", src, qs.Source.ARN)}
	}
	attrs, err := ResendAttributes(m.MessageAttributes, now)
	if err != nil {
		return Result{ID: id, Outcome: Failed, Err: err}
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(qs.Source.URL), MessageBody: m.Body, MessageAttributes: attrs}
	if trace := m.Attributes[string(sqstypes.MessageSystemAttributeNameAWSTraceHeader)]; trace != "" {
		in.MessageSystemAttributes = map[string]sqstypes.MessageSystemAttributeValue{
			string(sqstypes.MessageSystemAttributeNameForSendsAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(trace)},
		}
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), moveTimeout)
	defer cancel()
	if _, err := c.SendMessage(mctx, in); err != nil {
		return Result{ID: id, Outcome: Failed, Err: fmt.Errorf("send to %s (left in %s): %w", qs.Source.Name, qs.DLQ.Name, err)}
	}
	if _, err := c.DeleteMessage(mctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(qs.DLQ.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return Result{ID: id, Outcome: Failed, Err: fmt.Errorf("sent to %s but not deleted from %s; a later replay sends it again, which idempotent consumers ignore: %w",
			qs.Source.Name, qs.DLQ.Name, err)}
	}
	return Result{ID: id, Outcome: Moved}
}

// ResendAttributes returns the message attributes a replayed message is
// sent with: attrs without AttrFailureReason, with AttrReplayedAt set to
// now and AttrReplayCount one more than before. It fails when that would
// exceed MaxMessageAttributes.
func ResendAttributes(attrs map[string]sqstypes.MessageAttributeValue, now time.Time) (map[string]sqstypes.MessageAttributeValue, error) {
	out := make(map[string]sqstypes.MessageAttributeValue, len(attrs)+2)
	count := 0
	for k, v := range attrs {
		switch k {
		case AttrFailureReason, AttrReplayedAt:
			continue
		case AttrReplayCount:
			count, _ = strconv.Atoi(aws.ToString(v.StringValue))
			continue
		}
		// Only the value fields: the list fields are reserved by SQS and
		// rejected when set.
		out[k] = sqstypes.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
	}
	out[AttrReplayedAt] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(now.UTC().Format(time.RFC3339Nano))}
	out[AttrReplayCount] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(max(count, 0) + 1))}
	if len(out) > MaxMessageAttributes {
		return nil, fmt.Errorf("needs %d message attributes with %s and %s, SQS allows %d: left in the DLQ",
			len(out), AttrReplayedAt, AttrReplayCount, MaxMessageAttributes)
	}
	return out, nil
}

// approxSize is the dead-letter queue's approximate number of messages,
// visible or not, or 0 when SQS does not say.
func approxSize(ctx context.Context, c Client, url string) int {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n
}
