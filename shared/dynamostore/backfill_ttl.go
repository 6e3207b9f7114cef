package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/page"
)

// ttlKinds are the item types that carry a ttl from the moment they are
// written (ttl.go), which BackfillTTL gives one when they lack it.
var ttlKinds = []string{"message", "wamid", "status_event", "event", "client_message", "parked_event"}

// BackfillTTL is a one-off migration: it gives every time-bound item written
// before items carried a ttl (messages, provider id guards, status logs,
// event claims, client-message guards, parked events; see ttl.go) the ttl it
// would have been written with today. It reads one page of the table with a
// Scan of at most limit items, starting at cursor (the zero Cursor for the
// first page), and sets ttl on those that lack it; it returns how many it
// set and the cursor of the next page, zero once the whole table was read.
// Call it again with next until then; it is safe to run again or
// concurrently with normal traffic (an item that has a ttl is never
// changed). now dates the claims, which do not record when they were made:
// they get now plus the claim period.
//
// ttl values: a message, 12 months after its time; a provider id guard, its
// message's (from the message id, a ULID); a status log, its guard's (or
// 12 months after the status when the guard is gone); a claim, now plus
// 30 days; a campaign message's client-message guard, its message's;
// a parked event, 90 days after it was parked.
func (s *Store) BackfillTTL(ctx context.Context, now time.Time, limit int, cursor page.Cursor) (done int, next page.Cursor, err error) {
	vals := map[string]types.AttributeValue{}
	conds := make([]string, len(ttlKinds))
	for i, k := range ttlKinds {
		name := ":k" + strconv.Itoa(i)
		vals[name] = &types.AttributeValueMemberS{Value: k}
		conds[i] = name
	}
	out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
		TableName:                 &s.table,
		Limit:                     aws.Int32(pageLimit(limit)),
		ExclusiveStartKey:         encodeKey(cursor),
		FilterExpression:          aws.String("attribute_not_exists(#ttl) AND #type IN (" + strings.Join(conds, ", ") + ")"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL, "#type": "type"},
		ExpressionAttributeValues: vals,
	})
	if err != nil {
		return 0, page.Cursor{}, fmt.Errorf("backfill ttl: scan: %w", err)
	}
	for _, item := range out.Items {
		ttl, err := s.backfilledTTL(ctx, item, now)
		if err != nil {
			return done, page.Cursor{}, err
		}
		if ttl == 0 {
			continue
		}
		pk, sk := stringAttr(item, attrPK), stringAttr(item, attrSK)
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(pk, sk),
			UpdateExpression:          aws.String("SET #ttl = :ttl"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(#ttl)"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(ttl, 10)}},
		})
		if isConditionFailed(err) {
			continue // deleted, or given a ttl since the scan
		}
		if err != nil {
			return done, page.Cursor{}, fmt.Errorf("backfill ttl of %s/%s: %w", pk, sk, err)
		}
		done++
	}
	return done, decodeKey(out.LastEvaluatedKey), nil
}

// backfilledTTL is the ttl an item lacking one gets (0: leave it as is).
func (s *Store) backfilledTTL(ctx context.Context, item map[string]types.AttributeValue, now time.Time) (int64, error) {
	switch stringAttr(item, "type") {
	case "message":
		var it messageItem
		if err := unmarshal(item, &it); err != nil {
			return 0, err
		}
		return messageTTLOfID(it.ID, it.At), nil
	case "wamid":
		return messageTTLOfID(strings.TrimPrefix(stringAttr(item, "msg_sk"), prefixMsg), now), nil
	case "status_event":
		var it statusLogItem
		if err := unmarshal(item, &it); err != nil {
			return 0, err
		}
		var g wamidItem
		ok, err := s.get(ctx, it.PK, skWAMID, &g)
		if err != nil {
			return 0, err
		}
		if ok {
			return messageTTLOfID(strings.TrimPrefix(g.MsgSK, prefixMsg), it.At), nil
		}
		return messageTTL(it.At), nil
	case "event":
		return claimTTL(now), nil
	case "client_message":
		var g clientMessageItem
		if err := unmarshal(item, &g); err != nil {
			return 0, err
		}
		var m messageItem
		ok, err := s.get(ctx, leadPartPK(strings.TrimPrefix(g.PK, orgPK("")), g.LeadID), g.MsgSK, &m)
		if err != nil {
			return 0, err
		}
		if ok && m.Details[conversation.DetailCampaignID] != "" {
			return messageTTLOfID(m.ID, m.At), nil
		}
		return claimTTL(now), nil
	case "parked_event":
		var it parkedItem
		if err := unmarshal(item, &it); err != nil {
			return 0, err
		}
		if it.Parked.IsZero() {
			return parkedTTL(now), nil
		}
		return parkedTTL(it.Parked), nil
	}
	return 0, nil
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
