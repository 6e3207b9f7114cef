// Package config loads a function's settings from its environment into one
// typed struct. Every missing or malformed variable is reported at once, so
// an operator fixes a broken deployment in one pass.
package config

import (
	"fmt"

	"github.com/caarlos0/env/v11"
)

// API is the configuration of the api function. The resource locations are
// set by the CDK stack and the local runner from infra/topology.
type API struct {
	// TableName is the single DynamoDB table.
	TableName string `env:"LEADLUENCE_TABLE,required,notEmpty"`
	// KeyID is the KMS key (id, ARN or alias) used for envelope encryption.
	KeyID string `env:"LEADLUENCE_KEY_ID,required,notEmpty"`
	// IntakeQueueURL and OutboundQueueURL are checked by the health route;
	// the outbound queue also receives messages to send.
	IntakeQueueURL   string `env:"LEADLUENCE_QUEUE_URL_INTAKE,required,notEmpty"`
	OutboundQueueURL string `env:"LEADLUENCE_QUEUE_URL_OUTBOUND,required,notEmpty"`
	// DefaultRegion is the ISO 3166 region used to read phone numbers
	// written without a country code, when an org sets none.
	DefaultRegion string `env:"LEADLUENCE_DEFAULT_REGION" envDefault:"IN"`
}

// Load reads T from the environment. The returned error lists every missing
// or invalid variable.
func Load[T any]() (T, error) {
	cfg, err := env.ParseAs[T]()
	if err != nil {
		return cfg, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}
