package lead_test

import (
	"errors"
	"testing"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/phone"
)

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
	if err := lead.Normalize(&l, "IN", phone.Normalize); err != nil {
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
		if err := lead.Normalize(&in, "IN", phone.Normalize); !errors.As(err, &fe) {
			t.Errorf("%s: Normalize = %v; want a FieldError", name, err)
		}
	}

	// A phone the normalizer refuses is a FieldError on "phone" with the
	// normalizer's words.
	for raw, want := range map[string]string{"not a phone": "not a phone number", "12": "not a valid phone number for its country"} {
		in := lead.Lead{Name: "x", Phone: raw, Email: "x@example.com"}
		err := lead.Normalize(&in, "IN", phone.Normalize)
		if !errors.As(err, &fe) || fe.Field != "phone" || fe.Message != want {
			t.Errorf("phone %q: Normalize = %v; want a FieldError on phone %q", raw, err, want)
		}
	}
}
