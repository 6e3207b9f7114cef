package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/privacy"
)

// A data-subject request is one item in its org's partition,
// ORG#<org> / PRIVACY#<id>, written whole on every step (its history is
// short) under a version condition. It carries a ttl three years after it
// was filed (privacy.KeepRequests): the accountability record that the
// request was answered, no longer.
//
// An access or export request's document is kept in its own partition,
// ORG#<org>#PRIVACY#<id> / CHUNK#<seq>, as gzip-compressed JSON cut into
// chunks of at most 256 KB, each with a ttl at the end of the download
// period. The table is the only store the platform has (no object store),
// a DynamoDB item holds at most 400 KB, and one person's export with
// thousands of messages runs to megabytes of JSON: compressed (several
// times smaller) and chunked, any size fits, and the download streams the
// chunks back one Query page at a time.

// The privacy requests' port.
var _ privacy.Store = (*Store)(nil)

type privacyRequestItem struct {
	PK              string             `dynamodbav:"PK"`
	SK              string             `dynamodbav:"SK"`
	Type            string             `dynamodbav:"type"`
	ID              string             `dynamodbav:"id"`
	OrgID           string             `dynamodbav:"org_id"`
	RequestType     string             `dynamodbav:"request_type"`
	SubjectPhone    string             `dynamodbav:"subject_phone,omitempty"`
	SubjectEmail    string             `dynamodbav:"subject_email,omitempty"`
	SubjectLeadID   string             `dynamodbav:"subject_lead_id,omitempty"`
	Refs            []string           `dynamodbav:"refs,omitempty"`
	LeadIDs         []string           `dynamodbav:"lead_ids,omitempty"`
	Note            string             `dynamodbav:"note,omitempty"`
	FieldsChanged   []string           `dynamodbav:"fields_changed,omitempty"`
	Status          string             `dynamodbav:"status"`
	Reason          string             `dynamodbav:"reason,omitempty"`
	ActorID         string             `dynamodbav:"actor_id"`
	CreatedAt       time.Time          `dynamodbav:"created_at"`
	DueAt           time.Time          `dynamodbav:"due_at"`
	CompletedAt     *time.Time         `dynamodbav:"completed_at,omitempty"`
	History         []privacyEventAttr `dynamodbav:"history"`
	Receipt         map[string]int     `dynamodbav:"receipt,omitempty"`
	Export          *privacyExportAttr `dynamodbav:"export,omitempty"`
	PseudonymizedAt *time.Time         `dynamodbav:"pseudonymized_at,omitempty"`
	Version         int                `dynamodbav:"version"`
	TTL             int64              `dynamodbav:"ttl"`
}

type privacyEventAttr struct {
	At      time.Time         `dynamodbav:"at"`
	ActorID string            `dynamodbav:"actor_id"`
	Action  string            `dynamodbav:"action"`
	Details map[string]string `dynamodbav:"details,omitempty"`
}

type privacyExportAttr struct {
	SchemaVersion int       `dynamodbav:"schema_version"`
	Bytes         int64     `dynamodbav:"bytes"`
	Stored        int64     `dynamodbav:"stored"`
	Chunks        int       `dynamodbav:"chunks"`
	ExpiresAt     time.Time `dynamodbav:"expires_at"`
}

// privacyChunkItem is one piece of an export document (gzip bytes).
type privacyChunkItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	OrgID     string `dynamodbav:"org_id"`
	RequestID string `dynamodbav:"request_id"`
	Data      []byte `dynamodbav:"data"`
	TTL       int64  `dynamodbav:"ttl"`
}

func toPrivacyItem(r privacy.Request) privacyRequestItem {
	it := privacyRequestItem{PK: orgPK(r.OrgID), SK: privacyRequestSK(r.ID), Type: "privacy_request", ID: r.ID, OrgID: r.OrgID,
		RequestType: string(r.Type), SubjectPhone: r.Subject.Phone, SubjectEmail: r.Subject.Email, SubjectLeadID: r.Subject.LeadID,
		Refs: r.Refs, LeadIDs: r.LeadIDs, Note: r.Note, FieldsChanged: r.FieldsChanged, Status: string(r.Status), Reason: r.Reason,
		ActorID: r.ActorID, CreatedAt: r.CreatedAt.UTC(), DueAt: r.DueAt.UTC(), Receipt: r.Receipt, Version: r.Version,
		TTL: r.CreatedAt.Add(privacy.KeepRequests).Unix(), History: make([]privacyEventAttr, 0, len(r.History))}
	if !r.CompletedAt.IsZero() {
		t := r.CompletedAt.UTC()
		it.CompletedAt = &t
	}
	if !r.PseudonymizedAt.IsZero() {
		t := r.PseudonymizedAt.UTC()
		it.PseudonymizedAt = &t
	}
	for _, e := range r.History {
		it.History = append(it.History, privacyEventAttr{At: e.At.UTC(), ActorID: e.ActorID, Action: e.Action, Details: e.Details})
	}
	if e := r.Export; e != nil {
		it.Export = &privacyExportAttr{SchemaVersion: e.SchemaVersion, Bytes: e.Bytes, Stored: e.Stored, Chunks: e.Chunks, ExpiresAt: e.ExpiresAt.UTC()}
	}
	return it
}

func (i privacyRequestItem) request() privacy.Request {
	r := privacy.Request{ID: i.ID, OrgID: i.OrgID, Type: privacy.Type(i.RequestType),
		Subject: privacy.Subject{Phone: i.SubjectPhone, Email: i.SubjectEmail, LeadID: i.SubjectLeadID},
		Refs:    i.Refs, LeadIDs: i.LeadIDs, Note: i.Note, FieldsChanged: i.FieldsChanged, Status: privacy.Status(i.Status), Reason: i.Reason,
		ActorID: i.ActorID, CreatedAt: i.CreatedAt, DueAt: i.DueAt, Receipt: i.Receipt, Version: i.Version}
	if i.CompletedAt != nil {
		r.CompletedAt = *i.CompletedAt
	}
	if i.PseudonymizedAt != nil {
		r.PseudonymizedAt = *i.PseudonymizedAt
	}
	for _, e := range i.History {
		r.History = append(r.History, privacy.Event{At: e.At, ActorID: e.ActorID, Action: e.Action, Details: e.Details})
	}
	if e := i.Export; e != nil {
		r.Export = &privacy.Export{SchemaVersion: e.SchemaVersion, Bytes: e.Bytes, Stored: e.Stored, Chunks: e.Chunks, ExpiresAt: e.ExpiresAt}
	}
	return r
}

// CreatePrivacyRequest stores a new request.
func (s *Store) CreatePrivacyRequest(ctx context.Context, r privacy.Request) error {
	av, err := marshal(toPrivacyItem(r))
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if err != nil {
		return fmt.Errorf("create privacy request %s: %w", r.ID, err)
	}
	return nil
}

// GetPrivacyRequest returns one request of an org.
func (s *Store) GetPrivacyRequest(ctx context.Context, orgID, id string) (privacy.Request, error) {
	var it privacyRequestItem
	ok, err := s.get(ctx, orgPK(orgID), privacyRequestSK(id), &it)
	if err != nil {
		return privacy.Request{}, err
	}
	if !ok {
		return privacy.Request{}, privacy.ErrNotFound
	}
	return it.request(), nil
}

// PutPrivacyRequest replaces the stored request at r.Version-1 with r.
func (s *Store) PutPrivacyRequest(ctx context.Context, r privacy.Request) error {
	av, err := marshal(toPrivacyItem(r))
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av,
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(r.Version - 1)}}})
	if isConditionFailed(err) {
		return privacy.ErrVersionMismatch
	}
	if err != nil {
		return fmt.Errorf("write privacy request %s: %w", r.ID, err)
	}
	return nil
}

// ListPrivacyRequests returns up to limit requests of an org, newest
// first, with status (all when empty), after the position from. With a
// status the partition is filtered by DynamoDB; a page may then hold
// fewer than limit while more follow (reading at most maxListPages).
func (s *Store) ListPrivacyRequests(ctx context.Context, orgID string, status privacy.Status, limit int, from page.Cursor) ([]privacy.Request, page.Cursor, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)}, ":p": &types.AttributeValueMemberS{Value: prefixPrivacyRequest},
		},
		ExclusiveStartKey: encodeKey(from),
	}
	if status != "" {
		in.FilterExpression = aws.String("#st = :st")
		in.ExpressionAttributeNames = map[string]string{"#st": "status"}
		in.ExpressionAttributeValues[":st"] = &types.AttributeValueMemberS{Value: string(status)}
	}
	var list []privacy.Request
	for range maxListPages {
		in.Limit = aws.Int32(pageLimit(limit - len(list)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, page.Cursor{}, fmt.Errorf("list privacy requests of %s: %w", orgID, err)
		}
		for _, item := range live(out.Items, s.now()) {
			var it privacyRequestItem
			if err := unmarshal(item, &it); err != nil {
				return nil, page.Cursor{}, err
			}
			list = append(list, it.request())
		}
		if out.LastEvaluatedKey == nil {
			return list, page.Cursor{}, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if len(list) >= limit {
			break
		}
	}
	return list, decodeKey(in.ExclusiveStartKey), nil
}

// PutExportChunks stores a request's export document, chunk by chunk
// (each one PutItem: a chunk is up to 256 KB, and a batch would carry at
// most 16 MB anyway), every chunk expiring at expires.
func (s *Store) PutExportChunks(ctx context.Context, orgID, requestID string, chunks [][]byte, expires time.Time) error {
	for i, c := range chunks {
		av, err := marshal(privacyChunkItem{PK: privacyExportPK(orgID, requestID), SK: privacyChunkSK(i), Type: "privacy_export_chunk",
			OrgID: orgID, RequestID: requestID, Data: c, TTL: expires.Unix()})
		if err != nil {
			return err
		}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
			return fmt.Errorf("store export chunk %d of privacy request %s: %w", i, requestID, err)
		}
	}
	return nil
}

// ExportChunks calls fn with each chunk of a request's export document in
// order, reading one chunk a Query page (so only one chunk is in memory).
// An expired document has no chunks.
func (s *Store) ExportChunks(ctx context.Context, orgID, requestID string, fn func(chunk []byte) error) error {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true), Limit: aws.Int32(1),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: privacyExportPK(orgID, requestID)}},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read export of privacy request %s: %w", requestID, err)
		}
		for _, item := range live(pg.Items, s.now()) {
			var it privacyChunkItem
			if err := unmarshal(item, &it); err != nil {
				return err
			}
			if err := fn(it.Data); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteExportChunks removes a request's export document.
func (s *Store) DeleteExportChunks(ctx context.Context, orgID, requestID string) (int, error) {
	keys, _, err := s.partitionKeys(ctx, privacyExportPK(orgID, requestID))
	if err != nil {
		return 0, err
	}
	if err := s.batchDelete(ctx, keys); err != nil {
		return 0, fmt.Errorf("delete export of privacy request %s: %w", requestID, err)
	}
	return len(keys), nil
}
