// Command ingest is the Lambda that drains the intake queue: Lead Ads leads,
// WhatsApp messages, opt-outs and delivery statuses.
package main

import (
	"context"
	"log/slog"

	"github.com/leadluence/backend/functions/ingest/app"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() {
	lambdamain.Run("ingest", func(ctx context.Context, cfg config.Ingest, log *slog.Logger, opts ...awsenv.Option) (app.Handler, error) {
		h, _, err := app.New(ctx, cfg, log, opts...)
		return h, err
	})
}
