package app

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// This file holds the JSON scanning the webhook does: finding the top-level
// "object" member (for routing, on every POST), reading the page or number
// of each change for the owner filter (owners.go) and, for bodies too large
// for one SQS message, cutting the JSON into smaller JSON texts along its
// arrays.
// Both work on byte offsets into the signed body, so every byte they hand on
// is a byte Meta sent.

// span is the byte range [start, end) of a JSON value.
type span struct{ start, end int }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts with the
// quote at b[i], or -1 when it does not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at b[i], or
// -1 when there is none or it does not end. It finds boundaries only and does
// not validate what lies inside a container; callers that need validity
// check it first (json.Valid).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		start := i
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

// members calls f with the raw key (quotes included) and the value span of
// each member of the object at b[i:], in order, until f returns false. It
// reports whether the object was well formed up to where it stopped.
func members(b []byte, i int, f func(key []byte, v span) bool) bool {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		keyEnd := skipString(b, i)
		if keyEnd < 0 {
			return false
		}
		key := b[i:keyEnd]
		i = skipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		vStart := skipSpace(b, i+1)
		vEnd := skipValue(b, vStart)
		if vEnd < 0 {
			return false
		}
		if !f(key, span{vStart, vEnd}) {
			return true
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return false
		}
	}
	return false
}

// elements returns the spans of the elements of the array that is b, which
// must be valid JSON.
func elements(b []byte) []span {
	var out []span
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for i < len(b) {
		end := skipValue(b, i)
		if end < 0 {
			return out
		}
		out = append(out, span{i, end})
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ',' {
			return out
		}
		i = skipSpace(b, i+1)
	}
	return out
}

// topLevelString returns the string value of the member named key of the
// JSON object in b, looking no deeper than the top level and no further than
// that member: Meta puts "object" first, so this reads a few bytes of the
// body. ok is false when b is not an object (as far as it was read) or has
// no such string member.
func topLevelString(b []byte, key string) (value string, ok bool) {
	members(b, 0, func(k []byte, v span) bool {
		if !keyIs(k, key) {
			return true
		}
		if b[v.start] == '"' {
			// Without escapes and with valid UTF-8 the bytes are the
			// string; otherwise encoding/json reads it (escapes, and
			// U+FFFD for each invalid byte), so the result is always
			// what encoding/json would give.
			raw := b[v.start+1 : v.end-1]
			if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
				value, ok = string(raw), true
			} else if json.Unmarshal(b[v.start:v.end], &value) == nil {
				ok = true
			}
		}
		return false
	})
	return value, ok
}

// keyIs reports whether the raw key (with its quotes) is name.
func keyIs(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == name
}

// splitJSON cuts the valid JSON text v into JSON texts of at most budget
// bytes each, or reports false when it cannot. A value that fits is kept
// whole. An array is cut between elements, packing as many consecutive
// elements as fit into each piece; an element too large on its own is cut
// in turn, each of its pieces becoming a one-element array. An object is cut
// along its largest array- or object-valued member, and every piece keeps
// the object's other members, byte for byte.
//
// For a Meta webhook {"object":..,"entry":[..]} this yields pieces of the
// same shape, each holding a run of whole entries; an entry too large on its
// own is cut along its "changes", and a change too large on its own along
// the largest array in its value (a WhatsApp "messages" or "statuses"), its
// "metadata" and "contacts" going with every piece. Every element at the
// level cut appears in exactly one piece, unaltered; the members around it
// appear in every piece.
func splitJSON(v []byte, budget int) ([][]byte, bool) {
	start := skipSpace(v, 0)
	end := len(v)
	for end > start && isSpace(v[end-1]) {
		end--
	}
	v = v[start:end]
	if len(v) <= budget {
		return [][]byte{v}, true
	}
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '[':
		return splitArray(v, budget)
	case '{':
		return splitObject(v, budget)
	}
	return nil, false
}

func splitObject(v []byte, budget int) ([][]byte, bool) {
	best := span{-1, -1}
	members(v, 0, func(_ []byte, m span) bool {
		if c := v[m.start]; (c == '[' || c == '{') && m.end-m.start > best.end-best.start {
			best = m
		}
		return true
	})
	if best.start < 0 {
		return nil, false
	}
	prefix, suffix := v[:best.start], v[best.end:]
	pieces, ok := splitJSON(v[best.start:best.end], budget-len(prefix)-len(suffix))
	if !ok {
		return nil, false
	}
	out := make([][]byte, len(pieces))
	for i, p := range pieces {
		out[i] = concat(prefix, p, suffix)
	}
	return out, true
}

func splitArray(v []byte, budget int) ([][]byte, bool) {
	if budget < len("[]") {
		return nil, false
	}
	elems := elements(v)
	if len(elems) == 0 {
		// An empty array longer than the budget (spaces inside) is one
		// piece, "[]": no piece at all would lose the members around it.
		return [][]byte{[]byte("[]")}, true
	}
	var out [][]byte
	var group []byte // the current piece, without its closing bracket
	flush := func() {
		if group != nil {
			out = append(out, append(group, ']'))
			group = nil
		}
	}
	for _, e := range elems {
		elem := v[e.start:e.end]
		if len(elem)+2 > budget {
			flush()
			pieces, ok := splitJSON(elem, budget-2)
			if !ok {
				return nil, false
			}
			for _, p := range pieces {
				out = append(out, concat([]byte("["), p, []byte("]")))
			}
			continue
		}
		if group != nil && len(group)+1+len(elem)+1 > budget {
			flush()
		}
		if group == nil {
			group = make([]byte, 0, budget)
			group = append(group, '[')
		} else {
			group = append(group, ',')
		}
		group = append(group, elem...)
	}
	flush()
	return out, true
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
