package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// flexString decodes a JSON string, or an integer literal kept verbatim (Meta
// has sent object ids both ways; a 16-digit id must not pass through float64),
// or null as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode string: %w", err)
		}
		*f = flexString(s)
		return nil
	case bytes.Equal(b, []byte("null")):
		*f = ""
		return nil
	case isIntLiteral(b):
		*f = flexString(b)
		return nil
	default:
		return errors.New("want a string or an integer")
	}
}

// flexInt decodes a JSON integer, or a string holding one, or null as 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode string: %w", err)
		}
		if s == "" {
			*f = 0
			return nil
		}
		b = []byte(s)
	}
	if !isIntLiteral(b) {
		return errors.New("want an integer")
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("decode integer: %w", err)
	}
	*f = flexInt(n)
	return nil
}

// isIntLiteral reports whether b is an optional '-' followed by 1 to 20 digits.
func isIntLiteral(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
