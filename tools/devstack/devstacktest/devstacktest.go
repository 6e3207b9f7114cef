// Package devstacktest holds what tests over the local AWS stand-ins share:
// Fresh, a freshly provisioned copy of the topology's resources (the table,
// every queue with its DLQ, the key) under a name prefix of its own, so that
// tests never see each other's data; a KMS client that counts the calls
// tests assert on; a fresh key per test; and a log sink that handlers may
// write to from many goroutines.
//
// The helpers reach the stand-ins through the environment that
// devstack.RunTests exports, so a package that uses them starts with
//
//	func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }
package devstacktest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/provision"
)

// Env is one freshly provisioned copy of a topology's resources.
type Env struct {
	// Resolved says where the resources are: TableName, KeyID (the key's
	// ARN) and QueueURLs by topology queue name, a DLQ as "<queue>-dlq".
	topology.Resolved
	// AWS is the SDK configuration that reaches the stand-ins.
	AWS aws.Config
	// Prefix starts the name of every resource of this copy.
	Prefix string
}

// Fresh provisions topology.Default() under a new prefix and returns where
// it is. It fails the test when the stand-ins cannot be reached.
func Fresh(t testing.TB) Env {
	t.Helper()
	return FreshStack(t, topology.Default())
}

// FreshStack is Fresh for another topology, such as one made up of a single
// test queue.
func FreshStack(t testing.TB, st topology.Stack) Env {
	t.Helper()
	e, err := New(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// New provisions st under a new prefix. It is FreshStack for code that has
// no testing.TB at hand, such as a sync.Once shared by a package's tests.
func New(ctx context.Context, st topology.Stack) (Env, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return Env{}, fmt.Errorf("load aws config: %w", err)
	}
	prefix := NewPrefix()
	res, err := provision.Apply(ctx, cfg, st, prefix)
	if err != nil {
		return Env{}, fmt.Errorf("provision under prefix %s: %w", prefix, err)
	}
	return Env{Resolved: res, AWS: cfg, Prefix: prefix}, nil
}

var prefixSeq atomic.Int64

// NewPrefix returns a resource name prefix that no other call returns, in
// this process or in another test process sharing the stand-ins.
func NewPrefix() string {
	return fmt.Sprintf("t%d-%d-%d-", time.Now().UnixNano()%1e9, os.Getpid(), prefixSeq.Add(1))
}

// SetFunctionEnv sets, for the rest of the test, the environment the
// topology gives function fn over these resources (topology.ResourceEnv),
// as the CDK stack and the local runner set it.
func (e Env) SetFunctionEnv(t testing.TB, fn string) {
	t.Helper()
	f, ok := topology.Default().Function(fn)
	if !ok {
		t.Fatalf("no function %q in the topology", fn)
	}
	for k, v := range topology.ResourceEnv(f, e.Resolved) {
		t.Setenv(k, v)
	}
}

// CountingKMS is a real client of the KMS stand-in that counts
// GenerateDataKey and Decrypt calls.
type CountingKMS struct {
	*kms.Client
	Generates, Decrypts atomic.Int64
}

// GenerateDataKey counts the call and passes it on.
func (c *CountingKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	c.Generates.Add(1)
	return c.Client.GenerateDataKey(ctx, in, opts...) //nolint:wrapcheck // a transparent wrapper
}

// Decrypt counts the call and passes it on.
func (c *CountingKMS) Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	c.Decrypts.Add(1)
	return c.Client.Decrypt(ctx, in, opts...) //nolint:wrapcheck // a transparent wrapper
}

// NewKMSKey creates a fresh key on the KMS stand-in and returns a counting
// client and the key's metadata (KeyId, Arn).
func NewKMSKey(t testing.TB) (*CountingKMS, kmstypes.KeyMetadata) {
	t.Helper()
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := kms.NewFromConfig(cfg)
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("create key on local-kms: %v", err)
	}
	return &CountingKMS{Client: client}, *key.KeyMetadata
}

// LogBuffer is a log sink safe for concurrent writes and reads.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p) //nolint:wrapcheck // an io.Writer passes the (always nil) error through
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
