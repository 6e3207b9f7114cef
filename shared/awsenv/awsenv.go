// Package awsenv builds the functions' aws.Config from the environment
// alone, in place of the SDK's default loader (config.LoadDefaultConfig).
//
// It exists for binary size and cold start. The default loader links the
// STS, sign-in, SSO and SSO-OIDC clients, the EC2 instance-metadata client
// and the shared config and credentials file parsers, none of which a
// Lambda uses: Lambda hands a function its credentials in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN and its
// region in AWS_REGION. Leaving the loader's package out altogether took
// every bootstrap (linux/arm64, stripped) down by 1.7 to 2.0 MB: the api
// from 18.09 to 16.38 MB, the webhook from 9.83 to 7.80 MB; package init
// allocates 0.57 MB less and the process uses 2 to 4 ms less CPU before
// the first event (docs/benchmarks.md, "The AWS config loader left out").
//
// Load reads the region, static credentials (an error when they are
// missing), the endpoint URLs (AWS_ENDPOINT_URL and the per-service
// AWS_ENDPOINT_URL_<SERVICE>, which point the functions at the local
// stand-ins under make dev and the tests), the app id, retry settings and
// checksum settings the SDK's own loader honours. Options set what the
// environment does not: the logger, the app id, an HTTP client, API
// options (call counters, fault injection) and a retryer. It never reads
// files, profiles or instance metadata. Operator tools, which do run with
// profiles, keep the default loader.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// Environment variables Load reads, as the SDK names them.
const (
	envRegion          = "AWS_REGION"
	envDefaultRegion   = "AWS_DEFAULT_REGION"
	envAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envAccessKey       = "AWS_ACCESS_KEY"
	envSecretKey       = "AWS_SECRET_ACCESS_KEY" //nolint:gosec // a variable name, not a credential
	envSecret          = "AWS_SECRET_KEY"        //nolint:gosec // a variable name, not a credential
	envSessionToken    = "AWS_SESSION_TOKEN"     //nolint:gosec // a variable name, not a credential
	envAccountID       = "AWS_ACCOUNT_ID"
	envEndpointURL     = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	envAppID           = "AWS_SDK_UA_APP_ID"
	envMaxAttempts     = "AWS_MAX_ATTEMPTS"
	envRetryMode       = "AWS_RETRY_MODE"
	envRequestChecksum = "AWS_REQUEST_CHECKSUM_CALCULATION"
	envRespChecksum    = "AWS_RESPONSE_CHECKSUM_VALIDATION"
)

// credentialSource names the credentials' origin, as the SDK's loader
// names credentials it read from the environment.
const credentialSource = "EnvConfigCredentials" //nolint:gosec // a source name, not a credential

// ErrNoCredentials is returned by Load when the environment holds no
// access key and the options set no credentials provider.
var ErrNoCredentials = errors.New("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")

// ErrNoRegion is returned by Load when neither the environment nor the
// options name a region.
var ErrNoRegion = errors.New("no AWS region in the environment (AWS_REGION)")

// Options are what Load builds the config from beyond the environment.
// The zero value means the environment alone.
type Options struct {
	// Region overrides AWS_REGION.
	Region string
	// Credentials, when set, is used instead of the environment's keys.
	Credentials aws.CredentialsProvider
	// Logger receives the SDK's own log lines (retries, warnings).
	Logger logging.Logger
	// AppID names the caller in the User-Agent of every call
	// (app/<AppID>); it overrides AWS_SDK_UA_APP_ID.
	AppID string
	// HTTPClient, when set, sends every request.
	HTTPClient aws.HTTPClient
	// APIOptions are added to every operation's middleware stack.
	APIOptions []func(*middleware.Stack) error
	// Retryer, when set, makes every client's retryer.
	Retryer func() aws.Retryer
}

// Option sets a field of Options. The With functions mirror the SDK
// loader's options of the same names.
type Option func(*Options) error

// WithRegion sets the region, overriding AWS_REGION.
func WithRegion(region string) Option {
	return func(o *Options) error {
		o.Region = region
		return nil
	}
}

// WithCredentialsProvider sets the credentials, overriding the
// environment's keys.
func WithCredentialsProvider(p aws.CredentialsProvider) Option {
	return func(o *Options) error {
		o.Credentials = p
		return nil
	}
}

// WithLogger sets the SDK's logger.
func WithLogger(l logging.Logger) Option {
	return func(o *Options) error {
		o.Logger = l
		return nil
	}
}

// WithAppID sets the app id sent in the User-Agent.
func WithAppID(id string) Option {
	return func(o *Options) error {
		o.AppID = id
		return nil
	}
}

// WithHTTPClient sets the HTTP client of every AWS client.
func WithHTTPClient(c aws.HTTPClient) Option {
	return func(o *Options) error {
		o.HTTPClient = c
		return nil
	}
}

// WithAPIOptions adds middleware to every operation; repeated uses add up.
func WithAPIOptions(v []func(*middleware.Stack) error) Option {
	return func(o *Options) error {
		o.APIOptions = append(o.APIOptions, v...)
		return nil
	}
}

// WithRetryer sets the function that makes each client's retryer.
func WithRetryer(f func() aws.Retryer) Option {
	return func(o *Options) error {
		o.Retryer = f
		return nil
	}
}

// Load returns the AWS config of the environment with opts applied in
// order. It fails when no region or no credentials are set, or when a
// setting the environment holds is malformed.
func Load(_ context.Context, opts ...Option) (aws.Config, error) {
	var o Options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return aws.Config{}, fmt.Errorf("aws config option: %w", err)
		}
	}
	cfg := aws.Config{
		Region:        firstEnv(envRegion, envDefaultRegion),
		Credentials:   o.Credentials,
		Logger:        o.Logger,
		AppID:         os.Getenv(envAppID),
		HTTPClient:    o.HTTPClient,
		APIOptions:    o.APIOptions,
		Retryer:       o.Retryer,
		ConfigSources: []any{endpoints{}},
	}
	if o.Region != "" {
		cfg.Region = o.Region
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if o.AppID != "" {
		cfg.AppID = o.AppID
	}
	if cfg.Credentials == nil {
		creds, err := envCredentials()
		if err != nil {
			return aws.Config{}, err
		}
		cfg.Credentials = creds
	}
	if v, ok := lookupEnv(envEndpointURL); ok && !ignoreEndpoints() {
		cfg.BaseEndpoint = aws.String(v)
	}
	if err := retrySettings(&cfg); err != nil {
		return aws.Config{}, err
	}
	if err := checksumSettings(&cfg); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// envCredentials returns the static credentials of the environment.
func envCredentials() (aws.CredentialsProvider, error) {
	id := firstEnv(envAccessKeyID, envAccessKey)
	secret := firstEnv(envSecretKey, envSecret)
	if id == "" || secret == "" {
		return nil, ErrNoCredentials
	}
	creds := aws.Credentials{
		AccessKeyID:     id,
		SecretAccessKey: secret,
		SessionToken:    os.Getenv(envSessionToken),
		AccountID:       os.Getenv(envAccountID),
		Source:          credentialSource,
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return creds, nil
	}), nil
}

// retrySettings applies AWS_MAX_ATTEMPTS and AWS_RETRY_MODE.
func retrySettings(cfg *aws.Config) error {
	if v, ok := lookupEnv(envMaxAttempts); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%s=%q: want a whole number of attempts, at least 1", envMaxAttempts, v)
		}
		cfg.RetryMaxAttempts = n
	}
	if v, ok := lookupEnv(envRetryMode); ok {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			return fmt.Errorf("%s: %w", envRetryMode, err)
		}
		cfg.RetryMode = mode
	}
	return nil
}

// checksumSettings applies AWS_REQUEST_CHECKSUM_CALCULATION and
// AWS_RESPONSE_CHECKSUM_VALIDATION ("when_supported" or "when_required").
func checksumSettings(cfg *aws.Config) error {
	if v, ok := lookupEnv(envRequestChecksum); ok {
		switch strings.ToLower(v) {
		case "when_supported":
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		case "when_required":
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		default:
			return fmt.Errorf("%s=%q: want when_supported or when_required", envRequestChecksum, v)
		}
	}
	if v, ok := lookupEnv(envRespChecksum); ok {
		switch strings.ToLower(v) {
		case "when_supported":
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		case "when_required":
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		default:
			return fmt.Errorf("%s=%q: want when_supported or when_required", envRespChecksum, v)
		}
	}
	return nil
}

// endpoints serves the per-service endpoint URLs of the environment
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, ...) to the clients,
// which look them up in aws.Config.ConfigSources by this method when they
// are built, as they do with the SDK loader's environment config.
type endpoints struct{}

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SDKID>, the service id
// upper-cased with spaces as underscores ("SESv2" reads
// AWS_ENDPOINT_URL_SESV2).
func (endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if ignoreEndpoints() {
		return "", false, nil
	}
	v, ok := lookupEnv(envEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, ok, nil
}

// ignoreEndpoints reports whether AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// turns the endpoint URLs off.
func ignoreEndpoints() bool {
	return strings.EqualFold(os.Getenv(envIgnoreEndpoints), "true")
}

// lookupEnv returns a variable's value when it is set and not empty.
func lookupEnv(name string) (string, bool) {
	v := os.Getenv(name)
	return v, v != ""
}

// firstEnv returns the value of the first of names that is set.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v, ok := lookupEnv(n); ok {
			return v
		}
	}
	return ""
}
