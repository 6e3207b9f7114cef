package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/infra/provision"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/envelope"
	"github.com/leadluence/backend/shared/intake/intaketest"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/outbound"
)

// BenchmarkSendThroughput measures the sends per second one handler
// sustains against the simulator: batches of 10 text replies to distinct
// recipients (so pair pacing does not wait), with the number limit far above
// what one instance reaches. Setup (leads, queued messages) is not timed.
//
//	go run ./infra/devstack/cmd/withstack -- go test -run '^$' -bench SendThroughput -benchtime 500x ./functions/sender/app
func BenchmarkSendThroughput(b *testing.B) {
	e := build(b, benchFixture(b), options{tweak: func(s *outbound.Sender) { s.NumberRate = 100000 }})
	recent := time.Now().Add(-time.Hour)
	batches := make([][]events.SQSMessage, 0, b.N/10+1)
	var batch []events.SQSMessage
	for i := range b.N {
		m := e.queueText(e.newLead(recent, nil), "Hello")
		job := outbound.Job{OrgID: m.OrgID, LeadID: m.LeadID, MessageID: m.ID}
		batch = append(batch, events.SQSMessage{MessageId: fmt.Sprintf("bench-%d", i), Body: job.Encode(),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}, EventSource: "aws:sqs"})
		if len(batch) == 10 || i == b.N-1 {
			batches = append(batches, batch)
			batch = nil
		}
	}
	b.ResetTimer()
	start := time.Now()
	for _, recs := range batches {
		resp, err := e.handler(e.Ctx, events.SQSEvent{Records: recs})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("batch: %+v %v", resp, err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := len(e.Sim.Sent(numberID)); n != b.N {
		b.Fatalf("%d sends, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
}

// benchFixture is intaketest.New for a benchmark (which that takes a
// *testing.T): resources, the simulator with the number, an org that has it
// connected.
func benchFixture(b *testing.B) *intaketest.Env {
	b.Helper()
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		b.Fatal(err)
	}
	res, err := provision.Apply(ctx, cfg, topology.Default(), fmt.Sprintf("bench%d-%d-", time.Now().UnixNano()%1e9, seq.Add(1)))
	if err != nil {
		b.Fatal(err)
	}
	sim := metatest.New(metatest.Options{})
	b.Cleanup(sim.Close)
	sim.AddPhoneNumber(numberID, display, "Sharma Realty", wabaID, intaketest.WAToken)
	e := &intaketest.Env{Ctx: ctx, AWS: cfg, Resolved: res, Sim: sim, Store: dynamostore.New(dynamodb.NewFromConfig(cfg), res.TableName), OrgID: ulid.Make().String()}
	now := time.Now().UTC()
	owner := account.User{ID: ulid.Make().String(), OrgID: e.OrgID, Name: "Owner", Email: fmt.Sprintf("bench%d@example.com", now.UnixNano()),
		Role: account.RoleOwner, Active: true}
	if err := e.Store.CreateOrg(ctx, account.Org{ID: e.OrgID, Name: "Sharma Realty", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		b.Fatal(err)
	}
	sealed, err := envelope.New(kms.NewFromConfig(cfg), res.KeyID, envelope.Options{}).Seal(ctx, e.OrgID, []byte(intaketest.WAToken))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Store.ConnectIntegration(ctx, integration.Integration{OrgID: e.OrgID, Kind: integration.KindWhatsApp, ExternalID: numberID,
		DisplayPhoneNumber: display, WABAID: wabaID, SealedToken: sealed, ConnectedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	return e
}
