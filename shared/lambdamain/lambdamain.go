// Package lambdamain is what every function's main does: load the typed
// config from the environment, build the handler once (clients, keys,
// caches), and hand it to the Lambda runtime; a failed start is logged once
// and exits non-zero.
package lambdamain

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
)

// Run starts function name with the handler build returns for config C.
// It returns only when the function cannot start.
func Run[C, H any](name string, build func(ctx context.Context, cfg C, log *slog.Logger, opts ...awsenv.Option) (H, error)) {
	log := logging.New(nil, slog.LevelInfo)
	cfg, err := config.Load[C]()
	if err == nil {
		var h H
		if h, err = build(context.Background(), cfg, log); err == nil {
			lambda.Start(h)
			return
		}
	}
	log.Error(name+" start", "err", err)
	os.Exit(1)
}
