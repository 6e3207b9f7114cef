package retention

import (
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/conversation"
)

// PreviewRunes is how much of a sanitized message's text is kept.
const PreviewRunes = 80

// Masks that replace what the sanitizer removes.
const (
	MaskEmail  = "[email]"
	MaskNumber = "[number]"
	MaskID     = "[id]"
	MaskURL    = "[link]"
)

// The patterns are compiled on first use (lazyRE), not at init: this
// package is linked by every function that uses the table, and compiling
// them (Unicode classes) was most of its init, paid on every cold start
// while only a sanitizing run needs them.
var (
	// emailRE matches an address, also with spaces around "@" or an
	// obfuscated "(at)".
	emailRE = lazyRE(`(?i)[\p{L}\p{Nd}._%+\-]+\s*(?:@|\(at\)|\[at\])\s*[\p{L}\p{Nd}\-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\p{L}\p{Nd}\-]+)+`)
	// urlRE matches links, which can carry ids and addresses in their query.
	urlRE = lazyRE(`(?i)\b(?:https?://|www\.)\S+`)
	// idRE matches tokens that mix letters and digits with at least three
	// digits (PAN, passport, account and order ids, IBANs).
	idRE = lazyRE(`[\p{L}\p{Nd}]*\p{Nd}[\p{L}\p{Nd}]*`)
	// numberRE matches runs of digits joined by the separators people
	// write in phone, card and id numbers.
	numberRE = lazyRE(`\+?\p{Nd}(?:[\p{Nd}\s\-./()]*\p{Nd})?`)
)

// lazyRE returns expr compiled on its first call, once.
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// minMaskedDigits: a run with this many digits or more is masked (phones,
// cards, Aadhaar and account numbers); shorter runs (times, years,
// quantities) stay.
const minMaskedDigits = 5

// SanitizeText masks email addresses, links, id-like tokens and digit runs
// of five digits or more in s, then cuts it to PreviewRunes runes (with an
// ellipsis when it was longer). Masking comes first, so a cut never leaves
// part of a number unmasked.
func SanitizeText(s string) string {
	s = urlRE().ReplaceAllString(s, MaskURL)
	s = emailRE().ReplaceAllString(s, MaskEmail)
	s = numberRE().ReplaceAllStringFunc(s, func(run string) string {
		if countDigits(run) >= minMaskedDigits {
			return MaskNumber
		}
		return run
	})
	s = idRE().ReplaceAllStringFunc(s, func(tok string) string {
		if countDigits(tok) >= 3 && hasLetter(tok) {
			return MaskID
		}
		return tok
	})
	// Whatever digits remain are short groups; several of them in a row
	// could still spell a number, so a text with many digits overall
	// loses them all.
	if countDigits(s) >= minMaskedDigits {
		s = numberRE().ReplaceAllString(s, "#")
	}
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > PreviewRunes {
		r := []rune(s)
		s = string(r[:PreviewRunes-1]) + "…"
	}
	return s
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if isDigit(r) {
			n++
		}
	}
	return n
}

func isDigit(r rune) bool { return unicode.IsDigit(r) }

func hasLetter(s string) bool {
	for _, r := range s {
		if !isDigit(r) && unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// Sanitize returns m as the content lifecycle keeps it once due: the text
// masked and cut to a preview, media references, the provider payload and
// type-specific details dropped (only the campaign id stays, which is not
// content), and SanitizedAt set to at. Delivery state, times and ids stay,
// so the history and the inbox keep working. Sanitizing a sanitized message
// changes nothing but is never needed: the runner skips them.
func Sanitize(m conversation.Message, at time.Time) conversation.Message {
	m.Text = SanitizeText(m.Text)
	m.Media = nil
	m.Payload = ""
	var details map[string]string
	if id := m.Details[conversation.DetailCampaignID]; id != "" {
		details = map[string]string{conversation.DetailCampaignID: id}
	}
	m.Details = details
	if m.ErrorTitle != "" {
		m.ErrorTitle = SanitizeText(m.ErrorTitle)
	}
	if m.Reason != "" {
		m.Reason = SanitizeText(m.Reason)
	}
	m.SanitizedAt = at.UTC()
	return m
}
