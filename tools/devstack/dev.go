package devstack

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// DevPorts are the fixed loopback ports of the stand-ins `make dev` runs;
// the operator commands' -local flag reaches them there.
var DevPorts = Ports{DynamoDB: 8000, SQS: 9324, KMS: 8091, SES: 8005}

// DevURL is the address of the `make dev` stand-in listening on port.
func DevURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// OperatorConfig loads the AWS configuration of an operator command (dlq,
// policy, retention): the standard one for a deployed account, or, with
// local, the region and dummy credentials the stand-ins of `make dev` take
// (point each client at DevURL of its port). opts come after those.
func OperatorConfig(ctx context.Context, local bool, opts ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	if local {
		opts = append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion("us-east-1"),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", ""))}, opts...)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set AWS_REGION (or use -local for make dev's stand-ins)")
	}
	return cfg, nil
}
