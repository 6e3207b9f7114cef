// Command webhook is the Lambda behind /webhooks/meta: it answers Meta's
// subscription handshake and puts every signature-verified notification on
// the intake queue before acknowledging it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
)

func main() {
	log := logging.New(nil, slog.LevelInfo)
	if err := run(context.Background(), log); err != nil {
		log.Error("webhook start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.Load[config.Webhook]()
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
