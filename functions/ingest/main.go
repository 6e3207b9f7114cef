// Command ingest is the Lambda that drains the intake queue: Lead Ads leads,
// WhatsApp messages, opt-outs and delivery statuses.
package main

import (
	"context"
	"log/slog"
	// The IANA timezone database, embedded: the provided.al2023 runtime
	// has none, and after-hours replies read an org's business hours in
	// its timezone (automation.BusinessHours, time.LoadLocation).
	_ "time/tzdata"

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
