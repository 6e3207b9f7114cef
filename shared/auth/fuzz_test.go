package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/auth"
)

// FuzzVerifyAccessToken feeds arbitrary bearer tokens to Tokens.Verify:
// it must not panic, refuse with account.ErrTokenInvalid only, and accept
// only a token that names a user and an org.
// Run: go test -run '^$' -fuzz '^FuzzVerifyAccessToken$' -fuzztime 20s ./shared/auth/
func FuzzVerifyAccessToken(f *testing.F) {
	tk, err := auth.NewTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	good, err := tk.Issue(account.User{ID: "u1", OrgID: "o1"}, account.Org{ID: "o1", DefaultRegion: "IN"}, "fam")
	if err != nil {
		f.Fatal(err)
	}
	head, rest, _ := strings.Cut(good, ".")
	for _, s := range []string{good, "", ".", "..", "...", head + "..", head + "." + rest + ".", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsIm9yZyI6Im8xIn0.AAAA", strings.Repeat("a.", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tk.Verify(token)
		if err != nil {
			if !errors.Is(err, account.ErrTokenInvalid) {
				t.Fatalf("Verify(%q) = %v, want ErrTokenInvalid", token, err)
			}
			return
		}
		if c.Subject == "" || c.OrgID == "" {
			t.Fatalf("Verify(%q) accepted claims without user or org: %+v", token, c)
		}
	})
}

// FuzzParseRefreshToken feeds arbitrary refresh tokens (a request body
// field) to ParseRefreshToken: it must not panic, and what it accepts has a
// 26-character id and a 32-byte secret.
// Run: go test -run '^$' -fuzz '^FuzzParseRefreshToken$' -fuzztime 20s ./shared/auth/
func FuzzParseRefreshToken(f *testing.F) {
	good, _, err := auth.NewRefreshToken(account.User{ID: "u1", OrgID: "o1"}, "", time.Unix(1795860929, 0))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", good + "=", good[:27], strings.Repeat("0", 26) + "." + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, secret, err := auth.ParseRefreshToken(token)
		if err != nil {
			if !errors.Is(err, account.ErrTokenInvalid) || id != "" || secret != nil {
				t.Fatalf("ParseRefreshToken(%q) = %q, %x, %v", token, id, secret, err)
			}
			return
		}
		if len(id) != 26 || len(secret) != 32 {
			t.Fatalf("ParseRefreshToken(%q) accepted id %q and a %d-byte secret", token, id, len(secret))
		}
	})
}
