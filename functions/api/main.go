// Command api is the Lambda behind the HTTP API: accounts, access control,
// the audit trail, leads and integrations.
package main

import (
	// The IANA timezone database, embedded: the provided.al2023 runtime
	// has none, and org settings check timezone names (time.LoadLocation).
	_ "time/tzdata"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("api", app.New) }
