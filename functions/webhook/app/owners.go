package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

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
	unownedFor = 30 * time.Second
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

// deliveryEntries is the top of a Meta webhook body, each entry kept as
// sent.
type deliveryEntries struct {
	Object string            `json:"object"`
	Entry  []json.RawMessage `json:"entry"`
}

// entryRefs is what the filter reads of one entry.
type entryRefs struct {
	Changes []struct {
		Field string `json:"field"`
		Value struct {
			PageID   metaID `json:"page_id"`
			Metadata struct {
				PhoneNumberID metaID `json:"phone_number_id"`
			} `json:"metadata"`
		} `json:"value"`
	} `json:"changes"`
}

// metaID is an id Meta sends as a string or, at times, as a number.
type metaID string

// UnmarshalJSON implements json.Unmarshaler.
func (m *metaID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("meta id: %w", err)
		}
		*m = metaID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("meta id: %w", err)
	}
	*m = metaID(n)
	return nil
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
// page or number no org owns.
func (c *ownerCache) filterUnowned(ctx context.Context, body []byte) filterResult {
	var d deliveryEntries
	if err := json.Unmarshal(body, &d); err != nil || len(d.Entry) == 0 {
		return filterResult{body: body}
	}
	var res filterResult
	kept := make([]json.RawMessage, 0, len(d.Entry))
	lookups := 0
	for _, raw := range d.Entry {
		if c.entryUnowned(ctx, d.Object, raw, &lookups, &res) {
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
		out, err := json.Marshal(deliveryEntries{Object: d.Object, Entry: kept})
		if err != nil {
			// Not reached (the entries were parsed); enqueue all.
			return filterResult{body: body, kept: len(d.Entry)}
		}
		res.body = out
	}
	return res
}

// entryUnowned reports whether every change of the entry names a page or
// number no org owns; false whenever it cannot tell.
func (c *ownerCache) entryUnowned(ctx context.Context, object string, raw json.RawMessage, lookups *int, res *filterResult) bool {
	var e entryRefs
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Changes) == 0 {
		return false
	}
	for _, ch := range e.Changes {
		var ref ownerRef
		switch {
		case object == "page" && ch.Field == "leadgen":
			ref = ownerRef{integration.KindFacebookPage, string(ch.Value.PageID)}
		case object == "whatsapp_business_account" && ch.Field == "messages":
			ref = ownerRef{integration.KindWhatsApp, string(ch.Value.Metadata.PhoneNumberID)}
		}
		if ref.id == "" || *lookups >= maxLookups {
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
