package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Duplicate is another lead of the org that is likely the same person as
// a lead, and why: Reasons are "phone" (its phone is the lead's phone read
// another way) and "email" (its email is the lead's email, or the lead's
// address in canonical form).
type Duplicate struct {
	Lead    Lead
	Reasons []string
}

// Duplicates returns the leads of the actor's org that are likely the
// same person as lead id, each once, in the order found (phone matches
// first). A lead's phone and email are unique in the org, so no other lead
// has them exactly: the candidates are the lead's phone read differently
// (PhoneVariants in the actor's region: the country code left out, the
// national number typed as international) and its email in canonical form
// (EmailVariants: without a "+tag", Gmail without dots). Each candidate is
// one guard read (LeadIDByPhone, LeadIDByEmail), never a scan; the match
// is one way (a lead stored in canonical form does not find the dotted
// address). An agent sees only the lead and the duplicates assigned to
// itself: others are left out, and a lead it may not see is ErrNotFound.
func (s *Service) Duplicates(ctx context.Context, a Actor, id string) ([]Duplicate, error) {
	l, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	var out []Duplicate
	// add adds lead otherID for reason, unless fits (when given) says it
	// does not hold what found it.
	add := func(otherID, reason string, fits func(Lead) bool) error {
		if otherID == l.ID {
			return nil
		}
		for i := range out {
			if out[i].Lead.ID == otherID {
				if !slices.Contains(out[i].Reasons, reason) {
					out[i].Reasons = append(out[i].Reasons, reason)
				}
				return nil
			}
		}
		o, err := s.Get(ctx, a, otherID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if fits != nil && !fits(o) {
			return nil
		}
		out = append(out, Duplicate{Lead: o, Reasons: []string{reason}})
		return nil
	}
	if l.Phone != "" && s.PhoneVariants != nil {
		for _, p := range s.PhoneVariants(l.Phone, s.region(a)) {
			other, err := s.Store.LeadIDByPhone(ctx, l.OrgID, p)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("find lead by phone variant: %w", err)
			}
			if err := add(other, "phone", nil); err != nil {
				return nil, err
			}
		}
	}
	if l.Email != "" && s.CanonicalEmails != nil {
		// Leads stored with dots or a tag, found from any form.
		canon := CanonicalEmail(l.Email)
		ids, err := s.CanonicalEmails.LeadIDsByCanonicalEmail(ctx, l.OrgID, canon)
		if err != nil {
			return nil, fmt.Errorf("find leads by canonical email: %w", err)
		}
		// The index entry may be older than the lead's email (a purge
		// of Meta data rewrites leads): the lead must still hold it.
		fits := func(o Lead) bool {
			return slices.ContainsFunc(append([]string{o.Email}, o.Emails...), func(e string) bool { return e != "" && CanonicalEmail(e) == canon })
		}
		for _, id := range ids {
			if err := add(id, "email", fits); err != nil {
				return nil, err
			}
		}
	}
	if l.Email != "" {
		for _, e := range EmailVariants(l.Email) {
			other, err := s.Store.LeadIDByEmail(ctx, l.OrgID, e)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("find lead by email variant: %w", err)
			}
			if err := add(other, "email", nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// CanonicalEmail is the form every variant of a lower-cased email shares
// (EmailVariants): the local part without a "+tag", and for Gmail without
// dots, on gmail.com. An address that is not one is returned as it is.
func CanonicalEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return email
	}
	local, domain := email[:at], email[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local, domain = strings.ReplaceAll(local, ".", ""), "gmail.com"
	}
	if local == "" {
		return email
	}
	return local + "@" + domain
}

// CanonicalEmailIndex finds the leads with an email (primary or
// secondary) whose canonical form is canonical and differs from the email
// itself (dynamostore.Store): the other way of the email match.
type CanonicalEmailIndex interface {
	LeadIDsByCanonicalEmail(ctx context.Context, orgID, canonical string) ([]string, error)
}

// EmailVariants returns the other addresses that reach the mailbox of a
// lower-cased email: without a "+tag" in the local part, and for Gmail
// (gmail.com, googlemail.com) without dots in the local part, on both
// domains. It leaves out email itself.
func EmailVariants(email string) []string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return nil
	}
	local, domain := email[:at], email[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	domains := []string{domain}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local = strings.ReplaceAll(local, ".", "")
		domains = []string{"gmail.com", "googlemail.com"}
	}
	var out []string
	for _, d := range domains {
		if v := local + "@" + d; v != email && local != "" {
			out = append(out, v)
		}
	}
	return out
}
