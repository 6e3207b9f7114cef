package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/leadluence/backend/shared/page"
)

// Cursors are opaque to clients: the store position, the org it belongs to
// and the listing it came from, signed with a key derived from the token
// secret. A tampered cursor, or one from another org or another listing, is
// rejected.
type cursorBody struct {
	Org   string      `json:"o"`
	Scope string      `json:"s"`
	Key   page.Cursor `json:"k"`
}

// Cursors seals list positions into cursors and opens them (Kit.Cursors).
// The scope names the listing and its parameters, so that a cursor only
// continues the listing it came from.
type Cursors struct{ key []byte }

// Encode seals the store position pos of org's listing scope; "" at the
// end of the listing (the zero pos).
func (c Cursors) Encode(org, scope string, pos page.Cursor) string {
	if pos.IsZero() {
		return ""
	}
	raw, _ := json.Marshal(cursorBody{Org: org, Scope: scope, Key: pos})
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(c.sign(payload))
}

// Decode opens a cursor of org's listing scope: the zero Cursor, true for
// none (the first page); false for a cursor that is not valid here.
func (c Cursors) Decode(cursor, org, scope string) (page.Cursor, bool) {
	if cursor == "" {
		return page.Cursor{}, true
	}
	payload, sig, ok := strings.Cut(cursor, ".")
	if !ok {
		return page.Cursor{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.sign(payload)) {
		return page.Cursor{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return page.Cursor{}, false
	}
	var b cursorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Org != org || b.Scope != scope || b.Key.IsZero() {
		return page.Cursor{}, false
	}
	return b.Key, true
}

func (c Cursors) sign(payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
