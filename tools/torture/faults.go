package torture

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/leadluence/backend/shared/awsenv"
)

// Fault kinds injected at the SDK layer.
const (
	// KindThrottle is a DynamoDB ThrottlingException on one attempt of a
	// call; the SDK's retryer sees it and may retry.
	KindThrottle = "dynamodb throttle (per attempt, SDK retries)"
	// KindDynamo5xx is a DynamoDB 500 the caller sees: nothing was written.
	KindDynamo5xx = "dynamodb 5xx before the call"
	// KindDynamoLost is a DynamoDB write that was applied but whose answer
	// was lost: the caller sees a 500.
	KindDynamoLost = "dynamodb write applied, answer lost"
	// KindSQSSend is an SQS SendMessage answered 500 (nothing queued).
	KindSQSSend = "sqs SendMessage 5xx"
)

// Rates are the probabilities of each SDK fault per call (per attempt for
// throttles). Zero turns a kind off.
type Rates struct {
	Throttle, Dynamo5xx, DynamoLost, SQSSend float64
}

// Faults injects SDK-level faults into the AWS clients of the functions it
// is given to (Option), with a seeded generator, and counts them by kind.
// It injects nothing until Enable, so that cold starts (secret decryption,
// clients) succeed as they do in production.
type Faults struct {
	rates Rates
	on    atomic.Bool

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
}

// NewFaults returns an injector drawing from a generator seeded with seed.
func NewFaults(seed uint64, r Rates) *Faults {
	return &Faults{rates: r, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), counts: map[string]int{}} //nolint:gosec // a test's fault schedule
}

// Enable starts (or, false, stops) injecting.
func (f *Faults) Enable(on bool) { f.on.Store(on) }

// Counts returns how many faults of each kind were injected (function name
// first: "ingest: dynamodb 5xx before the call").
func (f *Faults) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.counts)
}

// Total is the number of faults injected.
func (f *Faults) Total() int {
	n := 0
	for _, c := range f.Counts() {
		n += c
	}
	return n
}

// Count records one fault injected elsewhere (the simulator, a handler).
func (f *Faults) Count(kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[kind]++
}

// draw reports whether a fault of probability p happens, and counts it.
func (f *Faults) draw(fn, kind string, p float64) bool {
	if p <= 0 || !f.on.Load() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= p {
		return false
	}
	f.counts[fn+": "+kind]++
	return true
}

// isWrite is whether a DynamoDB operation writes.
func isWrite(op string) bool {
	return slices.Contains([]string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}, op)
}

func serverError(kind string) error {
	return &smithy.GenericAPIError{Code: "InternalServerError", Message: "injected fault: " + kind, Fault: smithy.FaultServer}
}

// Option is the SDK option that makes function fn's clients subject to
// the faults; pass it to the function's app.New.
func (f *Faults) Option(fn string) awsenv.Option {
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
		// Outside the retry loop: what the caller sees.
		err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("TortureFaults", func(ctx context.Context, in middleware.InitializeInput,
			next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			svc, op := strings.ToLower(awsmiddleware.GetServiceID(ctx)), awsmiddleware.GetOperationName(ctx)
			switch {
			case svc == "dynamodb" && f.draw(fn, KindDynamo5xx, f.rates.Dynamo5xx):
				return middleware.InitializeOutput{}, middleware.Metadata{}, serverError(KindDynamo5xx)
			case svc == "sqs" && op == "SendMessage" && f.draw(fn, KindSQSSend, f.rates.SQSSend):
				return middleware.InitializeOutput{}, middleware.Metadata{}, serverError(KindSQSSend)
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil && svc == "dynamodb" && isWrite(op) && f.draw(fn, KindDynamoLost, f.rates.DynamoLost) {
				return middleware.InitializeOutput{}, md, serverError(KindDynamoLost)
			}
			return out, md, err //nolint:wrapcheck // a middleware passes the call's error through as is
		}), middleware.After)
		if err != nil {
			return fmt.Errorf("add fault middleware: %w", err)
		}
		// Inside the retry loop: one attempt throttled.
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("TortureThrottle", func(ctx context.Context, in middleware.FinalizeInput,
			next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if strings.ToLower(awsmiddleware.GetServiceID(ctx)) == "dynamodb" && f.draw(fn, KindThrottle, f.rates.Throttle) {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "ThrottlingException",
					Message: "injected fault: rate of requests exceeds the allowed throughput", Fault: smithy.FaultClient}
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
	}})
}
