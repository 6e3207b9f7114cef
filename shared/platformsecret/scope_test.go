package platformsecret

import (
	"testing"

	"github.com/leadluence/backend/infra/topology"
)

// TestScopeMatchesTheGrant checks that the org_id context the platform's
// secrets are sealed under is the one IAM lets the retention function
// decrypt (topology.PlatformSecretScope); if they drifted, opening the
// suppression key would be denied in AWS only.
func TestScopeMatchesTheGrant(t *testing.T) {
	if scope != topology.PlatformSecretScope {
		t.Fatalf("platform secrets are sealed under org_id %q, IAM grants %q", scope, topology.PlatformSecretScope)
	}
}
