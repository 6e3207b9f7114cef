// Package retention holds the data lifecycle rules: how long each org keeps
// message content before it is sanitized (its policy and settings), the
// sanitizer itself, and the runner that applies due jobs in bounded,
// resumable, audited passes. It imports no AWS SDK: the runner reaches the
// table through Store.
package retention

import (
	"errors"
	"fmt"
	"time"
)

// Content lifecycle policy: message bodies are sanitized after an org's
// content period. An org may choose a shorter period than the default, and
// none longer than MaxContentDays, the longest the privacy policy lets
// WhatsApp message data be kept (12 months).
const (
	DefaultContentDays = 90
	MinContentDays     = 1
	MaxContentDays     = 365
)

// Settings are an org's retention settings.
type Settings struct {
	// ContentDays is how many days message content is kept before it is
	// sanitized; 0 means the policy's default.
	ContentDays int
	// UpdatedAt and UpdatedBy say who last changed them; zero when never.
	UpdatedAt time.Time
	UpdatedBy string
}

// ErrTooLong means a period longer than the policy allows.
var ErrTooLong = errors.New("longer than the policy allows")

// ErrTooShort means a period shorter than a day.
var ErrTooShort = errors.New("shorter than a day")

// Validate checks the settings against the policy.
func (s Settings) Validate() error {
	switch {
	case s.ContentDays == 0:
		return nil
	case s.ContentDays < MinContentDays:
		return fmt.Errorf("content_days: %w (minimum %d)", ErrTooShort, MinContentDays)
	case s.ContentDays > MaxContentDays:
		return fmt.Errorf("content_days: %w (maximum %d)", ErrTooLong, MaxContentDays)
	}
	return nil
}

// EffectiveContentDays is the period that applies: the org's, or the default.
func (s Settings) EffectiveContentDays() int {
	if s.ContentDays == 0 {
		return DefaultContentDays
	}
	return min(s.ContentDays, MaxContentDays)
}

// ContentCutoff is the time before which message content is due for
// sanitizing at asOf.
func (s Settings) ContentCutoff(asOf time.Time) time.Time {
	return asOf.AddDate(0, 0, -s.EffectiveContentDays())
}

// OrgSettings pairs an org with its settings, as the runner lists them.
type OrgSettings struct {
	OrgID    string
	Settings Settings
}

// Jobs of the retention runner; each is an audit action
// ("retention.<job>") too.
const (
	JobContent = "content"
)

// ActionContentSanitized is the audit action of the content job: one record
// per org and run, with counts, never content.
const ActionContentSanitized = "retention.content_sanitized"

// ActionSettingsUpdate is the audit action of a change of settings.
const ActionSettingsUpdate = "retention.settings_update"

// ActorSystem is the actor of records the scheduled runs write.
const ActorSystem = "system:retention"
