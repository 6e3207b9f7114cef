package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/leadluence/backend/functions/api/app"
	backfill "github.com/leadluence/backend/functions/backfill/app"
	ingest "github.com/leadluence/backend/functions/ingest/app"
	webhook "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/infra/local/runner"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/secret"
)

type awsAPIConfig = aws.Config

// buildHandlers builds every function's handler the way its main.go does.
// A function added to the topology must be added here too; Handlers.Check
// refuses to start otherwise.
func buildHandlers(ctx context.Context, log *slog.Logger) (runner.Handlers, error) {
	apiCfg, err := config.Load[config.API]()
	if err != nil {
		return runner.Handlers{}, err
	}
	api, err := app.New(ctx, apiCfg, log.With("function", "api"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build api: %w", err)
	}
	webhookCfg, err := config.Load[config.Webhook]()
	if err != nil {
		return runner.Handlers{}, err
	}
	hook, err := webhook.New(ctx, webhookCfg, log.With("function", "webhook"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build webhook: %w", err)
	}
	ingestCfg, err := config.Load[config.Ingest]()
	if err != nil {
		return runner.Handlers{}, err
	}
	ing, _, err := ingest.New(ctx, ingestCfg, log.With("function", "ingest"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build ingest: %w", err)
	}
	backfillCfg, err := config.Load[config.Backfill]()
	if err != nil {
		return runner.Handlers{}, err
	}
	bf, err := backfill.New(ctx, backfillCfg, log.With("function", "backfill"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build backfill: %w", err)
	}
	return runner.Handlers{
		HTTP:     map[string]apigw.HandlerFunc{"api": api, "webhook": hook},
		Queue:    map[string]runner.SQSHandler{"ingest": runner.SQSHandler(ing)},
		Schedule: map[string]runner.ScheduleHandler{"backfill": runner.ScheduleHandler(bf)},
	}, nil
}

// devParam says where `make dev` takes a deploy-time parameter's value from:
// the environment variable From, or Default when it is unset.
type devParam struct {
	From, Default string
}

// devParams has an entry for every topology Param. A param added to the
// topology must be added here too; fillParams refuses to start otherwise.
var devParams = map[string]devParam{
	topology.EnvMetaAppSecretCiphertext:   {From: "LEADLUENCE_META_APP_SECRET", Default: "dev-app-secret"},
	topology.EnvMetaVerifyTokenCiphertext: {From: "LEADLUENCE_META_VERIFY_TOKEN", Default: "dev-verify-token"},
}

// paramValue is the value in force of one param, before encryption.
type paramValue struct {
	devParam
	Value string
}

// fillParams sets every function's deploy-time parameters in the process
// environment, as `cdk deploy -c` does in the cloud: each value is read from
// its devParams source and, for a param with a Purpose, encrypted under the
// local key with shared/secret, so functions open it exactly as in Lambda.
// It returns the values in force by param name, for printing.
func fillParams(ctx context.Context, keys secret.KMSEncrypter, st topology.Stack, keyID string) (map[string]paramValue, error) {
	out := map[string]paramValue{}
	for _, fn := range st.Functions {
		for _, p := range fn.Params {
			src, ok := devParams[p.Env]
			if !ok {
				return nil, fmt.Errorf("function %s: param %s has no local value: add it to devParams in infra/local/functions.go", fn.Name, p.Env)
			}
			v := paramValue{devParam: src, Value: src.Default}
			if s, ok := os.LookupEnv(src.From); ok && s != "" {
				v.Value = s
			}
			env := v.Value
			if p.Purpose != "" {
				ct, err := secret.Encrypt(ctx, keys, keyID, p.Purpose, []byte(v.Value))
				if err != nil {
					return nil, fmt.Errorf("param %s (from %s): %w", p.Env, src.From, err)
				}
				env = ct
			}
			if err := os.Setenv(p.Env, env); err != nil {
				return nil, fmt.Errorf("set %s: %w", p.Env, err)
			}
			out[p.Env] = v
		}
	}
	return out, nil
}
