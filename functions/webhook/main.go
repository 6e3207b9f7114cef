// Command webhook is the Lambda behind /webhooks/meta: it answers Meta's
// subscription handshake and puts every signature-verified notification on
// the intake queue before acknowledging it.
package main

import (
	"github.com/leadluence/backend/functions/webhook/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("webhook", app.New) }
