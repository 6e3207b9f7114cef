package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
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

// A submission whose chunks could not all be queued fails and leaves its
// import running; the same file submitted again answers that import and
// queues every chunk again, made as the first time.
func TestImportSubmittedAgainAfterAFailedQueue(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	org := "org-" + ulid.Make().String()
	a := lead.Actor{User: account.User{ID: "u1", OrgID: org, Role: account.RoleManager, Active: true}, Region: "IN"}
	var b strings.Builder
	b.WriteString("name,phone\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "Lead %d,+9198555%05d\n", i, i)
	}
	var queued []leadimport.Chunk
	failAt := 1
	sub := &leadimport.Submitter{Store: s, Enqueue: func(_ context.Context, body string) error {
		c, err := leadimport.DecodeChunk(body)
		if err != nil {
			return err
		}
		if c.Index == failAt {
			return errors.New("queue unavailable")
		}
		queued = append(queued, c)
		return nil
	}}
	if _, _, err := sub.Submit(ctx, a, b.String(), nil); err == nil {
		t.Fatal("a submission whose chunk was not queued reported no error")
	}
	first := queued
	if len(first) != 1 {
		t.Fatalf("%d chunks queued before the failure, want 1", len(first))
	}
	queued, failAt = nil, -1
	imp, existing, err := sub.Submit(ctx, a, b.String(), nil)
	if err != nil || !existing || imp.ID != first[0].ImportID || imp.Status != leadimport.StatusRunning {
		t.Fatalf("submitted again: %+v existing %v, %v; want import %s running", imp, existing, err, first[0].ImportID)
	}
	if len(queued) != imp.Chunks || imp.Chunks < 2 {
		t.Fatalf("%d chunks queued again, want all %d", len(queued), imp.Chunks)
	}
	for i, c := range queued {
		if c.ImportID != imp.ID || c.Index != i || !c.CreatedAt.Equal(first[0].CreatedAt) {
			t.Fatalf("chunk %d queued again as %s/%d at %v, want %s/%d at %v", i, c.ImportID, c.Index, c.CreatedAt, imp.ID, i, first[0].CreatedAt)
		}
	}
	if diff := cmp.Diff(first[0].Rows, queued[0].Rows); diff != "" {
		t.Fatalf("the first chunk's rows differ the second time (-first +again):\n%s", diff)
	}
}
