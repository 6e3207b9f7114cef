package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// newKey creates the customer-managed key that encrypts the table and wraps
// every stored secret. It is retained on stack deletion: losing it would make
// every envelope-encrypted value unreadable.
func newKey(s awscdk.Stack, k topology.Key) awskms.Key {
	return awskms.NewKey(s, jsii.String("Key"), &awskms.KeyProps{
		Alias:             jsii.String("alias/" + k.Alias),
		Description:       jsii.String(k.Description),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
}
