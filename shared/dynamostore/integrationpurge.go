package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/retention"
)

// Purging a disconnected integration removes what it brought from Meta
// before its disconnection (DisconnectIntegration records the purge; the
// retention function's integration purge job runs it):
//
//   - a Facebook page: the Lead Ads answers of the leads it created (the
//     lead fields and custom fields their provenance names, and their ad,
//     ad set, campaign and form ids) and the Lead Ads activities it
//     recorded on any lead (from_meta, details.page_id);
//   - a WhatsApp number: the WhatsApp messages on the number (inbound and
//     outbound, with their provider id partitions, status logs, media
//     references and idempotency guards), the referral activities of
//     messages to the number (from_meta, details.number), and the name,
//     phone and Click-to-WhatsApp attribution of the leads it created;
//   - both: the events parked for the integration, and the profile data
//     held on the integration item (name, WABA id, display number, forms)
//     unless it was connected again.
//
// A lead that came from the integration and that the business never
// worked on is deleted whole through DeleteLead (its opt-outs stay as
// suppression entries). A lead counts as worked on when a user created it
// (created_by), a user edited it (edited_at), or its history holds
// anything the purge does not remove (email messages, messages of another
// number, another page's activities, ...): it keeps that and loses the
// Meta fields and items; one left with neither phone nor email is deleted.
// Only what was collected before the disconnection goes: leads by the time
// of their ULID, messages and activities by their time.
//
// Access path: the org partition's leads (one Query per page of leads,
// begins_with LEAD#), then each lead's history partition (one Query); no
// Scan. The purge record (org partition, PURGE#INTEGRATION#<kind>#<id>)
// is the checkpoint: its phase and the last lead done.

// The integration purge job's port.
var _ retention.IntegrationPurgeStore = (*Store)(nil)

// integrationPurgeItem is the progress of one integration's purge.
type integrationPurgeItem struct {
	PK             string         `dynamodbav:"PK"`
	SK             string         `dynamodbav:"SK"`
	Type           string         `dynamodbav:"type"`
	OrgID          string         `dynamodbav:"org_id"`
	Kind           string         `dynamodbav:"kind"`
	ExternalID     string         `dynamodbav:"external_id"`
	State          string         `dynamodbav:"state"`
	DisconnectedAt time.Time      `dynamodbav:"disconnected_at"`
	StartedAt      *time.Time     `dynamodbav:"started_at,omitempty"`
	FinishedAt     *time.Time     `dynamodbav:"finished_at,omitempty"`
	Counts         map[string]int `dynamodbav:"counts"`
	// Phase is "leads", "parked", "profile"; Cursor the last lead done.
	Phase  string `dynamodbav:"phase"`
	Cursor string `dynamodbav:"cursor,omitempty"`
}

// pendingIntegrationPurgeItem names an integration purge still to run.
type pendingIntegrationPurgeItem struct {
	PK             string    `dynamodbav:"PK"`
	SK             string    `dynamodbav:"SK"`
	Type           string    `dynamodbav:"type"`
	OrgID          string    `dynamodbav:"org_id"`
	Kind           string    `dynamodbav:"kind"`
	ExternalID     string    `dynamodbav:"external_id"`
	DisconnectedAt time.Time `dynamodbav:"disconnected_at"`
}

// Purge phases.
const (
	phaseLeads   = "leads"
	phaseParked  = "parked"
	phaseProfile = "profile"
)

// countLeadPurgePending is the count key of a lead deleted with its
// history left to the lead purge job (retention reads it, never stores it).
const countLeadPurgePending = "lead_purge_pending"

// leadsPerStep is how many leads one purge page reads.
const leadsPerStep = 25

// integrationPurgeWrites are the writes that record a pending purge of an
// integration disconnected at at (part of DisconnectIntegration's
// transaction).
func (s *Store) integrationPurgeWrites(orgID, kind, externalID string, at time.Time) ([]types.TransactWriteItem, error) {
	rec, err := marshal(integrationPurgeItem{PK: orgPK(orgID), SK: integrationPurgeSK(kind, externalID), Type: "integration_purge",
		OrgID: orgID, Kind: kind, ExternalID: externalID, State: retention.PurgePending, DisconnectedAt: at.UTC(),
		Counts: map[string]int{}, Phase: phaseLeads})
	if err != nil {
		return nil, err
	}
	marker, err := marshal(pendingIntegrationPurgeItem{PK: pendingIntegrationPurgePK, SK: pendingIntegrationPurgeSK(orgID, kind, externalID),
		Type: "pending_integration_purge", OrgID: orgID, Kind: kind, ExternalID: externalID, DisconnectedAt: at.UTC()})
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: rec}},
		{Put: &types.Put{TableName: &s.table, Item: marker}},
	}, nil
}

// PendingIntegrationPurges lists up to limit integration purges still to
// run (one Query).
func (s *Store) PendingIntegrationPurges(ctx context.Context, limit int) ([]retention.PendingIntegrationPurge, error) {
	res, err := firstOfPartition(ctx, s, pendingIntegrationPurgePK, limit, func(it pendingIntegrationPurgeItem) retention.PendingIntegrationPurge {
		return retention.PendingIntegrationPurge{OrgID: it.OrgID, Kind: it.Kind, ExternalID: it.ExternalID, DisconnectedAt: it.DisconnectedAt}
	})
	if err != nil {
		return nil, fmt.Errorf("list pending integration purges: %w", err)
	}
	return res, nil
}

// IntegrationPurges returns the progress of every purge of an org's
// integrations (one Query), for the integrations' health.
func (s *Store) IntegrationPurges(ctx context.Context, orgID string) ([]retention.IntegrationPurge, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixIntegrationPurge)
	if err != nil {
		return nil, err
	}
	out := make([]retention.IntegrationPurge, 0, len(items))
	for _, item := range items {
		var it integrationPurgeItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.purge())
	}
	return out, nil
}

func (it integrationPurgeItem) purge() retention.IntegrationPurge {
	p := retention.IntegrationPurge{OrgID: it.OrgID, Kind: it.Kind, ExternalID: it.ExternalID, State: it.State,
		DisconnectedAt: it.DisconnectedAt, Counts: it.Counts}
	if it.StartedAt != nil {
		p.StartedAt = *it.StartedAt
	}
	if it.FinishedAt != nil {
		p.FinishedAt = *it.FinishedAt
	}
	return p
}

// PurgeIntegration removes up to about budget items of what an
// integration brought before its disconnection (see the top of this file)
// and reports the counts by kind, and done when nothing is left: the
// purge record is then marked done and the pending marker removed. A
// purge with no record (the org was purged) is done.
func (s *Store) PurgeIntegration(ctx context.Context, orgID, kind, externalID string, budget int) (map[string]int, bool, error) {
	counts := map[string]int{}
	var rec integrationPurgeItem
	ok, err := s.get(ctx, orgPK(orgID), integrationPurgeSK(kind, externalID), &rec)
	if err != nil {
		return counts, false, fmt.Errorf("read purge of %s %s: %w", kind, externalID, err)
	}
	if !ok || rec.State == retention.PurgeDone {
		return counts, true, s.dropPurgeMarker(ctx, orgID, kind, externalID)
	}
	was := rec.DisconnectedAt
	if rec.State == retention.PurgePending {
		now := s.now().UTC()
		rec.State, rec.StartedAt = retention.PurgeRunning, &now
	}
	removed := 0
	for removed < budget && rec.Phase == phaseLeads {
		n, err := s.purgeLeadsPage(ctx, &rec, counts)
		removed += n
		if err != nil {
			return counts, false, s.savePurge(ctx, rec, was, counts, err)
		}
	}
	if rec.Phase == phaseParked && removed < budget {
		n, err := s.purgeParked(ctx, rec, counts)
		removed += n
		if err != nil {
			return counts, false, s.savePurge(ctx, rec, was, counts, err)
		}
		rec.Phase = phaseProfile
	}
	if rec.Phase != phaseProfile || removed >= budget {
		return counts, false, s.savePurge(ctx, rec, was, counts, nil)
	}
	if err := s.purgeProfile(ctx, rec, counts); err != nil {
		return counts, false, s.savePurge(ctx, rec, was, counts, err)
	}
	now := s.now().UTC()
	rec.State, rec.FinishedAt = retention.PurgeDone, &now
	if err := s.savePurge(ctx, rec, was, counts, nil); err != nil {
		return counts, false, err
	}
	return counts, true, s.dropPurgeMarker(ctx, orgID, kind, externalID)
}

// savePurge writes the purge record with counts added, unless the
// integration was disconnected again meanwhile (a newer record, which
// starts over); cause, when not nil, is returned wrapped.
func (s *Store) savePurge(ctx context.Context, rec integrationPurgeItem, was time.Time, counts map[string]int, cause error) error {
	if rec.Counts == nil {
		rec.Counts = map[string]int{}
	}
	for k, v := range counts {
		if k != countLeadPurgePending {
			rec.Counts[k] += v
		}
	}
	av, err := marshal(rec)
	if err == nil {
		var at map[string]types.AttributeValue
		at, err = marshal(struct {
			At time.Time `dynamodbav:"at"`
		}{was})
		if err == nil {
			_, err = s.db.PutItem(context.WithoutCancel(ctx), &dynamodb.PutItemInput{TableName: &s.table, Item: av,
				ConditionExpression:       aws.String("disconnected_at = :at"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":at": at["at"]}})
			if isConditionFailed(err) {
				err = nil // disconnected again: the newer record goes on
			}
		}
	}
	if cause != nil {
		return cause
	}
	if err != nil {
		return fmt.Errorf("save purge of %s %s: %w", rec.Kind, rec.ExternalID, err)
	}
	return nil
}

func (s *Store) dropPurgeMarker(ctx context.Context, orgID, kind, externalID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table,
		Key: key(pendingIntegrationPurgePK, pendingIntegrationPurgeSK(orgID, kind, externalID))})
	if err != nil {
		return fmt.Errorf("finish purge of %s %s: %w", kind, externalID, err)
	}
	return nil
}

// purgeLeadsPage handles the next page of the org's leads after the
// record's cursor, moving the cursor (or the phase, at the end).
func (s *Store) purgeLeadsPage(ctx context.Context, rec *integrationPurgeItem, counts map[string]int) (int, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"), Limit: aws.Int32(leadsPerStep),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(rec.OrgID)}, ":p": &types.AttributeValueMemberS{Value: prefixLead},
		},
	}
	if rec.Cursor != "" {
		in.ExclusiveStartKey = key(orgPK(rec.OrgID), leadSK(rec.Cursor))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("list leads of org %s: %w", rec.OrgID, err)
	}
	removed := 0
	for _, item := range out.Items {
		var it leadItem
		if err := unmarshal(item, &it); err != nil {
			return removed, err
		}
		n, err := s.purgeLeadOfIntegration(ctx, it.lead(), rec.Kind, rec.ExternalID, rec.DisconnectedAt, counts)
		removed += n
		if err != nil {
			return removed, err
		}
		rec.Cursor = it.ID
	}
	if out.LastEvaluatedKey == nil {
		rec.Phase, rec.Cursor = phaseParked, ""
	}
	return removed + 1, nil
}

// historyRead is what the purge reads of a lead's history item.
type historyRead struct {
	SK         string            `dynamodbav:"SK"`
	Type       string            `dynamodbav:"type"`
	Kind       string            `dynamodbav:"kind"`
	Channel    string            `dynamodbav:"channel"`
	Number     string            `dynamodbav:"number"`
	At         time.Time         `dynamodbav:"at"`
	ProviderID string            `dynamodbav:"provider_id"`
	ClientID   string            `dynamodbav:"client_message_id"`
	FromMeta   bool              `dynamodbav:"from_meta"`
	Details    map[string]string `dynamodbav:"details"`
}

// fromIntegration says whether a lead was created from the integration.
func fromIntegration(l lead.Lead, kind, externalID string) bool {
	p := l.Provenance
	return p != nil && p.IntegrationKind == kind && p.IntegrationID == externalID
}

// collectedAt is when a lead was stored: its ULID's time (its CreatedAt is
// Meta's submission time, which backfill may fetch much later).
func collectedAt(l lead.Lead) time.Time {
	if id, err := ulid.ParseStrict(l.ID); err == nil {
		return ulid.Time(id.Time())
	}
	return l.CreatedAt
}

// purgeLeadOfIntegration removes what the integration brought to one lead
// before cut, and returns how many items it removed.
func (s *Store) purgeLeadOfIntegration(ctx context.Context, l lead.Lead, kind, externalID string, cut time.Time, counts map[string]int) (int, error) {
	items, err := s.partitionItems(ctx, leadPartPK(l.OrgID, l.ID))
	if err != nil {
		return 0, err
	}
	var metaItems []historyRead
	other, sawNumber := 0, false
	for _, item := range items {
		var h historyRead
		if err := unmarshal(item, &h); err != nil {
			return 0, err
		}
		switch {
		case h.Type == "message" && h.Channel == string(conversation.ChannelWhatsApp) && kind == string(integration.KindWhatsApp) && h.Number == externalID:
			sawNumber = true
			if h.At.Before(cut) {
				metaItems = append(metaItems, h)
			} else {
				other++
			}
		case h.Type == "activity" && h.FromMeta && kind == string(integration.KindFacebookPage) && h.Details["page_id"] == externalID && h.At.Before(cut):
			metaItems = append(metaItems, h)
		case h.Type == "activity" && h.FromMeta && kind == string(integration.KindWhatsApp) && h.Kind == lead.ActivityReferral &&
			h.Details["number"] == externalID && h.At.Before(cut):
			// A Click-to-WhatsApp referral of a message to the number.
			metaItems = append(metaItems, h)
		case h.Type == "consent" || h.Type == "conversation" || (h.Type == "activity" && h.Kind == lead.ActivityCreated):
			// Neither Meta's nor the business's: they follow the lead (the
			// "created" entry of the timeline too: it is no work on it).
		default:
			other++
		}
	}
	mine := fromIntegration(l, kind, externalID)
	if !mine && kind == string(integration.KindWhatsApp) && l.Provenance != nil && l.Provenance.IntegrationKind == kind && l.Provenance.IntegrationID == "" {
		// Leads created by WhatsApp before provenance named the number:
		// theirs is the number their messages came to.
		mine = sawNumber
	}
	mine = mine && collectedAt(l).Before(cut)
	worked := l.CreatedBy != "" || !l.EditedAt.IsZero() || other > 0
	if mine && !worked {
		return s.purgeDeleteLead(ctx, l, counts)
	}
	removed := 0
	if len(metaItems) > 0 {
		n, err := s.deleteHistoryItems(ctx, l.OrgID, l.ID, metaItems, counts)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	if mine && l.Provenance != nil && (len(l.Provenance.Fields) > 0 || hasAdIDs(l)) {
		n, err := s.stripMetaFields(ctx, l, counts)
		return removed + n, err
	}
	return removed, nil
}

// purgeDeleteLead deletes a lead through the lead delete path, adding its
// counts.
func (s *Store) purgeDeleteLead(ctx context.Context, l lead.Lead, counts map[string]int) (int, error) {
	var d lead.Deletion
	gone, err := s.onCurrentLead(ctx, l, func(l lead.Lead) error {
		var err error
		d, err = s.DeleteLead(ctx, l)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete lead %s: %w", l.ID, err)
	}
	if gone {
		return 0, nil
	}
	n := 0
	for k, v := range d.Counts {
		counts[k] += v
		n += v
	}
	if d.Pending {
		counts[countLeadPurgePending]++
	}
	return n, nil
}

// onCurrentLead calls write with l and, while l changed meanwhile (a
// version mismatch: a message arrived, say), reads it again and calls
// write with that, three times at most. A lead gone meanwhile is no error:
// gone is true.
func (s *Store) onCurrentLead(ctx context.Context, l lead.Lead, write func(lead.Lead) error) (gone bool, err error) {
	for attempt := 0; ; attempt++ {
		err := write(l)
		if !errors.Is(err, lead.ErrVersionMismatch) || attempt >= 3 {
			return false, err
		}
		if l, err = s.GetLead(ctx, l.OrgID, l.ID); errors.Is(err, lead.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, err
		}
	}
}

// deleteHistoryItems deletes items of a lead's history (a deleted lead's
// whole history, or an integration's Meta items), each message's provider
// id partition and idempotency guard first, so that what remains after an
// interruption can still be found. It returns how many items it removed
// and adds them to counts by kind.
func (s *Store) deleteHistoryItems(ctx context.Context, orgID, leadID string, hs []historyRead, counts map[string]int) (int, error) {
	var derived, own []map[string]types.AttributeValue
	for _, h := range hs {
		if h.ProviderID != "" {
			keys, kinds, err := s.partitionKeys(ctx, wamidPK(h.ProviderID))
			if err != nil {
				return 0, err
			}
			derived = append(derived, keys...)
			for _, k := range kinds {
				counts[k]++
			}
		}
		if h.ClientID != "" {
			var g clientMessageItem
			ok, err := s.get(ctx, orgPK(orgID), clientMessageSK(h.ClientID), &g)
			if err != nil {
				return 0, err
			}
			if ok && g.LeadID == leadID {
				derived = append(derived, key(orgPK(orgID), clientMessageSK(h.ClientID)))
				counts["client_message"]++
			}
		}
		own = append(own, key(leadPartPK(orgID, leadID), h.SK))
		counts[h.Type]++
	}
	if err := s.batchDelete(ctx, derived); err != nil {
		return 0, err
	}
	if err := s.batchDelete(ctx, own); err != nil {
		return len(derived), err
	}
	return len(derived) + len(own), nil
}

// stripMetaFields removes from a lead the fields its provenance says came
// from Meta; a lead left with neither phone nor email is deleted.
func (s *Store) stripMetaFields(ctx context.Context, l lead.Lead, counts map[string]int) (int, error) {
	n := 0
	_, err := s.onCurrentLead(ctx, l, func(l lead.Lead) error {
		fields := l.Provenance.Fields
		next := withoutFields(l, fields)
		if next.Phone == "" && next.Email == "" {
			var err error
			n, err = s.purgeDeleteLead(ctx, l, counts)
			return err
		}
		next.Version = l.Version + 1
		next.UpdatedAt = s.now().UTC()
		if err := s.UpdateLead(ctx, l, next); err != nil {
			return err
		}
		counts["lead_meta_field"] += len(fields)
		if hasAdIDs(l) {
			counts["lead_attribution"]++
		}
		n = 1
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("remove Meta fields of lead %s: %w", l.ID, err)
	}
	return n, nil
}

// hasAdIDs reports whether a lead holds Meta's ids of where it came from:
// a Click-to-WhatsApp attribution, or the ad, ad set, campaign or form of
// a Lead Ads submission.
func hasAdIDs(l lead.Lead) bool {
	p := l.Provenance
	return l.Attribution != nil || (p != nil && (p.AdID != "" || p.AdsetID != "" || p.CampaignID != "" || p.FormID != ""))
}

// withoutFields returns l without the named fields (name, phone, email or
// custom field keys), its attribution and its ad, ad set, campaign and
// form ids, and with its provenance naming none: a name from Meta becomes
// the remaining email or phone.
func withoutFields(l lead.Lead, fields []string) lead.Lead {
	next := l
	next.CustomFields = maps.Clone(l.CustomFields)
	if next.CustomFields == nil {
		next.CustomFields = map[string]string{}
	}
	for _, f := range fields {
		switch f {
		case "name":
		case "phone":
			next.Phone = ""
		case "email":
			next.Email = ""
		default:
			delete(next.CustomFields, f)
		}
	}
	if slices.Contains(fields, "name") {
		next.Name = next.Email
		if next.Name == "" {
			next.Name = next.Phone
		}
	}
	p := *l.Provenance
	p.Fields = nil
	p.AdID, p.AdsetID, p.CampaignID, p.FormID = "", "", "", ""
	next.Provenance = &p
	next.Attribution = nil
	return next
}

// purgeParked removes the events parked for the integration before the
// disconnection.
func (s *Store) purgeParked(ctx context.Context, rec integrationPurgeItem, counts map[string]int) (int, error) {
	items, err := s.partitionItems(ctx, parkedPK(rec.OrgID, rec.Kind, rec.ExternalID))
	if err != nil {
		return 0, err
	}
	var keys []map[string]types.AttributeValue
	for _, item := range items {
		var it parkedItem
		if err := unmarshal(item, &it); err != nil {
			return 0, err
		}
		if it.Parked.Before(rec.DisconnectedAt) || it.Parked.Equal(rec.DisconnectedAt) {
			keys = append(keys, key(it.PK, it.SK))
		}
	}
	if err := s.batchDelete(ctx, keys); err != nil {
		return 0, err
	}
	if len(keys) > 0 {
		counts["parked_event"] += len(keys)
	}
	return len(keys), nil
}

// purgeProfile removes the profile data Meta gave for the integration
// (page name, WABA id, display number, forms), unless it was connected
// again after the disconnection.
func (s *Store) purgeProfile(ctx context.Context, rec integrationPurgeItem, counts map[string]int) error {
	var it integrationItem
	ok, err := s.get(ctx, orgPK(rec.OrgID), integrationSK(rec.Kind, rec.ExternalID), &it)
	if err != nil || !ok {
		return err
	}
	if it.Status != string(integration.StatusDisconnected) || it.ConnectedAt.After(rec.DisconnectedAt) {
		return nil
	}
	if it.Name == "" && it.WABAID == "" && it.DisplayPhoneNumber == "" && len(it.FormIDs) == 0 {
		return nil
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(rec.OrgID), integrationSK(rec.Kind, rec.ExternalID)),
		UpdateExpression:         aws.String("REMOVE #n, waba_id, display_phone_number, form_ids"),
		ConditionExpression:      aws.String("#st = :disc"),
		ExpressionAttributeNames: map[string]string{"#n": "name", "#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":disc": &types.AttributeValueMemberS{Value: string(integration.StatusDisconnected)},
		},
	})
	if isConditionFailed(err) {
		return nil // connected again meanwhile
	}
	if err != nil {
		return fmt.Errorf("remove profile of %s %s: %w", rec.Kind, rec.ExternalID, err)
	}
	counts["integration_profile"]++
	return nil
}

// partitionItems reads every live item of partition pk, in key order.
func (s *Store) partitionItems(ctx context.Context, pk string) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", pk, err)
		}
		out = append(out, live(pg.Items, s.now())...)
	}
	return out, nil
}
