package dynamostore_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/dynamostore"
)

// TestClientOptionsKeepChecksumsAgainstDynamoDB checks that only a client
// of a stand-in on this machine skips the response CRC32 check.
func TestClientOptionsKeepChecksumsAgainstDynamoDB(t *testing.T) {
	for endpoint, skip := range map[string]bool{
		"": false, // the SDK's own endpoint: DynamoDB
		"https://dynamodb.ap-south-1.amazonaws.com": false,
		"http://127.0.0.1:8000":                     true,
		"http://localhost:8000":                     true,
		"http://[::1]:8000":                         true,
		"http://dynamodb.internal:8000":             false,
	} {
		o := dynamodb.Options{}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		dynamostore.ClientOptions(&o)
		if o.DisableValidateResponseChecksum != skip {
			t.Errorf("endpoint %q: checksum check disabled = %v, want %v", endpoint, o.DisableValidateResponseChecksum, skip)
		}
	}
}
