// Package automation runs an org's automations on intake and send events:
//
//   - Lead Ads welcome: when a new lead arrives from a Lead Ads form, send
//     a configured WhatsApp UTILITY template, if the lead opted in to
//     WhatsApp (a consent question of the form the org mapped; the welcome
//     is business-initiated, so sendgate.Consent requires the opt-in);
//   - after-hours reply: when a lead writes on WhatsApp while the business
//     is closed, reply once per closed period with a configured text (the
//     lead's message has just opened the 24-hour window);
//   - re-engagement: when a WhatsApp message fails with error 131047 (the
//     24-hour window has closed), send the org's configured template once
//     per failed message, if auto-send is on and the lead opted in to the
//     template's purpose.
//
// All of them queue their message the way the api does (QueueOutbound of the
// store, then a sendgate.Job on the outbound queue), with a ClientMessageID that
// names the event, so a redelivered event never sends twice; all pass the
// sender's gates (sendgate.Check) before queueing, and the sender checks
// them again; all append an audit record (action "automation.send",
// actor "system").
//
// Settings are per org, kept by a SettingsStore (in the single table, one
// item per org holding the JSON of Settings; see docs/data-model.md).
package automation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Settings are one org's automations. The zero value has every automation
// off.
type Settings struct {
	LeadAds    LeadAdsWelcome `json:"lead_ads_welcome" required:"false"`
	AfterHours AfterHours     `json:"after_hours" required:"false"`
	// Reengagement names the template that reaches a lead again after a
	// message failed with WhatsApp error 131047.
	Reengagement Reengagement `json:"reengagement" required:"false"`
	UpdatedAt    time.Time    `json:"updated_at" required:"false" readOnly:"true"`
}

// LeadAdsWelcome sends a WhatsApp template to every new Lead Ads lead that
// has a phone number.
type LeadAdsWelcome struct {
	Enabled bool `json:"enabled" required:"false"`
	// Template and Language name an approved template of category UTILITY.
	Template string `json:"template" required:"false"`
	Language string `json:"language" required:"false"`
	// Parameters fill the template body's {{1}}, {{2}}, ... in order, each
	// from a lead field: "name", "first_name", "phone", "email", or the key
	// of a custom field (a Lead Ads question, e.g. "which_city?"). A lead
	// missing one of them gets no message (audited as a failure).
	Parameters []string `json:"parameters,omitempty"`
	// PhoneNumberID is the WhatsApp number to send from; empty means the
	// org's most recently connected active number.
	PhoneNumberID string `json:"phone_number_id,omitempty"`
}

// AfterHours replies to WhatsApp messages that arrive outside business
// hours.
type AfterHours struct {
	Enabled bool `json:"enabled" required:"false"`
	// Text is the reply (at most 4,096 characters).
	Text string `json:"text" required:"false"`
	// Hours are the business hours; outside them the reply is sent.
	Hours BusinessHours `json:"hours" required:"false"`
}

// Reengagement is the org's approved WhatsApp template for a lead whose
// message failed with error 131047 ("Re-engagement message": more than 24
// hours since the lead last wrote, so WhatsApp accepts only a template).
// The failed message's API view offers it (see docs/conversations.md);
// with AutoSend the template is queued once per failed message, when the
// lead's consent allows it (sendgate.Consent: a business-initiated
// template needs the lead's opt-in for its category's purpose).
type Reengagement struct {
	// AutoSend queues the template automatically.
	AutoSend bool `json:"auto_send" required:"false"`
	// Template and Language name an approved template without parameters.
	Template string `json:"template" required:"false"`
	Language string `json:"language" required:"false"`
	// Category is the template's category, "marketing" (the default) or
	// "utility": it decides which opt-in the lead needs.
	Category string `json:"category,omitempty" required:"false"`
}

// TemplateCategory is the category of the re-engagement template:
// sendgate.CategoryMarketing unless set to utility.
func (r Reengagement) TemplateCategory() string {
	if strings.EqualFold(r.Category, "utility") {
		return "utility"
	}
	return "marketing"
}

// BusinessHours are opening times per weekday in one time zone. A day
// without times is closed all day; a day opens and closes on the same date
// (Open before Close, no spans past midnight).
type BusinessHours struct {
	// TimeZone is an IANA name such as "Asia/Kolkata".
	TimeZone string `json:"time_zone" required:"false"`
	// Days maps lower-case English weekday names ("monday") to that day's
	// opening times.
	Days map[string]OpenHours `json:"days" required:"false"`
}

// OpenHours are one day's opening and closing times, "HH:MM" (24-hour).
type OpenHours struct {
	Open  string `json:"open"`
	Close string `json:"close"`
}

// Validate reports the first problem of the settings, with the field's
// JSON path.
func (s Settings) Validate() error {
	if s.LeadAds.Enabled && (strings.TrimSpace(s.LeadAds.Template) == "" || strings.TrimSpace(s.LeadAds.Language) == "") {
		return errors.New("lead_ads_welcome: template and language are required when enabled")
	}
	if s.Reengagement.AutoSend && (strings.TrimSpace(s.Reengagement.Template) == "" || strings.TrimSpace(s.Reengagement.Language) == "") {
		return errors.New("reengagement: template and language are required when auto_send is on")
	}
	if c := strings.ToLower(s.Reengagement.Category); c != "" && c != "marketing" && c != "utility" {
		return fmt.Errorf("reengagement.category: %q is not marketing or utility", s.Reengagement.Category)
	}
	if s.AfterHours.Enabled {
		if strings.TrimSpace(s.AfterHours.Text) == "" {
			return errors.New("after_hours.text: required when enabled")
		}
		if n := len([]rune(s.AfterHours.Text)); n > 4096 {
			return fmt.Errorf("after_hours.text: %d characters, at most 4096", n)
		}
		if _, err := s.AfterHours.Hours.location(); err != nil {
			return err
		}
		for day, h := range s.AfterHours.Hours.Days {
			if _, ok := weekdays[day]; !ok {
				return fmt.Errorf("after_hours.hours.days: unknown day %q", day)
			}
			if _, _, err := h.minutes(); err != nil {
				return fmt.Errorf("after_hours.hours.days.%s: %w", day, err)
			}
		}
	}
	return nil
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

func (h BusinessHours) location() (*time.Location, error) {
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil || h.TimeZone == "" {
		return nil, fmt.Errorf("after_hours.hours.time_zone: %q is not an IANA time zone", h.TimeZone)
	}
	return loc, nil
}

// minutes returns the opening and closing minute of the day; both zero for
// a closed day.
func (o OpenHours) minutes() (int, int, error) {
	if o.Open == "" && o.Close == "" {
		return 0, 0, nil
	}
	open, err := hhmm(o.Open)
	if err != nil {
		return 0, 0, fmt.Errorf("open: %w", err)
	}
	cl, err := hhmm(o.Close)
	if err != nil {
		return 0, 0, fmt.Errorf("close: %w", err)
	}
	if cl <= open {
		return 0, 0, fmt.Errorf("close %s is not after open %s", o.Close, o.Open)
	}
	return open, cl, nil
}

func hhmm(s string) (int, error) {
	hs, ms, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hs)
	m, merr := strconv.Atoi(ms)
	if !ok || herr != nil || merr != nil || len(ms) != 2 || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return h*60 + m, nil
}

// day returns the opening interval of the local date of t, ok false when
// that day is closed.
func (h BusinessHours) day(t time.Time) (open, closing time.Time, ok bool) {
	for name, wd := range weekdays {
		if wd != t.Weekday() {
			continue
		}
		o, c, err := h.Days[name].minutes()
		if err != nil || c == 0 {
			return time.Time{}, time.Time{}, false
		}
		midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
		return midnight.Add(time.Duration(o) * time.Minute), midnight.Add(time.Duration(c) * time.Minute), true
	}
	return time.Time{}, time.Time{}, false
}

// Closed reports whether the business is closed at t and, if so, names the
// closed period t falls in by the local date ("2006-01-02") on which it
// began: the date of the last closing time before t. Without any closing
// time in the week before t (no opening hours at all) the period is t's
// local date. Invalid hours count as always open: nothing is sent.
func (h BusinessHours) Closed(t time.Time) (closed bool, period string) {
	loc, err := h.location()
	if err != nil {
		return false, ""
	}
	t = t.In(loc)
	if o, c, ok := h.day(t); ok && !t.Before(o) && t.Before(c) {
		return false, ""
	}
	for back := range 8 {
		d := t.AddDate(0, 0, -back)
		if _, c, ok := h.day(d); ok && !c.After(t) {
			return true, c.Format(time.DateOnly)
		}
	}
	return true, t.Format(time.DateOnly)
}

// SettingsStore keeps each org's Settings as given (dynamostore.Store);
// an org that never saved any gets the zero Settings.
type SettingsStore interface {
	AutomationSettings(ctx context.Context, orgID string) (Settings, error)
	PutAutomationSettings(ctx context.Context, orgID string, st Settings) error
}

// Store keeps each org's Settings: it stores only valid settings, stamped
// with their update time.
type Store struct {
	db SettingsStore
}

// NewStore returns a Store over db.
func NewStore(db SettingsStore) *Store { return &Store{db: db} }

// Settings returns an org's settings; an org that never saved any gets the
// zero Settings (everything off).
func (s *Store) Settings(ctx context.Context, orgID string) (Settings, error) {
	st, err := s.db.AutomationSettings(ctx, orgID)
	if err != nil {
		return Settings{}, fmt.Errorf("read automation settings of %s: %w", orgID, err)
	}
	return st, nil
}

// PutSettings validates and stores an org's settings, replacing the
// previous ones.
func (s *Store) PutSettings(ctx context.Context, orgID string, st Settings) error {
	if err := st.Validate(); err != nil {
		return fmt.Errorf("automation settings: %w", err)
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now().UTC()
	}
	if err := s.db.PutAutomationSettings(ctx, orgID, st); err != nil {
		return fmt.Errorf("store automation settings of %s: %w", orgID, err)
	}
	return nil
}
