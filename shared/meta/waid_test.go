package meta_test

import (
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/meta"
)

func TestNormalizeWAID(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"16505551234", "+16505551234", false},
		{"919876500001", "+919876500001", false},
		{"+16505551234", "+16505551234", false},
		{"12345678", "+12345678", false},
		{"123456789012345", "+123456789012345", false},
		{"", "", true},
		{"+", "", true},
		{"1234567", "", true},
		{"1234567890123456", "", true},
		{"06505551234", "", true},
		{"1650 555 1234", "", true},
		{"1-650-555-1234", "", true},
		{"++16505551234", "", true},
		{"1650555123a", "", true},
		{"１６５０５５５１２３４", "", true}, // full-width digits
	}
	for _, tt := range tests {
		got, err := meta.NormalizeWAID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeWAID(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, meta.ErrInvalidWAID) {
			t.Errorf("NormalizeWAID(%q) error %v is not ErrInvalidWAID", tt.in, err)
		}
	}
}
