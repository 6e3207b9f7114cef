// Command retention is the scheduled Lambda that applies the data
// lifecycle: it sanitizes message content past each org's period.
package main

import (
	"github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("retention", app.New) }
