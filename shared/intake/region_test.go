package intake

import (
	"context"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
)

// orgsOnly is a Store that only reads orgs; the other methods are never
// called here.
type orgsOnly struct {
	Store
	region string
	reads  int
}

func (o *orgsOnly) GetOrg(_ context.Context, orgID string) (account.Org, error) {
	o.reads++
	return account.Org{ID: orgID, DefaultRegion: o.region}, nil
}

// TestRegionFollowsTheOrgsDefaultCountry: a change of the org's default
// country reaches intake within RegionCacheTTL, with one read per TTL.
func TestRegionFollowsTheOrgsDefaultCountry(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	store := &orgsOnly{region: "IN"}
	p := &Processor{Store: store, DefaultRegion: "GB", Now: func() time.Time { return now }}
	ctx := context.Background()
	if got := p.region(ctx, "org1"); got != "IN" {
		t.Fatalf("region = %s, want IN", got)
	}
	store.region = "US"
	now = now.Add(RegionCacheTTL - time.Second)
	if got := p.region(ctx, "org1"); got != "IN" || store.reads != 1 {
		t.Fatalf("within the TTL: region %s after %d reads, want the cached IN after 1", got, store.reads)
	}
	now = now.Add(2 * time.Second)
	if got := p.region(ctx, "org1"); got != "US" || store.reads != 2 {
		t.Fatalf("after the TTL: region %s after %d reads, want US after 2", got, store.reads)
	}
	store.region = ""
	if got := p.region(ctx, "org2"); got != "GB" {
		t.Fatalf("org without a region: %s, want the default GB", got)
	}
}
