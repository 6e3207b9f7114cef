package config_test

import (
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/config"
)

func TestLoadReportsEveryMissingVariable(t *testing.T) {
	for _, k := range []string{"LEADLUENCE_TABLE", "LEADLUENCE_KEY_ID", "LEADLUENCE_QUEUE_URL_INTAKE", "LEADLUENCE_QUEUE_URL_OUTBOUND"} {
		t.Setenv(k, "")
	}
	_, err := config.Load[config.API]()
	if err == nil {
		t.Fatal("Load with an empty environment: want an error")
	}
	for _, k := range []string{"LEADLUENCE_TABLE", "LEADLUENCE_KEY_ID", "LEADLUENCE_QUEUE_URL_INTAKE", "LEADLUENCE_QUEUE_URL_OUTBOUND"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func TestLoadReadsValuesAndDefaults(t *testing.T) {
	t.Setenv("LEADLUENCE_TABLE", "t")
	t.Setenv("LEADLUENCE_KEY_ID", "k")
	t.Setenv("LEADLUENCE_QUEUE_URL_INTAKE", "http://q/i")
	t.Setenv("LEADLUENCE_QUEUE_URL_OUTBOUND", "http://q/o")
	t.Setenv("LEADLUENCE_DEFAULT_REGION", "")
	t.Setenv("LEADLUENCE_META_APP_ID", "42")
	cfg, err := config.Load[config.API]()
	if err != nil {
		t.Fatal(err)
	}
	want := config.API{TableName: "t", KeyID: "k", IntakeQueueURL: "http://q/i", OutboundQueueURL: "http://q/o", DefaultRegion: "IN",
		GraphBaseURL: "https://graph.facebook.com", GraphVersion: "v21.0", EmailFrom: "no-reply@leadluence.local",
		SenderVerifiedURL: "https://leadluence.com/",
		EmailsPerMinute:   60, APIKeyRequestsPerMinute: 120}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestLoadAccount(t *testing.T) {
	t.Setenv("LEADLUENCE_TABLE", "t")
	t.Setenv("LEADLUENCE_KEY_ID", "k")
	t.Setenv("LEADLUENCE_QUEUE_URL_INTAKE", "http://q/i")
	t.Setenv("LEADLUENCE_META_APP_ID", "42")
	t.Setenv("LEADLUENCE_DEFAULT_REGION", "")
	cfg, err := config.Load[config.Account]()
	if err != nil {
		t.Fatal(err)
	}
	want := config.Account{TableName: "t", KeyID: "k", IntakeQueueURL: "http://q/i", DefaultRegion: "IN",
		GraphBaseURL: "https://graph.facebook.com", GraphVersion: "v21.0", MetaAppID: "42", EmailFrom: "no-reply@leadluence.local",
		APIKeyRequestsPerMinute: 120, AppBaseURL: "http://127.0.0.1:3000"}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}
