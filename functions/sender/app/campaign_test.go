package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/functions/sender/app"
	"github.com/leadluence/backend/shared/sendgate"
)

// pages records the campaign pages it is asked to process.
type pages struct {
	mu    sync.Mutex
	steps []string
	err   error
}

func (p *pages) Step(_ context.Context, orgID, campaignID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, orgID+"/"+campaignID)
	return p.err
}

func pageRecord(id string, j sendgate.Job) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: j.Encode(), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func TestCampaignPageJobs(t *testing.T) {
	e := newEnv(t, options{})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	// The api's enqueue carries a page job as (org, "", CampaignPageRef).
	bridged := sendgate.Job{OrgID: "o1", MessageID: sendgate.CampaignPageRef("c1")}.Encode()
	if want := `{"kind":"campaign_page","org_id":"o1","campaign_id":"c1"}`; bridged != want {
		t.Fatalf("bridged page job %s, want %s", bridged, want)
	}
	if j, err := sendgate.DecodeJob(bridged); err != nil || j.Kind != sendgate.KindCampaignPage || j.CampaignID != "c1" {
		t.Fatalf("decode page job: %+v %v", j, err)
	}
	for _, bad := range []string{`{"kind":"campaign_page","org_id":"o1"}`, `{"kind":"other","org_id":"o1","campaign_id":"c1"}`} {
		if _, err := sendgate.DecodeJob(bad); !errors.Is(err, sendgate.ErrBadJob) {
			t.Fatalf("DecodeJob(%s) = %v, want ErrBadJob", bad, err)
		}
	}

	t.Run("one step per job, copies once", func(t *testing.T) {
		p := &pages{}
		h := app.NewHandler(e.sender, e.sqs, e.queueURL, log, app.WithCampaignPages(p))
		j := sendgate.CampaignPageJob("o1", "c1")
		resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
			pageRecord("a", j), pageRecord("b", j), pageRecord("c", sendgate.CampaignPageJob("o1", "c2"))}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v, err %v", resp.BatchItemFailures, err)
		}
		if len(p.steps) != 2 {
			t.Fatalf("steps %v, want o1/c1 and o1/c2 once each", p.steps)
		}
	})

	t.Run("a failed step is retried", func(t *testing.T) {
		p := &pages{err: errors.New("table unavailable")}
		h := app.NewHandler(e.sender, e.sqs, e.queueURL, log, app.WithCampaignPages(p))
		resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{pageRecord("a", sendgate.CampaignPageJob("o1", "c1"))}})
		if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "a" {
			t.Fatalf("failures %v, err %v", resp.BatchItemFailures, err)
		}
	})

	t.Run("without a processor the job comes back", func(t *testing.T) {
		h := app.NewHandler(e.sender, e.sqs, e.queueURL, log)
		resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{pageRecord("a", sendgate.CampaignPageJob("o1", "c1"))}})
		if err != nil || len(resp.BatchItemFailures) != 1 {
			t.Fatalf("failures %v, err %v", resp.BatchItemFailures, err)
		}
	})
}
