// Package leakscan finds values that must not leak (personal data, tokens,
// secrets) in functions' logs and, for secrets, in plaintext in the table's
// items: each marker is looked for in the forms a careless line would carry
// it in (case, without '+', digits only, the national number, separators
// removed, base64). The leak-scan and torture tests use it; it is test
// tooling, never deployed.
package leakscan

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// Marker is a value that must not leak; secret ones must not be stored
// in plaintext either.
type Marker struct {
	// Name says what the value is in a finding (never the value itself).
	Name string
	// Value is what must not leak.
	Value string
	// Secret markers must not be stored in plaintext either (ScanItems).
	Secret bool
}

// Variants is the marker and the forms a careless log line would carry
// it in: without a leading '+', digits only, a phone's last ten digits,
// lower-cased (matching is case-insensitive), base64 (standard and URL alphabets, with and without
// padding).
func Variants(m Marker) []string {
	v := []string{m.Value}
	if s := strings.TrimPrefix(m.Value, "+"); s != m.Value {
		v = append(v, s)
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, m.Value)
	if len(digits) >= 8 && len(digits) >= len(m.Value)-4 && digits != m.Value {
		v = append(v, digits)
	}
	if strings.HasPrefix(m.Value, "+") && len(digits) > 10 {
		// The national number, without the country code.
		v = append(v, digits[len(digits)-10:])
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		v = append(v, enc.EncodeToString([]byte(m.Value)))
	}
	return v
}

// Finding is a marker found in a log line or a table item.
type Finding struct {
	// Where names the log line or the item and attribute.
	Where string
	// Marker is the name of the marker found.
	Marker string
	// Excerpt is the text around the hit with every marker masked.
	Excerpt string
}

// String implements fmt.Stringer.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s in %s", f.Where, f.Marker, f.Excerpt)
}

// ScanText reports every marker (in any variant) found in text, with the
// text truncated around the hit and every marker in it masked.
func ScanText(where, text string, markers []Marker) []Finding {
	low := strings.ToLower(text)
	// Phone numbers are also looked for with the separators people type
	// (spaces, dashes, brackets, dots) taken out of the text.
	squeezed := phoneSeparators.Replace(text)
	var out []Finding
	for _, m := range markers {
		for _, v := range Variants(m) {
			if i := strings.Index(low, strings.ToLower(v)); i >= 0 {
				out = append(out, Finding{Where: where, Marker: m.Name, Excerpt: maskExcerpt(text, i, markers)})
				break
			}
			if isPhoneLike(v) {
				if i := strings.Index(squeezed, v); i >= 0 {
					out = append(out, Finding{Where: where, Marker: m.Name, Excerpt: "(separators removed) " + maskExcerpt(squeezed, i, markers)})
					break
				}
			}
		}
	}
	return out
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")

// isPhoneLike is whether v is '+' and digits, or digits only.
func isPhoneLike(v string) bool {
	d := strings.TrimPrefix(v, "+")
	if len(d) < 8 {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// maskExcerpt cuts text to about 160 characters around at and replaces
// every marker variant in the cut with <name>.
func maskExcerpt(text string, at int, markers []Marker) string {
	lo, hi := max(0, at-80), min(len(text), at+80)
	// Widen to whole markers so a cut cannot leave half a value unmasked.
	lo, hi = max(0, lo-64), min(len(text), hi+64)
	cut := text[lo:hi]
	for _, m := range markers {
		for _, v := range Variants(m) {
			cut = replaceFold(cut, v, "<"+m.Name+">")
		}
	}
	if len(cut) > 240 {
		cut = cut[:240] + "…"
	}
	return cut
}

// replaceFold replaces old in s case-insensitively.
func replaceFold(s, old, repl string) string {
	if old == "" {
		return s
	}
	var b strings.Builder
	low, lowOld := strings.ToLower(s), strings.ToLower(old)
	for {
		i := strings.Index(low, lowOld)
		if i < 0 || len(low) != len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, low = s[i+len(old):], low[i+len(old):]
	}
}

// ScanLogs scans each function's log line by line.
func ScanLogs(logs map[string]string, markers []Marker) []Finding {
	names := make([]string, 0, len(logs))
	for fn := range logs {
		names = append(names, fn)
	}
	sort.Strings(names)
	var out []Finding
	for _, fn := range names {
		for i, line := range strings.Split(logs[fn], "\n") {
			out = append(out, ScanText(fmt.Sprintf("%s log line %d", fn, i+1), line, markers)...)
		}
	}
	return out
}

// ScanItems scans every attribute of every item for the secret markers.
func ScanItems(items []map[string]types.AttributeValue, markers []Marker) []Finding {
	var secrets []Marker
	for _, m := range markers {
		if m.Secret {
			secrets = append(secrets, m)
		}
	}
	var out []Finding
	for _, it := range items {
		key := fmt.Sprintf("item PK=%s SK=%s", attrString(it["PK"]), attrString(it["SK"]))
		for name, av := range it {
			for _, text := range devstacktest.AttrStrings(av) {
				out = append(out, ScanText(key+" attribute "+name, text, secrets)...)
			}
		}
	}
	return out
}

func attrString(av types.AttributeValue) string {
	if s, ok := av.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return fmt.Sprint(av)
}
