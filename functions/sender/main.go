// Command sender is the Lambda that drains the outbound queue: it re-checks
// consent and the customer-service window, paces, and sends queued messages
// through the WhatsApp Cloud API or SES v2.
package main

import (
	"github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("sender", app.New) }
