package integration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/integration"
)

func TestPickWhatsApp(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	wa := func(id string, st integration.Status, connected time.Time) integration.Integration {
		return integration.Integration{Kind: integration.KindWhatsApp, ExternalID: id, Status: st, SealedToken: []byte("sealed"), ConnectedAt: connected}
	}
	old := wa("111", integration.StatusActive, t0)
	recent := wa("222", integration.StatusActive, t0.Add(time.Hour))
	broken := wa("333", integration.StatusTokenInvalid, t0.Add(2*time.Hour))
	tokenless := wa("444", integration.StatusActive, t0.Add(3*time.Hour))
	tokenless.SealedToken = nil
	page := integration.Integration{Kind: integration.KindFacebookPage, ExternalID: "555", Status: integration.StatusActive,
		SealedToken: []byte("sealed"), ConnectedAt: t0.Add(4 * time.Hour)}
	all := []integration.Integration{old, broken, page, recent, tokenless}

	active := integration.ActiveWhatsApp(all)
	if len(active) != 2 || active[0].ExternalID != "222" || active[1].ExternalID != "111" {
		t.Fatalf("ActiveWhatsApp = %+v, want 222 then 111", active)
	}

	if n, err := integration.PickWhatsApp(all, ""); err != nil || n.ExternalID != "222" {
		t.Fatalf("default number %q, %v; want the most recently connected, 222", n.ExternalID, err)
	}
	if n, err := integration.PickWhatsApp(all, "111"); err != nil || n.ExternalID != "111" {
		t.Fatalf("asked for 111: %q, %v", n.ExternalID, err)
	}
	for _, want := range []string{"333", "444", "555", "999"} {
		_, err := integration.PickWhatsApp(all, want)
		var ie *integration.InactiveNumberError
		if !errors.As(err, &ie) || ie.PhoneNumberID != want || !errors.Is(err, integration.ErrNoActiveWhatsApp) {
			t.Errorf("asked for %s: %v, want an InactiveNumberError that is ErrNoActiveWhatsApp", want, err)
		}
	}
	for _, want := range []string{"", "111"} {
		_, err := integration.PickWhatsApp([]integration.Integration{broken, page}, want)
		var ie *integration.InactiveNumberError
		if !errors.Is(err, integration.ErrNoActiveWhatsApp) || errors.As(err, &ie) {
			t.Errorf("no active number, asked for %q: %v, want plain ErrNoActiveWhatsApp", want, err)
		}
	}
}
