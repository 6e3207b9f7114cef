package secret_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/leadluence/backend/shared/secret"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

// newKey creates a fresh key on local-kms and returns a counting client
// and the key's ARN.
func newKey(t *testing.T) (*devstacktest.CountingKMS, string) {
	t.Helper()
	k, key := devstacktest.NewKMSKey(t)
	return k, *key.Arn
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	client, keyID := newKey(t)
	for _, tc := range []struct {
		name      string
		plaintext string
		opts      []secret.Option
	}{
		{name: "app secret", plaintext: "0123456789abcdef0123456789abcdef"},
		{name: "pinned to the key", plaintext: "verify-me", opts: []secret.Option{secret.WithKeyID(keyID)}},
		{name: "empty key id option is ignored", plaintext: "dev-verify-token", opts: []secret.Option{secret.WithKeyID("")}},
		{name: "largest plaintext", plaintext: strings.Repeat("s", secret.MaxPlaintext)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := secret.Encrypt(ctx, client, keyID, "meta-app-secret", []byte(tc.plaintext))
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if strings.Contains(ct, tc.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			// White space around the value (a trailing newline from a
			// shell, say) does not matter.
			got, err := secret.Decrypt(ctx, client, " "+ct+"\n", "meta-app-secret", tc.opts...)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if string(got) != tc.plaintext {
				t.Fatalf("Decrypt = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestWrongPurposeFails(t *testing.T) {
	ctx := context.Background()
	client, keyID := newKey(t)
	ct, err := secret.Encrypt(ctx, client, keyID, "meta-app-secret", []byte("the-app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = secret.Decrypt(ctx, client, ct, "meta-verify-token")
	if err == nil {
		t.Fatal("a ciphertext for meta-app-secret opened as meta-verify-token")
	}
	var invalid *kmstypes.InvalidCiphertextException
	if !errors.As(err, &invalid) {
		t.Errorf("error %v: want KMS InvalidCiphertextException", err)
	}
	if strings.Contains(err.Error(), ct) || strings.Contains(err.Error(), "the-app-secret") {
		t.Errorf("error leaks the ciphertext or plaintext: %v", err)
	}
}

func TestWrongKeyFails(t *testing.T) {
	ctx := context.Background()
	client, keyA := newKey(t)
	_, keyB := newKey(t)
	ct, err := secret.Encrypt(ctx, client, keyA, "meta-app-secret", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secret.Decrypt(ctx, client, ct, "meta-app-secret", secret.WithKeyID(keyB)); err == nil {
		t.Fatal("a ciphertext of key A opened when pinned to key B")
	}
}

func TestRefusedBeforeKMS(t *testing.T) {
	ctx := context.Background()
	client, keyID := newKey(t)
	for _, tc := range []struct {
		name    string
		ct      string
		purpose string
		want    error
	}{
		{name: "empty purpose", ct: "AAAA", purpose: "", want: secret.ErrNoPurpose},
		{name: "empty ciphertext", ct: "  ", purpose: "p", want: secret.ErrMalformed},
		{name: "not base64", ct: "PLACEHOLDER-set-me", purpose: "p", want: secret.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := client.Decrypts.Load()
			_, err := secret.Decrypt(ctx, client, tc.ct, tc.purpose)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decrypt error %v, want %v", err, tc.want)
			}
			if client.Decrypts.Load() != before {
				t.Error("KMS was called for input refused up front")
			}
		})
	}
	if _, err := secret.Encrypt(ctx, client, keyID, "", []byte("x")); !errors.Is(err, secret.ErrNoPurpose) {
		t.Errorf("Encrypt with no purpose: %v", err)
	}
	for _, p := range [][]byte{nil, make([]byte, secret.MaxPlaintext+1)} {
		if _, err := secret.Encrypt(ctx, client, keyID, "p", p); !errors.Is(err, secret.ErrPlaintextSize) {
			t.Errorf("Encrypt of %d bytes: %v", len(p), err)
		}
	}
	if _, err := secret.Encrypt(ctx, client, "", "p", []byte("x")); err == nil {
		t.Error("Encrypt with no key id: want an error")
	}
}
