// Command ingest is the Lambda that drains the intake queue: Lead Ads leads,
// WhatsApp messages, opt-outs and delivery statuses.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/leadluence/backend/functions/ingest/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
)

func main() {
	log := logging.New(nil, slog.LevelInfo)
	if err := run(context.Background(), log); err != nil {
		log.Error("ingest start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.Load[config.Ingest]()
	if err != nil {
		return err
	}
	handler, _, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	lambda.Start(handler)
	return nil
}
