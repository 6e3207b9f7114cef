package meta

import (
	"errors"
	"fmt"
)

// ErrInvalidWAID means a WhatsApp id is not 8 to 15 digits.
var ErrInvalidWAID = errors.New("meta: invalid whatsapp id")

// NormalizeWAID turns a WhatsApp wa_id (the sender's number as digits with
// country code, e.g. "16505551234") into E.164 ("+16505551234"), the key
// under which a lead's phone is stored. It accepts 8 to 15 digits, not
// starting with 0, with an optional leading '+'; anything else (spaces,
// dashes, letters) is refused rather than guessed at.
func NormalizeWAID(waID string) (string, error) {
	digits := waID
	if len(digits) > 0 && digits[0] == '+' {
		digits = digits[1:]
	}
	if len(digits) < 8 || len(digits) > 15 {
		return "", fmt.Errorf("normalize wa_id of %d characters: %w", len(waID), ErrInvalidWAID)
	}
	if digits[0] == '0' {
		return "", fmt.Errorf("normalize wa_id: leading zero: %w", ErrInvalidWAID)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", fmt.Errorf("normalize wa_id: non-digit at %d: %w", i, ErrInvalidWAID)
		}
	}
	return "+" + digits, nil
}
