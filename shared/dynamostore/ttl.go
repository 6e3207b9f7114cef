package dynamostore

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// Time-bound items carry the table's TTL attribute (ttl, epoch seconds)
// from the moment they are written. DynamoDB deletes expired items lazily
// (DynamoDB Local never does), so every read filters ttl <= now (expired,
// live) and guards count as absent once expired (claimFree).
//
// The periods, and why (docs/data-map.md renders them with every item kind):
//
//   - Messages of both channels, their provider id guards (WAMID#) and
//     status logs: 12 months after the message (messageTTL). The privacy
//     policy keeps WhatsApp message data for up to 12 months; email messages
//     share the limit: they are the same conversation history, the policy
//     keeps data only "while the account is active" (a ceiling, not a
//     promise) and lets older message content be removed, and one horizon
//     keeps a lead's mixed-channel timeline whole.
//   - Idempotency and event claims (EVENT#, client-message guards CLIENTMSG#
//     of API sends): 30 days after the claim (claimTTL). Meta retries a
//     failed Graph webhook (Lead Ads) for up to 36 hours and a WhatsApp
//     webhook for up to 7 days; an intake payload can wait 14 days in its
//     queue and 14 more in the dead-letter queue before it is redriven
//     (infra/topology, infra/stack); the outbound queue keeps 4 days; a
//     client retries a send with the same client_message_id within minutes
//     or hours. 30 days covers the longest of these (28 days) with margin;
//     7 would not cover a redrive from the dead-letter queue.
//   - Client-message guards of campaign messages: as long as their message,
//     because they are also the campaign's index of its messages (its
//     outcome counts read them).
//   - Parked events: 90 days after parking (parkedTTL), the time Meta keeps
//     a Lead Ads lead retrievable; after that a replay could not fetch it,
//     and the scheduled backfill recovers anything younger.
const (
	messageRetentionMonths = 12
	claimRetention         = 30 * 24 * time.Hour
	parkedRetention        = 90 * 24 * time.Hour
)

// messageTTL is the ttl of a message sent or received at at, and of its
// provider id guard and status log; 0 (no ttl) when at is unknown.
func messageTTL(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return at.AddDate(0, messageRetentionMonths, 0).Unix()
}

// messageTTLOfID is messageTTL of a message id (a ULID of the message
// time), or of fallback when the id is not a ULID.
func messageTTLOfID(msgID string, fallback time.Time) int64 {
	if id, err := ulid.Parse(msgID); err == nil {
		return messageTTL(ulid.Time(id.Time()))
	}
	return messageTTL(fallback)
}

// claimTTL is the ttl of an idempotency or event claim made at now.
func claimTTL(now time.Time) int64 { return now.Add(claimRetention).Unix() }

// parkedTTL is the ttl of an event parked at now.
func parkedTTL(now time.Time) int64 { return now.Add(parkedRetention).Unix() }

// claimFree is the condition under which a claim or guard may be written:
// none exists, or the one there has expired (DynamoDB may not have deleted
// it yet). It needs the names and values of claimFreeNames/claimFreeValues.
const claimFree = "attribute_not_exists(PK) OR #ttl <= :now"

func claimFreeNames() map[string]string { return map[string]string{"#ttl": attrTTL} }

func claimFreeValues(now time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}}
}

// live drops expired items from a read.
func live(items []map[string]types.AttributeValue, now time.Time) []map[string]types.AttributeValue {
	out := items[:0:0]
	for _, it := range items {
		if !expired(it, now) {
			out = append(out, it)
		}
	}
	return out
}
