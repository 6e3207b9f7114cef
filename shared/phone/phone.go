// Package phone reads phone numbers as people type them and writes them in
// E.164. It reads them as libphonenumber does (its Go port,
// github.com/nyaruka/phonenumbers), with that library's numbering plans
// generated into plans_gen.go by tools/phonegen, but without linking the
// library: the library decodes every plan when the program starts and
// brings the protobuf runtime, which makes the linker keep every exported
// method of every reachable type (docs/benchmarks.md). Here a plan's
// patterns are compiled the first time a number is read in it. A
// differential test holds the package to the library's results.
package phone

import (
	"errors"
	"strings"
)

// Errors of Normalize; their text is what a person is shown.
var (
	// ErrNotANumber means the text cannot be read as a phone number.
	ErrNotANumber = errors.New("not a phone number")
	// ErrInvalid means the text reads as a number that its country's
	// numbering plan does not have.
	ErrInvalid = errors.New("not a valid phone number for its country")
)

// Normalize returns raw as E.164, reading numbers without a country code in
// region (an ISO 3166 code such as "IN"). A blank raw gives "" and no
// error.
func Normalize(raw, region string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	num, ok := parse(raw, region)
	if !ok {
		return "", ErrNotANumber
	}
	if !isValid(num) {
		return "", ErrInvalid
	}
	return num.e164(), nil
}

// KnownRegion reports whether region is an ISO 3166 alpha-2 code (upper
// case) whose numbering plan Normalize can read numbers in: what an org's
// default country may be.
func KnownRegion(region string) bool {
	return regionPlan(region) >= 0
}

// Variants returns the other E.164 numbers a person may have meant by the
// E.164 number e164, for finding the same person stored twice: its
// national number read in region (the country code was left out and the
// number read in another region) and read as a whole international number
// (the national number was typed with a "+"). The result leaves out e164
// itself and numbers that are not valid; an e164 that does not parse has
// none.
func Variants(e164, region string) []string {
	num, ok := parse(e164, "")
	if !ok {
		return nil
	}
	national := num.nsn()
	var out []string
	for _, c := range []struct{ raw, region string }{{national, region}, {"+" + national, ""}, {strings.TrimPrefix(e164, "+"), region}} {
		v, err := Normalize(c.raw, c.region)
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
