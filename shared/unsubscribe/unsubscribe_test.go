package unsubscribe_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/unsubscribe"
)

func TestTokensAreSignedPerOrgAndLead(t *testing.T) {
	s, err := unsubscribe.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := unsubscribe.NewSigner(bytes.Repeat([]byte{8}, 32))
	tok := s.Token("01ORG", "01LEAD")
	c, err := s.Verify(tok)
	if err != nil || c.OrgID != "01ORG" || c.LeadID != "01LEAD" || !strings.HasPrefix(c.TokenID, "unsub_") {
		t.Fatalf("Verify(own token) = %+v, %v", c, err)
	}
	if again, _ := s.Verify(tok); again.TokenID != c.TokenID {
		t.Fatalf("token id changes: %s, %s", c.TokenID, again.TokenID)
	}
	if strings.Contains(c.TokenID, "01LEAD") {
		t.Fatalf("token id %s names the lead", c.TokenID)
	}
	_, sig, _ := strings.Cut(tok, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte("01ORG\x0001OTHER")) + "." + sig
	for name, bad := range map[string]string{
		"other key":           other.Token("01ORG", "01LEAD"),
		"other lead's ids":    forged,
		"no signature":        strings.Split(tok, ".")[0],
		"empty":               "",
		"not base64":          "!!!.???",
		"extra padding bits":  tok[:len(tok)-1] + string(tok[len(tok)-1]+1),
		"signature truncated": tok[:len(tok)-2],
	} {
		if _, err := s.Verify(bad); !errors.Is(err, unsubscribe.ErrBadToken) {
			t.Errorf("%s: Verify(%q) = %v, want ErrBadToken", name, bad, err)
		}
	}
	if _, err := unsubscribe.NewSigner(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}
