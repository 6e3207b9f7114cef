package unsubscribe_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/unsubscribe"
)

// FuzzVerify feeds arbitrary tokens (the last segment of a public URL) to
// Signer.Verify, and arbitrary ids to Signer.Token. Verify must not panic,
// refuse with ErrBadToken only, and accept a token only in the one spelling
// Token gives for the ids it names; a token made for non-empty ids without
// NUL must verify to those ids.
// Run: go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 20s ./shared/unsubscribe/
func FuzzVerify(f *testing.F) {
	s, err := unsubscribe.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	good := s.Token("01ORG", "01LEAD")
	for _, tok := range []string{good, "", ".", good + "=", good + ".", strings.ToUpper(good), good[:len(good)-1], "MDFPUkcAMDFMRUFE.AAAA"} {
		f.Add(tok, "01ORG", "01LEAD")
	}
	f.Add("", "a\x00b", "c")
	f.Add("", "", "lead")
	f.Fuzz(func(t *testing.T, token, orgID, leadID string) {
		c, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, unsubscribe.ErrBadToken) {
				t.Fatalf("Verify(%q) = %v, want ErrBadToken", token, err)
			}
		} else if again := s.Token(c.OrgID, c.LeadID); again != token || c.OrgID == "" || c.LeadID == "" {
			t.Fatalf("Verify(%q) accepted %+v, whose token is %q", token, c, again)
		}
		if orgID == "" || leadID == "" || strings.Contains(orgID+leadID, "\x00") {
			return
		}
		c, err = s.Verify(s.Token(orgID, leadID))
		if err != nil || c.OrgID != orgID || c.LeadID != leadID {
			t.Fatalf("the token of %q/%q verifies to %+v, %v", orgID, leadID, c, err)
		}
	})
}
