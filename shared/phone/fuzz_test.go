package phone_test

import (
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/phone"
)

// FuzzNormalize feeds arbitrary text to phone normalization: it must
// never panic, and what it accepts must be E.164 that normalizes to itself.
// Run with: go test -run x -fuzz FuzzNormalize ./shared/phone/
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"98765 43210", "+91 98765-43210", "(415) 555-2671", "", "+", "++91", "0091 98765 43210",
		"+919876543210 ext. 12", "٩٨٧٦٥٤٣٢١٠", strings.Repeat("9", 300), "tel:+1-415-555-2671"} {
		f.Add(s, "IN")
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := phone.Normalize(raw, region)
		if err != nil || got == "" {
			return
		}
		if got[0] != '+' || len(got) > 16 || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("Normalize(%q, %q) = %q: not E.164", raw, region, got)
		}
		again, err := phone.Normalize(got, "ZZ")
		if err != nil || again != got {
			t.Fatalf("E.164 %q does not normalize to itself: %q, %v", got, again, err)
		}
	})
}
