// Command api is the Lambda behind the HTTP API's lead, messaging and
// campaign routes, the health route and the API's OpenAPI document; the
// account function serves the account and org administration routes.
package main

import (
	// The IANA timezone database, embedded: the provided.al2023 runtime
	// has none, and automation settings check timezone names (time.LoadLocation).
	_ "time/tzdata"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("api", app.New) }
