package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	account "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	backfill "github.com/leadluence/backend/functions/backfill/app"
	importer "github.com/leadluence/backend/functions/importer/app"
	ingest "github.com/leadluence/backend/functions/ingest/app"
	retention "github.com/leadluence/backend/functions/retention/app"
	sender "github.com/leadluence/backend/functions/sender/app"
	webhook "github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/tools/dev/runner"
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
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		return runner.Handlers{}, err
	}
	acct, err := account.New(ctx, accountCfg, log.With("function", "account"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build account: %w", err)
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
	senderCfg, err := config.Load[config.Sender]()
	if err != nil {
		return runner.Handlers{}, err
	}
	snd, err := sender.New(ctx, senderCfg, log.With("function", "sender"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build sender: %w", err)
	}
	retentionCfg, err := config.Load[config.Retention]()
	if err != nil {
		return runner.Handlers{}, err
	}
	ret, err := retention.New(ctx, retentionCfg, log.With("function", "retention"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build retention: %w", err)
	}
	importerCfg, err := config.Load[config.Importer]()
	if err != nil {
		return runner.Handlers{}, err
	}
	imp, err := importer.New(ctx, importerCfg, log.With("function", "importer"))
	if err != nil {
		return runner.Handlers{}, fmt.Errorf("build importer: %w", err)
	}
	return runner.Handlers{
		HTTP: map[string]apigw.HandlerFunc{"api": api, "account": acct, "webhook": hook},
		Queue: map[string]runner.SQSHandler{"ingest": runner.SQSHandler(ing), "sender": runner.SQSHandler(snd),
			"retention": ret.Queue, "importer": runner.SQSHandler(imp)},
		Schedule: map[string]runner.ScheduleHandler{"backfill": runner.ScheduleHandler(bf), "retention": ret.Schedule},
	}, nil
}
