// Package intaketest sets up what intake tests need against the local
// stand-ins: provisioned resources, a Meta simulator with a page, a form and
// a WhatsApp number, and an org that has both connected with sealed tokens.
package intaketest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/provision"
)

// Fixture ids and tokens (fake: they only open the local simulator).
//
//nolint:gosec // G101: test fixtures, not credentials
const (
	PageID    = "104858765678112"
	FormID    = "555000111"
	PageToken = "EAAGpage-token-0001"
	NumberID  = "106540352242922"
	Display   = "15550783881"
	WABAID    = "102290129340398"
	WAToken   = "EAAGwa-token-0001"
)

var seq atomic.Int64

// Env is one provisioned copy of the resources with a connected org.
type Env struct {
	Ctx      context.Context
	AWS      aws.Config
	Resolved topology.Resolved
	Sim      *metatest.Server
	Store    *dynamostore.Store
	OrgID    string
}

// New provisions resources under a unique prefix and connects a page and a
// number for a new org. The simulator is closed when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := provision.Apply(ctx, awsCfg, topology.Default(), fmt.Sprintf("it%d-%d-", time.Now().UnixNano()%1e9, seq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	sim := metatest.New(metatest.Options{AppSecret: []byte("test-app-secret")})
	t.Cleanup(sim.Close)
	sim.AddPage(PageID, "Sharma Realty", PageToken)
	sim.AddForm(PageID, FormID, "Site visit")
	sim.AddPhoneNumber(NumberID, Display, "Sharma Realty", WABAID, WAToken)

	e := &Env{Ctx: ctx, AWS: awsCfg, Resolved: res, Sim: sim, Store: dynamostore.New(dynamodb.NewFromConfig(awsCfg), res.TableName),
		OrgID: ulid.Make().String()}
	now := time.Now().UTC()
	owner := account.User{ID: ulid.Make().String(), OrgID: e.OrgID, Name: "Owner", Email: fmt.Sprintf("o%d-%d@example.com", now.UnixNano(), seq.Add(1)),
		Role: account.RoleOwner, Active: true}
	if err := e.Store.CreateOrg(ctx, account.Org{ID: e.OrgID, Name: "Sharma Realty", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	sealer := envelope.New(kms.NewFromConfig(awsCfg), res.KeyID, envelope.Options{})
	for _, in := range []integration.Integration{
		{Kind: integration.KindFacebookPage, ExternalID: PageID, Name: "Sharma Realty"},
		{Kind: integration.KindWhatsApp, ExternalID: NumberID, DisplayPhoneNumber: Display, WABAID: WABAID},
	} {
		tok := PageToken
		if in.Kind == integration.KindWhatsApp {
			tok = WAToken
		}
		sealed, err := sealer.Seal(ctx, e.OrgID, []byte(tok))
		if err != nil {
			t.Fatal(err)
		}
		in.OrgID, in.SealedToken, in.ConnectedAt, in.UpdatedAt = e.OrgID, sealed, now.Add(-time.Hour), now
		if err := e.Store.ConnectIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	return e
}
