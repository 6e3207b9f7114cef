// Command backfill is the scheduled Lambda that collects Lead Ads leads
// webhooks missed.
package main

import (
	"github.com/leadluence/backend/functions/backfill/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("backfill", app.New) }
