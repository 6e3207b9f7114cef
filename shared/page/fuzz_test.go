package page_test

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/leadluence/backend/shared/page"
)

// FuzzCursorJSON decodes arbitrary bytes as a cursor: it must not panic,
// and a cursor it accepts must encode to JSON that decodes to the same
// position (the API seals that JSON into the cursors it hands out).
// Run: go test -run '^$' -fuzz '^FuzzCursorJSON$' -fuzztime 20s ./shared/page/
func FuzzCursorJSON(f *testing.F) {
	for _, s := range []string{
		`null`, `{}`, `[]`, `""`, `{"PK":"ORG#o","SK":"LEAD#01J"}`,
		`{"PK":"ORG#o","SK":"LEAD#01J","GSI1PK":"ORG#o#STATUS#new","GSI1SK":"2026-01-01T00:00:00Z#01J"}`,
		`{"a":1}`, `{"a":null}`, `{"a":"\u0000","\ud800":"x"}`, `{"a":"b","a":"c"}`, "{\"\xff\":\"\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c page.Cursor
		if err := json.Unmarshal(raw, &c); err != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("cursor decoded from %q does not encode: %v", raw, err)
		}
		var back page.Cursor
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("cursor JSON %s does not decode: %v", out, err)
		}
		if back.IsZero() != c.IsZero() || !maps.Equal(back.Fields(), c.Fields()) {
			t.Fatalf("cursor %q encodes to %s, which decodes to %v, not %v", raw, out, back.Fields(), c.Fields())
		}
	})
}
