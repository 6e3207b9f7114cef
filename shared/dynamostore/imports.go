package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/leadimport"
)

// A lead import is one item in its org's partition, ORG#<org> /
// IMPORT#<id>: its state, its counts (added per chunk by one conditional
// update, ADD, with the chunk's number into done_chunks so a chunk counts
// once) and the digest of its file. Its key, ORG#<org> /
// IMPORTKEY#<digest>, points the same file submitted again to it; both
// are written in one transaction. Each row's outcome is an item of the
// import's own partition, ORG#<org>#IMPORT#<id> / ROW#<row>, written once
// (attribute_not_exists): the row number, the outcome and, when rejected,
// a reason code and a field name, never a value of the row. All carry a
// ttl 30 days after the import (leadimport.Keep); the closed-org purge
// removes them with the org.

// The imports' port.
var _ leadimport.Store = (*Store)(nil)

type importItem struct {
	PK         string            `dynamodbav:"PK"`
	SK         string            `dynamodbav:"SK"`
	Type       string            `dynamodbav:"type"`
	ID         string            `dynamodbav:"id"`
	OrgID      string            `dynamodbav:"org_id"`
	ActorID    string            `dynamodbav:"actor_id"`
	FileKey    string            `dynamodbav:"file_key"`
	Mapping    map[string]string `dynamodbav:"mapping,omitempty"`
	Status     string            `dynamodbav:"status"`
	Rows       int               `dynamodbav:"rows"`
	Chunks     int               `dynamodbav:"chunks"`
	Created    int               `dynamodbav:"created"`
	Merged     int               `dynamodbav:"merged"`
	Rejected   int               `dynamodbav:"rejected"`
	DoneChunks []int             `dynamodbav:"done_chunks,numberset,omitempty"`
	Queued     bool              `dynamodbav:"queued,omitempty"`
	CreatedAt  time.Time         `dynamodbav:"created_at"`
	UpdatedAt  time.Time         `dynamodbav:"updated_at"`
	FinishedAt *time.Time        `dynamodbav:"finished_at,omitempty"`
	TTL        int64             `dynamodbav:"ttl"`
}

type importKeyItem struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	Type     string `dynamodbav:"type"`
	OrgID    string `dynamodbav:"org_id"`
	ImportID string `dynamodbav:"import_id"`
	TTL      int64  `dynamodbav:"ttl"`
}

type importRowItem struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	Type     string `dynamodbav:"type"`
	OrgID    string `dynamodbav:"org_id"`
	ImportID string `dynamodbav:"import_id"`
	Row      int    `dynamodbav:"row"`
	Outcome  string `dynamodbav:"outcome"`
	Reason   string `dynamodbav:"reason,omitempty"`
	Field    string `dynamodbav:"field,omitempty"`
	TTL      int64  `dynamodbav:"ttl"`
}

func (i importItem) domain() leadimport.Import {
	imp := leadimport.Import{ID: i.ID, OrgID: i.OrgID, ActorID: i.ActorID, Key: i.FileKey, Mapping: i.Mapping, Status: leadimport.Status(i.Status),
		Rows: i.Rows, Chunks: i.Chunks, ChunksDone: len(i.DoneChunks), Created: i.Created, Merged: i.Merged, Rejected: i.Rejected,
		Queued: i.Queued, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
	if i.FinishedAt != nil {
		imp.FinishedAt = *i.FinishedAt
	}
	return imp
}

func (i importRowItem) domain() leadimport.RowOutcome {
	return leadimport.RowOutcome{Row: i.Row, Outcome: leadimport.Outcome(i.Outcome), Reason: i.Reason, Field: i.Field}
}

// CreateImport stores a new import with its key, unless the key is taken:
// then it returns the id of the import that holds it.
func (s *Store) CreateImport(ctx context.Context, imp leadimport.Import) (string, error) {
	ttl := imp.CreatedAt.Add(leadimport.Keep).Unix()
	it := importItem{PK: orgPK(imp.OrgID), SK: importSK(imp.ID), Type: "import", ID: imp.ID, OrgID: imp.OrgID, ActorID: imp.ActorID,
		FileKey: imp.Key, Mapping: imp.Mapping, Status: string(imp.Status), Rows: imp.Rows, Chunks: imp.Chunks,
		CreatedAt: imp.CreatedAt.UTC(), UpdatedAt: imp.UpdatedAt.UTC(), TTL: ttl}
	if !imp.FinishedAt.IsZero() {
		t := imp.FinishedAt.UTC()
		it.FinishedAt = &t
	}
	av, err := marshal(it)
	if err != nil {
		return "", err
	}
	kav, err := marshal(importKeyItem{PK: orgPK(imp.OrgID), SK: importKeySK(imp.Key), Type: "import_key", OrgID: imp.OrgID, ImportID: imp.ID, TTL: ttl})
	if err != nil {
		return "", err
	}
	// A key past its ttl (not yet deleted by DynamoDB) is taken over.
	now := strconv.FormatInt(s.now().Unix(), 10)
	// transact retries a transaction cancelled by a concurrent one, so the
	// same file submitted twice at once finds the other's import here.
	err = s.transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: kav, ConditionExpression: aws.String("attribute_not_exists(PK) OR #ttl < :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: now}}}},
		{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	})
	if reasons := cancelReasons(err); len(reasons) > 0 && conditionFailed(reasons[0]) {
		var k importKeyItem
		ok, gerr := s.get(ctx, orgPK(imp.OrgID), importKeySK(imp.Key), &k)
		if gerr != nil {
			return "", gerr
		}
		if ok {
			return k.ImportID, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("create import %s: %w", imp.ID, err)
	}
	return "", nil
}

// GetImport reads an import.
func (s *Store) GetImport(ctx context.Context, orgID, id string) (leadimport.Import, error) {
	return getAs(ctx, s, orgPK(orgID), importSK(id), importItem.domain, leadimport.ErrNotFound)
}

// ListImports returns the org's latest imports, newest first.
func (s *Store) ListImports(ctx context.Context, orgID string, limit int) ([]leadimport.Import, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)}, ":p": &types.AttributeValueMemberS{Value: prefixImport}},
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(min(max(limit, 1), 100))), //nolint:gosec // bounded
	})
	if err != nil {
		return nil, fmt.Errorf("list imports of org %s: %w", orgID, err)
	}
	imps := make([]leadimport.Import, 0, len(out.Items))
	for _, item := range out.Items {
		if expired(item, s.now()) {
			continue
		}
		var it importItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		imps = append(imps, it.domain())
	}
	return imps, nil
}

// MarkImportQueued records that every chunk of an import is on the queue.
func (s *Store) MarkImportQueued(ctx context.Context, orgID, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(orgPK(orgID), importSK(id)),
		UpdateExpression: aws.String("SET queued = :t"), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}})
	if err != nil {
		return fmt.Errorf("mark import %s queued: %w", id, err)
	}
	return nil
}

// RowOutcomes returns the outcomes stored for rows first..last.
func (s *Store) RowOutcomes(ctx context.Context, orgID, importID string, first, last int) (map[int]leadimport.RowOutcome, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :a AND :b"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: importRowsPK(orgID, importID)},
			":a":  &types.AttributeValueMemberS{Value: importRowSK(first)}, ":b": &types.AttributeValueMemberS{Value: importRowSK(last)}},
	})
	out := map[int]leadimport.RowOutcome{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read rows of import %s: %w", importID, err)
		}
		for _, item := range page.Items {
			var it importRowItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			out[it.Row] = it.domain()
		}
	}
	return out, nil
}

// PutRowOutcome stores a row's outcome unless it has one, and returns the
// stored one.
func (s *Store) PutRowOutcome(ctx context.Context, orgID, importID string, o leadimport.RowOutcome, expires time.Time) (leadimport.RowOutcome, error) {
	it := importRowItem{PK: importRowsPK(orgID, importID), SK: importRowSK(o.Row), Type: "import_row", OrgID: orgID, ImportID: importID,
		Row: o.Row, Outcome: string(o.Outcome), Reason: o.Reason, Field: o.Field, TTL: expires.Unix()}
	av, err := marshal(it)
	if err != nil {
		return leadimport.RowOutcome{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		var had importRowItem
		ok, gerr := s.get(ctx, it.PK, it.SK, &had)
		if gerr != nil {
			return leadimport.RowOutcome{}, gerr
		}
		if ok {
			return had.domain(), nil
		}
	}
	if err != nil {
		return leadimport.RowOutcome{}, fmt.Errorf("store outcome of row %d of import %s: %w", o.Row, importID, err)
	}
	return o, nil
}

// CompleteChunk adds a chunk's counts to its import once.
func (s *Store) CompleteChunk(ctx context.Context, orgID, importID string, chunk int, t leadimport.Tally, at time.Time) (leadimport.Import, bool, error) {
	n := func(v int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(orgPK(orgID), importSK(importID)),
		UpdateExpression:    aws.String("ADD created :c, merged :m, rejected :r, done_chunks :k SET updated_at = :at"),
		ConditionExpression: aws.String("attribute_exists(PK) AND NOT contains(done_chunks, :n)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": n(t.Created), ":m": n(t.Merged), ":r": n(t.Rejected),
			":k": &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(chunk)}}, ":n": n(chunk),
			":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}},
		ReturnValues: types.ReturnValueAllNew})
	if isConditionFailed(err) {
		imp, gerr := s.GetImport(ctx, orgID, importID)
		return imp, false, gerr
	}
	if err != nil {
		return leadimport.Import{}, false, fmt.Errorf("count chunk %d of import %s: %w", chunk, importID, err)
	}
	var it importItem
	if err := unmarshal(out.Attributes, &it); err != nil {
		return leadimport.Import{}, false, err
	}
	return it.domain(), true, nil
}

// FinishImport marks a running import done.
func (s *Store) FinishImport(ctx context.Context, orgID, importID string, at time.Time) error {
	ts := &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(orgPK(orgID), importSK(importID)),
		UpdateExpression: aws.String("SET #s = :done, finished_at = :at, updated_at = :at"), ConditionExpression: aws.String("#s = :running"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": &types.AttributeValueMemberS{Value: string(leadimport.StatusDone)},
			":running": &types.AttributeValueMemberS{Value: string(leadimport.StatusRunning)}, ":at": ts}})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("finish import %s: %w", importID, err)
	}
	return nil
}

// Rejections returns the first rejected rows of an import, by row.
func (s *Store) Rejections(ctx context.Context, orgID, importID string, limit int) ([]leadimport.RowOutcome, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"),
		FilterExpression:         aws.String("outcome = :rejected"),
		ProjectionExpression:     aws.String("#row, outcome, reason, #f"),
		ExpressionAttributeNames: map[string]string{"#row": "row", "#f": "field"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":       &types.AttributeValueMemberS{Value: importRowsPK(orgID, importID)},
			":rejected": &types.AttributeValueMemberS{Value: string(leadimport.Rejected)}},
	})
	var out []leadimport.RowOutcome
	for p.HasMorePages() && len(out) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read rejected rows of import %s: %w", importID, err)
		}
		for _, item := range page.Items {
			var it importRowItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			out = append(out, it.domain())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Row < out[j].Row })
	return out[:min(len(out), limit)], nil
}
