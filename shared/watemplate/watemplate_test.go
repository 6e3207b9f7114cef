package watemplate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/watemplate"
)

// graph is a template Source that counts its calls.
type graph struct {
	mu    sync.Mutex
	lists map[string][]meta.Template // by WABA
	err   error
	calls int
	token string
}

func (g *graph) Templates(_ context.Context, wabaID, token string) ([]meta.Template, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	g.token = token
	if g.err != nil {
		return nil, g.err
	}
	return g.lists[wabaID], nil
}

func (g *graph) set(wabaID string, list ...meta.Template) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lists[wabaID] = list
}

func (g *graph) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// opener "opens" a token by prefixing it with the org.
type opener struct{ err error }

func (o opener) Open(_ context.Context, orgID string, sealed []byte) ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	return []byte(orgID + ":" + string(sealed)), nil
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func comp(typ, text string) meta.TemplateComponent {
	return meta.TemplateComponent{Type: typ, Text: text}
}

var number = integration.Integration{OrgID: "o1", Kind: integration.KindWhatsApp, ExternalID: "106540352242922", WABAID: "w1",
	Status: integration.StatusActive, SealedToken: []byte("sealed")}

func tmpl(name, status, category string, comps ...meta.TemplateComponent) meta.Template {
	return meta.Template{Name: name, Language: "en_US", Status: status, Category: category, Components: comps}
}

func TestSpecOf(t *testing.T) {
	buttons := meta.TemplateComponent{Type: "BUTTONS", Buttons: json.RawMessage(`[
		{"type":"QUICK_REPLY","text":"Stop"},
		{"type":"URL","url":"https://example.com/{{1}}"},
		{"type":"URL","url":"https://example.com/static"},
		{"type":"COPY_CODE","example":"SAVE10"},
		{"type":"OTP"}]`)}
	sp := watemplate.SpecOf("w1", tmpl("t", "APPROVED", "MARKETING",
		comp("HEADER", "Hello {{1}}"), comp("BODY", "Hi {{1}}, {{2}} and {{1}} again; {{ name }}"), buttons))
	if sp.WABAID != "w1" || sp.MediaHeader || sp.Counts != (watemplate.Counts{Header: 1, Body: 3, Buttons: 3}) {
		t.Fatalf("spec %+v", sp)
	}
	want := []watemplate.Button{{Index: 1, SubType: "url", Params: 1}, {Index: 3, SubType: "copy_code", Params: 1}, {Index: 4, SubType: "url", Params: 1}}
	if fmt.Sprint(sp.Buttons) != fmt.Sprint(want) {
		t.Fatalf("buttons %+v, want %+v", sp.Buttons, want)
	}
	media := watemplate.SpecOf("w1", tmpl("m", "APPROVED", "UTILITY", meta.TemplateComponent{Type: "HEADER", Format: "IMAGE"}, comp("BODY", "Hi")))
	if !media.MediaHeader || media.Counts != (watemplate.Counts{Header: 1}) {
		t.Fatalf("media header spec %+v", media)
	}
	odd := watemplate.SpecOf("w1", tmpl("o", "APPROVED", "UTILITY", meta.TemplateComponent{Type: "BUTTONS", Buttons: json.RawMessage(`{"not":"a list"}`)}))
	if odd.Counts.Buttons != 0 || len(odd.Buttons) != 0 {
		t.Fatalf("unreadable buttons counted: %+v", odd)
	}
}

func TestLookupCaches(t *testing.T) {
	g := &graph{lists: map[string][]meta.Template{}}
	g.set("w1", tmpl("sale", "APPROVED", "MARKETING", comp("BODY", "Hi {{1}}")), tmpl("offer", "PENDING", "MARKETING"))
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := &watemplate.Catalog{Source: g, Opener: opener{}, Cache: &watemplate.Cache{}, Now: clk.now}
	ctx := context.Background()

	lookup := func(name string) (watemplate.Spec, bool) {
		t.Helper()
		sp, ok, err := c.Lookup(ctx, number, name, "en_US")
		if err != nil {
			t.Fatal(err)
		}
		return sp, ok
	}
	if sp, ok := lookup("sale"); !ok || sp.Counts.Body != 1 || sp.Category != "MARKETING" || g.count() != 1 {
		t.Fatalf("first lookup %+v %v, %d calls", sp, ok, g.count())
	}
	if g.token != "o1:sealed" {
		t.Fatalf("listed with token %q, want the opened token", g.token)
	}
	// An approved template is served from the copy for five minutes.
	clk.add(4 * time.Minute)
	lookup("sale")
	if g.count() != 1 {
		t.Fatalf("%d calls within the TTL, want 1", g.count())
	}
	// Missing or not approved: asked again, but not within five seconds of
	// the last answer.
	clk.add(time.Minute - time.Second) // the copy is 4m59s old
	if _, ok := lookup("brand_new"); ok || g.count() != 2 {
		t.Fatalf("unknown template: ok %v, %d calls; want Meta asked again", ok, g.count())
	}
	clk.add(2 * time.Second)
	lookup("brand_new")
	lookup("offer")
	if g.count() != 2 {
		t.Fatalf("%d calls within 5 s of the last list, want 2", g.count())
	}
	// Approved a minute later: found once the copy is 5 s old.
	g.set("w1", tmpl("sale", "APPROVED", "MARKETING"), tmpl("offer", "APPROVED", "MARKETING"))
	clk.add(5 * time.Second)
	if sp, ok := lookup("offer"); !ok || sp.Status != "APPROVED" || g.count() != 3 {
		t.Fatalf("newly approved %+v %v, %d calls", sp, ok, g.count())
	}
	// After five minutes even an approved template is asked for again.
	clk.add(5 * time.Minute)
	lookup("sale")
	if g.count() != 4 {
		t.Fatalf("%d calls after the TTL, want 4", g.count())
	}
	// Each org and WABA has its own copy.
	other := number
	other.OrgID = "o2"
	if _, _, err := c.Lookup(ctx, other, "sale", "en_US"); err != nil || g.count() != 5 {
		t.Fatalf("another org: %v, %d calls", err, g.count())
	}

	// Without a cache every lookup asks Meta.
	nc := &watemplate.Catalog{Source: g, Opener: opener{}, Now: clk.now}
	for range 2 {
		if _, _, err := nc.Lookup(ctx, number, "sale", "en_US"); err != nil {
			t.Fatal(err)
		}
	}
	if g.count() != 7 {
		t.Fatalf("%d calls without a cache, want 7", g.count())
	}
}

func TestFetchErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		open     error
		graph    error
		openErr  bool
		refused  bool
		graphErr bool
	}{
		{"token cannot be opened", errors.New("kms down"), nil, true, false, false},
		{"token revoked", nil, &meta.GraphError{HTTPStatus: 401, Code: 190, Subcode: 460}, false, true, true},
		{"permission missing", nil, &meta.GraphError{HTTPStatus: 403, Code: 200}, false, true, true},
		{"meta unavailable", nil, &meta.GraphError{HTTPStatus: 503, Code: 2}, false, false, true},
		{"transport", nil, fmt.Errorf("x: %w", meta.ErrTransport), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &graph{lists: map[string][]meta.Template{}, err: tt.graph}
			c := &watemplate.Catalog{Source: g, Opener: opener{err: tt.open}, Cache: &watemplate.Cache{}}
			_, err := c.Fetch(ctx, number)
			var fe *watemplate.FetchError
			if !errors.As(err, &fe) || fe.PhoneNumberID != number.ExternalID {
				t.Fatalf("Fetch = %v, want a FetchError of number %s", err, number.ExternalID)
			}
			var ge *meta.GraphError
			if errors.Is(err, watemplate.ErrOpenToken) != tt.openErr || fe.Refused() != tt.refused || errors.As(err, &ge) != tt.graphErr {
				t.Fatalf("%v: open token %v, refused %v, graph error %v", err, errors.Is(err, watemplate.ErrOpenToken), fe.Refused(), errors.As(err, &ge))
			}
			// Check and Lookup pass the same error on.
			_, _, cerr := c.Check(ctx, number, watemplate.Send{Name: "sale", Language: "en_US"})
			if !errors.As(cerr, &fe) {
				t.Fatalf("Check = %v, want the FetchError", cerr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	g := &graph{lists: map[string][]meta.Template{}}
	buttons := meta.TemplateComponent{Type: "BUTTONS", Buttons: json.RawMessage(`[{"type":"URL","url":"https://x.example/{{1}}"},{"type":"COPY_CODE"}]`)}
	g.set("w1",
		tmpl("order_update", "APPROVED", "UTILITY", comp("HEADER", "Order {{1}}"), comp("BODY", "Hi {{1}}, order {{2}} ships today"), buttons),
		tmpl("plain", "approved", "UTILITY", comp("BODY", "Hello")),
		tmpl("new_offer", "PENDING", "MARKETING", comp("BODY", "Hi")),
		tmpl("photo", "APPROVED", "MARKETING", meta.TemplateComponent{Type: "HEADER", Format: "IMAGE"}),
	)
	c := &watemplate.Catalog{Source: g, Opener: opener{}, Cache: &watemplate.Cache{}}
	ctx := context.Background()
	idx := func(i int) *int { return &i }
	full := []watemplate.SendComponent{
		{Type: "header", Parameters: []string{"#42"}},
		{Type: "body", Parameters: []string{"Asha", "#42"}},
		{Type: "button", Parameters: []string{"track/42"}},
		{Type: "button", Parameters: []string{"SAVE10"}},
	}

	t.Run("payload", func(t *testing.T) {
		sp, p, err := c.Check(ctx, number, watemplate.Send{Name: "order_update", Language: "en_US", Components: full})
		if err != nil {
			t.Fatal(err)
		}
		if sp.Name != "order_update" || sp.Category != "UTILITY" || sp.WABAID != "w1" {
			t.Fatalf("spec %+v", sp)
		}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"name":"order_update","language":{"code":"en_US"},"components":[` +
			`{"type":"header","parameters":[{"type":"text","text":"#42"}]},` +
			`{"type":"body","parameters":[{"type":"text","text":"Asha"},{"type":"text","text":"#42"}]},` +
			`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"track/42"}]},` +
			`{"type":"button","sub_type":"copy_code","index":"1","parameters":[{"type":"coupon_code","coupon_code":"SAVE10"}]}]}`
		if string(raw) != want {
			t.Fatalf("payload\n%s\nwant\n%s", raw, want)
		}
		// Buttons named by index, in any order, give the same buttons.
		byIndex := []watemplate.SendComponent{full[0], full[1],
			{Type: "button", Index: idx(1), Parameters: []string{"SAVE10"}}, {Type: "button", Index: idx(0), Parameters: []string{"track/42"}}}
		_, p2, err := c.Check(ctx, number, watemplate.Send{Name: "order_update", Language: "en_US", Components: byIndex})
		if err != nil || len(p2.Components) != 4 || p2.Components[2].Index != "1" || p2.Components[3].Index != "0" {
			t.Fatalf("buttons by index: %+v, %v", p2, err)
		}
		// A template without parameters takes no components; the status
		// is compared without regard to case.
		_, p3, err := c.Check(ctx, number, watemplate.Send{Name: "plain", Language: "en_US"})
		if raw, _ := json.Marshal(p3); err != nil || string(raw) != `{"name":"plain","language":{"code":"en_US"}}` {
			t.Fatalf("plain template: %s, %v", raw, err)
		}
	})

	tests := []struct {
		name  string
		send  watemplate.Send
		code  string
		field string
	}{
		{"unknown name", watemplate.Send{Name: "nope", Language: "en_US"}, watemplate.CodeUnknown, "template.name"},
		{"unknown language", watemplate.Send{Name: "plain", Language: "fr"}, watemplate.CodeUnknown, "template.name"},
		{"pending", watemplate.Send{Name: "new_offer", Language: "en_US"}, watemplate.CodeNotApproved, "template.name"},
		{"media header", watemplate.Send{Name: "photo", Language: "en_US"}, watemplate.CodeNotSupported, "template.name"},
		{"body count", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{
			full[0], {Type: "body", Parameters: []string{"Asha"}}, full[2], full[3]}}, watemplate.CodeParameters, "template.components[1].parameters"},
		{"body missing", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{full[0], full[2], full[3]}},
			watemplate.CodeParameters, "template.components"},
		{"header missing", watemplate.Send{Name: "order_update", Language: "en_US", Components: full[1:]}, watemplate.CodeParameters, "template.components"},
		{"two bodies", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{full[0], full[1], full[1]}},
			watemplate.CodeParameters, "template.components[2]"},
		{"a button short", watemplate.Send{Name: "order_update", Language: "en_US", Components: full[:3]}, watemplate.CodeParameters, "template.components"},
		{"a button too many", watemplate.Send{Name: "order_update", Language: "en_US", Components: append(append([]watemplate.SendComponent{}, full...), full[3])},
			watemplate.CodeParameters, "template.components[4]"},
		{"button given twice", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{full[0], full[1],
			{Type: "button", Index: idx(0), Parameters: []string{"a"}}, {Type: "button", Index: idx(0), Parameters: []string{"b"}}}},
			watemplate.CodeParameters, "template.components[3]"},
		{"static button", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{full[0], full[1],
			{Type: "button", Index: idx(5), Parameters: []string{"a"}}}}, watemplate.CodeParameters, "template.components[2].index"},
		{"button count", watemplate.Send{Name: "order_update", Language: "en_US", Components: []watemplate.SendComponent{full[0], full[1],
			{Type: "button", Parameters: []string{"a", "b"}}, full[3]}}, watemplate.CodeParameters, "template.components[2].parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p, err := c.Check(ctx, number, tt.send)
			var ce *watemplate.CheckError
			if !errors.As(err, &ce) || p != nil {
				t.Fatalf("Check = %v, %v; want a CheckError", p, err)
			}
			if ce.Code != tt.code || ce.Field != tt.field || ce.Message == "" {
				t.Fatalf("CheckError %+v, want code %s on %s", ce, tt.code, tt.field)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("error text %q lacks the code", err)
			}
		})
	}
}
