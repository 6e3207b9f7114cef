package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	importer "github.com/leadluence/backend/functions/importer/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/config"
	logs "github.com/leadluence/backend/shared/logging"
)

// The import figure: a file of crmImportRows rows submitted through the
// api (one metered request, the last of crmOperations), then its chunks
// taken off the imports queue and applied by the importer's handler built
// in-process with the same capacity meter, crmImportParallel chunks at a
// time (Lambda would run one instance per chunk; this machine has two
// cores, shared with DynamoDB Local).

// crmImportRows is the size of the imported file.
const crmImportRows = 10000

// crmImportParallel is how many chunks are applied at once.
const crmImportParallel = 2

// crmImportFile is a file of n rows: a name, a distinct phone and email.
func crmImportFile(n int) string {
	var b strings.Builder
	b.WriteString("Full Name,Mobile,Email\n")
	for i := range n {
		fmt.Fprintf(&b, "Import Lead %d,+9198300%05d,import.lead.%d@example.com\n", i, i, i)
	}
	return b.String()
}

// crmImportOp submits the file; its answer (the import's id) is what
// drainImport applies.
func crmImportOp() crmOp {
	return crmOp{Name: fmt.Sprintf("submit an import of %d rows", crmImportRows),
		Note: "`{csv, mapping}` of 3 mapped columns: the file checked, split into chunks and queued (the rows are applied below)",
		prepare: func(context.Context, *crmEnv) (crmRequest, error) {
			return crmRequest{Method: "POST", Path: "/v1/imports", Route: "POST /v1/imports", Want: http.StatusAccepted,
				Body: map[string]any{"csv": crmImportFile(crmImportRows),
					"mapping": map[string]string{"Full Name": "name", "Mobile": "phone", "Email": "email"}}}, nil
		}}
}

// crmImportResult is what applying the import's rows cost.
type crmImportResult struct {
	Rows, Chunks              int
	Created, Merged, Rejected int
	Took                      time.Duration
	Tot                       capacityTotals
}

// drainImport applies the chunks of import id with the importer's
// handler until the api answers that the import is done, and meters it.
func drainImport(ctx context.Context, c *crmEnv, awsCfg aws.Config, res topology.Resolved, id string) (*crmImportResult, error) {
	st := topology.Default()
	fn, ok := st.Function("importer")
	if !ok {
		return nil, fmt.Errorf("no function %q in infra/topology", "importer")
	}
	for k, v := range topology.ResourceEnv(fn, res) {
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	cfg, err := config.Load[config.Importer]()
	if err != nil {
		return nil, err
	}
	h, err := importer.New(ctx, cfg, logs.New(io.Discard, slog.LevelError), c.meter.options())
	if err != nil {
		return nil, fmt.Errorf("importer.New: %w", err)
	}
	q, url := sqs.NewFromConfig(awsCfg), res.QueueURLs[topology.QueueImports]
	c.meter.take()
	begin := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failure error
	)
	work := make(chan events.SQSMessage)
	for range crmImportParallel {
		wg.Go(func() {
			for m := range work {
				resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{m}})
				if err == nil && len(resp.BatchItemFailures) > 0 {
					err = fmt.Errorf("chunk %s failed", m.MessageId)
				}
				if err == nil {
					_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String(m.ReceiptHandle)})
				}
				if err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
				}
			}
		})
	}
	r := &crmImportResult{}
	for empty := 0; empty < 5; {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600})
		if err != nil {
			close(work)
			wg.Wait()
			return nil, fmt.Errorf("receive import chunks: %w", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range out.Messages {
			r.Chunks++
			work <- events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), EventSource: "aws:sqs"}
		}
	}
	close(work)
	wg.Wait()
	r.Took = time.Since(begin) - 5*time.Second // the five empty one-second polls that ended it
	r.Tot = sumCapacity(c.meter.take())
	if failure != nil {
		return nil, failure
	}
	got, err := c.do(ctx, crmRequest{Method: "GET", Path: "/v1/imports/" + id, Route: "GET /v1/imports/{id}",
		Params: map[string]string{"id": id}, Want: http.StatusOK})
	if err != nil {
		return nil, err
	}
	if got["status"] != "done" {
		return nil, fmt.Errorf("import %s is %v after its %d chunks, want done", id, got["status"], r.Chunks)
	}
	num := func(k string) int { v, _ := got[k].(float64); return int(v) }
	r.Rows, r.Created, r.Merged, r.Rejected = crmImportRows, num("created"), num("merged"), num("rejected")
	if r.Created+r.Merged+r.Rejected != crmImportRows {
		return nil, fmt.Errorf("import %s counted %d created, %d merged, %d rejected: want %d rows", id, r.Created, r.Merged, r.Rejected, crmImportRows)
	}
	return r, nil
}

// markdown is the import figure's rows under the CRM table.
func (r *crmImportResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	secs := r.Took.Seconds()
	w("\n**Applying the import's rows** (the importer's handler, %d chunks, %d at a time): %d rows (%d created, %d merged, %d rejected) in %.1f s, ",
		r.Chunks, crmImportParallel, r.Rows, r.Created, r.Merged, r.Rejected, secs)
	w("**%.0f rows/s** on this machine; %d DynamoDB calls (%.1f a row), **%.1f WCU** (AWS rules) and **%.1f RCU** a row.\n",
		float64(r.Rows)/secs, r.Tot.WriteCalls+r.Tot.ReadCalls, float64(r.Tot.WriteCalls+r.Tot.ReadCalls)/float64(r.Rows),
		r.Tot.Estimated/float64(r.Rows), r.Tot.ReadUnits/float64(r.Rows))
	return b.String()
}
