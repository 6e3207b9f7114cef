package leadimport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/lead"
)

// Enqueue puts a chunk's message on the imports queue.
type Enqueue func(ctx context.Context, body string) error

// Submitter starts imports: it checks the file, stores the import and
// queues its chunks.
type Submitter struct {
	Store   Store
	Enqueue Enqueue
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FileKey is the key of a file with its mapping: the SHA-256 of the
// file's bytes, then of each mapping entry in column order.
func FileKey(file string, mapping map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s", len(file), file)
	for _, k := range slices.Sorted(maps.Keys(mapping)) {
		fmt.Fprintf(h, "\x00%q=%q", k, mapping[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Submit starts the import of file as the actor, with mapping (nil: the
// header names the fields). A header or mapping that cannot be used, a file
// that is not CSV or has more than MaxRows rows, is a *lead.RowError (Row 1
// for the header) and nothing is stored. The same file with the same
// mapping submitted again returns the import it started, existing true.
func (s *Submitter) Submit(ctx context.Context, a lead.Actor, file string, mapping map[string]string) (imp Import, existing bool, err error) {
	rows, bad, err := lead.ParseImportMapped(file, mapping, MaxRows)
	if err != nil {
		return Import{}, false, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now().UTC().Truncate(time.Millisecond)
	chunks := split(rows, bad)
	imp = Import{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: a.User.OrgID, ActorID: a.User.ID,
		Key: FileKey(file, mapping), Mapping: mapping, Status: StatusRunning, Rows: len(rows) + len(bad), Chunks: len(chunks),
		CreatedAt: at, UpdatedAt: at}
	if len(chunks) == 0 {
		imp.Status, imp.FinishedAt = StatusDone, at
	}
	prior, err := s.Store.CreateImport(ctx, imp)
	if err != nil {
		return Import{}, false, fmt.Errorf("store import: %w", err)
	}
	if prior != "" {
		got, err := s.Store.GetImport(ctx, imp.OrgID, prior)
		if err != nil {
			return Import{}, false, fmt.Errorf("read import %s: %w", prior, err)
		}
		if got.Status == StatusRunning && !got.Queued {
			// Its first submission failed or stopped before queueing every
			// chunk: they are queued again, made as the first time (same
			// import, same rows, same chunks). A chunk applied already
			// writes nothing twice and is counted once.
			if err := s.enqueue(ctx, a, got, chunks); err != nil {
				return Import{}, false, err
			}
		}
		return got, true, nil
	}
	// A chunk that cannot be queued fails the request; the import stays
	// running and the same file submitted again queues its chunks again.
	if len(chunks) > 0 {
		if err := s.enqueue(ctx, a, imp, chunks); err != nil {
			return Import{}, false, err
		}
	}
	return imp, false, nil
}

// enqueue queues the chunks of imp as the actor's, then marks it queued.
func (s *Submitter) enqueue(ctx context.Context, a lead.Actor, imp Import, chunks []Chunk) error {
	for i, c := range chunks {
		c.V, c.OrgID, c.ImportID, c.CreatedAt, c.Index, c.Count = 1, imp.OrgID, imp.ID, imp.CreatedAt, i, len(chunks)
		c.ActorID, c.Role, c.Region = a.User.ID, string(a.User.Role), a.Region
		if err := s.Enqueue(ctx, c.Encode()); err != nil {
			return fmt.Errorf("queue chunk %d of import %s: %w", i, imp.ID, err)
		}
	}
	if err := s.Store.MarkImportQueued(ctx, imp.OrgID, imp.ID); err != nil {
		return fmt.Errorf("chunks of import %s queued: %w", imp.ID, err)
	}
	return nil
}
