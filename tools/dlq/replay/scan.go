package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// releaseTimeout bounds making held messages visible again, which runs even
// after the pass's context is cancelled.
const releaseTimeout = 30 * time.Second

// scanner makes one pass over a queue: it receives each message once and
// keeps the ones it is told to hide until release.
type scanner struct {
	c    Client
	q    Queue
	hold int32
	// seen holds every message id received in this pass.
	seen map[string]bool
	// held maps the id of each message kept hidden to its latest receipt
	// handle.
	held map[string]string
	// incomplete is set when a message already seen was received again:
	// its hold ran out before the pass ended.
	incomplete bool
}

func newScanner(c Client, q Queue, hold int32) *scanner {
	return &scanner{c: c, q: q, hold: hold, seen: map[string]bool{}, held: map[string]string{}}
}

// receive returns up to n (at most 10) messages not seen before in this
// pass. done is set when there are no more: the queue answered a long poll
// with nothing, or only with messages already seen.
func (s *scanner) receive(ctx context.Context, n int) (batch []sqstypes.Message, done bool, err error) {
	out, err := s.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(s.q.URL),
		MaxNumberOfMessages:         int32(min(max(n, 1), 10)),
		VisibilityTimeout:           s.hold,
		WaitTimeSeconds:             waitSeconds,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		// Also the older name of the same parameter: SQS honours both, and
		// the local stand-in (local-aws-sqs) reads only this one.
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}, //nolint:staticcheck // see above
	})
	if err != nil {
		return nil, false, fmt.Errorf("receive from %s: %w", s.q.Name, err)
	}
	for _, m := range out.Messages {
		id := aws.ToString(m.MessageId)
		if s.seen[id] {
			s.incomplete = true
			s.held[id] = aws.ToString(m.ReceiptHandle)
			continue
		}
		s.seen[id] = true
		batch = append(batch, m)
	}
	return batch, len(batch) == 0, nil
}

// keep hides m until release.
func (s *scanner) keep(m sqstypes.Message) {
	s.held[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
}

// release makes every held message visible again at once. A message that
// cannot be released becomes visible by itself when its hold runs out.
func (s *scanner) release(ctx context.Context) error {
	if len(s.held) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, 0, len(s.held))
	for _, handle := range s.held {
		entries = append(entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String("m" + strconv.Itoa(len(entries)%10)), ReceiptHandle: aws.String(handle), VisibilityTimeout: 0,
		})
	}
	failed := 0
	var errs []error
	for len(entries) > 0 {
		chunk := entries[:min(10, len(entries))]
		entries = entries[len(chunk):]
		out, err := s.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.q.URL), Entries: chunk})
		if err != nil {
			failed += len(chunk)
			errs = append(errs, err)
			continue
		}
		for _, f := range out.Failed {
			failed++
			errs = append(errs, fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	s.held = map[string]string{}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("make %d message(s) of %s visible again (they reappear by themselves within %ds): %w",
		failed, s.q.Name, s.hold, errors.Join(errs...))
}
