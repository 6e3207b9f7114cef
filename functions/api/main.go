// Command api is the Lambda behind the HTTP API: accounts, access control,
// the audit trail, leads and integrations.
package main

import (
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("api", app.New) }
