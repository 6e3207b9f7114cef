package auth_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/auth"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q is not argon2id", h)
	}
	if err := auth.CheckPassword(h, "correct horse battery"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := auth.CheckPassword(h, "wrong horse battery"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("wrong password: %v, want ErrMismatch", err)
	}
}

func TestAccessTokenRoundTripAndTampering(t *testing.T) {
	tk, err := auth.NewTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	u := account.User{ID: "u1", OrgID: "o1"}
	s, err := tk.Issue(u, account.Org{ID: "o1", DefaultRegion: "IN"}, "fam")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Verify(s)
	if err != nil || c.Subject != "u1" || c.OrgID != "o1" || c.SessionID != "fam" || c.Region != "IN" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > 15*time.Minute {
		t.Fatalf("access token lives %v, want <= 15m", c.ExpiresAt.Sub(c.IssuedAt.Time))
	}
	other, _ := auth.NewTokens([]byte(strings.Repeat("x", 32)))
	if _, err := other.Verify(s); err == nil {
		t.Fatal("token verified with another secret")
	}
	if _, err := tk.Verify(s[:len(s)-2] + "AA"); err == nil {
		t.Fatal("tampered token verified")
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	s, rec, err := auth.NewRefreshToken(account.User{ID: "u", OrgID: "o"}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := auth.ParseRefreshToken(s)
	if err != nil || id != rec.ID || !auth.RefreshSecretMatches(rec, secret) {
		t.Fatalf("parse = %q, %v", id, err)
	}
	secret[0] ^= 1
	if auth.RefreshSecretMatches(rec, secret) {
		t.Fatal("altered secret matched")
	}
	for _, bad := range []string{"", "abc", "01J.zzz", rec.ID + ".!!"} {
		if _, _, err := auth.ParseRefreshToken(bad); err == nil {
			t.Errorf("ParseRefreshToken(%q): want an error", bad)
		}
	}
}

func TestOneTimeToken(t *testing.T) {
	tok, hash, err := auth.NewOneTimeToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 43 || strings.Contains(hash, tok) {
		t.Fatalf("token %q, hash %q", tok, hash)
	}
	got, err := auth.HashOneTimeToken(tok)
	if err != nil || got != hash {
		t.Fatalf("HashOneTimeToken = %q, %v; want %q", got, err, hash)
	}
	other, _, _ := auth.NewOneTimeToken()
	if h, _ := auth.HashOneTimeToken(other); h == hash {
		t.Fatal("two tokens share a hash")
	}
	for _, bad := range []string{"", "abc", tok + "A", "!" + tok[1:]} {
		if _, err := auth.HashOneTimeToken(bad); !errors.Is(err, account.ErrTokenInvalid) {
			t.Errorf("HashOneTimeToken(%q) = %v, want ErrTokenInvalid", bad, err)
		}
	}
	if a, b := auth.HashAttemptKey("reset-email", "a@b.example"), auth.HashAttemptKey("reset-ip", "a@b.example"); a == b || strings.Contains(a, "a@b") {
		t.Fatalf("attempt keys %q %q", a, b)
	}
}

func TestAccessTokenAfterRevocation(t *testing.T) {
	tk, err := auth.NewTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	s, err := tk.Issue(account.User{ID: "u1", OrgID: "o1", AccessRevokedAt: revoked}, account.Org{ID: "o1"}, "fam")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	// Issued after the revocation, in the same second: dated after it.
	if !c.IssuedAt.After(revoked) {
		t.Fatalf("iat %v, revoked %v", c.IssuedAt, revoked)
	}
}

func TestTOTPAndRecoveryCodes(t *testing.T) {
	secret, uri, err := auth.NewTOTP("ana@example.com")
	if err != nil || secret == "" || !strings.HasPrefix(uri, "otpauth://totp/Leadluence:ana@example.com?") {
		t.Fatalf("%q %q %v", secret, uri, err)
	}
	now := time.Unix(1_800_000_015, 0)
	step := auth.TOTPStep(now)
	for _, d := range []int64{-1, 0, 1} {
		code, err := auth.TOTPCode(secret, step+d)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := auth.CheckTOTP(secret, code, now); !ok || got != step+d {
			t.Fatalf("step %+d: %d %v", d, got, ok)
		}
	}
	old, _ := auth.TOTPCode(secret, step-2)
	if _, ok := auth.CheckTOTP(secret, old, now); ok {
		t.Fatal("a code two steps old is accepted")
	}
	if _, ok := auth.CheckTOTP(secret, "12345a", now); ok {
		t.Fatal("a malformed code is accepted")
	}
	codes, hashes, err := auth.NewRecoveryCodes("U1", 10)
	if err != nil || len(codes) != 10 || len(hashes) != 10 {
		t.Fatal(codes, hashes, err)
	}
	if auth.HashRecoveryCode("U1", strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))) != hashes[0] ||
		auth.HashRecoveryCode("U2", codes[0]) == hashes[0] {
		t.Fatal("recovery code hashes")
	}
}

func TestAPIKeyFormat(t *testing.T) {
	key, hash, prefix, err := auth.NewAPIKey()
	if err != nil || !strings.HasPrefix(key, "ll_live_") || !strings.HasPrefix(key, prefix) || len(prefix) >= len(key) {
		t.Fatalf("%q %q %v", key, prefix, err)
	}
	if h, err := auth.HashAPIKey(key); err != nil || h != hash {
		t.Fatalf("hash %q %v", h, err)
	}
	for _, bad := range []string{"", "ll_live_", "ll_live_abc", "ll_test_" + key[8:], key + "x"} {
		if _, err := auth.HashAPIKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Pending tokens fail closed until their secret is set, then work as
// NewTokens's; the secret is set once.
func TestPendingTokens(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	ready, err := auth.NewTokens(secret)
	if err != nil {
		t.Fatal(err)
	}
	u := account.User{ID: "u1", OrgID: "o1"}
	tok, err := ready.Issue(u, account.Org{ID: "o1"}, "s1")
	if err != nil {
		t.Fatal(err)
	}
	p := auth.NewPendingTokens()
	if _, err := p.Verify(tok); err == nil {
		t.Error("pending tokens verified a token")
	}
	if _, err := p.Issue(u, account.Org{ID: "o1"}, "s1"); !errors.Is(err, auth.ErrNoSecret) {
		t.Errorf("pending Issue: %v, want ErrNoSecret", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("pending Derive did not panic")
			}
		}()
		p.Derive("cursor")
	}()
	if err := p.SetSecret(secret[:31]); err == nil {
		t.Error("a short secret was set")
	}
	if err := p.SetSecret(secret); err != nil {
		t.Fatal(err)
	}
	if err := p.SetSecret(secret); err == nil {
		t.Error("the secret was set twice")
	}
	if _, err := p.Verify(tok); err != nil {
		t.Errorf("Verify after SetSecret: %v", err)
	}
	if !bytes.Equal(p.Derive("cursor"), ready.Derive("cursor")) {
		t.Error("Derive differs from NewTokens's")
	}
}
