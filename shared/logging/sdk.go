package logging

import (
	"context"
	"fmt"
	"log/slog"

	smithylogging "github.com/aws/smithy-go/logging"
)

// SDK adapts a slog logger to the AWS SDK's logger, so the SDK's own
// warnings go through the same redaction and JSON format as everything
// else instead of straight to stderr.
type SDK struct{ Log *slog.Logger }

// Logf implements smithy-go's logging.Logger.
func (s SDK) Logf(c smithylogging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == smithylogging.Warn {
		level = slog.LevelWarn
	}
	s.Log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}
