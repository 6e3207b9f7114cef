package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// A lead's notes live in its history partition (NOTE#<ulid>), so that
// deleting the lead, purging a closed org and the data-subject export take
// them with the rest of its history. Every note write is one transaction
// with the activity that records it and a check that the lead exists.

type noteItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"org_id"`
	LeadID    string    `dynamodbav:"lead_id"`
	AuthorID  string    `dynamodbav:"author_id"`
	Body      string    `dynamodbav:"body"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	UpdatedAt time.Time `dynamodbav:"updated_at"`
	Version   int       `dynamodbav:"version"`
}

func toNoteItem(n lead.Note) noteItem {
	return noteItem{PK: leadPartPK(n.OrgID, n.LeadID), SK: noteSK(n.ID), Type: "note", OrgID: n.OrgID, LeadID: n.LeadID,
		AuthorID: n.AuthorID, Body: n.Body, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt, Version: n.Version}
}

func (it noteItem) note() lead.Note {
	return lead.Note{ID: it.SK[len(prefixNote):], OrgID: it.OrgID, LeadID: it.LeadID, AuthorID: it.AuthorID, Body: it.Body,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version}
}

// leadExists is the transaction's check that the lead is there (so a note
// is never written into the history of a deleted lead).
func (s *Store) leadExists(orgID, leadID string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)),
		ConditionExpression: aws.String("attribute_exists(PK)")}}
}

// noteWrite runs the transaction of a note write: the lead check, the
// note's own write, the activity. A failed lead check is
// lead.ErrNotFound, a failed note condition lead.ErrNoteChanged.
func (s *Store) noteWrite(ctx context.Context, orgID, leadID string, write types.TransactWriteItem, act lead.Activity, what string) error {
	a, err := s.activityPut(act)
	if err != nil {
		return err
	}
	err = s.transact(ctx, []types.TransactWriteItem{s.leadExists(orgID, leadID), write, a})
	if reasons := cancelReasons(err); len(reasons) > 1 {
		switch {
		case conditionFailed(reasons[0]):
			return lead.ErrNotFound
		case conditionFailed(reasons[1]):
			return lead.ErrNoteChanged
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// AddNote writes a new note and its activity.
func (s *Store) AddNote(ctx context.Context, n lead.Note, act lead.Activity) error {
	av, err := marshal(toNoteItem(n))
	if err != nil {
		return err
	}
	return s.noteWrite(ctx, n.OrgID, n.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}}, act, "add note "+n.ID)
}

// GetNote reads one note of a lead (lead.ErrNoteNotFound when missing).
func (s *Store) GetNote(ctx context.Context, orgID, leadID, noteID string) (lead.Note, error) {
	return getAs(ctx, s, leadPartPK(orgID, leadID), noteSK(noteID), noteItem.note, lead.ErrNoteNotFound)
}

func versionIs(v int) (*string, map[string]types.AttributeValue) {
	return aws.String("attribute_exists(PK) AND version = :v"),
		map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(v)}}
}

// UpdateNote replaces old with next, while the note is at old.Version.
func (s *Store) UpdateNote(ctx context.Context, old, next lead.Note, act lead.Activity) error {
	av, err := marshal(toNoteItem(next))
	if err != nil {
		return err
	}
	cond, vals := versionIs(old.Version)
	return s.noteWrite(ctx, old.OrgID, old.LeadID, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av,
		ConditionExpression: cond, ExpressionAttributeValues: vals}}, act, "update note "+old.ID)
}

// DeleteNote removes a note, while it is at n.Version.
func (s *Store) DeleteNote(ctx context.Context, n lead.Note, act lead.Activity) error {
	cond, vals := versionIs(n.Version)
	return s.noteWrite(ctx, n.OrgID, n.LeadID, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table,
		Key: key(leadPartPK(n.OrgID, n.LeadID), noteSK(n.ID)), ConditionExpression: cond, ExpressionAttributeValues: vals}}, act, "delete note "+n.ID)
}

// ListNotes returns up to limit of a lead's notes, newest first (one
// Query).
func (s *Store) ListNotes(ctx context.Context, orgID, leadID string, limit int, from page.Cursor) (lead.NotePage, error) {
	items, next, err := s.historyPage(ctx, leadPartPK(orgID, leadID), prefixNote, limit, from)
	if err != nil {
		return lead.NotePage{}, fmt.Errorf("list notes of lead %s: %w", leadID, err)
	}
	res := lead.NotePage{Items: make([]lead.Note, 0, len(items)), Next: next}
	for _, item := range items {
		var it noteItem
		if err := unmarshal(item, &it); err != nil {
			return lead.NotePage{}, err
		}
		res.Items = append(res.Items, it.note())
	}
	return res, nil
}

// Notes returns all of a lead's notes, oldest first.
func (s *Store) Notes(ctx context.Context, orgID, leadID string) ([]lead.Note, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixNote)
	if err != nil {
		return nil, err
	}
	out := make([]lead.Note, 0, len(items))
	for _, item := range items {
		var it noteItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.note())
	}
	return out, nil
}
