package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/page"
)

// BackfillStore is what backfill needs beyond Store.
type BackfillStore interface {
	IntegrationsOfKind(ctx context.Context, kind integration.Kind, limit int, from page.Cursor) ([]integration.Integration, page.Cursor, error)
	SetBackfillSince(ctx context.Context, orgID string, kind integration.Kind, externalID string, since time.Time) error
}

// LeadLister lists a page's forms and their leads (the Graph API).
type LeadLister interface {
	PageForms(ctx context.Context, pageID, token string) ([]meta.Form, error)
	FormLeads(ctx context.Context, formID, token string, since time.Time, after string) ([]meta.Lead, string, error)
}

// maxBackfillPages bounds the Graph pages read per form per run; the next
// run goes on from where this one stopped.
const maxBackfillPages = 20

// Backfill asks the Graph API, for every active page, for leads of its forms
// created since the newest lead seen, and ingests any that webhooks missed.
// It shares event keys with the webhook path, so a lead already ingested is
// not ingested again. One page's failure does not stop the others.
func (p *Processor) Backfill(ctx context.Context, store BackfillStore, graph LeadLister) (Counts, error) {
	var total Counts
	var errs []error
	var from page.Cursor
	for {
		pages, next, err := store.IntegrationsOfKind(ctx, integration.KindFacebookPage, 100, from)
		if err != nil {
			return total, err
		}
		for _, in := range pages {
			c, err := p.backfillPage(ctx, store, graph, in)
			total.LeadsCreated += c.LeadsCreated
			total.LeadsAttached += c.LeadsAttached
			total.Duplicates += c.Duplicates
			if err != nil {
				errs = append(errs, fmt.Errorf("page %s: %w", in.ExternalID, err))
			}
		}
		if next.IsZero() {
			return total, errors.Join(errs...)
		}
		from = next
	}
}

func (p *Processor) backfillPage(ctx context.Context, store BackfillStore, graph LeadLister, in integration.Integration) (Counts, error) {
	var c Counts
	token, _, err := p.token(ctx, in.OrgID, integration.KindFacebookPage, in.ExternalID)
	if err != nil || token == "" {
		return c, err
	}
	since := in.BackfillSince
	if since.IsZero() {
		since = in.ConnectedAt
	}
	forms := in.FormIDs
	if len(forms) == 0 {
		list, err := graph.PageForms(ctx, in.ExternalID, token)
		if err != nil {
			return c, p.graphFailure(ctx, in, err)
		}
		for _, f := range list {
			forms = append(forms, f.ID)
		}
	}
	newest := since
	for _, formID := range forms {
		after := ""
		for range maxBackfillPages {
			// Meta filters strictly after the time: start a second early and
			// let the event keys drop what was already ingested.
			leads, next, err := graph.FormLeads(ctx, formID, token, since.Add(-time.Second), after)
			if err != nil {
				return c, p.graphFailure(ctx, in, err)
			}
			for _, ml := range leads {
				if ml.FormID == "" {
					ml.FormID = formID
				}
				got, err := p.ApplyLead(ctx, in.OrgID, in.ExternalID, ml)
				c.LeadsCreated += got.LeadsCreated
				c.LeadsAttached += got.LeadsAttached
				c.Duplicates += got.Duplicates
				if err != nil {
					return c, err
				}
				if t, err := ml.Created(); err == nil && t.After(newest) {
					newest = t
				}
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	if newest.After(since) {
		if err := store.SetBackfillSince(ctx, in.OrgID, integration.KindFacebookPage, in.ExternalID, newest); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (p *Processor) graphFailure(ctx context.Context, in integration.Integration, err error) error {
	var ge *meta.GraphError
	if errors.As(err, &ge) && ge.TokenInvalid() {
		if serr := p.Store.SetIntegrationStatus(ctx, in.OrgID, integration.KindFacebookPage, in.ExternalID, integration.StatusTokenInvalid); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("graph api: %w", err)
}
