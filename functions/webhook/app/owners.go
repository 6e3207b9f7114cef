package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/integration"
)

// Flood protection: Meta delivers the events of every page and WhatsApp
// number subscribed to the app, also of those no org connected (or that
// were never ours), and ingest would only drop them after a trip through
// the intake queue. Before enqueueing, the webhook looks up the owner of
// each Lead Ads page (change value page_id) and WhatsApp number (value
// metadata.phone_number_id), as ingest resolves them (the owner item,
// integration.Owner), and leaves out the entries whose every change names
// one that no org owns. A disconnected integration still has an owner, so
// its events go on to ingest, which counts them. Anything the webhook
// cannot judge (not JSON, another object or field, a change without an id,
// more ids than maxLookups) is enqueued as before, and so is everything
// when a lookup fails: the filter fails open, so no real event is lost to
// it.

// Owners finds the org a page or number belongs to (dynamostore.Store);
// integration.ErrNotFound when none does.
type Owners interface {
	IntegrationOwner(ctx context.Context, kind integration.Kind, externalID string) (integration.Owner, error)
}

const (
	// ownedFor and unownedFor are how long an instance remembers an
	// owner lookup: a connected page or number rarely stops being one
	// (and its events then still reach ingest, which drops them), while
	// one just connected must not be dropped for long.
	ownedFor   = 5 * time.Minute
	unownedFor = 5 * time.Second
	// maxCachedOwners bounds the cache (it starts over when full).
	maxCachedOwners = 10000
	// maxLookups bounds the table reads of one delivery; entries past it
	// are enqueued unjudged.
	maxLookups = 20
	// lookupTimeout bounds one lookup; a slower one fails open.
	lookupTimeout = 500 * time.Millisecond
)

type ownerRef struct {
	kind integration.Kind
	id   string
}

type ownerSeen struct {
	owned bool
	at    time.Time
}

// ownerCache remembers owner lookups for a short while (per instance).
type ownerCache struct {
	owners Owners
	now    func() time.Time

	mu   sync.Mutex
	seen map[ownerRef]ownerSeen
}

// owned reports whether some org owns ref, from the cache or one lookup.
func (c *ownerCache) owned(ctx context.Context, ref ownerRef) (owned, looked bool, err error) {
	now := c.now()
	c.mu.Lock()
	s, ok := c.seen[ref]
	c.mu.Unlock()
	if ok && ((s.owned && now.Sub(s.at) < ownedFor) || (!s.owned && now.Sub(s.at) < unownedFor)) {
		return s.owned, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	_, err = c.owners.IntegrationOwner(ctx, ref.kind, ref.id)
	switch {
	case errors.Is(err, integration.ErrNotFound):
		owned = false
	case err != nil:
		return false, true, err
	default:
		owned = true
	}
	c.mu.Lock()
	if c.seen == nil || len(c.seen) >= maxCachedOwners {
		c.seen = map[ownerRef]ownerSeen{}
	}
	c.seen[ref] = ownerSeen{owned: owned, at: now}
	c.mu.Unlock()
	return owned, true, nil
}

// filterResult is what the filter made of a body.
type filterResult struct {
	// body is what to enqueue: the body itself when nothing was left out;
	// nil when every entry was.
	body []byte
	// dropped is the entries left out, kept the entries enqueued.
	dropped, kept int
	// lookupErr is the first failed lookup (the filter failed open).
	lookupErr error
}

// filterUnowned leaves out of body the entries whose every change names a
// page or number no org owns. It reads the body with the scanner of
// jsonscan.go (no decoding of the values it skips), and a body it
// leaves entries out of is rebuilt from the bytes Meta sent: the object
// and the kept entries, each as sent.
func (c *ownerCache) filterUnowned(ctx context.Context, body []byte) filterResult {
	whole := filterResult{body: body}
	var object, entries span
	var objects, entryLists int
	if !members(body, 0, func(k []byte, v span) bool {
		switch {
		case keyIs(k, "object"):
			object, objects = v, objects+1
		case keyIs(k, "entry"):
			entries, entryLists = v, entryLists+1
		}
		return true
	}) || objects != 1 || entryLists != 1 || body[entries.start] != '[' {
		return whole
	}
	obj, ok := scalarText(body[object.start:object.end])
	if !ok {
		return whole
	}
	list := body[entries.start:entries.end]
	spans, ok := allElements(list)
	if !ok || len(spans) == 0 {
		return whole
	}
	var res filterResult
	kept := make([][]byte, 0, len(spans))
	lookups := 0
	for _, e := range spans {
		raw := list[e.start:e.end]
		if c.entryUnowned(ctx, obj, raw, &lookups, &res) {
			res.dropped++
			continue
		}
		kept = append(kept, raw)
	}
	res.kept = len(kept)
	switch {
	case res.dropped == 0:
		res.body = body
	case len(kept) > 0:
		var b bytes.Buffer
		b.Grow(len(body))
		b.WriteString(`{"object":`)
		b.Write(body[object.start:object.end])
		b.WriteString(`,"entry":[`)
		b.Write(bytes.Join(kept, []byte{','}))
		b.WriteString(`]}`)
		res.body = b.Bytes()
	}
	return res
}

// allElements returns the spans of the elements of the array list, and
// false unless they are all of it (a malformed array is never cut short).
func allElements(list []byte) ([]span, bool) {
	spans := elements(list)
	end := 1
	if len(spans) > 0 {
		end = spans[len(spans)-1].end
	}
	return spans, skipSpace(list, end) == len(list)-1 && list[len(list)-1] == ']'
}

// member returns the value of the member name of the object raw, looking
// no deeper than its top level.
func member(raw []byte, name string) ([]byte, bool) {
	var out []byte
	found := false
	members(raw, 0, func(k []byte, v span) bool {
		if keyIs(k, name) {
			out, found = raw[v.start:v.end], true
			return false
		}
		return true
	})
	return out, found
}

// scalarText returns a JSON string's text, or a number's digits (Meta
// sends some ids as numbers).
func scalarText(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		raw := v[1 : len(v)-1]
		if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			return string(raw), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// entryUnowned reports whether every change of the entry names a page or
// number no org owns; false whenever it cannot tell.
func (c *ownerCache) entryUnowned(ctx context.Context, object string, raw []byte, lookups *int, res *filterResult) bool {
	changes, ok := member(raw, "changes")
	if !ok || len(changes) == 0 || changes[0] != '[' {
		return false
	}
	spans, ok := allElements(changes)
	if !ok || len(spans) == 0 {
		return false
	}
	for _, sp := range spans {
		ch := changes[sp.start:sp.end]
		var field string
		var value []byte
		members(ch, 0, func(k []byte, v span) bool {
			switch {
			case keyIs(k, "field"):
				field = text(ch[v.start:v.end])
			case keyIs(k, "value"):
				value = ch[v.start:v.end]
			}
			return field == "" || value == nil
		})
		var ref ownerRef
		switch {
		case object == "page" && field == "leadgen":
			id, _ := member(value, "page_id")
			ref.kind, ref.id = integration.KindFacebookPage, text(id)
		case object == "whatsapp_business_account" && field == "messages":
			md, _ := member(value, "metadata")
			id, _ := member(md, "phone_number_id")
			ref.kind, ref.id = integration.KindWhatsApp, text(id)
		}
		// After one failed lookup the rest of the delivery is enqueued
		// unjudged: a slow or throttled table must not spend the webhook's
		// timeout on lookups (fail open, at once).
		if ref.id == "" || *lookups >= maxLookups || res.lookupErr != nil {
			return false
		}
		owned, looked, err := c.owned(ctx, ref)
		if looked {
			*lookups++
		}
		if err != nil {
			if res.lookupErr == nil {
				res.lookupErr = err
			}
			return false
		}
		if owned {
			return false
		}
	}
	return true
}

// text is scalarText's text, "" when v is none.
func text(v []byte) string {
	s, _ := scalarText(v)
	return s
}
