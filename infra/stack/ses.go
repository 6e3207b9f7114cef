package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// newEmailEvents has SES publish the events of emails sent with the
// configuration set ee.ConfigurationSet to an SNS topic that queue is
// subscribed to, and returns the configuration set's name.
//
// The subscription keeps raw message delivery off: each SQS body is the SNS
// notification whose Message is the SES event, as shared/intake expects.
// Subscribing adds the queue policy that lets the topic send to the queue;
// the event destination adds the topic policy that lets SES publish for
// this configuration set only.
//
// The topic is encrypted with a key of its own rather than the project key
// or the AWS-managed aws/sns key: SES can publish to an encrypted topic only
// if the key's policy lets ses.amazonaws.com use it, which the AWS-managed
// key's policy does not, and the project key, which also unwraps stored
// secrets, should not be usable by another service.
func newEmailEvents(s awscdk.Stack, ee topology.EmailEvents, queue awssqs.IQueue) *string {
	cs := awsses.NewConfigurationSet(s, jsii.String("EmailConfigurationSet"), &awsses.ConfigurationSetProps{
		ConfigurationSetName: jsii.String(ee.ConfigurationSet),
	})
	configSetArn := awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/"+ee.ConfigurationSet), nil)

	key := awskms.NewKey(s, jsii.String("EmailEventsKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the SNS topic of SES email events"),
		EnableKeyRotation: jsii.Bool(true),
		// The topic holds no message at rest for long; nothing outlives it.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("SESPublishesEmailEvents"),
		Actions:    jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("ses.amazonaws.com"), nil)},
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"aws:SourceAccount": *s.Account(),
				"aws:SourceArn":     *configSetArn,
			},
		},
	}), nil)

	topic := awssns.NewTopic(s, jsii.String("EmailEventsTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("SES events of emails sent with " + ee.ConfigurationSet),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})

	events := make([]awsses.EmailSendingEvent, len(ee.Events))
	for i, e := range ee.Events {
		events[i] = awsses.EmailSendingEvent(e)
	}
	awsses.NewConfigurationSetEventDestination(s, jsii.String("EmailEventsDestination"), &awsses.ConfigurationSetEventDestinationProps{
		ConfigurationSet: cs,
		Destination:      awsses.EventDestination_SnsTopic(topic),
		Events:           &events,
	})

	topic.AddSubscription(awssnssubscriptions.NewSqsSubscription(queue, &awssnssubscriptions.SqsSubscriptionProps{
		RawMessageDelivery: jsii.Bool(false),
	}))
	return cs.ConfigurationSetName()
}
