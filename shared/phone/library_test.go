package phone

// The differential test: package phone must read every number exactly as
// github.com/nyaruka/phonenumbers (libphonenumber's Go port) does. The
// library is imported here only; tests are not deployed.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// libNormalize is Normalize written with the library.
func libNormalize(raw, region string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	num, err := phonenumbers.Parse(raw, region)
	if err != nil {
		return "", ErrNotANumber
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// libVariants is Variants written with the library.
func libVariants(e164, region string) []string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	national := phonenumbers.GetNationalSignificantNumber(num)
	var out []string
	for _, c := range []struct{ raw, region string }{{national, region}, {"+" + national, ""}, {strings.TrimPrefix(e164, "+"), region}} {
		v, err := libNormalize(c.raw, c.region)
		if err != nil || v == "" || v == e164 {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

func libKnownRegion(region string) bool { return phonenumbers.GetSupportedRegions()[region] }

// stride is how many cases of the differential tests' corpus stand for
// one that is run: 1 (the whole corpus, over 300,000 cases) in a plain
// `go test`, every 40th with -race or -short, where the whole corpus takes
// minutes. The proof is the plain run:
//
//	go test -count=1 -run Library ./shared/phone/
func stride() int {
	if raceDetector || testing.Short() {
		return 40
	}
	return 1
}

// differ compares Normalize with the library on raw read in region and
// describes the difference, "" when there is none.
func differ(raw, region string) string {
	got, gotErr := Normalize(raw, region)
	want, wantErr := libNormalize(raw, region)
	if got != want || !errors.Is(gotErr, wantErr) || (gotErr == nil) != (wantErr == nil) {
		return fmt.Sprintf("Normalize(%q, %q) = %q, %v; library %q, %v", raw, region, got, gotErr, want, wantErr)
	}
	return ""
}

// differVariants compares Variants with the library.
func differVariants(e164, region string) string {
	got, want := Variants(e164, region), libVariants(e164, region)
	if fmt.Sprint(got) != fmt.Sprint(want) || (got == nil) != (want == nil) {
		return fmt.Sprintf("Variants(%q, %q) = %q; library %q", e164, region, got, want)
	}
	return ""
}

var numberTypes = []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
	phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
	phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}

// examples returns every example number of the library's metadata: each
// region's of every type, and each non-geographic entity's.
func examples(t *testing.T) (nums []*phonenumbers.PhoneNumber, home []string) {
	t.Helper()
	for _, r := range supportedRegions() {
		for _, typ := range numberTypes {
			if n := phonenumbers.GetExampleNumberForType(r, typ); n != nil {
				nums, home = append(nums, n), append(home, r)
			}
		}
	}
	var codes []int
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		codes = append(codes, cc)
	}
	sort.Ints(codes)
	for _, cc := range codes {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			nums, home = append(nums, n), append(home, "001")
		}
	}
	if len(nums) < 500 {
		t.Fatalf("only %d example numbers", len(nums))
	}
	return nums, home
}

func supportedRegions() []string {
	var rs []string
	for r := range phonenumbers.GetSupportedRegions() {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	return rs
}

// script writes s's ASCII digits in another script whose digits start at zero.
func script(s string, zero rune) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return zero + r - '0'
		}
		return r
	}, s)
}

// plainForms is how many of forms' first forms are the plain ones.
const plainForms = 7

// forms writes num as people and systems write numbers, right and wrong;
// the first plainForms are the plain ones.
func forms(num *phonenumbers.PhoneNumber, home string, rnd *rand.Rand) []string {
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	intl := phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
	nat := phonenumbers.Format(num, phonenumbers.NATIONAL)
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	cc := strconv.Itoa(int(num.GetCountryCode()))
	out := []string{
		e164, intl, nat, nsn, cc + nsn, "00" + cc + nsn, "011" + cc + nsn, "+" + nsn, "0" + nsn, "8" + nsn, "1" + nsn,
		phonenumbers.Format(num, phonenumbers.RFC3966), "tel:" + nsn + ";phone-context=+" + cc, "tel:" + nsn + ";phone-context=example.com",
		strings.ReplaceAll(intl, " ", "-"), strings.ReplaceAll(intl, " ", "."), strings.ReplaceAll(nat, " ", ""),
		strings.ReplaceAll(nat, " ", "-"), "(" + nat + ")", "+" + cc + " (" + nsn[:min(3, len(nsn))] + ") " + nsn[min(3, len(nsn)):],
		"+ " + cc + " " + nsn, "++" + cc + nsn, "＋" + cc + nsn, "+" + cc + "-" + nsn + "-",
		intl + " ext. 123", intl + " x12", e164 + ";ext=5", nat + " #45", nat + ",,7", e164 + "/x23",
		e164[:len(e164)-1], nsn[:len(nsn)-1], e164 + "1", e164 + "12", nsn + "9", nsn + "123",
		"Tel: " + intl, "call " + nat + " now", intl + "!", "abc" + e164, e164 + "abc", e164 + "ABCD",
		script(e164, '\uFF10'), script(nat, '\u0660'), script(nat, '\u06F0'), script(nsn, '\u0966'), script(intl, '\u09E6'),
	}
	if p := phonenumbers.GetNddPrefixForRegion(home, true); p != "" {
		out = append(out, p+nsn, p+" "+nat, cc+p+nsn, "+"+cc+p+nsn)
	}
	for _, from := range []string{"US", "GB", "DE", "IN", "RU", "BR", "AU", "JP", "AR", "MX", home} {
		out = append(out, phonenumbers.FormatOutOfCountryCallingNumber(num, from))
	}
	// A random letter for a digit (vanity-like), and a dropped or doubled digit.
	b := []byte(e164)
	i := 1 + rnd.IntN(len(b)-1)
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz"
	b[i] = letters[rnd.IntN(len(letters))]
	out = append(out, string(b), e164[:i]+e164[i+1:], e164[:i]+e164[i:i+1]+e164[i:])
	if len(nsn) > 4 {
		vanity := []byte(nsn)
		for k := len(vanity) - 1 - rnd.IntN(3); k >= 0 && k >= len(vanity)-7; k-- {
			vanity[k] = byte('A' + rnd.IntN(26))
		}
		out = append(out, "+"+cc+nsn[:len(nsn)-3]+"FLO", nsn[:len(nsn)-4]+"HOME", "1-800-"+nsn[:3]+"-FLOWERS",
			string(vanity), "+"+cc+" "+strings.ToLower(string(vanity)), "0"+string(vanity))
	}
	return out
}

// TestNormalizeMatchesLibrary reads every example number in many forms in
// its own region, in other regions (its code left out and read in
// another) and in none, and wants the library's result every time.
func TestNormalizeMatchesLibrary(t *testing.T) {
	nums, home := examples(t)
	regions := supportedRegions()
	rnd := rand.New(rand.NewPCG(1, 2))
	cases, bad, every, n := 0, []string{}, stride(), 0
	seen := map[string]bool{}
	check := func(raw, region string) {
		if seen[raw+"\x00"+region] {
			return
		}
		seen[raw+"\x00"+region] = true
		if n++; n%every != 0 {
			return
		}
		cases++
		if d := differ(raw, region); d != "" {
			bad = append(bad, d)
		}
	}
	for i, num := range nums {
		// Every form in its home region, in none and in a random one; the
		// plain forms also in the regions people often mean, and in the
		// others of its calling code.
		some := []string{home[i], "", regions[rnd.IntN(len(regions))]}
		many := append([]string{"ZZ", "001", "US", "IN", "GB", "DE", "RU", "BR", "IT", "AR", "MX", "CN"}, some...)
		shared := phonenumbers.GetRegionCodesForCountryCode(int(num.GetCountryCode()))
		many = append(many, shared[rnd.IntN(len(shared))])
		all := forms(num, home[i], rnd)
		for j, raw := range all {
			rs := some
			if j < plainForms {
				rs = many
			}
			for _, r := range rs {
				check(raw, r)
			}
		}
	}
	// Shared calling codes: one region's leading digits with another's
	// lengths, and random national numbers, so that which region a number
	// belongs to is decided as the library decides it.
	var prefixes []string
	for _, num := range nums {
		prefixes = append(prefixes, phonenumbers.GetNationalSignificantNumber(num))
	}
	var codes []int
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		codes = append(codes, cc)
	}
	sort.Ints(codes)
	for _, cc := range codes {
		ccs := strconv.Itoa(cc)
		shared := phonenumbers.GetRegionCodesForCountryCode(cc)
		var own []string
		for i, num := range nums {
			if int(num.GetCountryCode()) == cc {
				own = append(own, prefixes[i])
			}
		}
		tries := 10
		if len(shared) > 1 {
			tries = 200
		}
		for range tries {
			var nsn string
			if len(own) > 0 && rnd.IntN(4) != 0 {
				a := own[rnd.IntN(len(own))]
				nsn = a[:min(len(a), 1+rnd.IntN(5))]
			}
			for n := 6 + rnd.IntN(8); len(nsn) < n; {
				nsn += strconv.Itoa(rnd.IntN(10))
			}
			check("+"+ccs+nsn, "")
			check(nsn, shared[rnd.IntN(len(shared))])
			check(ccs+nsn, shared[0])
		}
	}
	// Every length a region's numbers may have, or may have when dialled
	// locally, with and without its national prefix and calling code.
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range coll.GetMetadata() {
		r, ccs, np := m.GetId(), strconv.Itoa(int(m.GetCountryCode())), m.GetNationalPrefix()
		g := m.GetGeneralDesc()
		var own []string
		for i, num := range nums {
			if home[i] == r || (r == "001" && int(num.GetCountryCode()) == int(m.GetCountryCode())) {
				own = append(own, prefixes[i])
			}
		}
		for _, l := range append(append([]int32{}, g.GetPossibleLength()...), g.GetPossibleLengthLocalOnly()...) {
			for _, delta := range []int{-1, 0, 0, 0, 1} {
				var nsn string
				if len(own) > 0 {
					a := own[rnd.IntN(len(own))]
					nsn = a[:min(len(a), 1+rnd.IntN(4))]
				}
				for len(nsn) < int(l)+delta {
					nsn += strconv.Itoa(rnd.IntN(10))
				}
				check(nsn, r)
				check(np+nsn, r)
				check(ccs+nsn, r)
				check(ccs+np+nsn, r)
				check("+"+ccs+nsn, r)
				check("+"+ccs+np+nsn, "")
			}
		}
	}
	for _, raw := range garbage {
		for _, r := range []string{"US", "IN", "GB", "DE", "BR", "", "ZZ"} {
			check(raw, r)
		}
	}
	report(t, cases, bad)
}

// garbage is text that is not a phone number, or only just one.
var garbage = []string{"", " ", "+", "++", "+0", "+00", "00", "0", "1", "12", "123", "abc", "not a phone",
	"1-800-FLOWERS", "+1 800 FLOWERS", "0800 FLOWERS", "tel:", "tel:+", "tel:;phone-context=", ";phone-context=+1",
	"tel:+1-650-253-0000;isub=12345", "tel:253-0000;phone-context=+1-650", "tel:253-0000;phone-context=www.google.com",
	"tel:253-0000;phone-context=.com", "2530000;phone-context=+1-650;isub=1", "+1 650 253 0000 ext 5;ext=6",
	"٩٨٧٦٥٤٣٢١٠", "+٩١ ٩٨٧٦٥٤٣٢١٠", "０９０ １２３４ ５６７８", "(530) 583-6985 x302/x2303", "+49 (0)30 1234567",
	"+44 (0) 20 7946 0958", "+39 06 698 12345", "+39 0 6 69812345", "0039 06 69812345", "+7 8 495 123 45 67",
	"8 800 555 35 35", "+61 (0)2 9876 5432", "*123#", "#31#", "112", "911", "+800 1234 5678", "+979 123456789",
	"+1 (242) 357-1234", "+1 242 357 1234 x 12", "1 242 357 1234", "011 44 20 7946 0958", "0044 20 7946 0958",
	"00 44 20 7946 0958", "+44 0800 123 4567", "07911 123456", "+447911123456", "447911123456",
	strings.Repeat("9", 17), strings.Repeat("9", 18), strings.Repeat("9", 250), strings.Repeat("9", 251),
	strings.Repeat("0", 10), "+" + strings.Repeat("1", 20), "x", "ext. 12", "98765 43210 ext. 4", "+91-98765-43210",
	"\xff\xfe12345678", "12345\x00678", "١٢٣٤٥٦٧٨٩٠١", "+86 ১২৩৪৫৬৭৮৯০", "++44 20 7946 0958", "+ +44 20 7946 0958",
	"+-44 20 7946 0958", "+(44) 20 7946 0958", "[+44] 20 7946 0958", "/+44 20 7946 0958", "~+44 20 7946 0958",
	"+44 20 7946 0958#", "+44 20 7946 0958##", "0 800 1234567", "0-800-123-4567", "+1-800-FLO-WERS",
	"ı800FLOWERS", "1800ſERVICE", "+1 800 sErViCe", "2015550123", "12015550123", "+12015550123",
	"01 23 45 67 89", "+33 1 23 45 67 89", "+33 (0)1 23 45 67 89", "0033123456789", "33123456789",
}

// TestVariantsMatchLibrary compares Variants for every example number in
// E.164, read in its own region and others.
func TestVariantsMatchLibrary(t *testing.T) {
	nums, home := examples(t)
	cases, bad, every, n := 0, []string{}, stride(), 0
	for i, num := range nums {
		e164 := phonenumbers.Format(num, phonenumbers.E164)
		for _, r := range []string{home[i], "US", "IN", "GB", "DE", "IT", "BR", "RU", "", "ZZ"} {
			for _, in := range []string{e164, e164 + "1", e164[:len(e164)-1], "+1" + e164[1:], "+7" + e164[1:]} {
				if n++; n%every != 0 {
					continue
				}
				cases++
				if d := differVariants(in, r); d != "" {
					bad = append(bad, d)
				}
			}
		}
	}
	for _, raw := range garbage {
		cases++
		if d := differVariants(raw, "IN"); d != "" {
			bad = append(bad, d)
		}
	}
	report(t, cases, bad)
}

// TestKnownRegionMatchesLibrary tries every two-letter code, and some
// that are not.
func TestKnownRegionMatchesLibrary(t *testing.T) {
	codes := []string{"", "001", "ZZ", "us", "Us", "USA", "U", "419"}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			codes = append(codes, string([]rune{a, b}))
		}
	}
	known := 0
	for _, c := range codes {
		if KnownRegion(c) != libKnownRegion(c) {
			t.Errorf("KnownRegion(%q) = %v; library %v", c, KnownRegion(c), libKnownRegion(c))
		}
		if KnownRegion(c) {
			known++
		}
	}
	if known != len(phonenumbers.GetSupportedRegions()) {
		t.Errorf("%d known regions; library %d", known, len(phonenumbers.GetSupportedRegions()))
	}
}

// TestPatternsAreTheLibrarys: the region-independent patterns are the
// library's, character for character.
func TestPatternsAreTheLibrarys(t *testing.T) {
	g := global()
	for _, p := range []struct{ name, got, want string }{
		{"plus", g.plus.String(), phonenumbers.PLUS_CHARS_PATTERN.String()},
		{"validStart", g.validStart.String(), phonenumbers.VALID_START_CHAR_PATTERN.String()},
		{"unwantedEnd", g.unwantedEnd.String(), phonenumbers.UNWANTED_END_CHAR_PATTERN.String()},
		{"secondNumber", g.secondNumber.String(), phonenumbers.SECOND_NUMBER_START_PATTERN.String()},
		{"alphaPhone", g.alphaPhone.String(), phonenumbers.VALID_ALPHA_PHONE_PATTERN.String()},
		{"viable", g.viable.String(), phonenumbers.VALID_PHONE_NUMBER_PATTERN.String()},
		{"extn", g.extn.String(), phonenumbers.EXTN_PATTERN.String()},
		{"digit", g.digit.String(), phonenumbers.CAPTURING_DIGIT_PATTERN.String()},
		{"globalDigits", g.globalDigits.String(), phonenumbers.RFC3966_GLOBAL_NUMBER_DIGITS_PATTERN.String()},
		{"domainName", g.domainName.String(), phonenumbers.RFC3966_DOMAINNAME_PATTERN.String()},
	} {
		if p.got != p.want {
			t.Errorf("pattern %s = %q; library %q", p.name, p.got, p.want)
		}
	}
}

func report(t *testing.T, cases int, bad []string) {
	t.Helper()
	t.Logf("%d cases (every %d of the corpus), %d differ from the library", cases, stride(), len(bad))
	for i, b := range bad {
		if i == 50 {
			t.Errorf("... and %d more", len(bad)-50)
			break
		}
		t.Error(b)
	}
}

// FuzzMatchesLibrary feeds arbitrary text and regions to Normalize and
// Variants and wants the library's results.
// Run with: go test -run x -fuzz FuzzMatchesLibrary ./shared/phone/
func FuzzMatchesLibrary(f *testing.F) {
	for _, s := range garbage {
		f.Add(s, "US")
		f.Add(s, "IN")
	}
	f.Add("+44 20 7946 0958", "GB")
	f.Add("020 7946 0958", "GB")
	f.Add("8 (495) 123-45-67", "RU")
	f.Add("0 11 2345 6789", "AR")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if d := differ(raw, region); d != "" {
			t.Fatal(d)
		}
		if got, err := Normalize(raw, region); err == nil && got != "" {
			if d := differVariants(got, region); d != "" {
				t.Fatal(d)
			}
		}
		if d := differVariants(raw, region); d != "" {
			t.Fatal(d)
		}
	})
}
