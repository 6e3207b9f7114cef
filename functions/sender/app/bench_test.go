package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/sendgate"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// BenchmarkSendThroughput measures the sends per second one handler
// sustains against the simulator: batches of 10 text replies to distinct
// recipients (so pair pacing does not wait), with the number limit far above
// what one instance reaches. Setup (leads, queued messages) is not timed.
//
//	go run ./tools/withstack -- go test -run '^$' -bench SendThroughput -benchtime 500x ./functions/sender/app
func BenchmarkSendThroughput(b *testing.B) {
	e := build(b, devstacktest.Fresh(b), options{tweak: func(s *outbound.Sender) { s.NumberRate = 100000 }})
	recent := time.Now().Add(-time.Hour)
	batches := make([][]events.SQSMessage, 0, b.N/10+1)
	var batch []events.SQSMessage
	for i := range b.N {
		m := e.queueText(e.newLead(recent, nil), "Hello")
		job := sendgate.Job{OrgID: m.OrgID, LeadID: m.LeadID, MessageID: m.ID}
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
