package phone

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// This file reads a number the way libphonenumber's parse (in its Go port,
// github.com/nyaruka/phonenumbers) does, step by step and with the same
// patterns, over the generated plans instead of the library's metadata:
// what it accepts, and the number it reads, must be the library's (the
// differential test checks it). Only what Normalize and Variants use is
// here: no raw input, carrier codes or extensions are kept.

const (
	minNSN       = 2   // shortest national significant number
	maxNSN       = 17  // longest national significant number
	maxInput     = 250 // longest text read at all
	validPunct   = "-x\u2010-\u2015\u2212\u30FC\uFF0D-\uFF0F \u00A0\u00AD\u200B\u2060\u3000()\uFF08\uFF09\uFF3B\uFF3D.\\[\\]/~\u2053\u223C\uFF5E"
	plusChars    = "+\uFF0B"
	validAlpha   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits       = "\\p{Nd}"
	rfcExtPrefix = ";ext="
	rfcPrefix    = "tel:"
	rfcContext   = ";phone-context="
	rfcIsdn      = ";isub="
)

// patterns are the region-independent patterns of the parser.
type patterns struct {
	plus, validStart, unwantedEnd, secondNumber, alphaPhone, viable, extn, digit, globalDigits, domainName *regexp.Regexp
}

var (
	globalOnce     sync.Once
	globalPatterns *patterns
)

// global returns the region-independent patterns, compiling them on first
// use (not at start-up: a function that never reads a number never pays).
func global() *patterns {
	globalOnce.Do(func() { globalPatterns = compileGlobal() })
	return globalPatterns
}

// compileGlobal compiles the patterns, built as the library builds them
// (its VALID_PHONE_NUMBER_PATTERN, EXTN_PATTERN and the rest; a test
// compares the text).
func compileGlobal() *patterns {
	sepExt := "[ \u00A0\\t,]*"
	afterExt := "[:\\.\uFF0E]?[ \u00A0\\t,-]*"
	explicit := "(?:e?xt(?:ensi(?:o\u0301?|\u00F3))?n?|\uFF45?\uFF58\uFF54\uFF4E?|\u0434\u043E\u0431|anexo)"
	ambiguous := "(?:[x\uFF58#\uFF03~\uFF5E]|int|\uFF49\uFF4E\uFF54)"
	extMatching := rfcExtPrefix + "(" + digits + "{1,20})" + "|" +
		sepExt + explicit + afterExt + "(" + digits + "{1,20})" + "#?" + "|" +
		sepExt + ambiguous + afterExt + "(" + digits + "{1,9})" + "#?" + "|" +
		"[- ]+" + "(" + digits + "{1,6})#"
	extParsing := extMatching + "|" +
		"[ \u00A0\\t]*" + "(?:,{2}|;)" + afterExt + "(" + digits + "{1,15})" + "#?" + "|" +
		"[ \u00A0\\t]*" + "(?:,)+" + afterExt + "(" + digits + "{1,9})" + "#?"
	viable := digits + "{" + strconv.Itoa(minNSN) + "}" + "|" +
		"[" + plusChars + "]*(?:[" + validPunct + "*]*" + digits + "){3,}[" +
		validPunct + "*" + validAlpha + digits + "]*"
	alnum := validAlpha + digits
	rfcDigit := "(" + digits + "|" + "[\\-\\.\\(\\)]?" + ")"
	return &patterns{
		plus:         regexp.MustCompile("[" + plusChars + "]+"),
		validStart:   regexp.MustCompile("[" + plusChars + digits + "]"),
		unwantedEnd:  regexp.MustCompile(`[[\P{N}&&\P{L}]&&[^#]]+$`),
		secondNumber: regexp.MustCompile(`[\\/] *x`),
		alphaPhone:   regexp.MustCompile("^(?:.*?[A-Za-z]){3}.*$"),
		viable:       regexp.MustCompile("(?i)^(" + viable + "(?:" + extParsing + ")?)$"),
		extn:         regexp.MustCompile("(?i)(?:" + extParsing + ")$"),
		digit:        regexp.MustCompile("(" + digits + ")"),
		globalDigits: regexp.MustCompile("^\\+" + rfcDigit + "*" + digits + rfcDigit + "*$"),
		domainName: regexp.MustCompile("^(" + "[" + alnum + "]+((\\-)*[" + alnum + "])*" + "\\.)*" +
			"[" + validAlpha + "]+((\\-)*[" + alnum + "])*" + "\\.?$"),
	}
}

// number is a parsed phone number.
type number struct {
	cc          int
	national    uint64
	leadingZero bool // the national significant number starts with zeros ("Italian leading zero")
	zeros       int  // how many, when leadingZero
}

// nsn returns the national significant number.
func (n number) nsn() string {
	s := strconv.FormatUint(n.national, 10)
	if n.leadingZero && n.zeros > 0 {
		s = strings.Repeat("0", min(n.zeros, maxNSN)) + s
	}
	return s
}

// e164 returns the number in E.164.
func (n number) e164() string { return "+" + strconv.Itoa(n.cc) + n.nsn() }

// parse reads text as a phone number, numbers without a country code in
// region; ok is false where the library's Parse fails.
func parse(text, region string) (n number, ok bool) {
	if len(text) == 0 || len(text) > maxInput {
		return n, false
	}
	national, ok := nationalForParsing(text)
	if !ok || !isViable(national) {
		return n, false
	}
	pl := regionPlan(region)
	if pl < 0 && (len(national) == 0 || !global().plus.MatchString(national)) {
		return n, false // no region to read it in, and no "+" to read its own
	}
	national = stripExtension(national)
	cc, normalized, err := extractCountryCode(national, pl)
	if err != errNone {
		loc := global().plus.FindStringIndex(national)
		if err != errInvalidCountryCode || loc == nil {
			return n, false
		}
		cc, normalized, err = extractCountryCode(national[loc[1]:], pl)
		if err != errNone || cc == 0 {
			return n, false
		}
	}
	if cc != 0 {
		pl = int(codePlans(cc)[0])
	} else {
		normalized = normalize(national)
		if pl >= 0 {
			cc = plans[pl].cc
		}
	}
	if len(normalized) < minNSN {
		return n, false
	}
	if pl >= 0 {
		// Strip the national prefix only if what is left has a possible length.
		if stripped, _ := stripNationalPrefix(normalized, pl); !oneOf(testLength(stripped, pl), tooShort, possibleLocalOnly, invalidLength) {
			normalized = stripped
		}
	}
	if len(normalized) < minNSN || len(normalized) > maxNSN {
		return n, false
	}
	n.cc = cc
	if len(normalized) >= 2 && normalized[0] == '0' {
		n.leadingZero = true
		n.zeros = 1
		for n.zeros < len(normalized)-1 && normalized[n.zeros] == '0' {
			n.zeros++
		}
	}
	n.national, _ = strconv.ParseUint(normalized, 10, 64)
	return n, true
}

// oneOf reports whether v is one of a, b, c.
func oneOf(v, a, b, c lengthResult) bool { return v == a || v == b || v == c }

type parseError int

const (
	errNone parseError = iota
	errInvalidCountryCode
	errTooShortAfterIDD
)

// nationalForParsing takes the number out of text: an RFC 3966 "tel:" URI
// with a phone context, or else the part from its first digit or plus.
func nationalForParsing(text string) (string, bool) {
	at := strings.Index(text, rfcContext)
	context := phoneContext(text, at)
	if at >= 0 && !validContext(context) {
		return "", false
	}
	var national string
	if at > 0 {
		if context[0] == '+' {
			national = context
		}
		start := 0
		if tel := strings.Index(text, rfcPrefix); tel >= 0 && tel < at {
			start = tel + len(rfcPrefix)
		}
		national += text[start:at]
	} else {
		national = possibleNumber(text)
	}
	if i := strings.Index(national, rfcIsdn); i > 0 {
		national = national[:i]
	}
	return national, true
}

// phoneContext returns the phone-context parameter of text starting at at.
func phoneContext(text string, at int) string {
	if at == -1 {
		return ""
	}
	start := at + len(rfcContext)
	if start >= len(text) {
		return ""
	}
	if end := strings.IndexRune(text[start:], ';'); end != -1 {
		return text[start : start+end]
	}
	return text[start:]
}

func validContext(context string) bool {
	return context != "" && (global().globalDigits.MatchString(context) || global().domainName.MatchString(context))
}

// possibleNumber cuts text to where a number may start and end, and drops
// a second number after it ("x302/x2303").
func possibleNumber(text string) string {
	g := global()
	loc := g.validStart.FindStringIndex(text)
	if loc == nil {
		return ""
	}
	text = text[loc[0]:]
	if end := g.unwantedEnd.FindStringIndex(text); end != nil {
		text = text[:end[0]]
	}
	if end := g.secondNumber.FindStringIndex(text); end != nil {
		text = text[:end[0]]
	}
	return text
}

func isViable(s string) bool { return len(s) >= minNSN && global().viable.MatchString(s) }

// stripExtension drops an extension ("ext. 12") from the end of s.
func stripExtension(s string) string {
	g := global()
	loc := g.extn.FindStringIndex(s)
	if loc != nil && isViable(s[:loc[0]]) {
		for _, ext := range g.extn.FindStringSubmatch(s)[1:] {
			if ext != "" {
				return s[:loc[0]]
			}
		}
	}
	return s
}

// extractCountryCode reads a country calling code off number: after a "+"
// or the international prefix of plan pl (-1: none), or, in pl's own
// calling code, when the number read without it is the better reading.
// It returns 0 and no national number when there is none.
func extractCountryCode(num string, pl int) (int, string, parseError) {
	if len(num) == 0 {
		return 0, "", errNone
	}
	full, international := stripInternationalPrefix(num, pl)
	if international {
		if len(full) <= minNSN {
			return 0, "", errTooShortAfterIDD
		}
		if cc, rest := leadingCountryCode(full); cc != 0 {
			return cc, rest, errNone
		}
		return 0, "", errInvalidCountryCode
	}
	if pl >= 0 {
		p := &plans[pl]
		code := strconv.Itoa(p.cc)
		if strings.HasPrefix(full, code) {
			national, _ := stripNationalPrefix(full[len(code):], pl)
			gen := compiledPlan(pl).gen
			if (!gen.MatchString(full) && gen.MatchString(national)) || testLength(full, pl) == tooLong {
				return p.cc, national, errNone
			}
		}
	}
	return 0, "", errNone
}

// leadingCountryCode splits a known calling code (one to three digits) off
// full.
func leadingCountryCode(full string) (int, string) {
	if len(full) == 0 || full[0] == '0' {
		return 0, ""
	}
	for i := 1; i <= 3 && i <= len(full); i++ {
		cc, _ := strconv.Atoi(full[:i])
		if codePlans(cc) != nil {
			return cc, full[i:]
		}
	}
	return 0, ""
}

// stripInternationalPrefix normalizes num and strips a leading "+" or the
// international prefix of plan pl, reporting whether it did.
func stripInternationalPrefix(num string, pl int) (string, bool) {
	g := global()
	if loc := g.plus.FindStringIndex(num); loc != nil && loc[0] == 0 {
		return normalize(num[loc[1]:]), true
	}
	num = normalize(num)
	if pl < 0 {
		return num, false
	}
	loc := compiledPlan(pl).idd.FindStringIndex(num)
	if loc == nil || loc[0] != 0 {
		return num, false
	}
	// Country calling codes do not start with 0.
	if d := g.digit.FindString(num[loc[1]:]); d != "" && digitsOnly(d) == "0" {
		return num, false
	}
	return num[loc[1]:], true
}

// stripNationalPrefix strips plan pl's national prefix (and carrier code)
// from num, applying its transform rule, unless that turns a number that
// fits the plan's general pattern into one that does not.
func stripNationalPrefix(num string, pl int) (string, bool) {
	c := compiledPlan(pl)
	if len(num) == 0 || c.npp == nil {
		return num, false
	}
	if !c.npp.MatchString(num) {
		return num, false
	}
	viable := c.gen.MatchString(num)
	groups := c.npp.FindStringSubmatchIndex(num)
	last := len(groups)/2 - 1
	if rule := plans[pl].npt; rule == "" || groups[last*2] < 0 {
		if viable && !c.gen.MatchString(num[groups[1]:]) {
			return num, false
		}
		return num[groups[1]:], true
	}
	transformed := c.npp.ReplaceAllString(num, plans[pl].npt)
	if viable && !c.gen.MatchString(transformed) {
		return num, false
	}
	return transformed, true
}

type lengthResult int

const (
	isPossible lengthResult = iota
	possibleLocalOnly
	tooShort
	tooLong
	invalidLength
)

// testLength checks num's length against plan pl's possible lengths.
func testLength(num string, pl int) lengthResult {
	p := &plans[pl]
	n := len(num)
	if p.local.has(n) {
		return possibleLocalOnly
	}
	switch shortest := p.gen.lengths.min(); {
	case shortest == n:
		return isPossible
	case shortest > n:
		return tooShort
	case p.gen.lengths.max() < n:
		return tooLong
	case p.gen.lengths.has(n):
		return isPossible
	}
	return invalidLength
}

// normalize keeps the digits of num (any script's, Arabic-Indic and
// full-width ones as ASCII); with three or more ASCII letters in it, it
// is a vanity number: letters become their keypad digits.
func normalize(num string) string {
	if !global().alphaPhone.MatchString(num) {
		return digitsOnly(num)
	}
	var b strings.Builder
	for _, r := range num {
		switch r = unicode.ToUpper(r); {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteByte(keypad[r-'A'])
		}
	}
	return b.String()
}

// keypad maps A to Z to their digits on a telephone keypad (ITU E.161).
const keypad = "22233344455566677778889999"

// digitsOnly keeps the decimal digits of num, Arabic-Indic, Eastern
// Arabic-Indic and full-width ones as ASCII, others as they are.
func digitsOnly(num string) string {
	var b strings.Builder
	for _, r := range num {
		if !unicode.IsDigit(r) {
			continue
		}
		switch {
		case r >= '\u0660' && r <= '\u0669':
			r = '0' + r - '\u0660'
		case r >= '\u06F0' && r <= '\u06F9':
			r = '0' + r - '\u06F0'
		case r >= '\uFF10' && r <= '\uFF19':
			r = '0' + r - '\uFF10'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// matches reports whether nsn is of type desc d (compiled as re).
func matches(nsn string, d desc, re *regexp.Regexp) bool {
	if re == nil || (d.lengths != 0 && !d.lengths.has(len(nsn))) {
		return false
	}
	return re.MatchString(nsn)
}

// valid reports whether nsn is a number of plan pl of some type.
func valid(nsn string, pl int) bool {
	p, c := &plans[pl], compiledPlan(pl)
	if !matches(nsn, p.gen, c.gen) {
		return false
	}
	for t := range fixedLine {
		if matches(nsn, p.types[t], c.types[t]) {
			return true
		}
	}
	if matches(nsn, p.types[fixedLine], c.types[fixedLine]) {
		return true
	}
	return !p.same && matches(nsn, p.types[mobile], c.types[mobile])
}

// planOf returns the plan n belongs to, -1 for none: the one plan of its
// calling code, or of a shared one the first whose leading digits match
// (or, without leading digits, of which it is a valid number).
func planOf(n number) int {
	ps := codePlans(n.cc)
	if len(ps) == 1 {
		return int(ps[0])
	}
	nsn := n.nsn()
	for _, i := range ps {
		if ld := leadingDigits(int(i)); ld != nil {
			if ld.MatchString(nsn) {
				return int(i)
			}
		} else if valid(nsn, int(i)) {
			return int(i)
		}
	}
	return -1
}

// isValid reports whether n is a valid number of its plan.
func isValid(n number) bool {
	pl := planOf(n)
	return pl >= 0 && valid(n.nsn(), pl)
}
