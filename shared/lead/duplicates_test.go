package lead_test

import (
	"slices"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

func TestEmailVariants(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"asha.k+work@gmail.com", []string{"ashak@gmail.com", "ashak@googlemail.com"}},
		{"ashak@googlemail.com", []string{"ashak@gmail.com"}},
		{"ashak@gmail.com", []string{"ashak@googlemail.com"}},
		{"ravi+news@example.com", []string{"ravi@example.com"}},
		{"r.avi@example.com", nil},
		{"+tag@example.com", nil},
		{"no-at-sign", nil},
	} {
		if got := lead.EmailVariants(c.in); !slices.Equal(got, c.want) {
			t.Errorf("EmailVariants(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
