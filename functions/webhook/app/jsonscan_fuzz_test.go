package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// The fuzz tests of the webhook's own JSON scanning (jsonscan.go) and of
// the SQS text check. Their seeds are the sample payloads in events/meta and
// the bodies of the POST events in events/webhook, plus hand-made corner
// cases; `go test` runs the seeds, and
//
//	go test -run '^$' -fuzz '^FuzzSplitJSON$' -fuzztime 60s ./functions/webhook/app/
//
// (under withstack, as the package's TestMain wants the local stack)
// searches further.

// fuzzSeeds returns the sample payloads and a few corner cases.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	root := filepath.Join("..", "..", "..", "events")
	var seeds [][]byte
	metas, err := filepath.Glob(filepath.Join(root, "meta", "*.json"))
	if err != nil || len(metas) == 0 {
		f.Fatalf("no seeds in events/meta: %v", err)
	}
	for _, p := range metas {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	posts, err := filepath.Glob(filepath.Join(root, "webhook", "post-*.json"))
	if err != nil || len(posts) == 0 {
		f.Fatalf("no seeds in events/webhook: %v", err)
	}
	for _, p := range posts {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				f.Fatalf("%s: %v", p, err)
			}
		}
		seeds = append(seeds, body)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `"page"`, `null`, ` {"object" : "page" } `,
		`{"\u006fbject":"page"}`, `{"object":"pa\u0067e"}`, `{"object":"a\"b"}`,
		`{"object":"page","object":"user"}`, `{"object":1,"object":"page"}`, `{"a":{"object":"x"},"object":"page"}`,
		`{"object":"` + "\xff" + `"}`, `{"object":"` + "\xef\xbf\xbf" + `"}`, `{"object":"page"`, `{"object":"page",}`,
		`{"entry":[1,2,3],"object":"page","x":[[1],[2,3],{"y":[4,5,6]}]}`,
		`[[[[1,2],[3,4]],[[5,6],[7,8]]],"abc",{"k":[true,false,null]}]`,
		"\t[ 1 ,\n 2 , \"x\\\"]\" , { \"a\" : [ ] } ]\r\n",
		`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"messages":[{"id":"a"},{"id":"b"},{"id":"c"}]},"field":"messages"}]}]}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzObjectName checks the one parse made before the answer: on any bytes
// it does not panic and names a plain lower-case object or "unknown"; on
// valid JSON it agrees with encoding/json reading the first top-level
// "object" member (topLevelString stops there, so a later duplicate does
// not count).
func FuzzObjectName(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	f.Fuzz(func(t *testing.T, body []byte) {
		got := objectName(body)
		if got != "unknown" && !plain.MatchString(got) {
			t.Fatalf("objectName(%q) = %q: neither unknown nor a plain name", body, got)
		}
		if !json.Valid(body) {
			return
		}
		value, ok := topLevelString(body, "object")
		wantValue, wantOK := firstStringMember(body, "object")
		if ok != wantOK || value != wantValue {
			t.Fatalf("topLevelString(%q) = %q, %v; encoding/json reads %q, %v", body, value, ok, wantValue, wantOK)
		}
		want := "unknown"
		if wantOK && plain.MatchString(wantValue) {
			want = wantValue
		}
		if got != want {
			t.Fatalf("objectName(%q) = %q, want %q", body, got, want)
		}
	})
}

// firstStringMember is topLevelString by encoding/json: the value of the
// first member of the top-level object named key, if it is a string.
func firstStringMember(b []byte, key string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		if k != key {
			continue
		}
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}

// FuzzSplitJSON checks the cutting of large bodies on valid JSON and any
// budget: a text that fits is kept whole, byte for byte; otherwise every
// piece is valid JSON within the budget, routes to the same object, and the
// pieces together give back the text exactly, nothing lost, nothing
// invented (see covers). An array whose elements each fit in a piece of
// their own is always cut.
func FuzzSplitJSON(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		for _, budget := range []int{len(s), len(s) / 2, len(s) / 5, 64, 16, 2} {
			f.Add(s, uint16(budget))
		}
	}
	f.Fuzz(func(t *testing.T, v []byte, budget16 uint16) {
		if !json.Valid(v) {
			return
		}
		budget := int(budget16)
		pieces, ok := splitJSON(v, budget)
		text := bytes.Trim(v, " \t\r\n")
		if len(text) <= budget {
			if !ok || len(pieces) != 1 || !bytes.Equal(pieces[0], text) {
				t.Fatalf("splitJSON(%q, %d) = %q, %v; want the text whole", v, budget, pieces, ok)
			}
			return
		}
		if !ok {
			if elems, isArray := arrayElements(text); isArray && budget >= 2 {
				fits := true
				for _, e := range elems {
					fits = fits && len(e)+2 <= budget
				}
				if fits {
					t.Fatalf("splitJSON(%q, %d) refused an array whose elements each fit", v, budget)
				}
			}
			return
		}
		if len(pieces) == 0 {
			t.Fatalf("splitJSON(%q, %d): ok with no pieces", v, budget)
		}
		object := objectName(text)
		parts := make([]any, len(pieces))
		for i, p := range pieces {
			if len(p) > budget {
				t.Fatalf("splitJSON(%q, %d): piece %d has %d bytes", v, budget, i, len(p))
			}
			if !json.Valid(p) {
				t.Fatalf("splitJSON(%q, %d): piece %d is not JSON: %q", v, budget, i, p)
			}
			if got := objectName(p); got != object {
				t.Fatalf("splitJSON(%q, %d): piece %d routes to %q, the whole to %q", v, budget, i, got, object)
			}
			parts[i] = decode(t, p)
		}
		if !covers(decode(t, text), parts) {
			t.Fatalf("splitJSON(%q, %d) = %q: the pieces do not give the text back", v, budget, pieces)
		}
	})
}

// arrayElements returns the raw elements of the JSON text b when it is an
// array, by encoding/json.
func arrayElements(b []byte) ([]json.RawMessage, bool) {
	var elems []json.RawMessage
	if len(b) == 0 || b[0] != '[' || json.Unmarshal(b, &elems) != nil {
		return nil, false
	}
	return elems, true
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// covers reports whether parts, the values one member has in each piece
// of an object cut by splitJSON, together hold v: either every part is v
// (a member copied into every piece) or v is cut among them (isCut).
func covers(v any, parts []any) bool {
	if len(parts) == 0 {
		return false
	}
	same := true
	for _, p := range parts {
		same = same && reflect.DeepEqual(v, p)
	}
	return same || isCut(v, parts)
}

// isCut reports whether parts are the container v cut in order: for an
// object, every part has exactly v's members and each member's values
// cover it; for an array, the parts' elements, concatenated in order, fall
// into consecutive runs that hold v's elements one by one: a run of one is
// the element itself (packed whole), a longer run is the element cut
// (isCut again), so no element is lost, repeated or altered.
func isCut(v any, parts []any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, p := range parts {
			if m, ok := p.(map[string]any); !ok || len(m) != len(v) {
				return false
			}
		}
		for k, member := range v {
			values := make([]any, len(parts))
			for i, p := range parts {
				pv, ok := p.(map[string]any)[k]
				if !ok {
					return false
				}
				values[i] = pv
			}
			if !covers(member, values) {
				return false
			}
		}
		return true
	case []any:
		var elems []any
		for _, p := range parts {
			a, ok := p.([]any)
			if !ok {
				return false
			}
			elems = append(elems, a...)
		}
		// reach[j]: the elements of v so far are held by exactly elems[:j].
		reach := make([]bool, len(elems)+1)
		reach[0] = true
		for _, e := range v {
			next := make([]bool, len(elems)+1)
			for j := range reach {
				if !reach[j] || j == len(elems) {
					continue
				}
				if reflect.DeepEqual(e, elems[j]) {
					next[j+1] = true
				}
				// A longer run holds pieces of a cut container, all of
				// e's kind.
				for k := j + 2; k <= len(elems) && sameKind(e, elems[k-2]) && sameKind(e, elems[k-1]); k++ {
					if !next[k] && isCut(e, elems[j:k]) {
						next[k] = true
					}
				}
			}
			reach = next
		}
		return reach[len(elems)]
	}
	return false
}

// sameKind reports whether a and b are both objects or both arrays.
func sameKind(a, b any) bool {
	switch a.(type) {
	case map[string]any:
		_, ok := b.(map[string]any)
		return ok
	case []any:
		_, ok := b.([]any)
		return ok
	}
	return false
}

// FuzzSQSText checks the word-at-a-time test of what SQS takes as a body
// against the rule read rune by rune.
func FuzzSQSText(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{"\x00", "abcdefg\x1f", "abcdefgh\x7f", "\xef\xbf\xbe", "\xef\xbf\xbd", "\xed\xa0\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "12345678\t\n\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := utf8.Valid(b)
		for _, r := range string(b) {
			want = want && (r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) ||
				(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF))
		}
		if got := sqsText(b); got != want {
			t.Fatalf("sqsText(%q) = %v, want %v", b, got, want)
		}
	})
}
