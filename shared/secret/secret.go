// Package secret opens configuration secrets that reach a function as KMS
// ciphertext (base64, in an environment variable) rather than as plain text:
// Meta's app secret and webhook verify token, say.
//
// Each value is encrypted directly under the project's KMS key (a secret here
// is at most 4 KiB, so no data key is needed) with the encryption context
// {"purpose": <purpose>}. The purpose binds a ciphertext to its use: the app
// secret's ciphertext cannot be opened as the verify token, and an IAM policy
// can allow kms:Decrypt only for the purposes a function needs
// (kms:EncryptionContext:purpose). Functions call Decrypt once per cold start;
// the local runner and operators (tools/encrypt) call Encrypt.
package secret

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// ContextKey is the encryption-context key that carries the purpose.
const ContextKey = "purpose"

// MaxPlaintext is the largest plaintext KMS Encrypt accepts.
const MaxPlaintext = 4096

// Errors returned before KMS is called.
var (
	// ErrNoPurpose means the purpose was empty: every secret must be bound to one.
	ErrNoPurpose = errors.New("secret: empty purpose")
	// ErrMalformed means the ciphertext is empty or not standard base64.
	ErrMalformed = errors.New("secret: ciphertext is not base64")
	// ErrPlaintextSize means the plaintext is empty or over MaxPlaintext bytes.
	ErrPlaintextSize = errors.New("secret: plaintext must be 1 to 4096 bytes")
)

// KMSDecrypter is the part of the KMS client Decrypt needs.
type KMSDecrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMSEncrypter is the part of the KMS client Encrypt needs.
type KMSEncrypter interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

// Option adjusts a Decrypt call.
type Option func(*kms.DecryptInput)

// WithKeyID makes KMS refuse a ciphertext that was not made with keyID (id,
// ARN, alias name or alias ARN). A symmetric ciphertext names its key, so the
// option is not needed to decrypt; it pins the key as AWS recommends. An
// empty keyID leaves the input unchanged.
func WithKeyID(keyID string) Option {
	return func(in *kms.DecryptInput) {
		if keyID != "" {
			in.KeyId = &keyID
		}
	}
}

// Decrypt opens ciphertextB64 (standard base64 of a KMS ciphertext blob, as
// Encrypt returns it) made for purpose. A ciphertext made for another
// purpose, or with another key when WithKeyID is given, fails. Surrounding
// white space in ciphertextB64 is ignored. Neither the ciphertext nor the
// plaintext appears in any error.
func Decrypt(ctx context.Context, client KMSDecrypter, ciphertextB64, purpose string, opts ...Option) ([]byte, error) {
	if purpose == "" {
		return nil, ErrNoPurpose
	}
	blob, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ciphertextB64))
	if err != nil || len(blob) == 0 {
		return nil, fmt.Errorf("decrypt %s: %w", purpose, ErrMalformed)
	}
	in := &kms.DecryptInput{
		CiphertextBlob:    blob,
		EncryptionContext: map[string]string{ContextKey: purpose},
	}
	for _, o := range opts {
		o(in)
	}
	out, err := client.Decrypt(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: kms: %w", purpose, err)
	}
	return out.Plaintext, nil
}

// Encrypt encrypts plaintext under keyID for purpose and returns the
// ciphertext blob as standard base64, ready for an environment variable or
// a `cdk deploy -c NAME=...` flag.
func Encrypt(ctx context.Context, client KMSEncrypter, keyID, purpose string, plaintext []byte) (string, error) {
	if purpose == "" {
		return "", ErrNoPurpose
	}
	if len(plaintext) == 0 || len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("encrypt %s: %w", purpose, ErrPlaintextSize)
	}
	if keyID == "" {
		return "", fmt.Errorf("encrypt %s: empty key id", purpose)
	}
	out, err := client.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             &keyID,
		Plaintext:         plaintext,
		EncryptionContext: map[string]string{ContextKey: purpose},
	})
	if err != nil {
		return "", fmt.Errorf("encrypt %s: kms: %w", purpose, err)
	}
	return base64.StdEncoding.EncodeToString(out.CiphertextBlob), nil
}
