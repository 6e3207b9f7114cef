// Package watemplate reads the WhatsApp message templates of an org's
// numbers from the Graph API and checks template sends against them: the
// template exists in that language, is APPROVED, has no media header, and
// each part gets exactly as many parameters as it has placeholders. A
// checked send yields the template object of the Cloud API request.
//
// Templates are read with the token of one of the org's active numbers of
// each WhatsApp Business Account (WABA). They are not stored in the table:
// listing them always asks Meta (that is the sync), and a Catalog checks
// sends against a copy kept in memory for a few minutes, asking Meta again
// when the template is missing or not approved in that copy, so a template
// approved a minute ago can be sent at once.
//
// The api function (single sends, campaign routes, GET
// /v1/whatsapp/templates) and the sender (campaign pages) use it; it knows
// nothing of HTTP serving, and its refusals are typed errors (CheckError,
// FetchError) that callers present as they need.
package watemplate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
)

// Source lists the message templates of a WABA (the Graph API client).
type Source interface {
	Templates(ctx context.Context, wabaID, token string) ([]meta.Template, error)
}

// Opener opens tokens sealed for an org (package envelope).
type Opener interface {
	Open(ctx context.Context, orgID string, sealed []byte) ([]byte, error)
}

const (
	// ttl is how long a template list is trusted for sends.
	ttl = 5 * time.Minute
	// refetchAfter stops a burst of sends of an unknown template from
	// asking Meta more than once every few seconds.
	refetchAfter = 5 * time.Second
	// graphTimeout bounds one template list call to Meta.
	graphTimeout = 5 * time.Second
)

// Counts is how many parameters each part of a template takes.
type Counts struct {
	// Header counts the placeholders of a TEXT header (a media header
	// counts 1).
	Header int
	// Body counts the placeholders of the body.
	Body int
	// Buttons counts the parameters over all buttons: the placeholder of
	// each dynamic URL button, 1 for a copy-code or one-time-password one.
	Buttons int
}

// Button is a button of a template that takes parameters.
type Button struct {
	// Index is the button's position among the template's buttons.
	Index int
	// SubType is the Cloud API sub_type: url or copy_code.
	SubType string
	// Params is how many parameters the button takes.
	Params int
}

// Spec is a template as Meta reports it, with what a send of it must match.
type Spec struct {
	meta.Template
	// WABAID is the WhatsApp Business Account the template belongs to.
	WABAID string
	// MediaHeader is set for a template whose header is an image, video or
	// document; such templates cannot be sent yet.
	MediaHeader bool
	Counts      Counts
	// Buttons are the buttons that take parameters, in template order.
	Buttons []Button
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// placeholders counts the distinct {{n}} (or named {{x}}) placeholders.
func placeholders(text string) int {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// SpecOf reads what a send of template t of WABA wabaID must match.
func SpecOf(wabaID string, t meta.Template) Spec {
	sp := Spec{Template: t, WABAID: wabaID}
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			if f := strings.ToUpper(c.Format); f != "" && f != "TEXT" {
				sp.MediaHeader = true
				sp.Counts.Header = 1
			} else {
				sp.Counts.Header = placeholders(c.Text)
			}
		case "BODY":
			sp.Counts.Body = placeholders(c.Text)
		case "BUTTONS":
			var buttons []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			}
			if len(c.Buttons) > 0 {
				_ = json.Unmarshal(c.Buttons, &buttons) // unknown shapes count as no parameters
			}
			for i, b := range buttons {
				var tb Button
				switch strings.ToUpper(b.Type) {
				case "URL":
					tb = Button{Index: i, SubType: "url", Params: placeholders(b.URL)}
				case "OTP":
					tb = Button{Index: i, SubType: "url", Params: 1}
				case "COPY_CODE":
					tb = Button{Index: i, SubType: "copy_code", Params: 1}
				}
				if tb.Params > 0 {
					sp.Buttons = append(sp.Buttons, tb)
					sp.Counts.Buttons += tb.Params
				}
			}
		}
	}
	return sp
}

// Cache keeps each WABA's template list of an org for sends. The zero
// value is ready to use, from any number of goroutines.
type Cache struct {
	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	at   time.Time
	list []meta.Template
}

func (c *Cache) get(orgID, wabaID string) (entry, bool) {
	if c == nil {
		return entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[orgID+"|"+wabaID]
	return e, ok
}

func (c *Cache) put(orgID, wabaID string, e entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]entry{}
	}
	// Bounded: one Lambda instance serves few orgs, but never grow forever.
	if len(c.entries) >= 1000 {
		clear(c.entries)
	}
	c.entries[orgID+"|"+wabaID] = e
}

// Catalog reads templates from Meta and checks sends against them. Set the
// fields, then use it from any number of goroutines.
type Catalog struct {
	// Source lists templates (the Graph API); Opener opens the numbers'
	// sealed tokens.
	Source Source
	Opener Opener
	// Cache keeps the lists for sends; nil keeps none (every send asks
	// Meta).
	Cache *Cache
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Catalog) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ErrOpenToken marks a FetchError whose number's token could not be opened
// (KMS): a failure of ours to fix, not Meta's.
var ErrOpenToken = errors.New("open token")

// FetchError is a failure to read the templates of a number's WABA: its
// token could not be opened (ErrOpenToken), or the Graph API failed (a
// *meta.GraphError, or a transport error).
type FetchError struct {
	// PhoneNumberID is the number whose token was used.
	PhoneNumberID string
	Err           error
}

// Error implements error.
func (e *FetchError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// Refused reports whether Meta refused the list for good: the token is
// invalid, or the Graph error is permanent. Asking again will not help
// until someone fixes the number; other failures may pass.
func (e *FetchError) Refused() bool {
	var ge *meta.GraphError
	return errors.As(e.Err, &ge) && (ge.TokenInvalid() || ge.Permanent())
}

// Fetch asks Meta for the templates of number n's WABA with n's token and
// keeps the answer for sends. Its errors are *FetchError.
func (c *Catalog) Fetch(ctx context.Context, n integration.Integration) ([]meta.Template, error) {
	token, err := c.Opener.Open(ctx, n.OrgID, n.SealedToken)
	if err != nil {
		return nil, &FetchError{PhoneNumberID: n.ExternalID, Err: fmt.Errorf("%w of %s: %w", ErrOpenToken, n.ExternalID, err)}
	}
	cctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	list, err := c.Source.Templates(cctx, n.WABAID, string(token))
	if err != nil {
		return nil, &FetchError{PhoneNumberID: n.ExternalID, Err: fmt.Errorf("templates of waba %s: %w", n.WABAID, err)}
	}
	c.Cache.put(n.OrgID, n.WABAID, entry{at: c.now(), list: list})
	return list, nil
}

// Lookup finds the template of a name and language for number n (in any
// status), asking Meta again when the cached copy is old or lacks it, or
// has it not approved. ok is false when Meta has no such template. Its
// errors are *FetchError.
func (c *Catalog) Lookup(ctx context.Context, n integration.Integration, name, language string) (sp Spec, ok bool, err error) {
	find := func(list []meta.Template) (Spec, bool) {
		i := slices.IndexFunc(list, func(t meta.Template) bool { return t.Name == name && t.Language == language })
		if i < 0 {
			return Spec{}, false
		}
		return SpecOf(n.WABAID, list[i]), true
	}
	now := c.now()
	e, cached := c.Cache.get(n.OrgID, n.WABAID)
	if cached && now.Sub(e.at) < ttl {
		sp, ok := find(e.list)
		if (ok && strings.EqualFold(sp.Status, "APPROVED")) || now.Sub(e.at) < refetchAfter {
			return sp, ok, nil
		}
	}
	list, err := c.Fetch(ctx, n)
	if err != nil {
		return Spec{}, false, err
	}
	sp, ok = find(list)
	return sp, ok, nil
}
