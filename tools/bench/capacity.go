package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/leadluence/backend/shared/awsenv"
)

// capacityMeter is an SDK middleware on the DynamoDB client that asks every
// read and write for its consumed capacity (ReturnConsumedCapacity=INDEXES,
// which carries the TOTAL plus the table/index split) and records what the
// answer reports, call by call. For the writes it also records what the
// request wrote, item by item, with the item's size by AWS's rules, so that
// the units can be attributed to items.
type capacityMeter struct {
	// readBack reads an updated or checked item back after the call, to
	// size it; nil skips that.
	readBack func(ctx context.Context, table string, key map[string]types.AttributeValue) map[string]types.AttributeValue

	mu    sync.Mutex
	calls []capacityCall
}

// capacityCall is one DynamoDB call and the capacity it consumed.
type capacityCall struct {
	Op string
	// At is when the call started.
	At    time.Time
	Write bool
	// Units is the sum of ConsumedCapacity.CapacityUnits over the tables
	// in the answer; Table and Indexes split it.
	Units, Table, Indexes float64
	// Reported is false when the answer carried no ConsumedCapacity (an
	// error, such as a failed condition, carries none).
	Reported bool
	Err      bool
	// Items are the writes of the request, in order.
	Items []itemWrite
}

// itemWrite is one item a write request put, updated, deleted or checked.
type itemWrite struct {
	// Action is Put, Update, Delete or ConditionCheck.
	Action string
	// Label names the item by its sort key's constant prefix and its
	// "type" attribute, e.g. "LEAD# (lead)".
	Label string
	// Bytes is the item's size by AWS's rules: from the request for a Put,
	// read back after the call for an Update or a ConditionCheck, 0 when
	// unknown (a Delete).
	Bytes int
	// Indexes is how many GSIs the item has keys for.
	Indexes       int
	Transactional bool
	// Key is the item's PK and SK ("PK\x00SK", itemKey), for a write
	// known by its key (an Update, Delete or ConditionCheck).
	Key string

	// table and key locate an item to read back after the call.
	table string
	key   map[string]types.AttributeValue
}

// estimate is the write units AWS's rules give for the item: 1 per KB of
// item size, rounded up per item (at least 1), twice that for the table
// in a transaction, plus the same per KB, not doubled, for each GSI that
// holds the item. (AWS's guide does not say how a transaction bills index
// writes; single-rate is what the dynoxide emulator project measured
// against real DynamoDB, nubo-db/dynoxide#188.)
func (w itemWrite) estimate() float64 {
	kb := math.Max(1, math.Ceil(float64(w.Bytes)/1024))
	table := kb
	if w.Transactional {
		table *= 2
	}
	return table + kb*float64(w.Indexes)
}

// options returns the SDK option that installs the meter on every client;
// it acts on DynamoDB calls only.
func (m *capacityMeter) options() awsenv.Option {
	mw := middleware.InitializeMiddlewareFunc("LeadluenceBenchCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if awsmiddleware.GetServiceID(ctx) != dynamodb.ServiceID {
				return next.HandleInitialize(ctx, in)
			}
			call := capacityCall{Op: awsmiddleware.GetOperationName(ctx), At: time.Now()}
			in.Parameters, call.Write, call.Items = askCapacity(in.Parameters)
			out, md, err := next.HandleInitialize(ctx, in)
			call.Err = err != nil
			if err == nil {
				addCapacity(&call, out.Result)
			}
			for i, it := range call.Items {
				if it.key != nil && m.readBack != nil {
					if item := m.readBack(ctx, it.table, it.key); item != nil {
						call.Items[i].Bytes, call.Items[i].Indexes, call.Items[i].Label = itemSize(item), indexesOf(item), itemLabel(item)
					}
				}
				call.Items[i].key = nil
			}
			m.mu.Lock()
			m.calls = append(m.calls, call)
			m.mu.Unlock()
			return out, md, err //nolint:wrapcheck // a middleware passes the SDK's error on unchanged
		})
	return awsenv.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error { return s.Initialize.Add(mw, middleware.After) },
	})
}

// take returns the calls so far and starts again.
func (m *capacityMeter) take() []capacityCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

// askCapacity returns a copy of a DynamoDB input with ReturnConsumedCapacity
// set (when the caller left it unset), whether it is a write, and the items
// it writes.
func askCapacity(params any) (any, bool, []itemWrite) {
	const rc = types.ReturnConsumedCapacityIndexes
	switch v := params.(type) {
	case *dynamodb.PutItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, true, []itemWrite{putItem(c.Item, false)}
	case *dynamodb.UpdateItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, true, []itemWrite{keyedItem("Update", aws.ToString(c.TableName), c.Key, false, true)}
	case *dynamodb.DeleteItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, true, []itemWrite{keyedItem("Delete", aws.ToString(c.TableName), c.Key, false, false)}
	case *dynamodb.TransactWriteItemsInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		var items []itemWrite
		for _, t := range c.TransactItems {
			switch {
			case t.Put != nil:
				items = append(items, putItem(t.Put.Item, true))
			case t.Update != nil:
				items = append(items, keyedItem("Update", aws.ToString(t.Update.TableName), t.Update.Key, true, true))
			case t.Delete != nil:
				items = append(items, keyedItem("Delete", aws.ToString(t.Delete.TableName), t.Delete.Key, true, false))
			case t.ConditionCheck != nil:
				items = append(items, keyedItem("ConditionCheck", aws.ToString(t.ConditionCheck.TableName), t.ConditionCheck.Key, true, true))
			}
		}
		return &c, true, items
	case *dynamodb.BatchWriteItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		var items []itemWrite
		for table, reqs := range c.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					items = append(items, putItem(r.PutRequest.Item, false))
				case r.DeleteRequest != nil:
					items = append(items, keyedItem("Delete", table, r.DeleteRequest.Key, false, false))
				}
			}
		}
		return &c, true, items
	case *dynamodb.GetItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, false, nil
	case *dynamodb.QueryInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, false, nil
	case *dynamodb.ScanInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, false, nil
	case *dynamodb.BatchGetItemInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, false, nil
	case *dynamodb.TransactGetItemsInput:
		c := *v
		if c.ReturnConsumedCapacity == "" {
			c.ReturnConsumedCapacity = rc
		}
		return &c, false, nil
	}
	return params, false, nil
}

// putItem is a Put of item.
func putItem(item map[string]types.AttributeValue, transactional bool) itemWrite {
	return itemWrite{Action: "Put", Label: itemLabel(item), Bytes: itemSize(item), Indexes: indexesOf(item), Transactional: transactional}
}

// keyedItem is a write known by its key only; readBack says whether the
// item should be read back after the call to size it.
func keyedItem(action, table string, key map[string]types.AttributeValue, transactional, readBack bool) itemWrite {
	w := itemWrite{Action: action, Label: itemLabel(key), Transactional: transactional, Key: itemKey(key)}
	if readBack {
		w.table, w.key = table, key
	}
	return w
}

// addCapacity adds the consumed capacity an operation's output reports.
func addCapacity(call *capacityCall, result any) {
	var ccs []types.ConsumedCapacity
	switch v := result.(type) {
	case *dynamodb.PutItemOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.TransactWriteItemsOutput:
		ccs = v.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		ccs = v.ConsumedCapacity
	case *dynamodb.GetItemOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		ccs = one(v.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		ccs = v.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		ccs = v.ConsumedCapacity
	}
	for _, cc := range ccs {
		call.Reported = true
		call.Units += aws.ToFloat64(cc.CapacityUnits)
		if cc.Table != nil {
			call.Table += aws.ToFloat64(cc.Table.CapacityUnits)
		}
		for _, ix := range cc.GlobalSecondaryIndexes {
			call.Indexes += aws.ToFloat64(ix.CapacityUnits)
		}
		for _, ix := range cc.LocalSecondaryIndexes {
			call.Indexes += aws.ToFloat64(ix.CapacityUnits)
		}
	}
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

// indexKeys are the partition keys of the table's GSIs (infra/topology).
var indexKeys = []string{"GSI1PK", "GSI2PK", "GSI3PK"}

// indexesOf counts the GSIs an item has a partition key for (every GSI
// projects all attributes, so the item is written to each).
func indexesOf(item map[string]types.AttributeValue) int {
	n := 0
	for _, k := range indexKeys {
		if _, ok := item[k]; ok {
			n++
		}
	}
	return n
}

// itemLabel names an item by the constant upper-case segments its sort key
// starts with ("LEAD#", "UNIQ#PHONE#", "EVENT#"), and by its "type"
// attribute when it has one.
func itemLabel(item map[string]types.AttributeValue) string {
	sk, _ := item["SK"].(*types.AttributeValueMemberS)
	label := "?"
	if sk != nil {
		var kept []string
		for _, seg := range strings.Split(sk.Value, "#") {
			if seg == "" || strings.TrimFunc(seg, func(r rune) bool { return r >= 'A' && r <= 'Z' }) != "" {
				break
			}
			kept = append(kept, seg)
		}
		label = strings.Join(kept, "#")
		if len(kept) < len(strings.Split(sk.Value, "#")) {
			label += "#…"
		}
	}
	if t, ok := item["type"].(*types.AttributeValueMemberS); ok {
		label += " (" + t.Value + ")"
	}
	return label
}

// itemSize is an item's size by DynamoDB's rules: the UTF-8 length of each
// attribute name plus its value's size; strings and binaries by length,
// numbers by about one byte per two significant digits plus one, booleans
// and nulls 1 byte, lists and maps 3 bytes plus their elements plus 1 byte
// per element.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + avSize(v)
	}
	return n
}

func avSize(v types.AttributeValue) int {
	switch a := v.(type) {
	case *types.AttributeValueMemberS:
		return len(a.Value)
	case *types.AttributeValueMemberN:
		return numSize(a.Value)
	case *types.AttributeValueMemberB:
		return len(a.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range a.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range a.Value {
			n += numSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range a.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range a.Value {
			n += 1 + avSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range a.Value {
			n += 1 + len(k) + avSize(e)
		}
		return n
	}
	return 0
}

// numSize approximates a number's size: one byte per two significant
// digits (leading and trailing zeros trimmed), plus one.
func numSize(s string) int {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	digits = strings.Trim(digits, "0")
	return (len(digits)+1)/2 + 1
}

// capacityTotals sums a list of calls.
type capacityTotals struct {
	WriteUnits, ReadUnits  float64
	WriteCalls, ReadCalls  int
	WriteOps, ReadOps      map[string]int
	Unreported             int
	Estimated              float64
	TableUnits, IndexUnits float64
}

func sumCapacity(calls []capacityCall) capacityTotals {
	t := capacityTotals{WriteOps: map[string]int{}, ReadOps: map[string]int{}}
	for _, c := range calls {
		if !c.Reported {
			t.Unreported++
		}
		if c.Write {
			t.WriteUnits += c.Units
			t.WriteCalls++
			t.WriteOps[c.Op]++
			t.TableUnits += c.Table
			t.IndexUnits += c.Indexes
			for _, it := range c.Items {
				t.Estimated += it.estimate()
			}
			continue
		}
		t.ReadUnits += c.Units
		t.ReadCalls++
		t.ReadOps[c.Op]++
	}
	return t
}

// formatOps formats operation counts as "GetItem ×2, Query ×1".
func formatOps(ops map[string]int) string {
	var parts []string
	for op, n := range ops {
		parts = append(parts, fmt.Sprintf("%s ×%d", op, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}
