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
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/lead"
)

// Merging leads (lead.MergeStore). A merge of lead O into lead S can move
// hundreds of history items, more than one transaction holds (100
// actions), so it runs in steps, each one transaction, any of which may be
// the last before a crash:
//
//  1. StartMerge writes the merge record (ORG#<org> / MERGE#<id>, state
//     pending, both leads' snapshots and the merged lead; ttl 31 days),
//     checking both leads are still at the versions read.
//  2. MoveMergeHistory moves O's history partition to S's, at most 25
//     items a transaction: each item is put under S (lead_id S, a
//     reminder's GSI3 key rebuilt, merge_id = the merge, an earlier
//     merge_id pushed on merge_prev) and deleted under O, and the provider
//     id guards (WAMID#) and outbound idempotency guards of its messages
//     are re-pointed in the same transaction. So an item is always in
//     exactly one of the two partitions, and undo finds the moved ones
//     with one Query (filter merge_id).
//  3. FinishMerge writes the leads: S becomes the merged lead and O is
//     deleted (each at the version of its snapshot), O's phone, email and
//     unique custom field guards are re-pointed to S (or released when S
//     keeps its own value), the two conversation summaries become one, the
//     merged activity is written and the record becomes done.
//  4. A last MoveMergeHistory sweeps what reached O's partition meanwhile.
//
// RunMerge resumes a pending merge of the same leads from its record (the
// steps are idempotent); a lead changed between steps 1 and 3 rolls the
// merge back (the undo's steps). Undo (UndoMerge) marks the record
// undoing, restores both leads from their snapshots with their guards and
// summaries, moves the tagged history back and marks it undone; a retried
// undo finishes the same way.

var _ lead.MergeStore = (*Store)(nil)

// mergeBatch is how many history items one move transaction carries (two
// actions each, plus up to two guard updates, plus the merge record's
// check when moving forward: at most 100 actions).
const mergeBatch = 24

// mergeKeep is how long a merge record outlives its undo window, so that
// a late undo is answered "too late" rather than "not found".
const mergeKeep = 24 * time.Hour

// rawItem is an item (or a lead's snapshot) kept whole inside another.
type rawItem map[string]types.AttributeValue

// MarshalDynamoDBAttributeValue implements attributevalue.Marshaler.
func (r rawItem) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	return &types.AttributeValueMemberM{Value: r}, nil
}

// UnmarshalDynamoDBAttributeValue implements attributevalue.Unmarshaler.
func (r *rawItem) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return errors.New("raw item: not a map")
	}
	*r = m.Value
	return nil
}

type mergeItem struct {
	PK         string `dynamodbav:"PK"`
	SK         string `dynamodbav:"SK"`
	Type       string `dynamodbav:"type"`
	ID         string `dynamodbav:"id"`
	OrgID      string `dynamodbav:"org_id"`
	SurvivorID string `dynamodbav:"survivor_id"`
	OtherID    string `dynamodbav:"other_id"`
	State      string `dynamodbav:"state"`
	// Survivor, Other and Merged are lead items: the two leads before the
	// merge and what the survivor becomes.
	Survivor rawItem `dynamodbav:"survivor"`
	Other    rawItem `dynamodbav:"other"`
	Merged   rawItem `dynamodbav:"merged"`
	// SurvivorConv and OtherConv are the leads' conversation summaries
	// before the merge (absent when a lead had none), MergedConvLast the
	// latest message id of the summary the merge wrote.
	SurvivorConv   *rawItem `dynamodbav:"survivor_conv,omitempty"`
	OtherConv      *rawItem `dynamodbav:"other_conv,omitempty"`
	MergedConvLast string   `dynamodbav:"merged_conv_last,omitempty"`
	// LeadsWritten is true while the merged lead stands (FinishMerge
	// sets it, the undo's lead restore clears it).
	LeadsWritten bool      `dynamodbav:"leads_written"`
	By           string    `dynamodbav:"by"`
	At           time.Time `dynamodbav:"at"`
	ExpiresAt    time.Time `dynamodbav:"expires_at"`
	UndoneBy     string    `dynamodbav:"undone_by,omitempty"`
	UndoneAt     time.Time `dynamodbav:"undone_at,omitempty"`
	Moved        int       `dynamodbav:"moved"`
	TTL          int64     `dynamodbav:"ttl"`
}

func (it mergeItem) merge() (lead.Merge, error) {
	m := lead.Merge{ID: it.ID, OrgID: it.OrgID, SurvivorID: it.SurvivorID, OtherID: it.OtherID, State: lead.MergeState(it.State),
		By: it.By, At: it.At, ExpiresAt: it.ExpiresAt, UndoneBy: it.UndoneBy, UndoneAt: it.UndoneAt, Moved: it.Moved}
	for _, s := range []struct {
		raw rawItem
		dst *lead.Lead
	}{{it.Survivor, &m.Survivor}, {it.Other, &m.Other}, {it.Merged, &m.Merged}} {
		var li leadItem
		if err := unmarshal(s.raw, &li); err != nil {
			return lead.Merge{}, fmt.Errorf("decode merge %s: %w", it.ID, err)
		}
		*s.dst = li.lead()
	}
	return m, nil
}

func toMergeItem(m lead.Merge) (mergeItem, error) {
	it := mergeItem{PK: orgPK(m.OrgID), SK: mergeSK(m.ID), Type: "merge", ID: m.ID, OrgID: m.OrgID, SurvivorID: m.SurvivorID,
		OtherID: m.OtherID, State: string(m.State), By: m.By, At: m.At.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
		TTL: m.ExpiresAt.Add(mergeKeep).Unix()}
	for _, s := range []struct {
		l   lead.Lead
		dst *rawItem
	}{{m.Survivor, &it.Survivor}, {m.Other, &it.Other}, {m.Merged, &it.Merged}} {
		av, err := marshal(toLeadItem(s.l))
		if err != nil {
			return mergeItem{}, err
		}
		*s.dst = av
	}
	return it, nil
}

// GetMerge returns one merge of an org (lead.ErrMergeNotFound when there
// is none, or its record has expired).
func (s *Store) GetMerge(ctx context.Context, orgID, mergeID string) (lead.Merge, error) {
	it, err := s.mergeRecord(ctx, orgID, mergeID)
	if err != nil {
		return lead.Merge{}, err
	}
	return it.merge()
}

// DoneMerge returns the merge of otherID into survivorID that stands
// (state done; lead.ErrMergeNotFound when there is none).
func (s *Store) DoneMerge(ctx context.Context, orgID, survivorID, otherID string) (lead.Merge, error) {
	merges, err := s.orgMerges(ctx, orgID)
	if err != nil {
		return lead.Merge{}, err
	}
	for _, it := range slices.Backward(merges) {
		if it.SurvivorID == survivorID && it.OtherID == otherID && it.State == string(lead.MergeDone) {
			return it.merge()
		}
	}
	return lead.Merge{}, lead.ErrMergeNotFound
}

func (s *Store) mergeRecord(ctx context.Context, orgID, mergeID string) (mergeItem, error) {
	var it mergeItem
	ok, err := s.get(ctx, orgPK(orgID), mergeSK(mergeID), &it)
	if err != nil {
		return mergeItem{}, err
	}
	if !ok {
		return mergeItem{}, lead.ErrMergeNotFound
	}
	return it, nil
}

// orgMerges lists an org's live merge records (one Query; the records
// expire after 31 days, so the list stays short).
func (s *Store) orgMerges(ctx context.Context, orgID string) ([]mergeItem, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), prefixMerge)
	if err != nil {
		return nil, fmt.Errorf("list merges of %s: %w", orgID, err)
	}
	out := make([]mergeItem, 0, len(items))
	for _, item := range live(items, s.now()) {
		var it mergeItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// RunMerge carries out merge m (state pending, both snapshots and the
// merged lead set by lead.Service.Merge), or, when a merge of the same two
// leads stopped midway, finishes that one; it returns the merge done.
func (s *Store) RunMerge(ctx context.Context, m lead.Merge) (lead.Merge, error) {
	m, err := s.StartMerge(ctx, m)
	if err != nil {
		return lead.Merge{}, err
	}
	moved := 0
	for {
		n, done, err := s.MoveMergeHistory(ctx, m, 4*mergeBatch)
		moved += n
		if err != nil {
			return lead.Merge{}, err
		}
		if done {
			break
		}
	}
	if err := s.FinishMerge(ctx, m, moved); err != nil {
		if errors.Is(err, lead.ErrMergeClosed) {
			// The same merge asked again while the first request ran
			// may lose the finish to it: done is its answer too.
			if done, gerr := s.GetMerge(ctx, m.OrgID, m.ID); gerr == nil && done.State == lead.MergeDone {
				return done, nil
			}
		}
		if errors.Is(err, lead.ErrVersionMismatch) {
			// A lead changed meanwhile: put everything back.
			if _, uerr := s.UndoMerge(ctx, m.OrgID, m.ID, m.By, s.now()); uerr != nil {
				return lead.Merge{}, errors.Join(err, fmt.Errorf("roll back merge %s: %w", m.ID, uerr))
			}
		}
		return lead.Merge{}, err
	}
	// What reached the absorbed lead's partition between the last move
	// and the lead writes (an inbound message) follows.
	for {
		n, done, err := s.MoveMergeHistory(ctx, m, 4*mergeBatch)
		moved += n
		if err != nil {
			return lead.Merge{}, err
		}
		if done {
			break
		}
	}
	m.State, m.Moved = lead.MergeDone, moved
	return m, nil
}

// StartMerge writes the record of merge m, with both leads' snapshots,
// checking in the same transaction that both are at the versions read.
// When a merge of the same two leads is pending (it stopped midway), it
// returns that one instead; a pending merge or an undo under way of one
// of the two leads with another is lead.ErrMergeBusy.
func (s *Store) StartMerge(ctx context.Context, m lead.Merge) (lead.Merge, error) {
	merges, err := s.orgMerges(ctx, m.OrgID)
	if err != nil {
		return lead.Merge{}, err
	}
	for _, it := range merges {
		if it.State != string(lead.MergePending) && it.State != string(lead.MergeUndoing) {
			continue
		}
		if it.State == string(lead.MergePending) && it.SurvivorID == m.SurvivorID && it.OtherID == m.OtherID {
			return it.merge()
		}
		if slices.Contains([]string{it.SurvivorID, it.OtherID}, m.SurvivorID) || slices.Contains([]string{it.SurvivorID, it.OtherID}, m.OtherID) {
			return lead.Merge{}, lead.ErrMergeBusy
		}
	}
	it, err := toMergeItem(m)
	if err != nil {
		return lead.Merge{}, err
	}
	av, err := marshal(it)
	if err != nil {
		return lead.Merge{}, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		s.lockForMerge(m.OrgID, m.SurvivorID, m.Survivor.Version, m.ID),
		s.lockForMerge(m.OrgID, m.OtherID, m.Other.Version, m.ID),
	})
	if reasons := cancelReasons(err); len(reasons) == 3 && (conditionFailed(reasons[1]) || conditionFailed(reasons[2])) {
		for _, r := range reasons[1:] {
			if conditionFailed(r) && str(r.Item, attrMergeLock) != "" && str(r.Item, attrMergeLock) != m.ID {
				return lead.Merge{}, lead.ErrMergeBusy
			}
		}
		return lead.Merge{}, lead.ErrVersionMismatch
	}
	if err != nil {
		return lead.Merge{}, fmt.Errorf("start merge %s: %w", m.ID, err)
	}
	return m, nil
}

// attrMergeLock on a lead item names the merge under way of that lead
// (StartMerge sets it; the merge's lead writes, which replace or delete
// both lead items, and the end of an undo clear it), so two merges of one
// lead never run at once.
const attrMergeLock = "merge_lock"

// lockForMerge is the update marking lead leadID, at version, as in merge
// mergeID: refused when the lead is at another version or in another
// merge (the refusal returns the item, to tell the two apart). The
// version does not change.
func (s *Store) lockForMerge(orgID, leadID string, version int, mergeID string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)),
		UpdateExpression:         aws.String("SET #lock = :id"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND version = :v AND (attribute_not_exists(#lock) OR #lock = :id)"),
		ExpressionAttributeNames: map[string]string{"#lock": attrMergeLock},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberN{Value: fmt.Sprint(version)}, ":id": &types.AttributeValueMemberS{Value: mergeID},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// unlockAfterMerge clears merge mergeID's mark on lead leadID, where it is
// still there (a lead the undo restored or deleted has none).
func (s *Store) unlockAfterMerge(ctx context.Context, orgID, leadID, mergeID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)),
		UpdateExpression:          aws.String("REMOVE #lock"),
		ConditionExpression:       aws.String("#lock = :id"),
		ExpressionAttributeNames:  map[string]string{"#lock": attrMergeLock},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: mergeID}},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("clear merge %s of lead %s: %w", mergeID, leadID, err)
	}
	return nil
}

// MoveMergeHistory moves up to about limit items of the absorbed lead's
// history partition to the survivor's (see the top of this file) and
// reports how many it moved and done when none is left. It is idempotent:
// each item moves in one transaction with its guards, so a crash leaves
// it in one place or the other.
func (s *Store) MoveMergeHistory(ctx context.Context, m lead.Merge, limit int) (int, bool, error) {
	return s.moveHistory(ctx, m, false, limit)
}

// moveHistory moves history for merge m: forward, the absorbed lead's
// whole partition to the survivor; back (undo), the survivor's items
// tagged with m's id to the absorbed lead.
func (s *Store) moveHistory(ctx context.Context, m lead.Merge, back bool, limit int) (int, bool, error) {
	from, to := m.OtherID, m.SurvivorID
	in := &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: leadPartPK(m.OrgID, from)}},
	}
	if back {
		from, to = to, from
		in.ExpressionAttributeValues[":pk"] = &types.AttributeValueMemberS{Value: leadPartPK(m.OrgID, from)}
		in.FilterExpression = aws.String("merge_id = :m")
		in.ExpressionAttributeValues[":m"] = &types.AttributeValueMemberS{Value: m.ID}
	}
	// Forward, each batch reads the partition from its start (what was
	// moved is gone, and what arrives meanwhile is found); back, the
	// survivor's own items stay, so the read goes on after the last item
	// taken.
	var resume map[string]types.AttributeValue
	moved, conflicts := 0, 0
	for moved < limit {
		var batch []map[string]types.AttributeValue
		start := resume
		in.ExclusiveStartKey = resume
	read:
		for {
			in.Limit = aws.Int32(mergeBatch * 4)
			out, err := s.db.Query(ctx, in)
			if err != nil {
				return moved, false, fmt.Errorf("read history of lead %s: %w", from, err)
			}
			for _, item := range out.Items {
				if str(item, attrSK) == skConversation {
					continue // the summaries are the lead writes' (FinishMerge)
				}
				batch = append(batch, item)
				if len(batch) == mergeBatch {
					if back {
						resume = map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}
					}
					break read
				}
			}
			if out.LastEvaluatedKey == nil {
				resume = nil
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
		if len(batch) == 0 {
			return moved, true, nil
		}
		err := s.moveBatch(ctx, m, batch, from, to, back)
		if errors.Is(err, lead.ErrMergeClosed) {
			return moved, false, err
		}
		if reasons := cancelReasons(err); reasons != nil && conflicts < 5 {
			// An item or guard changed between the read and the write:
			// read that batch again.
			conflicts++
			resume = start
			continue
		}
		if err != nil {
			return moved, false, fmt.Errorf("move history of lead %s to %s: %w", from, to, err)
		}
		moved += len(batch)
	}
	return moved, false, nil
}

// moveBatch moves items from lead from's partition to lead to's in one
// transaction, with the guards of their messages.
func (s *Store) moveBatch(ctx context.Context, m lead.Merge, batch []map[string]types.AttributeValue, from, to string, back bool) error {
	var guardKeys []map[string]types.AttributeValue
	for _, item := range batch {
		if v := str(item, "provider_id"); v != "" && str(item, "type") == "message" {
			guardKeys = append(guardKeys, key(wamidPK(v), skWAMID))
		}
		if v := str(item, "client_message_id"); v != "" && str(item, "type") == "message" {
			guardKeys = append(guardKeys, key(orgPK(m.OrgID), clientMessageSK(v)))
		}
	}
	var guards []map[string]types.AttributeValue
	if len(guardKeys) > 0 {
		err := s.batchGet(ctx, guardKeys, &batchProjection{expr: "PK, SK, lead_id", consistent: true}, func(item map[string]types.AttributeValue) error {
			if str(item, "lead_id") == from {
				guards = append(guards, item)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	items := make([]types.TransactWriteItem, 0, 2*len(batch)+len(guards))
	for _, item := range batch {
		next := movedItem(item, m, from, to, back)
		items = append(items,
			types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: next, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]},
				ConditionExpression: aws.String("attribute_exists(PK)")}})
	}
	for _, g := range guards {
		items = append(items, s.repoint(map[string]types.AttributeValue{attrPK: g[attrPK], attrSK: g[attrSK]}, from, to))
	}
	if !back {
		// Forward only while the merge stands: an undo begun meanwhile
		// moves back what was moved, and nothing may follow it.
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: &s.table, Key: key(orgPK(m.OrgID), mergeSK(m.ID)),
			ConditionExpression:      aws.String("#st IN (:pending, :done)"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": &types.AttributeValueMemberS{Value: string(lead.MergePending)},
				":done":    &types.AttributeValueMemberS{Value: string(lead.MergeDone)},
			},
		}})
	}
	err := s.transact(ctx, items)
	if reasons := cancelReasons(err); !back && len(reasons) == len(items) && conditionFailed(reasons[len(items)-1]) {
		return fmt.Errorf("move history of merge %s: %w", m.ID, lead.ErrMergeClosed)
	}
	return err
}

// repoint is the update of a guard held by lead from to lead to.
func (s *Store) repoint(k map[string]types.AttributeValue, from, to string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: k, UpdateExpression: aws.String("SET lead_id = :to"),
		ConditionExpression: aws.String("lead_id = :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": &types.AttributeValueMemberS{Value: to}, ":from": &types.AttributeValueMemberS{Value: from},
		},
	}}
}

// movedItem returns a history item as it is under lead to: its partition and
// lead id, a pending reminder's GSI3 sort key (which names the lead), and
// the merge tags.
func movedItem(item map[string]types.AttributeValue, m lead.Merge, from, to string, back bool) map[string]types.AttributeValue {
	next := maps.Clone(item)
	next[attrPK] = &types.AttributeValueMemberS{Value: leadPartPK(m.OrgID, to)}
	if _, ok := next["lead_id"]; ok {
		next["lead_id"] = &types.AttributeValueMemberS{Value: to}
	}
	if str(item, attrGSI3PK) == remindersPK {
		// <time>#<org>#<lead>#<id>: the time has no '#'.
		if parts := strings.Split(str(item, attrGSI3SK), "#"); len(parts) == 4 && parts[2] == from {
			parts[2] = to
			next[attrGSI3SK] = &types.AttributeValueMemberS{Value: strings.Join(parts, "#")}
		}
	}
	var prev []types.AttributeValue
	if l, ok := item["merge_prev"].(*types.AttributeValueMemberL); ok {
		prev = slices.Clone(l.Value)
	}
	delete(next, "merge_prev")
	if back {
		delete(next, "merge_id")
		if n := len(prev); n > 0 {
			next["merge_id"], prev = prev[n-1], prev[:n-1]
		}
	} else {
		if old, ok := item["merge_id"]; ok {
			prev = append(prev, old)
		}
		next["merge_id"] = &types.AttributeValueMemberS{Value: m.ID}
	}
	if len(prev) > 0 {
		next["merge_prev"] = &types.AttributeValueMemberL{Value: prev}
	}
	return next
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// contactGuards maps the sort key of every guard a lead holds (phones,
// emails, unique custom field values) to what it guards.
func contactGuards(l lead.Lead) map[string]string {
	out := fieldGuards(l)
	for _, p := range append([]string{l.Phone}, l.Phones...) {
		if p != "" {
			out[leadPhoneSK(p)] = "phone"
		}
	}
	for _, e := range append([]string{l.Email}, l.Emails...) {
		if e != "" {
			out[leadEmailSK(e)] = "email"
		}
	}
	return out
}

// leadGuardDelete releases a guard of contactGuards: a phone or email
// guard must be the lead's; a unique custom field guard may be gone
// already (its definition was deleted).
func (s *Store) leadGuardDelete(orgID, sk, leadID string) types.TransactWriteItem {
	if strings.HasPrefix(sk, prefixUniqField) {
		return s.fieldGuardDelete(orgID, sk, leadID)
	}
	return s.guardDelete(orgID, sk, leadID)
}

// FinishMerge writes the leads of merge m (see the top of this file);
// moved is the count of history items moved, kept on the record. A lead
// no longer at its snapshot's version is lead.ErrVersionMismatch; a
// record no longer pending (done already, or undone) is
// lead.ErrMergeClosed.
func (s *Store) FinishMerge(ctx context.Context, m lead.Merge, moved int) error {
	av, err := marshal(toLeadItem(m.Merged))
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_exists(PK) AND version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(m.Survivor.Version)}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(m.OrgID), leadSK(m.OtherID)),
			ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(m.Other.Version)}}}},
	}
	gs, gOther, gm := contactGuards(m.Survivor), contactGuards(m.Other), contactGuards(m.Merged)
	for _, sk := range slices.Sorted(maps.Keys(gOther)) {
		if _, held := gs[sk]; held {
			// Both held it (cannot happen: guards are unique); leave it.
			continue
		}
		if _, keep := gm[sk]; keep {
			items = append(items, s.repoint(key(orgPK(m.OrgID), sk), m.OtherID, m.SurvivorID))
		} else {
			items = append(items, s.leadGuardDelete(m.OrgID, sk, m.OtherID))
		}
	}
	for _, sk := range slices.Sorted(maps.Keys(gm)) {
		if _, ok := gs[sk]; ok {
			continue
		}
		if _, ok := gOther[sk]; ok {
			continue
		}
		g, err := s.guardPut(m.OrgID, sk, m.SurvivorID)
		if err != nil {
			return err
		}
		items = append(items, g)
	}
	// The canonical email entries follow the emails.
	for _, w := range []struct {
		id            string
		before, after []string
	}{{m.OtherID, canonEmails(m.Other), nil}, {m.SurvivorID, canonEmails(m.Survivor), canonEmails(m.Merged)}} {
		canon, err := s.canonWrites(m.OrgID, w.id, w.before, w.after)
		if err != nil {
			return err
		}
		items = append(items, canon...)
	}
	// The two conversation summaries become the survivor's.
	sConv, err := s.conversationRaw(ctx, m.OrgID, m.SurvivorID)
	if err != nil {
		return err
	}
	oConv, err := s.conversationRaw(ctx, m.OrgID, m.OtherID)
	if err != nil {
		return err
	}
	recUpdate := "SET #st = :done, leads_written = :t, moved = :n"
	recVals := map[string]types.AttributeValue{
		":done": &types.AttributeValueMemberS{Value: string(lead.MergeDone)}, ":pending": &types.AttributeValueMemberS{Value: string(lead.MergePending)},
		":t": &types.AttributeValueMemberBOOL{Value: true}, ":n": &types.AttributeValueMemberN{Value: fmt.Sprint(moved)},
	}
	if sConv != nil {
		recUpdate += ", survivor_conv = :sc"
		recVals[":sc"] = &types.AttributeValueMemberM{Value: sConv}
	}
	if oConv != nil {
		merged := mergedConversation(m, sConv, oConv)
		recUpdate += ", other_conv = :oc, merged_conv_last = :last"
		recVals[":oc"] = &types.AttributeValueMemberM{Value: oConv}
		recVals[":last"] = &types.AttributeValueMemberS{Value: str(merged, "last_id")}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: merged}}, s.conversationDelete(m.OrgID, m.OtherID))
	} else if m.Merged.AssigneeID != m.Survivor.AssigneeID {
		items = append(items, s.conversationAssignee(m.OrgID, m.SurvivorID, m.Merged.AssigneeID))
	}
	act, err := s.activityPut(lead.MergeActivity(m))
	if err != nil {
		return err
	}
	items = append(items, act, types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(orgPK(m.OrgID), mergeSK(m.ID)), UpdateExpression: aws.String(recUpdate),
		ConditionExpression:      aws.String("#st = :pending"),
		ExpressionAttributeNames: map[string]string{"#st": "state"}, ExpressionAttributeValues: recVals,
	}})
	err = s.transact(ctx, items)
	reasons := cancelReasons(err)
	switch {
	case err == nil:
		return nil
	case len(reasons) == len(items) && conditionFailed(reasons[len(items)-1]):
		return lead.ErrMergeClosed
	case len(reasons) > 1 && (conditionFailed(reasons[0]) || conditionFailed(reasons[1])):
		return lead.ErrVersionMismatch
	}
	return fmt.Errorf("finish merge %s: %w", m.ID, err)
}

// conversationRaw reads a lead's conversation summary as stored (nil when
// it has none).
func (s *Store) conversationRaw(ctx context.Context, orgID, leadID string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(leadPartPK(orgID, leadID), skConversation), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read conversation of lead %s: %w", leadID, err)
	}
	return out.Item, nil
}

// mergedConversation is the survivor's summary after the merge: the later
// latest message of the two, the unread counts added, filed under the
// merged lead's assignee.
func mergedConversation(m lead.Merge, sConv, oConv map[string]types.AttributeValue) map[string]types.AttributeValue {
	var base conversationItem
	var other conversationItem
	_ = attributevalue.UnmarshalMap(oConv, &other)
	if sConv != nil {
		_ = attributevalue.UnmarshalMap(sConv, &base)
	}
	if sConv == nil || (other.LastID != "" && other.LastID > base.LastID) {
		base.LastID, base.LastAt, base.GSI1PK, base.GSI1SK, base.GSI2SK = other.LastID, other.LastAt, other.GSI1PK, other.GSI1SK, other.GSI2SK
		if sConv == nil {
			base.ReadAt = other.ReadAt
		}
	}
	base.PK, base.SK, base.Type, base.OrgID, base.LeadID = leadPartPK(m.OrgID, m.SurvivorID), skConversation, "conversation", m.OrgID, m.SurvivorID
	base.Unread += other.Unread
	if other.LastInboundAt.After(base.LastInboundAt) {
		base.LastInboundAt = other.LastInboundAt
	}
	base.AssigneeID = m.Merged.AssigneeID
	if base.AssigneeID != "" {
		base.GSI2PK = inboxAssigneePK(m.OrgID, base.AssigneeID)
	} else {
		base.GSI2PK = inboxUnassignedPK(m.OrgID)
	}
	if base.LastID == "" {
		base.GSI2SK = ""
	}
	av, _ := marshal(base)
	return av
}

// UndoMerge undoes merge mergeID of org orgID at time at, by user by (see
// the top of this file and lead.Service.UndoMerge). A merge stopped midway
// (pending) is rolled back the same way, whatever its age.
func (s *Store) UndoMerge(ctx context.Context, orgID, mergeID, by string, at time.Time) (lead.Merge, error) {
	it, err := s.mergeRecord(ctx, orgID, mergeID)
	if err != nil {
		return lead.Merge{}, err
	}
	switch lead.MergeState(it.State) {
	case lead.MergeUndone:
		return lead.Merge{}, lead.ErrMergeClosed
	case lead.MergeDone:
		if at.After(it.ExpiresAt) {
			return lead.Merge{}, lead.ErrMergeClosed
		}
		if err := s.checkLatestMerge(ctx, it); err != nil {
			return lead.Merge{}, err
		}
		fallthrough
	case lead.MergePending:
		err := s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
			TableName: &s.table, Key: key(orgPK(orgID), mergeSK(mergeID)),
			UpdateExpression:         aws.String("SET #st = :undoing, undone_by = :by, undone_at = :at"),
			ConditionExpression:      aws.String("#st = :was"),
			ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":undoing": &types.AttributeValueMemberS{Value: string(lead.MergeUndoing)}, ":was": &types.AttributeValueMemberS{Value: it.State},
				":by": &types.AttributeValueMemberS{Value: by}, ":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			},
		}}})
		if isConditionFailed(err) || cancelReasons(err) != nil {
			return lead.Merge{}, lead.ErrMergeClosed
		}
		if err != nil {
			return lead.Merge{}, fmt.Errorf("start undo of merge %s: %w", mergeID, err)
		}
		it.State, it.UndoneBy, it.UndoneAt = string(lead.MergeUndoing), by, at.UTC()
	}
	m, err := it.merge()
	if err != nil {
		return lead.Merge{}, err
	}
	if it.LeadsWritten {
		if err := s.restoreLeads(ctx, it, m); err != nil {
			return lead.Merge{}, err
		}
	}
	moved := 0
	for {
		n, done, err := s.moveHistory(ctx, m, true, 4*mergeBatch)
		moved += n
		if err != nil {
			return lead.Merge{}, err
		}
		if done {
			break
		}
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), mergeSK(mergeID)),
		UpdateExpression:         aws.String("SET #st = :undone, moved = :n"),
		ConditionExpression:      aws.String("#st = :undoing"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":undone": &types.AttributeValueMemberS{Value: string(lead.MergeUndone)}, ":undoing": &types.AttributeValueMemberS{Value: string(lead.MergeUndoing)},
			":n": &types.AttributeValueMemberN{Value: fmt.Sprint(moved)},
		},
	})
	if isConditionFailed(err) {
		return lead.Merge{}, lead.ErrMergeClosed
	}
	if err != nil {
		return lead.Merge{}, fmt.Errorf("finish undo of merge %s: %w", mergeID, err)
	}
	for _, id := range []string{m.SurvivorID, m.OtherID} {
		if err := s.unlockAfterMerge(ctx, orgID, id, mergeID); err != nil {
			return lead.Merge{}, err
		}
	}
	m.State, m.Moved = lead.MergeUndone, moved
	return m, nil
}

// checkLatestMerge refuses (lead.ErrMergeClosed) the undo of a merge whose
// survivor has since absorbed another lead or been absorbed itself, in a
// merge still in force: that one must be undone first.
func (s *Store) checkLatestMerge(ctx context.Context, it mergeItem) error {
	merges, err := s.orgMerges(ctx, it.OrgID)
	if err != nil {
		return err
	}
	for _, o := range merges {
		if o.ID == it.ID || o.State == string(lead.MergeUndone) {
			continue
		}
		if (o.SurvivorID == it.SurvivorID && o.ID > it.ID) || o.OtherID == it.SurvivorID {
			return lead.ErrMergeClosed
		}
	}
	return nil
}

// restoreLeads puts both leads back as their snapshots hold them (the
// survivor at its current version plus one, so an If-Match of the merged
// lead fails), with their guards, conversation summaries and the unmerged
// activity, in one transaction that also clears leads_written.
func (s *Store) restoreLeads(ctx context.Context, it mergeItem, m lead.Merge) error {
	cur, err := s.GetLead(ctx, m.OrgID, m.SurvivorID)
	if errors.Is(err, lead.ErrNotFound) {
		return lead.ErrMergeClosed
	}
	if err != nil {
		return err
	}
	surv := m.Survivor
	surv.Version = cur.Version + 1
	sAV, err := marshal(toLeadItem(surv))
	if err != nil {
		return err
	}
	oAV, err := marshal(toLeadItem(m.Other))
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: sAV, ConditionExpression: aws.String("attribute_exists(PK) AND version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(cur.Version)}}}},
		{Put: &types.Put{TableName: &s.table, Item: oAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}
	gs, gOther, gc := contactGuards(m.Survivor), contactGuards(m.Other), contactGuards(cur)
	for _, sk := range slices.Sorted(maps.Keys(gOther)) {
		if _, ok := gc[sk]; ok {
			items = append(items, s.repoint(key(orgPK(m.OrgID), sk), m.SurvivorID, m.OtherID))
			continue
		}
		g, err := s.guardPut(m.OrgID, sk, m.OtherID)
		if err != nil {
			return err
		}
		items = append(items, g)
	}
	for _, sk := range slices.Sorted(maps.Keys(gc)) {
		_, inS := gs[sk]
		_, inO := gOther[sk]
		if !inS && !inO {
			items = append(items, s.leadGuardDelete(m.OrgID, sk, m.SurvivorID))
		}
	}
	for _, sk := range slices.Sorted(maps.Keys(gs)) {
		if _, ok := gc[sk]; !ok {
			g, err := s.guardPut(m.OrgID, sk, m.SurvivorID)
			if err != nil {
				return err
			}
			items = append(items, g)
		}
	}
	for _, w := range []struct {
		id            string
		before, after []string
	}{{m.SurvivorID, canonEmails(cur), canonEmails(m.Survivor)}, {m.OtherID, nil, canonEmails(m.Other)}} {
		canon, err := s.canonWrites(m.OrgID, w.id, w.before, w.after)
		if err != nil {
			return err
		}
		items = append(items, canon...)
	}
	restoredConv := false
	if it.OtherConv != nil {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: *it.OtherConv}})
		cConv, err := s.conversationRaw(ctx, m.OrgID, m.SurvivorID)
		if err != nil {
			return err
		}
		if cConv == nil || str(cConv, "last_id") == it.MergedConvLast {
			// Nothing new since the merge: the survivor's summary as it was.
			restoredConv = true
			if it.SurvivorConv != nil {
				items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: *it.SurvivorConv}})
			} else {
				items = append(items, s.conversationDelete(m.OrgID, m.SurvivorID))
			}
		}
	}
	if !restoredConv && cur.AssigneeID != m.Survivor.AssigneeID {
		items = append(items, s.conversationAssignee(m.OrgID, m.SurvivorID, m.Survivor.AssigneeID))
	}
	undone := m
	undone.UndoneAt, undone.UndoneBy = it.UndoneAt, it.UndoneBy
	if undone.UndoneAt.IsZero() {
		undone.UndoneAt = s.now().UTC()
	}
	act, err := s.activityPut(lead.UnmergeActivity(undone, ulid.MustNew(ulid.Timestamp(undone.UndoneAt), ulid.DefaultEntropy()).String()))
	if err != nil {
		return err
	}
	items = append(items, act, types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(orgPK(m.OrgID), mergeSK(m.ID)), UpdateExpression: aws.String("SET leads_written = :f"),
		ConditionExpression:      aws.String("#st = :undoing AND leads_written = :t"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":f": &types.AttributeValueMemberBOOL{Value: false}, ":t": &types.AttributeValueMemberBOOL{Value: true},
			":undoing": &types.AttributeValueMemberS{Value: string(lead.MergeUndoing)},
		},
	}})
	err = s.transact(ctx, items)
	if reasons := cancelReasons(err); reasons != nil {
		if conditionFailed(reasons[0]) {
			// The survivor changed between the read and the write.
			return lead.ErrVersionMismatch
		}
		return fmt.Errorf("restore leads of merge %s: %w", m.ID, err)
	}
	if err != nil {
		return fmt.Errorf("restore leads of merge %s: %w", m.ID, err)
	}
	return nil
}

// deleteLeadMerges removes every merge record of the org that holds lead
// leadID's snapshot (as survivor or as the absorbed lead), whatever its
// state: erasing a lead must not leave a copy of it.
func (s *Store) deleteLeadMerges(ctx context.Context, orgID, leadID string) (int, error) {
	merges, err := s.orgMerges(ctx, orgID)
	if err != nil {
		return 0, err
	}
	var keys []map[string]types.AttributeValue
	for _, it := range merges {
		if it.SurvivorID == leadID || it.OtherID == leadID {
			keys = append(keys, key(it.PK, it.SK))
		}
	}
	if err := s.batchDelete(ctx, keys); err != nil {
		return 0, fmt.Errorf("delete merges of lead %s: %w", leadID, err)
	}
	return len(keys), nil
}
