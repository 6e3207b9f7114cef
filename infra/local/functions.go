package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/infra/local/runner"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
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
	return runner.Handlers{
		HTTP:     map[string]apigw.HandlerFunc{"api": api},
		Queue:    map[string]runner.SQSHandler{},
		Schedule: map[string]runner.ScheduleHandler{},
	}, nil
}
