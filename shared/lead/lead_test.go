package lead_test

import (
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/lead"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region, want string
		wantErr           bool
	}{
		{"98765 43210", "IN", "+919876543210", false},
		{"+91 98765-43210", "US", "+919876543210", false},
		{"(415) 555-2671", "US", "+14155552671", false},
		{"", "IN", "", false},
		{"12", "IN", "", true},
		{"not a phone", "IN", "", true},
	}
	for _, tt := range tests {
		got, err := lead.NormalizePhone(tt.raw, tt.region)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q, err %v", tt.raw, tt.region, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for raw, want := range map[string]string{" Priya@Example.COM ": "priya@example.com", "": ""} {
		if got, err := lead.NormalizeEmail(raw); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, bad := range []string{"nope", "a@b", "Priya <p@example.com>", "p@@example.com"} {
		if _, err := lead.NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q): want an error", bad)
		}
	}
}

func TestNormalizeLead(t *testing.T) {
	l := lead.Lead{Name: " Priya ", Phone: "9876543210", Tags: []string{"VIP", "vip", " hot "}}
	if err := lead.Normalize(&l, "IN"); err != nil {
		t.Fatal(err)
	}
	if l.Name != "Priya" || l.Phone != "+919876543210" || l.Status != lead.StatusNew || len(l.Tags) != 2 || l.Source != "manual" {
		t.Fatalf("normalized lead = %+v", l)
	}

	var fe *lead.FieldError
	for name, in := range map[string]lead.Lead{
		"no contact": {Name: "x"},
		"bad status": {Name: "x", Email: "x@example.com", Status: "maybe"},
		"no name":    {Email: "x@example.com"},
		"bad email":  {Name: "x", Email: "x@"},
	} {
		if err := lead.Normalize(&in, "IN"); !errors.As(err, &fe) {
			t.Errorf("%s: Normalize = %v; want a FieldError", name, err)
		}
	}
}
