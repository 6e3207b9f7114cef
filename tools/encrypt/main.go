// Command encrypt turns a configuration secret into the KMS ciphertext a
// function expects in its environment (see package secret). It reads the
// plaintext from standard input, so the secret never appears in the shell
// history or the process list, and prints the base64 ciphertext:
//
//	printf %s "$META_APP_SECRET" | go run ./tools/encrypt \
//	    -key alias/leadluence -purpose meta-app-secret
//
// The output goes to `cdk deploy -c LEADLUENCE_META_APP_SECRET_CIPHERTEXT=...`
// (docs/infra.md). It uses the AWS credentials and region of the environment;
// AWS_ENDPOINT_URL_KMS points it at local-kms.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/leadluence/backend/shared/secret"
)

func main() {
	keyID := flag.String("key", os.Getenv("LEADLUENCE_KEY_ID"), "KMS `key` id, ARN or alias (default $LEADLUENCE_KEY_ID)")
	purpose := flag.String("purpose", "", "the secret's `purpose`, e.g. meta-app-secret or meta-verify-token (required)")
	flag.Parse()
	if err := run(context.Background(), os.Stdin, os.Stdout, *keyID, *purpose); err != nil {
		fmt.Fprintln(os.Stderr, "encrypt:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, in io.Reader, out io.Writer, keyID, purpose string) error {
	if keyID == "" || purpose == "" {
		return errors.New("usage: printf %s SECRET | encrypt -key KEY -purpose PURPOSE")
	}
	plain, err := io.ReadAll(io.LimitReader(in, secret.MaxPlaintext+2))
	if err != nil {
		return fmt.Errorf("read the secret from stdin: %w", err)
	}
	// A trailing newline from echo or a here-doc is not part of the secret.
	plain = []byte(strings.TrimRight(string(plain), "\r\n"))
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	ct, err := secret.Encrypt(ctx, kms.NewFromConfig(cfg), keyID, purpose, plain)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, ct); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
