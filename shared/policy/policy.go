// Package policy holds the platform's privacy policy versions: publishing
// a version with an effective date at least MinNotice ahead, emailing the
// owner of every org about it, which version is current and which is
// upcoming, and an org owner's acknowledgement of the newest one.
package policy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/outbound"
	"github.com/leadluence/backend/shared/page"
)

// MinNotice is how far ahead of its effective date a version must be
// published, so that clients can read it before it applies.
const MinNotice = 14 * 24 * time.Hour

// MaxSummaryLen bounds a version's summary of changes.
const MaxSummaryLen = 2000

// DateLayout is how effective dates are written (a day, in UTC).
const DateLayout = "2006-01-02"

// Version is one published version of the policy.
type Version struct {
	// ID names the version, e.g. "2027-01".
	ID string
	// Effective is the day (00:00 UTC) the version applies from.
	Effective time.Time
	// Summary says what changed, in plain language.
	Summary     string
	PublishedAt time.Time
}

// Acknowledgement records that an org's owner read a version.
type Acknowledgement struct {
	OrgID     string
	VersionID string
	UserID    string
	At        time.Time
}

// Errors.
var (
	// ErrExists means a version of that id was published before.
	ErrExists = errors.New("policy version already published")
	// ErrNotFound means no version of that id was published.
	ErrNotFound = errors.New("policy version not found")
)

// RefusedError says why a version cannot be published.
type RefusedError struct{ Reason string }

// Error implements error.
func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Store keeps the versions and the orgs' acknowledgements
// (dynamostore.Store).
type Store interface {
	// PutPolicyVersion stores a new version (ErrExists when its id is
	// taken).
	PutPolicyVersion(ctx context.Context, v Version) error
	// PolicyVersions returns every version, oldest effective date first.
	PolicyVersions(ctx context.Context) ([]Version, error)
	// AcknowledgePolicy records an acknowledgement (a second one of the
	// same org and version keeps the first).
	AcknowledgePolicy(ctx context.Context, a Acknowledgement) error
	// PolicyAcknowledged reports whether the org acknowledged the version.
	PolicyAcknowledged(ctx context.Context, orgID, versionID string) (bool, error)
}

// Owners pages through the active owners of every org (dynamostore.Store,
// from an index of owners, not a scan of the table).
type Owners interface {
	OrgOwners(ctx context.Context, limit int, from page.Cursor) ([]account.User, page.Cursor, error)
}

// Mailer sends one email (sesmail.Client).
type Mailer interface {
	SendEmail(ctx context.Context, e outbound.Email) (string, error)
}

var idPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$`)

// Check validates a version about to be published at now: an id of
// letters, digits, '.', '_' and '-', a summary, and an effective date at
// least MinNotice after now.
func Check(v Version, now time.Time) error {
	if !idPattern.MatchString(v.ID) {
		return &RefusedError{Reason: "the version must be 1 to 32 letters, digits, '.', '_' or '-', e.g. 2027-01"}
	}
	if strings.TrimSpace(v.Summary) == "" || len(v.Summary) > MaxSummaryLen {
		return &RefusedError{Reason: fmt.Sprintf("a summary of the changes is required (at most %d bytes)", MaxSummaryLen)}
	}
	earliest := now.UTC().Add(MinNotice)
	if v.Effective.Before(earliest) {
		return &RefusedError{Reason: fmt.Sprintf("the effective date %s is less than %d days ahead; the earliest allowed now is %s",
			v.Effective.UTC().Format(DateLayout), int(MinNotice/(24*time.Hour)), earliestDay(earliest).Format(DateLayout))}
	}
	return nil
}

// earliestDay is the first whole day (00:00 UTC) at or after t.
func earliestDay(t time.Time) time.Time {
	d := t.UTC().Truncate(24 * time.Hour)
	if d.Before(t) {
		d = d.Add(24 * time.Hour)
	}
	return d
}

// ParseDate reads an effective date (YYYY-MM-DD, UTC).
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("effective date %q: want YYYY-MM-DD: %w", s, err)
	}
	return t, nil
}

// Current returns, of versions, the one in force at now (the latest
// effective date not after now) and the upcoming one (the earliest
// effective date after now); either is nil when there is none.
func Current(versions []Version, now time.Time) (current, upcoming *Version) {
	for i := range versions {
		v := &versions[i]
		if !v.Effective.After(now) {
			if current == nil || v.Effective.After(current.Effective) {
				current = v
			}
		} else if upcoming == nil || v.Effective.Before(upcoming.Effective) {
			upcoming = v
		}
	}
	return current, upcoming
}

// Newest returns the version with the latest effective date, nil when
// there is none: the one owners are asked to acknowledge.
func Newest(versions []Version) *Version {
	var n *Version
	for i := range versions {
		if n == nil || versions[i].Effective.After(n.Effective) {
			n = &versions[i]
		}
	}
	return n
}
