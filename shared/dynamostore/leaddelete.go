package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/shared/suppression"
)

// Deleting a lead removes the lead and everything recorded about it: the
// items of its history partition (messages, consent ledger, activities,
// notes, tasks, conversation summary), the provider id guards and status events of its
// messages (WAMID# partitions) and their outbound idempotency guards. What
// stays is a suppression entry per contact: the lead's opt-outs under a
// keyed hash of its phone or email, so that a lead created later for the
// same contact in the org starts with them.
//
// DeleteLead first runs one transaction: the lead item, its guards and its
// conversation summary go (the lead is gone from every read), the
// suppression entries are written, and a pending purge item names the lead.
// Then, when the history is small (at most leadPurgeBound items), it is
// removed in the request and the pending item with it. Otherwise the
// pending item stays and the retention function's lead purge job
// (PendingLeadPurges, PurgeLead) finishes the work; a purge interrupted in
// the request is finished the same way.

// The lead purge job's port.
var _ retention.LeadPurgeStore = (*Store)(nil)

// leadPurgeBound is the largest history DeleteLead removes in the request.
const leadPurgeBound = 300

// purgePage is how many history items one purge step reads.
const purgePage = 100

// ContactHasher names a phone or email in an org by keyed hash
// (suppression.Hasher).
type ContactHasher interface {
	Phone(orgID, e164 string) string
	Email(orgID, email string) string
}

// ContactSource returns the hasher of suppression entries, or nil while
// there is none (no suppression key exists yet).
type ContactSource func(ctx context.Context) (ContactHasher, error)

// UseSuppression sets the hasher of suppression entries: without one,
// deleting a lead with a phone or email fails, and creating a lead reads
// no suppression entries. It returns s.
func (s *Store) UseSuppression(h ContactHasher) *Store {
	return s.UseSuppressionSource(func(context.Context) (ContactHasher, error) { return h, nil })
}

// UseSuppressionSource is UseSuppression for a function that may not
// create the suppression key: src is asked at each use until it returns a
// hasher (suppression.Lazy), so a key created after this function started
// is used as soon as it exists. It returns s.
func (s *Store) UseSuppressionSource(src ContactSource) *Store {
	s.contacts = src
	return s
}

// UseLazySuppression is UseSuppressionSource over l (for functions without
// the right to create the suppression key). It returns s.
func (s *Store) UseLazySuppression(l *suppression.Lazy) *Store {
	return s.UseSuppressionSource(func(ctx context.Context) (ContactHasher, error) {
		h, err := l.Hasher(ctx)
		if h == nil {
			return nil, err // not a typed nil in the interface
		}
		return h, nil
	})
}

// contactHasher returns the hasher of suppression entries, nil when none.
func (s *Store) contactHasher(ctx context.Context) (ContactHasher, error) {
	if s.contacts == nil {
		return nil, nil
	}
	h, err := s.contacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("suppression key: %w", err)
	}
	return h, nil
}

// suppressionItem keeps a deleted lead's opt-outs under the keyed hash of
// one of its contacts; it holds no phone or email.
type suppressionItem struct {
	PK   string `dynamodbav:"PK"`
	SK   string `dynamodbav:"SK"`
	Type string `dynamodbav:"type"`
	// Contact is "phone" or "email": which contact the key hashes.
	Contact string `dynamodbav:"contact"`
	// OptOuts maps "channel:purpose" to the time of the opt-out (RFC 3339).
	OptOuts map[string]string `dynamodbav:"opt_outs"`
	// Sources maps "channel:purpose" to how the opt-out was expressed
	// (keyword, button, bounce, staff, ...), from the consent ledger: a
	// staff opt-out may be undone by staff, the person's own may not.
	Sources   map[string]string `dynamodbav:"sources,omitempty"`
	UpdatedAt time.Time         `dynamodbav:"updated_at"`
}

// pendingPurgeItem names a deleted lead whose history is still being
// removed.
type pendingPurgeItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"org_id"`
	LeadID    string    `dynamodbav:"lead_id"`
	DeletedAt time.Time `dynamodbav:"deleted_at"`
}

// optOuts returns the opt-outs of a consent map ("channel:purpose" →
// "opt_out@<time>"), as "channel:purpose" → time.
func optOuts(consent map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range consent {
		if at, ok := strings.CutPrefix(v, "opt_out@"); ok {
			out[k] = at
		}
	}
	return out
}

// suppressionWrites writes (or, when the lead has no opt-outs, removes)
// the suppression entries of the lead's contacts.
func (s *Store) suppressionWrites(ctx context.Context, l lead.Lead, sources map[string]string) ([]types.TransactWriteItem, error) {
	if l.Phone == "" && l.Email == "" {
		return nil, nil
	}
	contacts, err := s.contactHasher(ctx)
	if err != nil {
		return nil, err
	}
	if contacts == nil {
		return nil, errors.New("delete lead: no suppression key configured")
	}
	outs := optOuts(l.Consent)
	var items []types.TransactWriteItem
	for _, c := range leadContacts(l) {
		h := contacts.Phone(l.OrgID, c.value)
		if c.kind == "email" {
			h = contacts.Email(l.OrgID, c.value)
		}
		if len(outs) == 0 {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(l.OrgID), suppressionSK(h))}})
			continue
		}
		av, err := marshal(suppressionItem{PK: orgPK(l.OrgID), SK: suppressionSK(h), Type: "suppression", Contact: c.kind,
			OptOuts: outs, Sources: sources, UpdatedAt: s.now().UTC()})
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}})
	}
	return items, nil
}

// contact is one phone or email of a lead.
type contact struct{ kind, value string }

// leadContacts lists a lead's phones and emails, primary ones first.
func leadContacts(l lead.Lead) []contact {
	var out []contact
	for _, p := range append([]string{l.Phone}, l.Phones...) {
		if p != "" {
			out = append(out, contact{"phone", p})
		}
	}
	for _, e := range append([]string{l.Email}, l.Emails...) {
		if e != "" {
			out = append(out, contact{"email", e})
		}
	}
	return out
}

// optOutSources returns, per opt-out in the lead's consent map, how it
// was expressed: the source of the newest ledger entry for that channel and
// purpose ("" when the ledger has none). One Query, only for a lead with
// opt-outs.
func (s *Store) optOutSources(ctx context.Context, l lead.Lead) (map[string]string, error) {
	outs := optOuts(l.Consent)
	if len(outs) == 0 || (l.Phone == "" && l.Email == "") {
		return nil, nil
	}
	ledger, err := s.ConsentLedger(ctx, l.OrgID, l.ID)
	if err != nil {
		return nil, fmt.Errorf("read consent of lead %s: %w", l.ID, err)
	}
	sources := map[string]string{}
	for _, e := range ledger {
		k := string(e.Channel) + ":" + e.Purpose
		if _, ok := outs[k]; ok && e.Action == conversation.OptOut {
			sources[k] = e.Source
		}
	}
	return sources, nil
}

// suppressionEvidence is the evidence of a consent entry carried from a
// suppression entry to a new lead.
const suppressionEvidence = "suppression"

// carrySuppression adds to a new lead's consent the opt-outs recorded for
// its phone and email in the org (one GetItem per contact), and returns the
// consent ledger entries that record them on the new lead (with the
// original time and source, evidence "suppression"), to be written with
// it. A consent the new lead already states for a channel and purpose is
// kept.
func (s *Store) carrySuppression(ctx context.Context, l *lead.Lead) ([]types.TransactWriteItem, error) {
	contacts, err := s.contactHasher(ctx)
	if err != nil || contacts == nil {
		return nil, err
	}
	var writes []types.TransactWriteItem
	for _, c := range []struct{ kind, value string }{{"phone", l.Phone}, {"email", l.Email}} {
		if c.value == "" {
			continue
		}
		h := contacts.Phone(l.OrgID, c.value)
		if c.kind == "email" {
			h = contacts.Email(l.OrgID, c.value)
		}
		var it suppressionItem
		ok, err := s.get(ctx, orgPK(l.OrgID), suppressionSK(h), &it)
		if err != nil {
			return nil, fmt.Errorf("read suppression entry: %w", err)
		}
		if !ok {
			continue
		}
		consent := maps.Clone(l.Consent)
		if consent == nil {
			consent = map[string]string{}
		}
		for _, k := range slices.Sorted(maps.Keys(it.OptOuts)) {
			if _, set := consent[k]; set {
				continue
			}
			at := it.OptOuts[k]
			consent[k] = "opt_out@" + at
			channel, purpose, _ := strings.Cut(k, ":")
			when, err := time.Parse(time.RFC3339, at)
			if err != nil {
				when = s.now()
			}
			av, err := marshal(consentItem{PK: leadPartPK(l.OrgID, l.ID), SK: consentSK(ulid.MustNew(ulid.Timestamp(when), ulid.DefaultEntropy()).String()),
				Type: "consent", OrgID: l.OrgID, LeadID: l.ID, Channel: channel, Purpose: purpose, Action: conversation.OptOut, At: when.UTC(),
				Evidence: suppressionEvidence, Source: it.Sources[k]})
			if err != nil {
				return nil, err
			}
			writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}})
		}
		l.Consent = consent
	}
	return writes, nil
}

// DeleteLead removes a lead and its history, keeping its opt-outs in
// suppression entries (see the top of this file). l must be the stored
// lead at its current version (else lead.ErrVersionMismatch).
func (s *Store) DeleteLead(ctx context.Context, l lead.Lead) (lead.Deletion, error) {
	sources, err := s.optOutSources(ctx, l)
	if err != nil {
		return lead.Deletion{}, err
	}
	supp, err := s.suppressionWrites(ctx, l, sources)
	if err != nil {
		return lead.Deletion{}, err
	}
	pending, err := marshal(pendingPurgeItem{PK: pendingPurgePK, SK: pendingPurgeSK(l.OrgID, l.ID), Type: "pending_lead_purge",
		OrgID: l.OrgID, LeadID: l.ID, DeletedAt: s.now().UTC()})
	if err != nil {
		return lead.Deletion{}, err
	}
	items := []types.TransactWriteItem{{Delete: &types.Delete{
		TableName: &s.table, Key: key(orgPK(l.OrgID), leadSK(l.ID)),
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(l.Version)}},
	}}}
	counts := map[string]int{"lead": 1}
	// Merge records hold copies of the lead (and of the leads it
	// absorbed): they go first, so none outlives it.
	if n, err := s.deleteLeadMerges(ctx, l.OrgID, l.ID); err != nil {
		return lead.Deletion{}, err
	} else if n > 0 {
		counts["merge"] = n
	}
	// Its guards: phones and emails (secondary ones from merges too) and
	// unique custom field values.
	for _, sk := range slices.Sorted(maps.Keys(contactGuards(l))) {
		items = append(items, s.leadGuardDelete(l.OrgID, sk, l.ID))
		counts["lead_guard"]++
	}
	items = append(items, s.conversationDelete(l.OrgID, l.ID))
	canon, err := s.canonWrites(l.OrgID, l.ID, canonEmails(l), nil)
	if err != nil {
		return lead.Deletion{}, err
	}
	items = append(items, canon...)
	items = append(items, supp...)
	items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: pending}})
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return lead.Deletion{}, s.leadWriteError(ctx, l.OrgID, err, nil, "delete lead "+l.ID)
	}
	// The lead is gone; now its history, when small enough.
	// A failure from here on leaves the rest to the lead purge job (the
	// pending purge item records it): the delete itself is done. Its
	// tasks go first, whatever the size: the org-wide task and reminder
	// indexes must not list a deleted lead's tasks.
	if err := s.deleteLeadTasks(ctx, l.OrgID, l.ID, counts); err != nil {
		return lead.Deletion{Counts: counts, Pending: true}, nil
	}
	if n, err := s.historySize(ctx, l.OrgID, l.ID, leadPurgeBound+1); err != nil || n > leadPurgeBound {
		return lead.Deletion{Counts: counts, Pending: true}, nil
	}
	more, done, err := s.PurgeLead(ctx, l.OrgID, l.ID, leadPurgeBound*4)
	for k, v := range more {
		counts[k] += v
	}
	return lead.Deletion{Counts: counts, Pending: err != nil || !done}, nil
}

// historySize counts up to limit items of a lead's history partition.
func (s *Store) historySize(ctx context.Context, orgID, leadID string, limit int) (int, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), Select: types.SelectCount,
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: leadPartPK(orgID, leadID)}},
	}
	n := 0
	for n < limit {
		in.Limit = aws.Int32(int32(min(limit-n, leadPurgeBound+1))) //nolint:gosec // bounded above
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count history of lead %s: %w", leadID, err)
		}
		n += int(out.Count)
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return n, nil
}

// PendingLeadPurges lists up to limit deleted leads whose history is still
// to be removed, oldest org id first (one Query).
func (s *Store) PendingLeadPurges(ctx context.Context, limit int) ([]retention.PendingLeadPurge, error) {
	res, err := firstOfPartition(ctx, s, pendingPurgePK, limit, func(it pendingPurgeItem) retention.PendingLeadPurge {
		return retention.PendingLeadPurge{OrgID: it.OrgID, LeadID: it.LeadID, DeletedAt: it.DeletedAt}
	})
	if err != nil {
		return nil, fmt.Errorf("list pending lead purges: %w", err)
	}
	return res, nil
}

// PurgeLead removes up to about budget items of a deleted lead's history
// and reports the counts removed by item kind, and done when nothing is
// left (its pending purge item is then removed too). It is idempotent and
// resumable: each step removes a message's provider id partition and
// idempotency guard before the message, so what remains can still be
// found. The lead item itself must already be gone (DeleteLead).
func (s *Store) PurgeLead(ctx context.Context, orgID, leadID string, budget int) (map[string]int, bool, error) {
	counts := map[string]int{}
	removed := 0
	for removed < budget {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
			Limit:                    aws.Int32(purgePage),
			ProjectionExpression:     aws.String("PK, SK, #t, provider_id, client_message_id"),
			ExpressionAttributeNames: map[string]string{"#t": "type"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: leadPartPK(orgID, leadID)},
			},
		})
		if err != nil {
			return counts, false, fmt.Errorf("read history of lead %s: %w", leadID, err)
		}
		if len(out.Items) == 0 {
			_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(pendingPurgePK, pendingPurgeSK(orgID, leadID))})
			if err != nil {
				return counts, false, fmt.Errorf("finish purge of lead %s: %w", leadID, err)
			}
			return counts, true, nil
		}
		hs := make([]historyRead, 0, len(out.Items))
		for _, item := range out.Items {
			var h historyRead
			if err := unmarshal(item, &h); err != nil {
				return counts, false, err
			}
			hs = append(hs, h)
		}
		n, err := s.deleteHistoryItems(ctx, orgID, leadID, hs, counts)
		removed += n
		if err != nil {
			return counts, false, err
		}
	}
	return counts, false, nil
}

// partitionKeys lists the keys and kinds of every item of a partition.
func (s *Store) partitionKeys(ctx context.Context, pk string) ([]map[string]types.AttributeValue, []string, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("PK, SK, #t"), ExpressionAttributeNames: map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	})
	var keys []map[string]types.AttributeValue
	var kinds []string
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", pk, err)
		}
		for _, item := range pg.Items {
			keys = append(keys, map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]})
			kind := "item"
			if t, ok := item["type"].(*types.AttributeValueMemberS); ok {
				kind = t.Value
			}
			kinds = append(kinds, kind)
		}
	}
	return keys, kinds, nil
}

// batchDelete deletes items by key, 25 a request, retrying what DynamoDB
// leaves unprocessed.
func (s *Store) batchDelete(ctx context.Context, keys []map[string]types.AttributeValue) error {
	for start := 0; start < len(keys); start += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, k := range keys[start:min(start+25, len(keys))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		pending := map[string][]types.WriteRequest{s.table: reqs}
		for attempt := 0; len(pending[s.table]) > 0; attempt++ {
			if attempt == 8 {
				return errors.New("batch delete: items left unprocessed")
			}
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return fmt.Errorf("batch delete: %w", ctx.Err())
				case <-time.After(time.Duration(25<<attempt) * time.Millisecond):
				}
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch delete: %w", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}
