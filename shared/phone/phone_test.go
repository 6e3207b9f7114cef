package phone_test

import (
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/phone"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		raw, region, want string
		wantErr           error
	}{
		{"98765 43210", "IN", "+919876543210", nil},
		{"+91 98765-43210", "US", "+919876543210", nil},
		{"(415) 555-2671", "US", "+14155552671", nil},
		{"", "IN", "", nil},
		{"  ", "IN", "", nil},
		{"12", "IN", "", phone.ErrInvalid},
		{"not a phone", "IN", "", phone.ErrNotANumber},
	}
	for _, tt := range tests {
		got, err := phone.Normalize(tt.raw, tt.region)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || got != tt.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q, %v", tt.raw, tt.region, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestVariants(t *testing.T) {
	// A US reading of an Indian mobile number typed without its code.
	got := phone.Variants("+19876543210", "IN")
	if len(got) == 0 || got[0] != "+919876543210" {
		t.Fatalf("Variants(+19876543210, IN) = %v, want +919876543210 first", got)
	}
	for _, v := range phone.Variants("+919876543210", "IN") {
		if v == "+919876543210" {
			t.Fatalf("Variants returned its input: %v", v)
		}
	}
	if got := phone.Variants("not a number", "IN"); got != nil {
		t.Fatalf("Variants(garbage) = %v, want nil", got)
	}
}
