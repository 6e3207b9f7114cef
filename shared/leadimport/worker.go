package leadimport

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/plan"
)

// Leads is what the worker needs of lead.Service.
type Leads interface {
	CreateWithID(ctx context.Context, a lead.Actor, id string, in lead.Lead) (lead.Lead, error)
	Get(ctx context.Context, a lead.Actor, id string) (lead.Lead, error)
	Update(ctx context.Context, a lead.Actor, id string, version int, p lead.Patch) (lead.Lead, error)
	Contact(a lead.Actor, in lead.Lead) (phone, email string)
}

// Contacts finds the lead holding a phone or an email (lead.Store;
// lead.ErrNotFound when none).
type Contacts interface {
	LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error)
	LeadIDByEmail(ctx context.Context, orgID, email string) (string, error)
}

// Plans counts created leads against the org's plan (plan.Service).
type Plans interface {
	Take(ctx context.Context, orgID string, m plan.Metric) error
	Release(ctx context.Context, orgID string, m plan.Metric) error
}

// Consent appends to leads' consent ledgers (dynamostore.Store); an entry
// with the same id written again replaces itself.
type Consent interface {
	AppendConsent(ctx context.Context, c conversation.ConsentEntry) error
}

// Worker applies chunks of imports.
type Worker struct {
	Store    Store
	Leads    Leads
	Contacts Contacts
	// Plans, when set, counts each created lead (plan.LeadsPerMonth).
	Plans   Plans
	Consent Consent
	Log     *slog.Logger
	// Parallel is how many rows are written at once (default 8).
	Parallel int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

// Apply writes a chunk's rows and counts them in its import. A failure
// (of the store) returns an error: the chunk is delivered again, and the
// rows that have their outcome are not written again. It reports the
// chunk's tally.
func (w *Worker) Apply(ctx context.Context, c Chunk) (Tally, error) {
	done, err := w.Store.RowOutcomes(ctx, c.OrgID, c.ImportID, c.First, c.Last)
	if err != nil {
		return Tally{}, fmt.Errorf("read outcomes of import %s: %w", c.ImportID, err)
	}
	expires := c.CreatedAt.Add(Keep)
	var mu sync.Mutex
	record := func(o RowOutcome) error {
		got, err := w.Store.PutRowOutcome(ctx, c.OrgID, c.ImportID, o, expires)
		if err != nil {
			return fmt.Errorf("store outcome of row %d of import %s: %w", o.Row, c.ImportID, err)
		}
		mu.Lock()
		done[o.Row] = got
		mu.Unlock()
		return nil
	}
	for _, r := range c.Rejects {
		if _, ok := done[r.Row]; !ok {
			if err := record(r); err != nil {
				return Tally{}, err
			}
		}
	}
	a := c.Actor()
	// Rows naming the same contact go to the same lane, in file order, so
	// the first creates the lead and the others merge into it.
	lanes := max(w.Parallel, 1)
	if w.Parallel == 0 {
		lanes = 8
	}
	queues := make([][]Row, lanes)
	for _, r := range c.Rows {
		if _, ok := done[r.Row]; ok {
			continue
		}
		phone, email := w.Leads.Contact(a, r.Lead())
		h := fnv.New32a()
		if phone != "" {
			h.Write([]byte(phone))
		} else {
			h.Write([]byte(email))
		}
		i := int(h.Sum32() % uint32(lanes)) //nolint:gosec // lanes is small
		queues[i] = append(queues[i], r)
	}
	errs := make([]error, lanes)
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Go(func() {
			for _, r := range q {
				o, err := w.row(ctx, a, c, r)
				if err == nil {
					err = record(o)
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Tally{}, err
	}
	var t Tally
	for _, o := range done {
		t.Add(o.Outcome)
	}
	imp, added, err := w.Store.CompleteChunk(ctx, c.OrgID, c.ImportID, c.Index, t, w.now())
	if err != nil {
		return Tally{}, fmt.Errorf("count chunk %d of import %s: %w", c.Index, c.ImportID, err)
	}
	if imp.Status == StatusRunning && imp.ChunksDone >= imp.Chunks {
		if err := w.Store.FinishImport(ctx, c.OrgID, c.ImportID, w.now()); err != nil {
			return Tally{}, fmt.Errorf("finish import %s: %w", c.ImportID, err)
		}
	}
	if w.Log != nil {
		w.Log.InfoContext(ctx, "import chunk applied", "import_id", c.ImportID, "chunk", c.Index, "chunks", c.Count,
			"created", t.Created, "merged", t.Merged, "rejected", t.Rejected, "counted_before", !added)
	}
	return t, nil
}

func rejected(row int, reason, field string) RowOutcome {
	return RowOutcome{Row: row, Outcome: Rejected, Reason: reason, Field: field}
}

// row writes one row: its lead created, or merged into the lead that has
// its phone or email, or it is rejected. An error is a failure to retry.
func (w *Worker) row(ctx context.Context, a lead.Actor, c Chunk, r Row) (RowOutcome, error) {
	in := r.Lead()
	if strings.TrimSpace(in.Source) == "" {
		in.Source = SourceImport
	}
	id := keyedID(c.ImportID, c.CreatedAt, r.Row, "lead")
	phone, email := w.Leads.Contact(a, in)
	existing, err := w.holder(ctx, c.OrgID, phone, email)
	if err != nil {
		return RowOutcome{}, err
	}
	switch existing {
	case "":
	case id:
		// This row created it on an earlier delivery.
		return w.created(ctx, a, c, r, id)
	default:
		return w.merge(ctx, a, c, r, existing, in)
	}
	if w.Plans != nil {
		err := w.Plans.Take(ctx, c.OrgID, plan.LeadsPerMonth)
		if _, over := plan.IsLimit(err); over {
			return rejected(r.Row, ReasonPlanLimit, "row"), nil
		}
		if err != nil {
			return RowOutcome{}, err
		}
	}
	_, err = w.Leads.CreateWithID(ctx, a, id, in)
	if err != nil && w.Plans != nil {
		if rerr := w.Plans.Release(ctx, c.OrgID, plan.LeadsPerMonth); rerr != nil && w.Log != nil {
			w.Log.WarnContext(ctx, "release plan use", "import_id", c.ImportID, "err", rerr)
		}
	}
	var dup *lead.DuplicateError
	switch {
	case err == nil:
		return w.created(ctx, a, c, r, id)
	case errors.As(err, &dup) && dup.ExistingID == id:
		return w.created(ctx, a, c, r, id)
	case errors.Is(err, lead.ErrVersionMismatch):
		// The row's keyed lead exists: an earlier delivery created it
		// (and its contacts have changed since, or the lookup would have
		// found it).
		if _, gerr := w.Leads.Get(ctx, a, id); gerr == nil {
			return w.created(ctx, a, c, r, id)
		}
	case errors.As(err, &dup) && dup.ExistingID != "":
		// Another lead took the contact since the lookup.
		return w.merge(ctx, a, c, r, dup.ExistingID, in)
	}
	if o, ok := invalid(r.Row, err); ok {
		return o, nil
	}
	return RowOutcome{}, fmt.Errorf("create lead of row %d: %w", r.Row, err)
}

// holder is the id of the lead with the phone, else the email ("" when
// none).
func (w *Worker) holder(ctx context.Context, orgID, phone, email string) (string, error) {
	if phone != "" {
		id, err := w.Contacts.LeadIDByPhone(ctx, orgID, phone)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, lead.ErrNotFound) {
			return "", fmt.Errorf("find lead by phone: %w", err)
		}
	}
	if email != "" {
		id, err := w.Contacts.LeadIDByEmail(ctx, orgID, email)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, lead.ErrNotFound) {
			return "", fmt.Errorf("find lead by email: %w", err)
		}
	}
	return "", nil
}

// invalid turns a validation failure into a rejection.
func invalid(row int, err error) (RowOutcome, bool) {
	var fe *lead.FieldError
	var fes lead.FieldErrors
	var de *lead.DeniedError
	switch {
	case errors.As(err, &fes) && len(fes) > 0:
		return rejected(row, ReasonInvalid, csvField(fes[0].Field)), true
	case errors.As(err, &fe):
		return rejected(row, ReasonInvalid, csvField(fe.Field)), true
	case errors.As(err, &de):
		return rejected(row, "denied", "row"), true
	}
	var dup *lead.DuplicateError
	if errors.As(err, &dup) {
		// Another lead holds the value of a unique field (a custom field
		// defined unique; a contact another lead took).
		return rejected(row, ReasonConflict, csvField(dup.Field)), true
	}
	return RowOutcome{}, false
}

// csvField names a lead field as a file's column does.
func csvField(f string) string {
	if k, ok := strings.CutPrefix(f, "custom_fields."); ok {
		return lead.ColCustomPrefix + k
	}
	return f
}

// created records the opt-ins of a row whose lead it created.
func (w *Worker) created(ctx context.Context, a lead.Actor, c Chunk, r Row, id string) (RowOutcome, error) {
	if err := w.optIns(ctx, a, c, r, id, r.OptIns); err != nil {
		return RowOutcome{}, err
	}
	return RowOutcome{Row: r.Row, Outcome: Created}, nil
}

// optIns appends the row's opt-ins to the lead's consent ledger, each
// under an id of its own derived from the row, so a repeat rewrites it.
func (w *Worker) optIns(ctx context.Context, a lead.Actor, c Chunk, r Row, leadID string, keys []string) error {
	for _, k := range keys {
		ch, purpose, _ := strings.Cut(k, ":")
		e := conversation.ConsentEntry{ID: keyedID(c.ImportID, c.CreatedAt, r.Row, "consent:"+k), OrgID: c.OrgID, LeadID: leadID,
			Channel: conversation.Channel(ch), Purpose: purpose, Action: conversation.OptIn, At: c.CreatedAt, Evidence: r.Evidence,
			Source: conversation.SourceImport, By: a.User.ID, Reason: "import"}
		if err := w.Consent.AppendConsent(ctx, e); err != nil {
			return fmt.Errorf("record opt-in of row %d: %w", r.Row, err)
		}
	}
	return nil
}

// merge fills the existing lead's empty fields from the row and adds the
// row's tags and the custom fields the lead lacks; what the lead has is
// never overwritten. When the row's other contact belongs to another lead,
// the merge leaves phone and email as they are.
func (w *Worker) merge(ctx context.Context, a lead.Actor, c Chunk, r Row, id string, in lead.Lead) (RowOutcome, error) {
	contacts := true
	for range 3 {
		old, err := w.Leads.Get(ctx, a, id)
		if err != nil {
			// Deleted since the lookup too: the next delivery creates it.
			return RowOutcome{}, fmt.Errorf("read lead to merge row %d: %w", r.Row, err)
		}
		p, changed := fill(old, in, contacts)
		if changed {
			_, err = w.Leads.Update(ctx, a, id, old.Version, p)
			var dup *lead.DuplicateError
			switch {
			case errors.Is(err, lead.ErrVersionMismatch):
				continue // changed meanwhile: read it again
			case errors.As(err, &dup) && contacts && (dup.Field == "phone" || dup.Field == "email"):
				// The row's other contact belongs to another lead.
				contacts = false
				continue
			case err != nil:
				if o, ok := invalid(r.Row, err); ok {
					return o, nil
				}
				return RowOutcome{}, fmt.Errorf("merge row %d: %w", r.Row, err)
			}
		}
		// Opt-ins only where the lead has no state for the channel and
		// purpose: an opt-out stays.
		var keys []string
		for _, k := range r.OptIns {
			if _, ok := old.Consent[k]; !ok {
				keys = append(keys, k)
			}
		}
		if err := w.optIns(ctx, a, c, r, id, keys); err != nil {
			return RowOutcome{}, err
		}
		return RowOutcome{Row: r.Row, Outcome: Merged}, nil
	}
	return rejected(r.Row, ReasonConflict, "row"), nil
}

// fill is the patch that fills old's empty fields from in, adds in's tags
// and the custom fields old lacks; changed reports whether it changes anything.
func fill(old, in lead.Lead, contacts bool) (p lead.Patch, changed bool) {
	set := func(dst **string, have, v string) {
		if strings.TrimSpace(have) == "" && strings.TrimSpace(v) != "" {
			*dst = &v
			changed = true
		}
	}
	set(&p.Name, old.Name, in.Name)
	if contacts {
		set(&p.Phone, old.Phone, in.Phone)
		set(&p.Email, old.Email, in.Email)
	}
	set(&p.Source, old.Source, in.Source)
	tags := slices.Clone(old.Tags)
	for _, t := range in.Tags {
		if !slices.ContainsFunc(tags, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(t)) }) {
			tags = append(tags, t)
		}
	}
	if len(tags) > len(old.Tags) {
		p.Tags = &tags
		changed = true
	}
	cf := maps.Clone(old.CustomFields)
	added := false
	for k, v := range in.CustomFields {
		if _, ok := cf[k]; !ok && v != "" {
			if cf == nil {
				cf = map[string]string{}
			}
			cf[k] = v
			added = true
		}
	}
	if added {
		p.CustomFields = &cf
		changed = true
	}
	return p, changed
}
