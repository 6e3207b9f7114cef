// Package page holds the position a paged listing resumes from. The store
// builds positions and reads them back; everything in between (the API's
// sealed cursors, a campaign's next page) carries them unopened.
package page

import (
	"encoding/json"
	"fmt"
	"maps"
)

// Cursor is an opaque listing position: the store's key of the item a
// listing resumes after, as named strings. The zero Cursor is the start of
// a listing or, returned with a page, its end.
type Cursor struct{ fields map[string]string }

// NewCursor returns the cursor of a store position; no fields make the zero
// Cursor.
func NewCursor(fields map[string]string) Cursor {
	if len(fields) == 0 {
		return Cursor{}
	}
	return Cursor{fields: maps.Clone(fields)}
}

// Fields returns a copy of the position's fields, nil for the zero Cursor.
func (c Cursor) Fields() map[string]string { return maps.Clone(c.fields) }

// IsZero reports whether c names no position.
func (c Cursor) IsZero() bool { return len(c.fields) == 0 }

// MarshalJSON writes the position as a JSON object of strings (null for the
// zero Cursor).
func (c Cursor) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.fields)
	if err != nil {
		return nil, fmt.Errorf("encode cursor: %w", err)
	}
	return b, nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *Cursor) UnmarshalJSON(b []byte) error {
	var fields map[string]string
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("decode cursor: %w", err)
	}
	*c = NewCursor(fields)
	return nil
}
