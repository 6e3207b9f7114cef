package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Cursors are opaque to clients: the store position, the org it belongs to
// and the listing it came from, signed with a key derived from the token
// secret. A tampered cursor, or one from another org or another listing, is
// rejected.
type cursorBody struct {
	Org   string            `json:"o"`
	Scope string            `json:"s"`
	Key   map[string]string `json:"k"`
}

// Cursors seals list positions into cursors and opens them (Kit.Cursors).
// The scope names the listing and its parameters, so that a cursor only
// continues the listing it came from.
type Cursors struct{ key []byte }

// Encode seals the store position pos of org's listing scope; "" at the
// end of the listing (pos nil).
func (c Cursors) Encode(org, scope string, pos map[string]string) string {
	if pos == nil {
		return ""
	}
	raw, _ := json.Marshal(cursorBody{Org: org, Scope: scope, Key: pos})
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(c.sign(payload))
}

// Decode opens a cursor of org's listing scope: nil, true for none (the
// first page); false for a cursor that is not valid here.
func (c Cursors) Decode(cursor, org, scope string) (map[string]string, bool) {
	if cursor == "" {
		return nil, true
	}
	payload, sig, ok := strings.Cut(cursor, ".")
	if !ok {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.sign(payload)) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	var b cursorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Org != org || b.Scope != scope || len(b.Key) == 0 {
		return nil, false
	}
	return b.Key, true
}

func (c Cursors) sign(payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
