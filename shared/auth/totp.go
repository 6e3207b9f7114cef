package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Two-factor sign-in codes: TOTP (RFC 6238: SHA-1, 6 digits, 30-second
// steps, as every authenticator app reads an otpauth URI) and recovery
// codes.

// MFAIssuer names the platform in authenticator apps.
const MFAIssuer = "Leadluence"

// totpPeriod is the TOTP time step.
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP makes a TOTP secret (160 bits from crypto/rand) for the account
// named email. It returns the secret (base32, to be stored only sealed)
// and the otpauth URI an authenticator app scans.
func NewTOTP(email string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: MFAIssuer, AccountName: email, Period: totpPeriod, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader})
	if err != nil {
		return "", "", fmt.Errorf("generate totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// TOTPStep is the time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode is the code of secret at time step step.
func TOTPCode(secret string, step int64) (string, error) {
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return code, nil
}

// CheckTOTP reports whether code is the code of secret at now, one step
// before or one step after (clock drift), and the step it matched (the
// latest, when several do). The caller refuses a step used before.
func CheckTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if !IsTOTPCode(code) {
		return 0, false
	}
	cur := TOTPStep(now)
	for step := cur + 1; step >= cur-1; step-- {
		want, err := TOTPCode(secret, step)
		if err == nil && hmac.Equal([]byte(want), []byte(code)) {
			return step, true
		}
	}
	return 0, false
}

// IsTOTPCode reports whether code has the form of a TOTP code (six
// digits); anything else is read as a recovery code.
func IsTOTPCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// recoveryAlphabet is lower-case base32 without the letters easily misread.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// NewRecoveryCodes makes n recovery codes for user: "xxxxx-xxxxx", about
// 49 bits each from crypto/rand. It returns the codes, shown once, and
// their hashes, all that is stored.
func NewRecoveryCodes(userID string, n int) (codes, hashes []string, err error) {
	for range n {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		var sb strings.Builder
		for i, v := range b {
			if i == 5 {
				sb.WriteByte('-')
			}
			// 256 is not a multiple of 31: the bias is under 1%, a
			// fraction of a bit of the code's entropy.
			sb.WriteByte(recoveryAlphabet[int(v)%len(recoveryAlphabet)])
		}
		code := sb.String()
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(userID, code))
	}
	return codes, hashes, nil
}

// HashRecoveryCode is the hash under which a user's recovery code is
// stored: a SHA-256 of the user and the code, written with or without its
// dash, in any case.
func HashRecoveryCode(userID, code string) string {
	c := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	sum := sha256.Sum256([]byte("leadluence/recovery/" + userID + "/" + c))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// HashMFAAttempts is the key under which a user's second-factor attempts
// are counted, as failed logins are counted by HashEmail.
func HashMFAAttempts(userID string) string {
	sum := sha256.Sum256([]byte("leadluence/mfa/" + userID))
	return "mfa-" + base64.RawURLEncoding.EncodeToString(sum[:])
}
