package httpapi

import (
	"encoding/base64"
	"maps"
	"testing"

	"github.com/leadluence/backend/shared/page"
)

// FuzzCursorDecode feeds clients' cursors to Cursors.Decode: any string a
// client sends as ?cursor=, and any bytes behind a valid signature (what a
// leaked key would let through, so the decoder itself is fuzzed too). It
// must not panic; a cursor it accepts names a position, was sealed for
// that org and listing, and seals back to a cursor that opens to the same
// position.
// Run: go test -run '^$' -fuzz '^FuzzCursorDecode$' -fuzztime 20s ./shared/httpapi/
func FuzzCursorDecode(f *testing.F) {
	c := Cursors{key: []byte("cursor-fuzz-key-0123456789abcdef")}
	pos := page.NewCursor(map[string]string{"PK": "ORG#o1", "SK": "LEAD#01J"})
	good := c.Encode("o1", "leads", pos)
	for _, s := range []string{good, "", ".", "..", good + "x", "x" + good, good[:len(good)/2], "e30.AAAA", "null.", "%00"} {
		f.Add(s, []byte(`{"o":"o1","s":"leads","k":{"PK":"ORG#o1"}}`))
	}
	for _, p := range []string{`{}`, `null`, `{"o":"o1","s":"leads","k":null}`, `{"o":"o1","s":"leads","k":{}}`,
		`{"o":"o1","s":"leads","k":{"PK":1}}`, `{"o":"o1","s":"leads","k":[]}`, `{"o":"o1","s":"leads","k":{"a":"b"},"k":{}}`} {
		f.Add("", []byte(p))
	}
	f.Fuzz(func(t *testing.T, cursor string, payload []byte) {
		check := func(cursor string) {
			got, ok := c.Decode(cursor, "o1", "leads")
			if !ok {
				if !got.IsZero() {
					t.Fatalf("Decode(%q) refused it but returned %v", cursor, got.Fields())
				}
				return
			}
			if cursor == "" {
				if !got.IsZero() {
					t.Fatalf("Decode(\"\") = %v, want the first page", got.Fields())
				}
				return
			}
			if got.IsZero() {
				t.Fatalf("Decode(%q) accepted a cursor that names no position", cursor)
			}
			again, ok := c.Decode(c.Encode("o1", "leads", got), "o1", "leads")
			if !ok || !maps.Equal(again.Fields(), got.Fields()) {
				t.Fatalf("cursor %q opens to %v, which reseals to %v (%v)", cursor, got.Fields(), again.Fields(), ok)
			}
			if _, ok := c.Decode(cursor, "o2", "leads"); ok {
				t.Fatalf("cursor %q of org o1 opens for org o2", cursor)
			}
			if _, ok := c.Decode(cursor, "o1", "users"); ok {
				t.Fatalf("cursor %q of the leads listing opens for users", cursor)
			}
		}
		check(cursor)
		sealed := base64.RawURLEncoding.EncodeToString(payload)
		check(sealed + "." + base64.RawURLEncoding.EncodeToString(c.sign(sealed)))
	})
}
