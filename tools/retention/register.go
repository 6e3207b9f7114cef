package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/page"
)

// ttlPage is how many items one page of the ttl backfill reads.
const ttlPage = 500

// register runs the one-off migrations of the data lifecycle: it files
// orgs, messages and owners (Store.FileForRetention), then gives time-bound
// items written without a ttl the one they would get today
// (Store.BackfillTTL), page by page, and files leads written before
// pipelines in the board index (Store.BackfillBoard).
func register(ctx context.Context, store *dynamostore.Store, w io.Writer) error {
	f, err := store.FileForRetention(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "filed for retention: %d orgs, %d messages, %d owners\n", f.Orgs, f.Messages, f.Owners)
	now := time.Now().UTC()
	ttls := 0
	for cur := (page.Cursor{}); ; {
		n, next, err := store.BackfillTTL(ctx, now, ttlPage, cur)
		if err != nil {
			return err
		}
		ttls += n
		if next.IsZero() {
			break
		}
		cur = next
	}
	fmt.Fprintf(w, "ttl given to %d items written without one\n", ttls)
	filed := 0
	for cur := (page.Cursor{}); ; {
		n, next, err := store.BackfillBoard(ctx, ttlPage, cur)
		if err != nil {
			return err
		}
		filed += n
		if next.IsZero() {
			break
		}
		cur = next
	}
	fmt.Fprintf(w, "board: %d leads written before pipelines filed in their stage's column\n", filed)
	return nil
}
