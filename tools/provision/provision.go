// Package provision creates the table, queues and key that infra/topology
// describes, through the ordinary AWS SDK. The local runner and the tests
// use it against the local stand-ins; in the cloud the CDK stack creates
// the same resources from the same topology value.
package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/dynamostore"
)

// Apply creates (or finds) every resource of st, naming each with prefix
// so that several copies can share one set of stand-ins, and returns where
// they are. It is safe to run again on existing resources.
func Apply(ctx context.Context, cfg aws.Config, st topology.Stack, prefix string) (topology.Resolved, error) {
	res := topology.Resolved{TableName: prefix + st.Table.Name, QueueURLs: map[string]string{}}
	if err := createTable(ctx, dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions), st.Table, res.TableName); err != nil {
		return res, err
	}
	q := sqs.NewFromConfig(cfg)
	for _, queue := range st.Queues {
		url, dlqURL, err := createQueue(ctx, q, queue, prefix)
		if err != nil {
			return res, err
		}
		res.QueueURLs[queue.Name] = url
		res.QueueURLs[queue.DLQName()] = dlqURL
	}
	keyID, err := ensureKey(ctx, kms.NewFromConfig(cfg), st.Key, prefix)
	if err != nil {
		return res, err
	}
	res.KeyID = keyID
	return res, nil
}

func createTable(ctx context.Context, db *dynamodb.Client, t topology.Table, name string) error {
	attrs := map[string]bool{t.PartitionKey: true, t.SortKey: true}
	in := &dynamodb.CreateTableInput{
		TableName:   &name,
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: &t.PartitionKey, KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: &t.SortKey, KeyType: ddbtypes.KeyTypeRange},
		},
	}
	for _, ix := range t.Indexes {
		attrs[ix.PartitionKey], attrs[ix.SortKey] = true, true
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey), KeyType: ddbtypes.KeyTypeRange},
			},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		})
	}
	for a := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(a), AttributeType: ddbtypes.ScalarAttributeTypeS})
	}
	_, err := db.CreateTable(ctx, in)
	var inUse *ddbtypes.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, 30*time.Second); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &name,
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: &t.TTLAttribute, Enabled: aws.Bool(true)},
	}); err != nil {
		return fmt.Errorf("enable ttl on %s: %w", name, err)
	}
	return nil
}

func createQueue(ctx context.Context, q *sqs.Client, queue topology.Queue, prefix string) (url, dlqURL string, err error) {
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(prefix + queue.DLQName()),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(14 * 24 * 3600)},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", queue.DLQName(), err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("read %s arn: %w", queue.DLQName(), err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`,
		attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], queue.MaxReceiveCount)
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(prefix + queue.Name),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(int(queue.VisibilityTimeout.Seconds())),
			string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(queue.Retention.Seconds())),
			string(sqstypes.QueueAttributeNameRedrivePolicy):          redrive,
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", queue.Name, err)
	}
	return *out.QueueUrl, *dlq.QueueUrl, nil
}

// ensureKey finds the key behind the topology's alias, or creates it.
func ensureKey(ctx context.Context, k *kms.Client, key topology.Key, prefix string) (string, error) {
	alias := "alias/" + prefix + key.Alias
	if out, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &alias}); err == nil {
		return *out.KeyMetadata.Arn, nil
	}
	created, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: &key.Description})
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &alias, TargetKeyId: created.KeyMetadata.KeyId}); err != nil {
		return "", fmt.Errorf("create alias %s: %w", alias, err)
	}
	return *created.KeyMetadata.Arn, nil
}
