package provision_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/provision"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// sdkLog keeps every line the SDK logs.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, v...))
}

func (l *sdkLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestStartLogsNoSDKWarnings does what make dev does on every start
// against the stand-ins (provisioning over resources that already exist)
// and what functions do all day (a write whose condition fails), with an
// SDK logger that keeps every line: none may come out.
func TestStartLogsNoSDKWarnings(t *testing.T) {
	ctx := context.Background()
	log := &sdkLog{}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	prefix := devstacktest.NewPrefix()
	var res topology.Resolved
	for range 2 { // the second start finds every resource in place
		if res, err = provision.Apply(ctx, cfg, topology.Default(), prefix); err != nil {
			t.Fatal(err)
		}
	}
	conditionFails(t, dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions), res.TableName)
	if lines := log.all(); len(lines) > 0 {
		t.Fatalf("the SDK logged against the stand-ins:\n%s", strings.Join(lines, "\n"))
	}

	// The check above can fail: without ClientOptions the same error
	// response makes the SDK warn.
	conditionFails(t, dynamodb.NewFromConfig(cfg), res.TableName)
	if lines := log.all(); len(lines) == 0 || !strings.Contains(lines[0], "WARN") {
		t.Fatalf("a client without ClientOptions logged %q; want the checksum warning (has DynamoDB Local changed?)", lines)
	}
}

// conditionFails writes an item twice under attribute_not_exists and
// checks that the second write fails its condition.
func conditionFails(t *testing.T, db *dynamodb.Client, table string) {
	t.Helper()
	in := &dynamodb.PutItemInput{TableName: &table, ConditionExpression: aws.String("attribute_not_exists(PK)"),
		Item: map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: "PROBE#" + devstacktest.NewPrefix()},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "PROBE"}}}
	if _, err := db.PutItem(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var failed *ddbtypes.ConditionalCheckFailedException
	if _, err := db.PutItem(context.Background(), in); !errors.As(err, &failed) {
		t.Fatalf("second put: %v, want a failed condition", err)
	}
}
