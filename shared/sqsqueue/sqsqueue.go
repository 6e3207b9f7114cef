// Package sqsqueue puts messages on one SQS queue: the adapter the
// functions' wiring sends through (intake, outbound, dead letters). It
// imports only the SQS SDK, so the webhook, which is sensitive to size and
// cold start, links nothing more by using it.
package sqsqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Client is the part of the SQS client a Queue needs; *sqs.Client is one.
type Client interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue is one SQS queue, sent to through a client.
type Queue struct {
	client Client
	url    string
	// name is the last segment of url, for errors.
	name string
}

// New returns the queue at url, sent to through client.
func New(client Client, url string) *Queue {
	return &Queue{client: client, url: url, name: url[strings.LastIndexByte(url, '/')+1:]}
}

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// Send puts body on the queue, with no attributes and no delay.
func (q *Queue) Send(ctx context.Context, body string) error {
	return q.SendWithAttributes(ctx, body, nil)
}

// SendWithAttributes puts body on the queue with message attributes
// (nil for none) and no delay.
func (q *Queue) SendWithAttributes(ctx context.Context, body string, attrs map[string]types.MessageAttributeValue) error {
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &body, MessageAttributes: attrs})
	if err != nil {
		return fmt.Errorf("send to queue %s: %w", q.name, err)
	}
	return nil
}
