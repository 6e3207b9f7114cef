package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// newDLQAlarm raises an alarm as soon as one message sits in the queue's
// dead-letter queue: every such message is work that failed for good.
func newDLQAlarm(s awscdk.Stack, q topology.Queue, dlq awssqs.Queue) awscloudwatch.Alarm {
	metric := dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(1)),
		Statistic: jsii.String("Maximum"),
	})
	return awscloudwatch.NewAlarm(s, jsii.String("Queue"+pascal(q.Name)+"DlqAlarm"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("Messages in the " + q.DLQName() + " dead-letter queue: inspect and redrive"),
		Metric:             metric,
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}
