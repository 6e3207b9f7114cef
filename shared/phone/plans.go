package phone

import (
	"math/bits"
	"regexp"
	"sort"
	"sync"
)

//go:generate go run ../../tools/phonegen -out plans_gen.go

// The number types a valid number may have, in the order in which
// libphonenumber tries them (getNumberTypeHelper): the first eight decide
// alone, then fixed line, then mobile.
const (
	premiumRate = iota
	tollFree
	sharedCost
	voip
	personalNumber
	pager
	uan
	voicemail
	fixedLine
	mobile
	numTypes
)

// lengths is a set of national number lengths, bit n for length n (1 to
// 31). Bit 0 stands for libphonenumber's -1, "no number has this type":
// a set holding it is not empty but holds no real length. The empty set
// means "no length rule".
type lengths uint32

// has reports whether n is in the set.
func (l lengths) has(n int) bool { return n > 0 && n < 32 && l&(1<<n) != 0 }

// min is the smallest length of the set (0 when there is none).
func (l lengths) min() int {
	if l&^1 == 0 {
		return 0
	}
	return bits.TrailingZeros32(uint32(l &^ 1))
}

// max is the largest length of the set.
func (l lengths) max() int { return 31 - bits.LeadingZeros32(uint32(l)) }

// desc describes the numbers of one type: the pattern a national
// significant number must match whole, and the lengths it may have.
type desc struct {
	pattern string
	lengths lengths
}

// plan is one numbering plan, the generated form of libphonenumber's
// PhoneMetadata with only what parsing and validation read: a region (ISO
// 3166 code) or a non-geographic entity (id "001", one per calling code).
type plan struct {
	id    string
	cc    int
	idd   string // international prefix, a pattern
	np    string // national prefix (for reference; parsing uses npp)
	npp   string // national prefix for parsing, a pattern
	npt   string // transform rule applied with npp's groups; "" strips
	ld    string // leading digits deciding the region of a shared calling code
	same  bool   // mobile and fixed line share a pattern
	gen   desc   // the general description
	local lengths
	types [numTypes]desc
}

// callingCode lists the plans of a country calling code, the main region
// first, in the order libphonenumber tries them.
type callingCode struct {
	cc    int
	plans []uint16
}

// compiled holds a plan's patterns, compiled on its first use.
type compiled struct {
	idd   *regexp.Regexp
	npp   *regexp.Regexp
	gen   *regexp.Regexp
	types [numTypes]*regexp.Regexp
}

// planState is the per-plan state built on first use: the patterns, and
// apart from them the leading-digits pattern (trying the regions of a
// shared calling code compiles only that).
type planState struct {
	once   sync.Once
	re     compiled
	ldOnce sync.Once
	ld     *regexp.Regexp
}

var states [len(plans)]planState

// compiledPlan returns plan i's patterns, compiling them the first time.
func compiledPlan(i int) *compiled {
	s := &states[i]
	s.once.Do(func() {
		p := &plans[i]
		s.re.idd = regexp.MustCompile(p.idd)
		if p.npp != "" {
			s.re.npp = regexp.MustCompile("^(?:" + p.npp + ")")
		}
		s.re.gen = regexp.MustCompile("^(?:" + p.gen.pattern + ")$")
		for t, d := range p.types {
			if d.pattern != "" {
				s.re.types[t] = regexp.MustCompile("^(?:" + d.pattern + ")$")
			}
		}
	})
	return &s.re
}

// leadingDigits returns plan i's leading-digits pattern, nil if it has none.
func leadingDigits(i int) *regexp.Regexp {
	s := &states[i]
	s.ldOnce.Do(func() {
		if p := &plans[i]; p.ld != "" {
			s.ld = regexp.MustCompile("^(?:" + p.ld + ")")
		}
	})
	return s.ld
}

// regionPlan returns the index of region's plan, -1 if region is not a
// supported region (non-geographic entities are not regions).
func regionPlan(region string) int {
	i := sort.Search(geoPlans, func(i int) bool { return plans[i].id >= region })
	if i < geoPlans && plans[i].id == region {
		return i
	}
	return -1
}

// codePlans returns the plans of calling code cc, nil if it is not one.
func codePlans(cc int) []uint16 {
	i := sort.Search(len(callingCodes), func(i int) bool { return callingCodes[i].cc >= cc })
	if i < len(callingCodes) && callingCodes[i].cc == cc {
		return callingCodes[i].plans
	}
	return nil
}
