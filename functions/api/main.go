// Command api is the Lambda behind the HTTP API: accounts, access control,
// the audit trail and leads.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
)

func main() {
	log := logging.New(nil, slog.LevelInfo)
	if err := run(context.Background(), log); err != nil {
		log.Error("api start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.Load[config.API]()
	if err != nil {
		return err
	}
	handler, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	lambda.Start(handler)
	return nil
}
