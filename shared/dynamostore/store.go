// Package dynamostore is the DynamoDB single-table adapter behind the domain
// packages: it implements their storage ports (lead.Store,
// conversation.MessageStore, campaign.Store, ...). Item structs stay private
// here; every key is built in keys.go; SDK errors are translated to the
// domain's sentinel errors. Each aggregate has its file: accounts.go (orgs,
// users), sessions.go (sessions, refresh tokens, login throttle),
// secrets.go, audit.go, leads.go (leads and their activities), leaddelete.go (deleting a lead:
// its history, suppression entries, the pending purge), events.go
// (processed-event claims), messages.go, outbound.go (queueing and the send
// state), consent.go, inbox.go, integrations.go, campaigns.go,
// automation.go, pacing.go and emailsender.go. Expressions are written as
// strings with named placeholders. ttl.go holds the retention periods of
// time-bound items (backfill_ttl.go the one-off migration that gives older
// items theirs), datamap.go the data map registry behind docs/data-map.md,
// client.go the client options for a local stand-in (ClientOptions).
package dynamostore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/automation"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// The ports Store implements. Those of the use-case packages (intake,
// outbound) are asserted in ports_test.go instead: importing them here
// would link their processing code (Graph client, phone-number metadata)
// into every function that uses the store.
var (
	_ account.Store             = (*Store)(nil)
	_ account.SessionStore      = (*Store)(nil)
	_ account.LoginThrottle     = (*Store)(nil)
	_ account.SenderStore       = (*Store)(nil)
	_ auth.SecretStore          = (*Store)(nil)
	_ audit.Store               = (*Store)(nil)
	_ lead.Store                = (*Store)(nil)
	_ lead.ActivityStore        = (*Store)(nil)
	_ lead.NoteStore            = (*Store)(nil)
	_ conversation.MessageStore = (*Store)(nil)
	_ conversation.SendStore    = (*Store)(nil)
	_ conversation.ConsentStore = (*Store)(nil)
	_ conversation.InboxStore   = (*Store)(nil)
	_ integration.Store         = (*Store)(nil)
	_ integration.ParkingStore  = (*Store)(nil)
	_ campaign.Store            = (*Store)(nil)
	_ campaign.PageStore        = (*Store)(nil)
	_ automation.SettingsStore  = (*Store)(nil)
	_ automation.MessageStore   = (*Store)(nil)
)

// Store reads and writes the single table.
type Store struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
	// contacts returns the hasher that names phones and emails by keyed
	// hash for suppression entries (leaddelete.go); nil until
	// UseSuppression or UseSuppressionSource.
	contacts ContactSource
}

// New returns a Store over table.
func New(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table, now: time.Now}
}

// Ping checks that the table exists and is reachable.
func (s *Store) Ping(ctx context.Context) error {
	out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	if err != nil {
		return fmt.Errorf("describe table: %w", err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		return fmt.Errorf("table status %s", out.Table.TableStatus)
	}
	return nil
}

func (s *Store) get(ctx context.Context, pk, sk string, out any) (bool, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("get %s/%s: %w", pk, sk, err)
	}
	if res.Item == nil || expired(res.Item, s.now()) {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", pk, sk, err)
	}
	return true, nil
}

// getAs reads one item as its stored shape I and converts it to the domain
// type T, or answers missing when there is none (or it has expired): the
// one shape of the single-item getters (a lead's history items, API keys,
// two-factor enrolments).
func getAs[I, T any](ctx context.Context, s *Store, pk, sk string, conv func(I) T, missing error) (T, error) {
	var it I
	ok, err := s.get(ctx, pk, sk, &it)
	var zero T
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, missing
	}
	return conv(it), nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// expired reports whether an item's ttl has passed. DynamoDB deletes expired
// items lazily (and DynamoDB Local never does), so reads filter them.
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	v, ok := item[attrTTL].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseInt(v.Value, 10, 64)
	return err == nil && ttl > 0 && ttl <= now.Unix()
}

func marshal(v any) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("encode item: %w", err)
	}
	return item, nil
}

func unmarshal(item map[string]types.AttributeValue, out any) error {
	if err := attributevalue.UnmarshalMap(item, out); err != nil {
		return fmt.Errorf("decode item: %w", err)
	}
	return nil
}

// cancelReasons returns the per-item reasons of a cancelled transaction, or
// nil when err is something else.
func cancelReasons(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return tce.CancellationReasons
	}
	return nil
}

func conditionFailed(r types.CancellationReason) bool {
	return r.Code != nil && *r.Code == "ConditionalCheckFailed"
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// decodeKey turns a LastEvaluatedKey into a listing position (all our keys
// are strings).
func decodeKey(k map[string]types.AttributeValue) page.Cursor {
	if len(k) == 0 {
		return page.Cursor{}
	}
	out := make(map[string]string, len(k))
	for name, v := range k {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out[name] = s.Value
		}
	}
	return page.NewCursor(out)
}

// encodeKey turns a listing position back into an ExclusiveStartKey (nil
// for the zero Cursor: the first page).
func encodeKey(c page.Cursor) map[string]types.AttributeValue {
	fields := c.Fields()
	if len(fields) == 0 {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(fields))
	for name, v := range fields {
		out[name] = &types.AttributeValueMemberS{Value: v}
	}
	return out
}

// pageLimit converts a page size for DynamoDB, clamped to 1..1000 (the API
// allows at most 100).
// firstOfPartition reads up to limit items of partition pk (one Query, in
// sort key order) into T, then maps each to R.
func firstOfPartition[T, R any](ctx context.Context, s *Store, pk string, limit int, conv func(T) R) ([]R, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), Limit: aws.Int32(pageLimit(limit)),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", pk, err)
	}
	res := make([]R, 0, len(out.Items))
	for _, item := range out.Items {
		var it T
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		res = append(res, conv(it))
	}
	return res, nil
}

func pageLimit(n int) int32 {
	return int32(max(1, min(n, 1000))) //nolint:gosec // clamped
}

// maxListPages bounds how many Query pages one listing may read while
// filters drop items, so a sparse filter cannot turn one request into a
// walk over the whole org.
const maxListPages = 5

// queryPrefix reads every live item of partition pk whose sort key starts
// with prefix, in key order.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefix},
		},
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s %s: %w", pk, prefix, err)
		}
		out = append(out, live(pg.Items, s.now())...)
	}
	return out, nil
}

// transact writes items in one transaction, again after a short jittered
// wait when DynamoDB cancels it for a conflict with another transaction on
// one of its items (the SDK does not retry those): message writes of one
// lead all touch its conversation summary.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			if werr := backoff(ctx, attempt); werr != nil {
				return errors.Join(err, werr)
			}
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if !transactionConflict(err) {
			return err //nolint:wrapcheck // callers wrap it and read its cancellation reasons
		}
	}
	return err //nolint:wrapcheck // as above
}

// transactionConflict reports whether err is a transaction cancelled only
// because another transaction was writing one of its items at once.
func transactionConflict(err error) bool {
	var tce *types.TransactionConflictException
	if errors.As(err, &tce) {
		return true
	}
	reasons := cancelReasons(err)
	conflict := false
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			conflict = true
		case "", "None":
		default:
			return false
		}
	}
	return conflict
}

// backoff sleeps before retry attempt (1, 2, ...) of unprocessed batch
// keys: 20 ms doubling, with jitter, as the SDK documentation advises.
func backoff(ctx context.Context, attempt int) error {
	d := (20 * time.Millisecond) << min(attempt-1, 6)
	var b [1]byte
	_, _ = rand.Read(b[:])
	d += time.Duration(b[0]) * d / 512
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("batch retry: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// batchGet reads items by key with BatchGetItem, 100 keys per call,
// retrying unprocessed keys with backoff, and hands each live item found to
// fn.
// projection (with its names) limits the attributes read when not nil.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, projection *batchProjection, fn func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(keys); start += 100 {
		ka := types.KeysAndAttributes{Keys: keys[start:min(start+100, len(keys))]}
		if projection != nil {
			if projection.expr != "" {
				ka.ProjectionExpression, ka.ExpressionAttributeNames = aws.String(projection.expr), projection.names
			}
			ka.ConsistentRead = aws.Bool(projection.consistent)
		}
		req := map[string]types.KeysAndAttributes{s.table: ka}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 8 {
				return errors.New("batch get: unprocessed keys after retries")
			}
			if attempt > 0 {
				if err := backoff(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return fmt.Errorf("batch get: %w", err)
			}
			for _, item := range live(res.Responses[s.table], s.now()) {
				if err := fn(item); err != nil {
					return err
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return nil
}

// batchProjection is the attributes a batchGet reads (all when expr is
// empty) and whether the read is strongly consistent.
type batchProjection struct {
	expr       string
	names      map[string]string
	consistent bool
}
