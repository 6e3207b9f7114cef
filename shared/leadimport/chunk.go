package leadimport

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
)

// Chunk sizes: SQS takes a message of 256 KB at most; a chunk stays well
// under it, and a single row longer than MaxRowBytes is rejected when the
// file is submitted.
const (
	MaxChunkBytes = 192 << 10
	MaxChunkRows  = 500
	MaxRowBytes   = 32 << 10
)

// Chunk is one message of the imports queue: rows of one import, in file
// order, with the rows the submission already rejected.
type Chunk struct {
	V        int    `json:"v"`
	OrgID    string `json:"org_id"`
	ImportID string `json:"import_id"`
	// CreatedAt is the import's time (the time of the ids derived from
	// its rows).
	CreatedAt time.Time `json:"created_at"`
	// Index numbers the chunk from 0 among Count.
	Index int `json:"index"`
	Count int `json:"count"`
	// First and Last are the chunk's row numbers (the file's lines).
	First int `json:"first"`
	Last  int `json:"last"`
	// The actor who submitted the file, as its role and region were then.
	ActorID string `json:"actor_id"`
	Role    string `json:"role"`
	Region  string `json:"region,omitempty"`
	Rows    []Row  `json:"rows,omitempty"`
	// Rejects are rows that could not be read (their outcome only).
	Rejects []RowOutcome `json:"rejects,omitempty"`
}

// Row is one row to import.
type Row struct {
	Row          int               `json:"row"`
	Name         string            `json:"name,omitempty"`
	Phone        string            `json:"phone,omitempty"`
	Email        string            `json:"email,omitempty"`
	Status       string            `json:"status,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Source       string            `json:"source,omitempty"`
	CustomFields map[string]string `json:"custom_fields,omitempty"`
	OptIns       []string          `json:"opt_ins,omitempty"`
	Evidence     string            `json:"evidence,omitempty"`
}

func rowOf(r lead.ImportRow) Row {
	l := r.Lead
	return Row{Row: r.Row, Name: l.Name, Phone: l.Phone, Email: l.Email, Status: string(l.Status), Tags: l.Tags, Source: l.Source,
		CustomFields: l.CustomFields, OptIns: r.OptIns, Evidence: r.Evidence}
}

// Lead is the lead the row describes.
func (r Row) Lead() lead.Lead {
	return lead.Lead{Name: r.Name, Phone: r.Phone, Email: r.Email, Status: lead.Status(r.Status), Tags: r.Tags, Source: r.Source,
		CustomFields: r.CustomFields}
}

// Actor is who the chunk's rows are written as.
func (c Chunk) Actor() lead.Actor {
	return lead.Actor{User: account.User{ID: c.ActorID, OrgID: c.OrgID, Role: account.Role(c.Role), Active: true}, Region: c.Region}
}

// Encode is the message body.
func (c Chunk) Encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain strings, numbers and maps
	}
	return string(b)
}

// DecodeChunk reads a message body.
func DecodeChunk(body string) (Chunk, error) {
	var c Chunk
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		return Chunk{}, fmt.Errorf("decode import chunk: %w", err)
	}
	if c.V != 1 || c.OrgID == "" || c.ImportID == "" || c.First > c.Last {
		return Chunk{}, fmt.Errorf("import chunk of version %d for %q: not one this worker reads", c.V, c.ImportID)
	}
	return c, nil
}

// split cuts a parsed file into chunks (without their import fields): rows
// in order, at most MaxChunkRows and MaxChunkBytes each; a row over
// MaxRowBytes becomes a rejection.
func split(rows []lead.ImportRow, bad []lead.RowError) []Chunk {
	type item struct {
		row    int
		r      *Row
		reject *RowOutcome
		size   int
	}
	items := make([]item, 0, len(rows)+len(bad))
	for _, r := range rows {
		row := rowOf(r)
		b, _ := json.Marshal(row)
		if len(b) > MaxRowBytes {
			items = append(items, item{row: r.Row, reject: &RowOutcome{Row: r.Row, Outcome: Rejected, Reason: ReasonTooLarge, Field: "row"}, size: 64})
			continue
		}
		items = append(items, item{row: r.Row, r: &row, size: len(b) + 1})
	}
	for _, b := range bad {
		items = append(items, item{row: b.Row, reject: &RowOutcome{Row: b.Row, Outcome: Rejected, Reason: ReasonInvalid, Field: b.Field}, size: 64})
	}
	slices.SortFunc(items, func(a, b item) int { return a.row - b.row })
	var out []Chunk
	var cur *Chunk
	size, n := 0, 0
	for _, it := range items {
		if cur == nil || n == MaxChunkRows || size+it.size > MaxChunkBytes {
			out = append(out, Chunk{First: it.row})
			cur = &out[len(out)-1]
			size, n = 0, 0
		}
		if it.r != nil {
			cur.Rows = append(cur.Rows, *it.r)
		} else {
			cur.Rejects = append(cur.Rejects, *it.reject)
		}
		cur.Last = it.row
		size += it.size
		n++
	}
	return out
}
