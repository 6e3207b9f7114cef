package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// newKMS creates a fresh key on local-kms and returns a counting client
// and the key id.
func newKMS(t *testing.T) (*devstacktest.CountingKMS, string) {
	t.Helper()
	k, key := devstacktest.NewKMSKey(t)
	return k, *key.KeyId
}

func TestRoundTripAndOrgBinding(t *testing.T) {
	ctx := context.Background()
	k, keyID := newKMS(t)
	s := envelope.New(k, keyID, envelope.Options{})
	secret := []byte("EAAGm0PX4ZCpsBA-page-access-token")

	blob, err := s.Seal(ctx, "org-a", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	got, err := s.Open(ctx, "org-a", blob)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	// A fresh sealer (empty cache) must go to KMS, which refuses org-b's context.
	fresh := envelope.New(k, keyID, envelope.Options{})
	if _, err := fresh.Open(ctx, "org-b", blob); !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("Open with another org's context = %v, want ErrOpen", err)
	}
	// The warm sealer must refuse too (the cache is keyed by org as well).
	if _, err := s.Open(ctx, "org-b", blob); !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("cached Open with another org = %v, want ErrOpen", err)
	}
	if got, err := fresh.Open(ctx, "org-a", blob); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("fresh Open = %q, %v", got, err)
	}

	// Any altered byte is refused.
	for _, i := range []int{0, 5, len(blob) / 2, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x40
		if _, err := fresh.Open(ctx, "org-a", bad); err == nil {
			t.Errorf("blob altered at byte %d opened", i)
		}
	}
}

func TestDataKeyCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	k, keyID := newKMS(t)
	now := time.Now()
	s := envelope.New(k, keyID, envelope.Options{MaxAge: time.Minute, MaxUses: 3, Now: func() time.Time { return now }})

	var blobs [][]byte
	for i := range 4 {
		b, err := s.Seal(ctx, "org-a", []byte(fmt.Sprint("secret-", i)))
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	if got := k.Generates.Load(); got != 2 {
		t.Fatalf("4 seals with MaxUses 3 made %d GenerateDataKey calls, want 2", got)
	}
	for _, b := range blobs {
		if _, err := s.Open(ctx, "org-a", b); err != nil {
			t.Fatal(err)
		}
	}
	if got := k.Decrypts.Load(); got != 0 {
		t.Fatalf("opening freshly sealed blobs made %d Decrypt calls, want 0 (cached)", got)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Open(ctx, "org-a", blobs[0]); err != nil {
		t.Fatal(err)
	}
	if got := k.Decrypts.Load(); got != 1 {
		t.Fatalf("after MaxAge, Decrypt calls = %d, want 1", got)
	}
	if _, err := s.Seal(ctx, "org-a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := k.Generates.Load(); got != 3 {
		t.Fatalf("after MaxAge, GenerateDataKey calls = %d, want 3", got)
	}
}
