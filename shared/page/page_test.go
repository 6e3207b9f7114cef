package page_test

import (
	"encoding/json"
	"testing"

	"github.com/leadluence/backend/shared/page"
)

// TestCursorJSONIsTheKeyObject checks that a cursor encodes exactly as the
// map of its fields did, so cursors handed out before still decode.
func TestCursorJSONIsTheKeyObject(t *testing.T) {
	fields := map[string]string{"PK": "ORG#o", "SK": "LEAD#01J", "GSI1PK": "ORG#o#STATUS#new"}
	want, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(page.NewCursor(fields))
	if err != nil || string(got) != string(want) {
		t.Fatalf("cursor JSON %s (%v), want %s", got, err, want)
	}
	var back page.Cursor
	if err := json.Unmarshal(want, &back); err != nil || back.Fields()["SK"] != "LEAD#01J" || len(back.Fields()) != 3 {
		t.Fatalf("decoded %v (%v)", back.Fields(), err)
	}
	if z, _ := json.Marshal(page.Cursor{}); string(z) != "null" {
		t.Fatalf("zero cursor JSON %s, want null", z)
	}
	for _, raw := range []string{`null`, `{}`} {
		var c page.Cursor
		if err := json.Unmarshal([]byte(raw), &c); err != nil || !c.IsZero() {
			t.Fatalf("%s decoded to %v (%v), want the zero cursor", raw, c.Fields(), err)
		}
	}
	var c page.Cursor
	if err := json.Unmarshal([]byte(`{"PK":1}`), &c); err == nil {
		t.Fatal("a non-string field decoded")
	}
}

// TestCursorIsACopy checks that a cursor is not changed through the map it
// was made from or the map it returns.
func TestCursorIsACopy(t *testing.T) {
	fields := map[string]string{"sk": "MSG#1"}
	c := page.NewCursor(fields)
	fields["sk"] = "MSG#2"
	c.Fields()["sk"] = "MSG#3"
	if got := c.Fields()["sk"]; got != "MSG#1" {
		t.Fatalf("cursor field %q, want MSG#1", got)
	}
	if !page.NewCursor(nil).IsZero() || !page.NewCursor(map[string]string{}).IsZero() || c.IsZero() {
		t.Fatal("IsZero is wrong")
	}
}
