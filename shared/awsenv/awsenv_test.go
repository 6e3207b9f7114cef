package awsenv_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/leadluence/backend/shared/awsenv"
)

// clean clears every variable Load reads and sets a Lambda's minimum.
func clean(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY",
		"AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_ACCOUNT_ID", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SESV2",
		"AWS_SDK_UA_APP_ID", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_REQUEST_CHECKSUM_CALCULATION",
		"AWS_RESPONSE_CHECKSUM_VALIDATION",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
}

func TestLoadReadsLambdaEnvironment(t *testing.T) {
	clean(t)
	t.Setenv("AWS_SESSION_TOKEN", "token")
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want eu-west-1", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDTEST" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
		t.Errorf("credentials = %+v", creds)
	}
	if cfg.BaseEndpoint != nil {
		t.Errorf("base endpoint = %q, want none", *cfg.BaseEndpoint)
	}
	if o := dynamodb.NewFromConfig(cfg).Options(); o.BaseEndpoint != nil {
		t.Errorf("dynamodb endpoint = %q, want the default", *o.BaseEndpoint)
	}
}

func TestLoadRegionFallbackAndOverride(t *testing.T) {
	clean(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "us-west-2")
	cfg, err := awsenv.Load(context.Background())
	if err != nil || cfg.Region != "us-west-2" {
		t.Errorf("AWS_DEFAULT_REGION: region %q, err %v", cfg.Region, err)
	}
	cfg, err = awsenv.Load(context.Background(), awsenv.WithRegion("ap-south-1"))
	if err != nil || cfg.Region != "ap-south-1" {
		t.Errorf("WithRegion: region %q, err %v", cfg.Region, err)
	}
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := awsenv.Load(context.Background()); !errors.Is(err, awsenv.ErrNoRegion) {
		t.Errorf("no region: err = %v, want ErrNoRegion", err)
	}
}

func TestLoadWithoutCredentialsFails(t *testing.T) {
	for _, unset := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		clean(t)
		t.Setenv(unset, "")
		if _, err := awsenv.Load(context.Background()); !errors.Is(err, awsenv.ErrNoCredentials) {
			t.Errorf("without %s: err = %v, want ErrNoCredentials", unset, err)
		}
	}
	clean(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	p := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "given"}, nil
	})
	cfg, err := awsenv.Load(context.Background(), awsenv.WithCredentialsProvider(p))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := cfg.Credentials.Retrieve(context.Background()); c.AccessKeyID != "given" {
		t.Errorf("credentials = %+v, want the provider's", c)
	}
}

// The local stand-ins are reached through the per-service endpoint
// variables devstack exports; each client must pick up its own.
func TestLoadServiceEndpoints(t *testing.T) {
	clean(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324")
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:8091")
	t.Setenv("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:8005")
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*string{
		"http://127.0.0.1:8000": dynamodb.NewFromConfig(cfg).Options().BaseEndpoint,
		"http://127.0.0.1:9324": sqs.NewFromConfig(cfg).Options().BaseEndpoint,
		"http://127.0.0.1:8091": kms.NewFromConfig(cfg).Options().BaseEndpoint,
		"http://127.0.0.1:8005": sesv2.NewFromConfig(cfg).Options().BaseEndpoint,
	}
	for want, ep := range got {
		if ep == nil || *ep != want {
			t.Errorf("endpoint = %v, want %s", ep, want)
		}
	}

	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
	if cfg, err = awsenv.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ep := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint; ep != nil {
		t.Errorf("ignored endpoints: dynamodb endpoint = %q", *ep)
	}
}

func TestLoadGlobalEndpoint(t *testing.T) {
	clean(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324")
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ep := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint; ep == nil || *ep != "http://127.0.0.1:4566" {
		t.Errorf("dynamodb endpoint = %v, want the global one", ep)
	}
	if ep := sqs.NewFromConfig(cfg).Options().BaseEndpoint; ep == nil || *ep != "http://127.0.0.1:9324" {
		t.Errorf("sqs endpoint = %v, want its own", ep)
	}
}

func TestLoadOptions(t *testing.T) {
	clean(t)
	t.Setenv("AWS_SDK_UA_APP_ID", "from-env")
	stack := func(*middleware.Stack) error { return nil }
	client := &http.Client{}
	retryer := func() aws.Retryer { return aws.NopRetryer{} }
	cfg, err := awsenv.Load(context.Background(),
		awsenv.WithLogger(logging.Nop{}),
		awsenv.WithAppID("leadluence-test"),
		awsenv.WithHTTPClient(client),
		awsenv.WithAPIOptions([]func(*middleware.Stack) error{stack}),
		awsenv.WithAPIOptions([]func(*middleware.Stack) error{stack}),
		awsenv.WithRetryer(retryer),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppID != "leadluence-test" {
		t.Errorf("app id = %q", cfg.AppID)
	}
	if _, ok := cfg.Logger.(logging.Nop); !ok {
		t.Errorf("logger = %T", cfg.Logger)
	}
	if cfg.HTTPClient != client {
		t.Errorf("http client not kept")
	}
	if len(cfg.APIOptions) != 2 {
		t.Errorf("api options = %d, want 2 (they add up)", len(cfg.APIOptions))
	}
	if cfg.Retryer == nil {
		t.Errorf("retryer not kept")
	}
	if cfg, err = awsenv.Load(context.Background()); err != nil || cfg.AppID != "from-env" {
		t.Errorf("AWS_SDK_UA_APP_ID: app id %q, err %v", cfg.AppID, err)
	}
	boom := errors.New("boom")
	if _, err := awsenv.Load(context.Background(), func(*awsenv.Options) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("failing option: err = %v", err)
	}
}

func TestLoadRetryAndChecksumSettings(t *testing.T) {
	clean(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
	t.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED")
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RetryMaxAttempts != 5 || cfg.RetryMode != aws.RetryModeAdaptive {
		t.Errorf("retry = %d %q", cfg.RetryMaxAttempts, cfg.RetryMode)
	}
	if cfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired ||
		cfg.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired {
		t.Errorf("checksums = %v %v", cfg.RequestChecksumCalculation, cfg.ResponseChecksumValidation)
	}
	for k, v := range map[string]string{
		"AWS_MAX_ATTEMPTS":                 "zero",
		"AWS_RETRY_MODE":                   "sometimes",
		"AWS_REQUEST_CHECKSUM_CALCULATION": "always",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "never",
	} {
		clean(t)
		t.Setenv(k, v)
		if _, err := awsenv.Load(context.Background()); err == nil {
			t.Errorf("%s=%s: no error", k, v)
		}
	}
}
