// Package intaketest sets up what intake tests need against the local
// stand-ins, over resources the test has provisioned (devstacktest.Fresh in
// tools/devstack): a Meta simulator with a page, a form and a WhatsApp
// number, and an org that has both connected with sealed tokens.
package intaketest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta/metatest"
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

// Env is a connected org over one provisioned copy of the resources.
type Env struct {
	Ctx   context.Context
	AWS   aws.Config
	Sim   *metatest.Server
	Store *dynamostore.Store
	OrgID string
}

// New connects a page and a number for a new org, stored in table with its
// tokens sealed under keyID, both reached through awsCfg. The simulator is
// closed when the test ends.
func New(t testing.TB, awsCfg aws.Config, table, keyID string) *Env {
	t.Helper()
	ctx := context.Background()
	sim := metatest.New(metatest.Options{AppSecret: []byte("test-app-secret")})
	t.Cleanup(sim.Close)
	sim.AddPage(PageID, "Sharma Realty", PageToken)
	sim.AddForm(PageID, FormID, "Site visit")
	sim.AddPhoneNumber(NumberID, Display, "Sharma Realty", WABAID, WAToken)

	e := &Env{Ctx: ctx, AWS: awsCfg, Sim: sim, Store: dynamostore.New(dynamodb.NewFromConfig(awsCfg, dynamostore.ClientOptions), table),
		OrgID: ulid.Make().String()}
	now := time.Now().UTC()
	owner := account.User{ID: ulid.Make().String(), OrgID: e.OrgID, Name: "Owner", Email: fmt.Sprintf("o%d-%d@example.com", now.UnixNano(), seq.Add(1)),
		Role: account.RoleOwner, Active: true}
	if err := e.Store.CreateOrg(ctx, account.Org{ID: e.OrgID, Name: "Sharma Realty", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		t.Fatal(err)
	}
	sealer := envelope.New(kms.NewFromConfig(awsCfg), keyID, envelope.Options{})
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
