// Package devstacktest holds helpers that tests over the local AWS
// stand-ins share (see package devstack, whose RunTests exports the
// stand-ins' endpoints into the environment these helpers read): a KMS
// client that counts the calls tests assert on, a fresh key per test, and
// a log sink that handlers may write to from many goroutines.
package devstacktest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

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
