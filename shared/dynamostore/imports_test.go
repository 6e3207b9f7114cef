package dynamostore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/leadimport"
)

// The same file submitted several times at once starts one import: every
// other submission is answered with that import's id, none with an error.
func TestCreateImportSameFileAtOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	org, now := "org-"+ulid.Make().String(), time.Now().UTC().Truncate(time.Millisecond)
	const n = 8
	ids, priors, errs := make([]string, n), make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = ulid.Make().String()
		wg.Go(func() {
			imp := leadimport.Import{ID: ids[i], OrgID: org, ActorID: "u1", Key: "same-file", Status: leadimport.StatusRunning,
				Rows: 1, Chunks: 1, CreatedAt: now, UpdatedAt: now}
			priors[i], errs[i] = s.CreateImport(ctx, imp)
		})
	}
	wg.Wait()
	var started []string
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		if priors[i] == "" {
			started = append(started, ids[i])
		}
	}
	if len(started) != 1 {
		t.Fatalf("%d submissions started an import (%v), want 1", len(started), started)
	}
	for i := range n {
		if priors[i] != "" && priors[i] != started[0] {
			t.Errorf("submission %d answered import %s, want %s", i, priors[i], started[0])
		}
	}
}

// A submission whose transaction another submission of the same file
// cancelled (a transaction conflict, as DynamoDB answers two writers of one
// key at the same moment) is tried again and finds the other's import; it
// never answers an error.
func TestCreateImportAfterConflict(t *testing.T) {
	var conflicts atomic.Int32
	s, _ := newStoreWith(t, func(op string) error {
		if op == "TransactWriteItems" && conflicts.Load() > 0 {
			conflicts.Add(-1)
			code, none := "TransactionConflict", "None"
			return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"),
				CancellationReasons: []types.CancellationReason{{Code: &code}, {Code: &none}}}
		}
		return nil
	})
	ctx := context.Background()
	org, now := "org-"+ulid.Make().String(), time.Now().UTC().Truncate(time.Millisecond)
	first := leadimport.Import{ID: ulid.Make().String(), OrgID: org, ActorID: "u1", Key: "same-file", Status: leadimport.StatusRunning,
		Rows: 1, Chunks: 1, CreatedAt: now, UpdatedAt: now}
	if prior, err := s.CreateImport(ctx, first); err != nil || prior != "" {
		t.Fatalf("first submission: %q %v", prior, err)
	}
	second := first
	second.ID = ulid.Make().String()
	conflicts.Store(1)
	prior, err := s.CreateImport(ctx, second)
	if err != nil || prior != first.ID {
		t.Fatalf("second submission after a conflict: %q %v, want %q and no error", prior, err, first.ID)
	}
}
