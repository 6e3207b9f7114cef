// Command account is the Lambda behind the account and org administration
// routes of the HTTP API: sign-up, login, users, invitations, API keys,
// MFA, org settings and closure, integrations, data-subject requests and
// the one-click unsubscribe. The api function serves the rest.
package main

import (
	// The IANA timezone database, embedded: the provided.al2023 runtime
	// has none, and org settings check timezone names (time.LoadLocation).
	_ "time/tzdata"

	"github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/shared/lambdamain"
)

func main() { lambdamain.Run("account", app.New) }
