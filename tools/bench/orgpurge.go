package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/retention"
)

// The closed org purge figures: an org of many items of the kinds an org
// has, closed, purged by the retention function's runner 91 days later,
// with the rate lifted (time, items/s, write units) and at the function's
// default rate in invocations bounded by a deadline.

// purgeItemsPerLead is the mean items of the purge org per lead: the lead,
// its phone and email guards, a consent entry, an activity with its event
// claim, an audit record, and 21 messages each with its provider id guard.
const purgeItemsPerLead = 50

// purgeSeed is what the purge org was seeded with.
type purgeSeed struct {
	OrgID    string
	Leads    int
	Messages int
	Audit    int
	ClosedAt time.Time
}

// purgeRun is the closed org purge with the rate lifted.
type purgeRun struct {
	// Items are the org's items before the purge (a Scan), Kinds by
	// "type" attribute.
	Items int
	Kinds map[string]int
	Seed  purgeSeed
	// BaseTime is one writer's BatchWriteItem of the same items.
	BaseTime time.Duration
	Time     time.Duration
	Removed  int
	PerSec   float64
	// Rules is AWS's rules applied to the items' sizes; Reported is
	// DynamoDB Local's figure.
	Rules, Reported, RCU float64
	Writes, Reads        string
	// Receipt is the deletion receipt; Left counts the items that still
	// name the org besides the receipt and the platform audit records.
	Receipt        retention.DeletionReceipt
	Left, Platform int
}

// purgeRated is the closed org purge at the default rate, run in
// invocations with a short deadline until the org is gone.
type purgeRated struct {
	Items             int
	Deadline, Margin  time.Duration
	Invocations       int
	PerInvocation     []int
	Time              time.Duration
	PerSec            float64
	Timeout, FnMargin time.Duration
	Rate              float64
}

// perInvocation is the items one invocation of the function removes at
// the measured rate: the rate over its timeout less the stop margin.
func (q purgeRated) perInvocation() float64 {
	return q.PerSec * (q.Timeout - q.FnMargin).Seconds()
}

// invocationsFor is how many invocations of the function purge n items.
func (q purgeRated) invocationsFor(n int) int {
	per := q.perInvocation()
	if per <= 0 {
		return 0
	}
	return int(math.Ceil(float64(n) / per))
}

// invocationsAtRate is how many invocations of the function purge n
// items if the purge kept to the configured rate.
func (q purgeRated) invocationsAtRate(n int) int {
	per := q.Rate * (q.Timeout - q.FnMargin).Seconds()
	if per <= 0 {
		return 0
	}
	return int(math.Ceil(float64(n) / per))
}

// seedPurgeOrg fills the org e.orgID with about n items of the kinds an
// org has and closes it at closedAt: leads with their guards (CreateLead),
// a consent entry each (AppendConsent), a Lead Ads resubmission each
// (AttachEvent: an activity and its event claim), an audit record each
// (AppendAudit), and messages with their provider id guards (SeedMessages,
// SeedStatusLogs) for the rest.
func (e *retEnv) seedPurgeOrg(ctx context.Context, n, workers int, closedAt time.Time) (purgeSeed, error) {
	leads := max(1, n/purgeItemsPerLead)
	rest := max(0, n-7*leads)
	s := purgeSeed{OrgID: e.orgID, Leads: leads, Messages: rest / 2, Audit: leads + rest%2, ClosedAt: closedAt}
	e.leads = make([]string, leads)
	for i := range e.leads {
		e.leads[i] = ulid.Make().String()
	}
	now := time.Now().UTC()
	err := parallel(ctx, leads, workers, func(i int) error {
		id := e.leads[i]
		l := lead.Lead{ID: id, OrgID: e.orgID, Name: "Lead " + strconv.Itoa(i), Phone: fmt.Sprintf("+9198%08d", i),
			Email: fmt.Sprintf("lead%d@example.com", i), Source: "meta_lead_ads", Status: lead.StatusNew,
			Tags: []string{"2bhk"}, CustomFields: map[string]string{"budget": "80L"}, CreatedAt: now, UpdatedAt: now, Version: 1,
			Consent: map[string]string{"whatsapp:service": "opt_in@" + now.Format(time.RFC3339)}}
		if err := e.store.CreateLead(ctx, l); err != nil {
			return fmt.Errorf("seed lead: %w", err)
		}
		if err := e.store.AppendConsent(ctx, conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: id,
			Channel: conversation.ChannelWhatsApp, Purpose: "marketing", Action: "opt_in", At: now,
			Evidence: "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgg" + id, Source: "button"}); err != nil {
			return fmt.Errorf("seed consent: %w", err)
		}
		if err := e.store.AttachEvent(ctx, e.orgID, "leadgen:"+id, lead.Activity{ID: ulid.Make().String(), OrgID: e.orgID, LeadID: id,
			Kind: "lead_ads_resubmission", At: now, FromMeta: true,
			Details: map[string]string{"form_id": "1234567890", "leadgen_id": "9" + strconv.Itoa(100000+i)}}); err != nil {
			return fmt.Errorf("seed activity: %w", err)
		}
		return e.auditRecord(ctx, id, now)
	})
	if err != nil {
		return s, err
	}
	if rest%2 == 1 {
		if err := e.auditRecord(ctx, e.leads[0], now); err != nil {
			return s, err
		}
	}
	const chunk = 1000
	err = parallel(ctx, (s.Messages+chunk-1)/chunk, workers, func(c int) error {
		msgs := make([]conversation.Message, 0, chunk)
		for j := c * chunk; j < min((c+1)*chunk, s.Messages); j++ {
			msgs = append(msgs, e.message(j, 0))
		}
		if err := e.store.SeedMessages(ctx, msgs); err != nil {
			return err
		}
		return e.store.SeedStatusLogs(ctx, msgs, nil)
	})
	if err != nil {
		return s, err
	}
	if err := e.store.SetOrgClosed(ctx, e.orgID, nil, closedAt); err != nil {
		return s, fmt.Errorf("close org: %w", err)
	}
	return s, nil
}

// auditRecord appends an audit record of a lead's update to the org.
func (e *retEnv) auditRecord(ctx context.Context, leadID string, at time.Time) error {
	err := e.store.AppendAudit(ctx, audit.Record{ID: ulid.Make().String(), OrgID: e.orgID, ActorID: ulid.Make().String(),
		Action: "lead.update", TargetType: "lead", TargetID: leadID, Outcome: audit.OutcomeSuccess, SourceIP: "203.0.113.7",
		UserAgent: "Mozilla/5.0", At: at, Details: map[string]string{"fields": "status,tags"}})
	if err != nil {
		return fmt.Errorf("seed audit record: %w", err)
	}
	return nil
}

// scanTable reads the whole table (unmetered), 4 segments in parallel.
func (e *retEnv) scanTable(ctx context.Context) ([]map[string]types.AttributeValue, error) {
	const segments = 4
	segs := [segments]int32{0, 1, 2, 3}
	var (
		mu  sync.Mutex
		out []map[string]types.AttributeValue
	)
	err := parallel(ctx, segments, segments, func(seg int) error {
		p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{TableName: &e.table, Segment: aws.Int32(segs[seg]), TotalSegments: aws.Int32(segments)})
		for p.HasMorePages() {
			pg, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("scan %s: %w", e.table, err)
			}
			mu.Lock()
			out = append(out, pg.Items...)
			mu.Unlock()
		}
		return nil
	})
	return out, err
}

// namesOrg says whether any string attribute of item holds orgID (its
// keys, org_id, a receipt's sort key, an audit record's target).
func namesOrg(item map[string]types.AttributeValue, orgID string) bool {
	for _, v := range item {
		if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, orgID) {
			return true
		}
	}
	return false
}

// itemKind names an item by its "type" attribute ("item" without one).
func itemKind(t string) string {
	if t == "" {
		return "item"
	}
	return t
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// orgItems are the table's items that name orgID.
func (e *retEnv) orgItems(ctx context.Context, orgID string) ([]map[string]types.AttributeValue, error) {
	all, err := e.scanTable(ctx)
	if err != nil {
		return nil, err
	}
	var out []map[string]types.AttributeValue
	for _, it := range all {
		if namesOrg(it, orgID) {
			out = append(out, it)
		}
	}
	return out, nil
}

// batchPut writes items with one writer, 25 to a BatchWriteItem (the
// baseline), retrying what comes back unprocessed.
func (e *retEnv) batchPut(ctx context.Context, items []map[string]types.AttributeValue) error {
	for start := 0; start < len(items); start += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		for len(reqs) > 0 {
			out, err := e.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{e.table: reqs}})
			if err != nil {
				return fmt.Errorf("baseline batch write: %w", err)
			}
			reqs = out.UnprocessedItems[e.table]
		}
	}
	return nil
}

// purgeRules prices a purge's writes by AWS's rules: a deleted item by its
// size before (from before, by key) in the table and in each GSI that held
// it, doubled for the table in a transaction; any other write as the meter
// sizes it.
func purgeRules(calls []capacityCall, before map[string]map[string]types.AttributeValue) float64 {
	u := 0.0
	for _, c := range calls {
		if !c.Write {
			continue
		}
		for _, w := range c.Items {
			if it, ok := before[w.Key]; ok && w.Action == "Delete" {
				w.Bytes, w.Indexes = itemSize(it), indexesOf(it)
			}
			u += w.estimate()
		}
	}
	return u
}

// measureOrgPurge seeds a fresh org of about n items, closes it, and
// purges it with the rate lifted 91 days later.
func measureOrgPurge(ctx context.Context, o retentionOptions) (purgeRun, *retEnv, error) {
	var r purgeRun
	e, err := setupRetention(ctx, o)
	if err != nil {
		return r, nil, err
	}
	closedAt := time.Now().UTC()
	say("retention: seeding an org of %d items to purge ...", o.PurgeN)
	if r.Seed, err = e.seedPurgeOrg(ctx, o.PurgeN, o.Workers, closedAt); err != nil {
		return r, nil, err
	}
	items, err := e.orgItems(ctx, e.orgID)
	if err != nil {
		return r, nil, err
	}
	r.Items, r.Kinds = len(items), map[string]int{}
	before := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		before[itemKey(it)] = it
		r.Kinds[itemKind(attrS(it, "type"))]++
	}
	say("retention: baseline, one writer's BatchWriteItem of the %d items ...", len(items))
	t0 := time.Now()
	if err := e.batchPut(ctx, items); err != nil {
		return r, nil, err
	}
	r.BaseTime = time.Since(t0)

	lifted, err := e.runner(ctx, 1e9)
	if err != nil {
		return r, nil, err
	}
	asOf := closedAt.Add(account.ReopenWindow + retDay)
	say("retention: purge of the closed org, rate lifted ...")
	e.meter.take()
	t1 := time.Now()
	res, err := lifted.PurgeClosedOrgs(ctx, asOf)
	r.Time = time.Since(t1)
	calls := e.meter.take()
	if err != nil {
		return r, nil, fmt.Errorf("purge closed orgs: %w", err)
	}
	if !res.Complete || res.Finished != 1 || res.Items != len(items) {
		return r, nil, fmt.Errorf("purge closed orgs: complete %v, %d of %d orgs finished, %d of %d items removed",
			res.Complete, res.Finished, res.Orgs, res.Items, len(items))
	}
	r.Removed, r.PerSec = res.Items, float64(res.Items)/r.Time.Seconds()
	t := sumCapacity(calls)
	r.Reported, r.RCU, r.Writes, r.Reads = t.WriteUnits, t.ReadUnits, formatOps(t.WriteOps), formatOps(t.ReadOps)
	r.Rules = purgeRules(calls, before)
	if r.Left, r.Platform, r.Receipt, err = e.afterPurge(ctx, e.orgID); err != nil {
		return r, nil, err
	}
	if r.Left != 0 {
		return r, nil, fmt.Errorf("%d items of the purged org are left besides its receipt", r.Left)
	}
	if got := sum(r.Receipt.Counts); got != len(items) || r.Receipt.PurgedAt.IsZero() {
		return r, nil, fmt.Errorf("deletion receipt counts %d of %d items (purged at %v)", got, len(items), r.Receipt.PurgedAt)
	}
	return r, e, nil
}

// afterPurge counts the table's items that still name the org besides its
// deletion receipt and the platform audit records of its purge, and
// returns the receipt.
func (e *retEnv) afterPurge(ctx context.Context, orgID string) (left, platform int, rc retention.DeletionReceipt, err error) {
	items, err := e.orgItems(ctx, orgID)
	if err != nil {
		return 0, 0, rc, err
	}
	receipts := 0
	for _, it := range items {
		switch {
		case attrS(it, "type") == "deletion_receipt" && attrS(it, "SK") == orgID:
			receipts++
		case attrS(it, "org_id") == retention.PlatformOrg && attrS(it, "action") == retention.ActionOrgPurged:
			platform++
		default:
			left++
		}
	}
	rc, ok, err := e.store.DeletionReceipt(ctx, orgID)
	if err != nil {
		return left, platform, rc, fmt.Errorf("read deletion receipt: %w", err)
	}
	if !ok || receipts != 1 {
		return left, platform, rc, errors.New("the purged org has no deletion receipt")
	}
	return left, platform, rc, nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// measureOrgPurgeRated seeds a second org of about n items in e's table,
// closes it, and purges it at the default rate in invocations with a
// deadline of d (margin m) until it is gone.
func measureOrgPurgeRated(ctx context.Context, e *retEnv, o retentionOptions) (purgeRated, error) {
	fn, ok := topology.Default().Function("retention")
	if !ok {
		return purgeRated{}, errors.New("no retention function in the topology")
	}
	q := purgeRated{Deadline: o.PurgeDeadline, Margin: time.Second, Timeout: fn.Timeout, FnMargin: retention.DefaultMargin, Rate: retention.DefaultRate}
	var err error
	if e.orgID, err = e.newOrg(ctx, "Bench Retention Purge Rated"); err != nil {
		return q, err
	}
	closedAt := time.Now().UTC()
	say("retention: seeding an org of %d items to purge at the default rate ...", o.PurgeRatedN)
	if _, err := e.seedPurgeOrg(ctx, o.PurgeRatedN, o.Workers, closedAt); err != nil {
		return q, err
	}
	items, err := e.orgItems(ctx, e.orgID)
	if err != nil {
		return q, err
	}
	q.Items = len(items)
	cfgRunner, err := e.runner(ctx, retention.DefaultRate)
	if err != nil {
		return q, err
	}
	cfgRunner.Margin = q.Margin
	asOf := closedAt.Add(account.ReopenWindow + retDay)
	// The rate is measured over the invocations that ran to their deadline
	// (the last one stops early, when the org is gone).
	removed, fullItems, fullTime := 0, 0, time.Duration(0)
	for q.Invocations < 1000 {
		q.Invocations++
		say("retention: purge at the default rate, invocation %d (deadline %s) ...", q.Invocations, q.Deadline)
		ictx, cancel := context.WithTimeout(ctx, q.Deadline)
		t0 := time.Now()
		res, err := cfgRunner.PurgeClosedOrgs(ictx, asOf)
		q.Time += time.Since(t0)
		cancel()
		if err != nil {
			return q, fmt.Errorf("purge closed orgs, invocation %d: %w", q.Invocations, err)
		}
		q.PerInvocation = append(q.PerInvocation, res.Items)
		removed += res.Items
		if res.Complete {
			if fullTime == 0 { // done within the first deadline
				fullItems, fullTime = res.Items, time.Since(t0)
			}
			break
		}
		fullItems += res.Items
		fullTime += time.Since(t0)
	}
	if removed != len(items) {
		return q, fmt.Errorf("purge at the default rate removed %d of %d items", removed, len(items))
	}
	left, _, rc, err := e.afterPurge(ctx, e.orgID)
	if err != nil {
		return q, err
	}
	if left != 0 || rc.PurgedAt.IsZero() || sum(rc.Counts) != len(items) {
		return q, fmt.Errorf("after the purge at the default rate: %d items left, receipt counts %d of %d", left, sum(rc.Counts), len(items))
	}
	q.PerSec = float64(fullItems) / fullTime.Seconds()
	return q, nil
}

// kindsLine formats item counts by kind, largest first.
func kindsLine(kinds map[string]int) string {
	type kc struct {
		k string
		n int
	}
	var all []kc
	for k, n := range kinds {
		all = append(all, kc{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var parts []string
	for _, c := range all {
		parts = append(parts, fmt.Sprintf("%s %d", c.k, c.n))
	}
	return strings.Join(parts, ", ")
}

func intsLine(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}
