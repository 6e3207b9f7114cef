// Package leadimport runs lead CSV imports as jobs: a file of up to
// MaxRows rows is checked (its header and the column mapping) when it is
// submitted, then its rows travel in chunks over the imports queue to a
// worker, which creates each row's lead, merges the row into the lead that
// already has its phone or email (filling only empty fields, adding tags),
// or rejects it with a reason code. Every row is written once whatever
// the redeliveries: a lead created from a row has an id derived from the
// import and the row, each row's outcome is a conditional item, and a
// chunk's counts are added to the import in one conditional update.
package leadimport

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/oklog/ulid/v2"
)

// Limits and timings of an import.
const (
	// MaxRows bounds the data rows of one file.
	MaxRows = 10000
	// MaxFileBytes bounds one file (it travels to the api Lambda, 6 MB a
	// request at most, in a JSON string or as text/csv).
	MaxFileBytes = 4 << 20
	// MaxRejections is how many rejected rows an import shows (the first,
	// by row); the count covers them all.
	MaxRejections = 1000
	// Keep is how long an import, its rows' outcomes and its file key are
	// kept (their ttl).
	Keep = 30 * 24 * time.Hour
	// SourceImport is the source of a created lead whose row names none.
	SourceImport = "import"
)

// Status is where an import is.
type Status string

// The statuses.
const (
	// StatusRunning: chunks are queued or being worked on.
	StatusRunning Status = "running"
	// StatusDone: every chunk is counted.
	StatusDone Status = "done"
)

// Outcome is what became of one row.
type Outcome string

// The outcomes.
const (
	Created  Outcome = "created"
	Merged   Outcome = "merged"
	Rejected Outcome = "rejected"
)

// Reason codes of rejected rows. They name what was wrong, never a
// value of the row.
const (
	// ReasonInvalid: a field of the row is not valid (Field names it).
	ReasonInvalid = "invalid"
	// ReasonPlanLimit: the org's plan allows no more leads this month.
	ReasonPlanLimit = "plan_limit"
	// ReasonConflict: the row's phone and email belong to two other leads,
	// or another lead holds the value of one of its unique fields.
	ReasonConflict = "conflict"
	// ReasonTooLarge: the row is too long to queue.
	ReasonTooLarge = "too_large"
)

// Import is one submitted file.
type Import struct {
	ID      string
	OrgID   string
	ActorID string
	// Key is the SHA-256 (hex) of the file's bytes and its mapping: the
	// same file submitted again finds this import.
	Key string
	// Mapping is the column mapping (file column -> field); nil: the
	// header names the fields.
	Mapping    map[string]string
	Status     Status
	Rows       int
	Chunks     int
	ChunksDone int
	// Queued reports that every chunk went on the queue; an import
	// running without it is completed by the same file submitted again.
	Queued     bool
	Created    int
	Merged     int
	Rejected   int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// Processed is the rows counted so far.
func (i Import) Processed() int { return i.Created + i.Merged + i.Rejected }

// RowOutcome is the outcome of one row: no personal data, only the row
// number, the outcome and, for a rejected row, the reason code and the
// field (a column of the lead, such as phone or cf.budget).
type RowOutcome struct {
	Row     int
	Outcome Outcome
	Reason  string
	Field   string
}

// Tally counts outcomes.
type Tally struct {
	Created, Merged, Rejected int
}

// Add counts o.
func (t *Tally) Add(o Outcome) {
	switch o {
	case Created:
		t.Created++
	case Merged:
		t.Merged++
	case Rejected:
		t.Rejected++
	}
}

// ErrNotFound means no such import in the org.
var ErrNotFound = errors.New("import not found")

// Store keeps imports (dynamostore.Store).
type Store interface {
	// CreateImport stores a new import and its key, unless an import of
	// the org already has that key: then it stores nothing and returns
	// the existing import's id.
	CreateImport(ctx context.Context, imp Import) (existingID string, err error)
	// GetImport reads an import (ErrNotFound).
	GetImport(ctx context.Context, orgID, id string) (Import, error)
	// ListImports returns the org's latest imports, newest first.
	ListImports(ctx context.Context, orgID string, limit int) ([]Import, error)
	// MarkImportQueued records that every chunk of an import is on the
	// queue.
	MarkImportQueued(ctx context.Context, orgID, id string) error
	// RowOutcomes returns the outcomes stored for rows first..last.
	RowOutcomes(ctx context.Context, orgID, importID string, first, last int) (map[int]RowOutcome, error)
	// PutRowOutcome stores a row's outcome unless the row has one: it
	// returns the stored one.
	PutRowOutcome(ctx context.Context, orgID, importID string, o RowOutcome, expires time.Time) (RowOutcome, error)
	// CompleteChunk adds a chunk's counts to its import, once per chunk
	// (atomic counters); it returns the import after, and whether this
	// call added them.
	CompleteChunk(ctx context.Context, orgID, importID string, chunk int, t Tally, at time.Time) (Import, bool, error)
	// FinishImport marks a running import done.
	FinishImport(ctx context.Context, orgID, importID string, at time.Time) error
	// Rejections returns the first rejected rows of an import, by row, at
	// most limit.
	Rejections(ctx context.Context, orgID, importID string, limit int) ([]RowOutcome, error)
}

// keyedID is a ULID for something written once per import row (the lead a
// row creates, its opt-ins): the import's time, and entropy from the
// import, the row and what it is.
func keyedID(importID string, at time.Time, row int, what string) string {
	h := sha256.New()
	h.Write([]byte(importID))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(row)) //nolint:gosec // row numbers are positive
	h.Write(b[:])
	h.Write([]byte(what))
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(at)); err != nil {
		panic(err) // a time after 10889 AD
	}
	if err := id.SetEntropy(h.Sum(nil)[:10]); err != nil {
		panic(err)
	}
	return id.String()
}
