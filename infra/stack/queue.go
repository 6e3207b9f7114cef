package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// DLQRetention is how long a dead-letter queue keeps a message: the SQS
// maximum, to leave time for investigation and redrive.
const DLQRetention = 14 * 24 * time.Hour

// queuePair is a topology queue and its dead-letter queue.
type queuePair struct {
	queue awssqs.Queue
	dlq   awssqs.Queue
}

// newQueues creates, for each topology queue, the queue and its dead-letter
// queue, both named <stack>-<name>, with SQS-managed encryption and a policy
// that denies plain-HTTP access.
//
// SQS-managed SSE rather than the project key: queue payloads are encrypted
// at rest either way, and a KMS-encrypted queue would hand every sender and
// consumer kms:GenerateDataKey/Decrypt on the key that also unwraps stored
// secrets, which Access must be able to withhold.
func newQueues(s awscdk.Stack, queues []topology.Queue) map[string]queuePair {
	out := make(map[string]queuePair, len(queues))
	for _, q := range queues {
		id := "Queue" + pascal(q.Name)
		dlq := awssqs.NewQueue(s, jsii.String(id+"Dlq"), &awssqs.QueueProps{
			QueueName:       jsii.String(*s.StackName() + "-" + q.DLQName()),
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: seconds(DLQRetention),
		})
		queue := awssqs.NewQueue(s, jsii.String(id), &awssqs.QueueProps{
			QueueName:         jsii.String(*s.StackName() + "-" + q.Name),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: seconds(q.VisibilityTimeout),
			RetentionPeriod:   seconds(q.Retention),
			DeadLetterQueue: &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(q.MaxReceiveCount)),
			},
		})
		out[q.Name] = queuePair{queue: queue, dlq: dlq}
	}
	return out
}
