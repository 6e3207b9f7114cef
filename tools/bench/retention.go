package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"
	"github.com/oklog/ulid/v2"

	retentionapp "github.com/leadluence/backend/functions/retention/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/awsenv"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/retention"
	"github.com/leadluence/backend/tools/provision"
)

// The retention figures: the content sweep's throughput and write capacity
// on an org with a large history, a sweep with nothing due on tables of
// growing size, and the rate bound.

// retentionOptions size the retention figures.
type retentionOptions struct {
	// Sizes are the org's message counts at which a sweep with nothing
	// due is measured, ascending; the due sweep runs at the last.
	Sizes []int
	// DuePct is the percentage of messages old enough to be due.
	DuePct int
	// Leads is how many leads the messages are spread over.
	Leads int
	// RateN is the due messages of the run at the default rate.
	RateN int
	// Workers write the seed in parallel (after the timed baseline).
	Workers int
	// PurgeN is the items of the closed org purged with the rate lifted;
	// PurgeRatedN those of the one purged at the default rate, in
	// invocations with a deadline of PurgeDeadline.
	PurgeN, PurgeRatedN int
	PurgeDeadline       time.Duration
}

// parseSizes reads "10000,50000,100000": positive and ascending.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("size %q: not a positive number", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("sizes %q: not ascending", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// dueUpTo is how many of the first n messages are due: message j is due
// when floor((j+1)·pct/100) > floor(j·pct/100), which spreads them evenly
// and gives floor(n·pct/100) for every n.
func dueUpTo(n, pct int) int { return n * pct / 100 }

func isDue(j, pct int) bool { return (j+1)*pct/100 > j*pct/100 }

// kb is DynamoDB's write unit count for an item of n bytes: 1 per KB,
// rounded up, at least 1.
func kb(n int) float64 { return math.Max(1, math.Ceil(float64(n)/1024)) }

// updateWCU is the write units AWS bills for an UpdateItem that changes an
// item of before bytes into one of after bytes: the larger of the two for
// the table, and for each GSI (all attributes projected) the larger of the
// two when the item is in the index before and after, the old entry's size
// when the update takes it out, the new one's when it puts it in.
func updateWCU(before, after int, inBefore, inAfter []bool) float64 {
	u := kb(max(before, after))
	for i := range inBefore {
		switch {
		case inBefore[i] && inAfter[i]:
			u += kb(max(before, after))
		case inBefore[i]:
			u += kb(before)
		case inAfter[i]:
			u += kb(after)
		}
	}
	return u
}

// perThousand scales units over n items to units per 1,000 items.
func perThousand(units float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return units * 1000 / float64(n)
}

// busiestWindow is the most times (sorted) that fall in any window [t, t+d).
func busiestWindow(times []time.Time, d time.Duration) int {
	best, lo := 0, 0
	for hi, t := range times {
		for t.Sub(times[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// spanRate is messages a second from the first handled to the last.
func spanRate(s sweepResult) float64 {
	if s.Span <= 0 {
		return 0
	}
	return float64(s.Sanitized-1) / s.Span.Seconds()
}

// loadAverage is the 1-minute load average ("" when unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// ratio formats a/b as "1.23×", or "—" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// nothingDue is a sweep with nothing due.
type nothingDue struct {
	Messages  int
	RCU       float64
	WCU       float64
	Reads     string
	ReadCalls int
	Time      time.Duration
}

// sweepResult is a sweep that sanitizes.
type sweepResult struct {
	Messages, Due, Sanitized int
	Rate                     float64
	Time                     time.Duration
	PerSec                   float64
	// Reported is DynamoDB Local's write units (Table + Indexes);
	// Rules is AWS's rules applied to the items' sizes.
	Reported, Table, Indexes, Rules float64
	RCU                             float64
	Writes, Reads                   string
	// BytesBefore and BytesAfter are the mean item sizes.
	BytesBefore, BytesAfter float64
	// Span is from the first sanitizing call's start to the last's;
	// Busiest is the most started in any one second.
	Span    time.Duration
	Busiest int
}

// retentionResult is every retention figure.
type retentionResult struct {
	Date    time.Time
	Machine machineInfo
	Opts    retentionOptions
	Table   string
	// Baseline is one writer's BatchWriteItem of the first size's
	// messages, 25 to a call.
	BaseN    int
	BaseTime time.Duration
	Empty    []nothingDue
	Sweep    sweepResult
	Rated    sweepResult
	Purge    purgeRun
	PRated   purgeRated
	Seed     time.Duration
	Elapsed  time.Duration
	// LoadBefore and LoadAfter are the 1-minute load averages.
	LoadBefore, LoadAfter string
}

func (p purgeRun) baseRate() float64 { return float64(p.Items) / p.BaseTime.Seconds() }

func (r *retentionResult) baseRate() float64 { return float64(r.BaseN) / r.BaseTime.Seconds() }

// retEnv is a fresh prefix with an org, a seeding store and a metered
// runner.
type retEnv struct {
	aws       aws.Config
	db        *dynamodb.Client
	table     string
	store     *dynamostore.Store
	orgID     string
	leads     []string
	meter     *capacityMeter
	asOfEmpty time.Time
	asOf      time.Time
}

const retDay = 24 * time.Hour

// retBody is an inbound message as people write them: content the sweep
// must remove.
const retBody = "Hi, is the 2 BHK near the station still available? Call me on +91 98765 43210 or mail priya@example.com, thanks!"

// message returns the org's j-th seeded message: an inbound WhatsApp image
// with a caption and a text, 91 to 119 days old at asOf when due, at most
// 89 days old otherwise (so nothing is due at asOfEmpty, 30 days earlier).
func (e *retEnv) message(j, pct int) conversation.Message {
	var at time.Time
	if isDue(j, pct) {
		at = e.asOf.Add(-91*retDay - time.Duration(j%(28*24*60))*time.Minute)
	} else {
		at = e.asOf.Add(-time.Hour - time.Duration(j%(88*24*60))*time.Minute)
	}
	id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	return conversation.Message{ID: id, OrgID: e.orgID, LeadID: e.leads[j%len(e.leads)], Channel: conversation.ChannelWhatsApp,
		Direction: conversation.Inbound, ProviderID: "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgg" + id, Type: "image", Text: retBody,
		Status: conversation.StatusReceived, At: at, Number: obNumberID,
		Media: &conversation.Media{ID: "1039" + strconv.Itoa(100000+j), MimeType: "image/jpeg",
			SHA256: "m8yXnJ2mY7bG0dG2yT8c9w7Zb3j7kq1l6o5p4r3s2t1=", Caption: "my PAN card, front"},
		Details: map[string]string{"context_id": "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjk0"}}
}

func setupRetention(ctx context.Context, o retentionOptions) (*retEnv, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	prefix := fmt.Sprintf("bret%d-", time.Now().UnixNano()%1e9)
	res, err := provision.Apply(ctx, cfg, topology.Default(), prefix)
	if err != nil {
		return nil, fmt.Errorf("provision %s*: %w", prefix, err)
	}
	db := dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions)
	asOf := time.Now().UTC().Truncate(time.Minute)
	e := &retEnv{aws: cfg, db: db, table: res.TableName, store: dynamostore.New(db, res.TableName), meter: &capacityMeter{},
		asOf: asOf, asOfEmpty: asOf.Add(-30 * retDay)}
	for range o.Leads {
		e.leads = append(e.leads, ulid.Make().String())
	}
	if e.orgID, err = e.newOrg(ctx, "Bench Retention"); err != nil {
		return nil, err
	}
	return e, nil
}

// newOrg signs an org up (its retention settings, the defaults, come with it).
func (e *retEnv) newOrg(ctx context.Context, name string) (string, error) {
	now := time.Now().UTC()
	orgID := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: orgID, Name: "Owner", Email: strings.ToLower(orgID) + "@example.com",
		Role: account.RoleOwner, Active: true, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateOrg(ctx, account.Org{ID: orgID, Name: name, DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		return "", fmt.Errorf("create org: %w", err)
	}
	return orgID, nil
}

// seed writes messages [from, to) of the org, with workers writers in
// chunks of 1,000.
func (e *retEnv) seed(ctx context.Context, from, to, pct, workers int) error {
	const chunk = 1000
	chunks := (to - from + chunk - 1) / chunk
	return parallel(ctx, chunks, workers, func(c int) error {
		lo := from + c*chunk
		msgs := make([]conversation.Message, 0, chunk)
		for j := lo; j < min(lo+chunk, to); j++ {
			msgs = append(msgs, e.message(j, pct))
		}
		return e.store.SeedMessages(ctx, msgs)
	})
}

// runner is the retention function's runner (retentionapp.NewRunner) at
// rate, over a DynamoDB client metered by e.meter.
func (e *retEnv) runner(ctx context.Context, rate float64) (*retention.Runner, error) {
	cfg := config.Retention{TableName: e.table, Rate: rate, Margin: time.Second}
	r, err := retentionapp.NewRunner(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), e.meter.options(), awsenv.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("retention runner: %w", err)
	}
	return r, nil
}

// dueItems returns the org's items in the due index before cutoff, as
// stored (unmetered; the index projects every attribute).
func (e *retEnv) dueItems(ctx context.Context, orgID string, cutoff time.Time) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(e.db, &dynamodb.QueryInput{
		TableName: &e.table, IndexName: aws.String("GSI3"),
		KeyConditionExpression: aws.String("GSI3PK = :pk AND GSI3SK < :cut"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  &types.AttributeValueMemberS{Value: "RETAIN#CONTENT#" + orgID},
			":cut": &types.AttributeValueMemberS{Value: cutoff.UTC().Format("2006-01-02T15:04:05.000Z")},
		},
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the due index: %w", err)
		}
		out = append(out, pg.Items...)
	}
	return out, nil
}

// readBack reads items by their keys (unmetered), 100 to a BatchGetItem.
func (e *retEnv) readBack(ctx context.Context, items []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	out := map[string]map[string]types.AttributeValue{}
	var mu sync.Mutex
	batches := (len(items) + 99) / 100
	err := parallel(ctx, batches, 4, func(b int) error {
		var keys []map[string]types.AttributeValue
		for _, it := range items[b*100 : min((b+1)*100, len(items))] {
			keys = append(keys, map[string]types.AttributeValue{"PK": it["PK"], "SK": it["SK"]})
		}
		for len(keys) > 0 {
			res, err := e.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{e.table: {Keys: keys}}})
			if err != nil {
				return fmt.Errorf("read back: %w", err)
			}
			mu.Lock()
			for _, it := range res.Responses[e.table] {
				out[itemKey(it)] = it
			}
			mu.Unlock()
			keys = res.UnprocessedKeys[e.table].Keys
		}
		return nil
	})
	return out, err
}

func itemKey(it map[string]types.AttributeValue) string {
	pk, _ := it["PK"].(*types.AttributeValueMemberS)
	sk, _ := it["SK"].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return ""
	}
	return pk.Value + "\x00" + sk.Value
}

// inIndexes says, GSI by GSI (indexKeys), whether item is in it.
func inIndexes(item map[string]types.AttributeValue) []bool {
	in := make([]bool, len(indexKeys))
	for i, k := range indexKeys {
		_, in[i] = item[k]
	}
	return in
}

// sweep runs the runner at asOf and measures it; due are the items due
// (read before), used to price the sanitizing updates by AWS's rules.
func (e *retEnv) sweep(ctx context.Context, r *retention.Runner, asOf time.Time, messages int,
	due []map[string]types.AttributeValue,
) (sweepResult, error) {
	s := sweepResult{Messages: messages, Due: len(due), Rate: r.Rate}
	e.meter.take()
	begin := time.Now()
	res, err := r.Run(ctx, asOf)
	s.Time = time.Since(begin)
	calls := e.meter.take()
	var times []time.Time
	for _, c := range calls {
		if c.Op == "UpdateItem" {
			times = append(times, c.At)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) > 1 {
		s.Span, s.Busiest = times[len(times)-1].Sub(times[0]), busiestWindow(times, time.Second)
	}
	if err != nil {
		return s, fmt.Errorf("retention run: %w", err)
	}
	s.Sanitized = res.Total()
	if !res.Complete || s.Sanitized != len(due) {
		return s, fmt.Errorf("retention run: complete %v, sanitized %d of %d due", res.Complete, s.Sanitized, len(due))
	}
	s.PerSec = float64(s.Sanitized) / s.Time.Seconds()
	t := sumCapacity(calls)
	s.Reported, s.Table, s.Indexes, s.RCU = t.WriteUnits, t.TableUnits, t.IndexUnits, t.ReadUnits
	s.Writes, s.Reads = formatOps(t.WriteOps), formatOps(t.ReadOps)
	for _, c := range calls {
		if c.Write && c.Op != "UpdateItem" {
			for _, it := range c.Items {
				s.Rules += it.estimate()
			}
		}
	}
	after, err := e.readBack(ctx, due)
	if err != nil {
		return s, err
	}
	var before, afterB int
	for _, it := range due {
		a, ok := after[itemKey(it)]
		if !ok {
			return s, errors.New("a sanitized message is gone")
		}
		if _, still := a["GSI3PK"]; still {
			return s, errors.New("a sanitized message is still in the due index")
		}
		b, n := itemSize(it), itemSize(a)
		before += b
		afterB += n
		s.Rules += updateWCU(b, n, inIndexes(it), inIndexes(a))
	}
	if len(due) > 0 {
		s.BytesBefore, s.BytesAfter = float64(before)/float64(len(due)), float64(afterB)/float64(len(due))
	}
	return s, nil
}

// measureRetention takes the retention figures on a fresh prefix.
func measureRetention(ctx context.Context, o retentionOptions) (*retentionResult, error) {
	begin := time.Now()
	r := &retentionResult{Date: begin.UTC(), Machine: machine(ctx), Opts: o, LoadBefore: loadAverage()}
	e, err := setupRetention(ctx, o)
	if err != nil {
		return nil, err
	}
	r.Table = e.table
	lifted, err := e.runner(ctx, 1e9)
	if err != nil {
		return nil, err
	}
	written := 0
	for i, size := range o.Sizes {
		say("retention: seeding the org to %d messages (%d%% of them old) ...", size, o.DuePct)
		t0 := time.Now()
		if i == 0 {
			// The baseline: one writer, BatchWriteItem of 25.
			if err := e.seed(ctx, 0, size, o.DuePct, 1); err != nil {
				return nil, err
			}
			r.BaseN, r.BaseTime = size, time.Since(t0)
		} else if err := e.seed(ctx, written, size, o.DuePct, o.Workers); err != nil {
			return nil, err
		}
		r.Seed += time.Since(t0)
		written = size
		say("retention: sweep with nothing due at %d messages ...", size)
		e.meter.take()
		t1 := time.Now()
		res, err := lifted.Run(ctx, e.asOfEmpty)
		nd := nothingDue{Messages: size, Time: time.Since(t1)}
		calls := e.meter.take()
		if err != nil {
			return nil, fmt.Errorf("retention run with nothing due: %w", err)
		}
		if res.Total() != 0 || !res.Complete {
			return nil, fmt.Errorf("retention run with nothing due sanitized %d (complete %v)", res.Total(), res.Complete)
		}
		t := sumCapacity(calls)
		nd.RCU, nd.WCU, nd.Reads, nd.ReadCalls = t.ReadUnits, t.WriteUnits, formatOps(t.ReadOps), t.ReadCalls
		r.Empty = append(r.Empty, nd)
	}
	cut := retention.Settings{}.ContentCutoff(e.asOf)
	due, err := e.dueItems(ctx, e.orgID, cut)
	if err != nil {
		return nil, err
	}
	if want := dueUpTo(written, o.DuePct); len(due) != want {
		return nil, fmt.Errorf("%d messages due, want %d", len(due), want)
	}
	say("retention: sweep of %d due messages of %d, rate lifted ...", len(due), written)
	if r.Sweep, err = e.sweep(ctx, lifted, e.asOf, written, due); err != nil {
		return nil, err
	}

	// The rate bound: a second org whose RateN messages are all due, at
	// the function's default rate.
	if e.orgID, err = e.newOrg(ctx, "Bench Retention Rated"); err != nil {
		return nil, err
	}
	if err := e.seed(ctx, 0, o.RateN, 100, o.Workers); err != nil {
		return nil, err
	}
	if due, err = e.dueItems(ctx, e.orgID, cut); err != nil {
		return nil, err
	}
	rated, err := e.runner(ctx, retention.DefaultRate)
	if err != nil {
		return nil, err
	}
	say("retention: sweep of %d due messages at the default rate (%d a second) ...", len(due), retention.DefaultRate)
	if r.Rated, err = e.sweep(ctx, rated, e.asOf, o.RateN, due); err != nil {
		return nil, err
	}

	// The closed org purge, on a table of its own.
	pe := (*retEnv)(nil)
	if r.Purge, pe, err = measureOrgPurge(ctx, o); err != nil {
		return nil, err
	}
	if r.PRated, err = measureOrgPurgeRated(ctx, pe, o); err != nil {
		return nil, err
	}
	r.Elapsed, r.LoadAfter = time.Since(begin), loadAverage()
	return r, nil
}

// markdown renders the Retention section of docs/benchmarks.md.
func (r *retentionResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s, q, m := r.Sweep, r.Rated, r.Machine
	p, pq := r.Purge, r.PRated
	w("\n## Retention\n\n")
	w("The data lifecycle figures, from `go run ./tools/withstack -- go run ./tools/bench -only retention -out docs/benchmarks.md`\n")
	w("(also part of the full run), %s, in %s, on %d CPUs (%s), %s/%s, Linux %s, %s; table `%s`; load average %s at the start, %s at the end.\n\n",
		r.Date.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), m.CPUs, m.CPUModel, m.GOOS, m.GOARCH, m.Kernel, m.GoVersion, r.Table, r.LoadBefore, r.LoadAfter)
	w("| figure | value | baseline, same run |\n|---|---|---|\n")
	w("| content sweep, rate lifted | **%.0f messages/s**: %d due of %d sanitized in %.1f s | %s of one writer's BatchWriteItem of %d messages (%.0f items/s, 25 per call) |\n",
		s.PerSec, s.Sanitized, s.Messages, s.Time.Seconds(), ratio(s.PerSec, r.baseRate()), r.BaseN, r.baseRate())
	w("| WCU per 1,000 messages sanitized | **%.0f** by AWS's rules; DynamoDB Local reports %.0f (table %.0f + GSIs %.0f) | |\n",
		perThousand(s.Rules, s.Sanitized), perThousand(s.Reported, s.Sanitized), perThousand(s.Table, s.Sanitized), perThousand(s.Indexes, s.Sanitized))
	w("| RCU per 1,000 messages sanitized | %.1f (DynamoDB Local; %s) | |\n", perThousand(s.RCU, s.Sanitized), s.Reads)
	w("| content sweep at the default rate (%d a second) | **%.1f messages/s** = %.1f %% of the rate: %d sanitized in %.1f s (%.1f/s from the first to the last); busiest second: **%d** | the rate |\n",
		retention.DefaultRate, q.PerSec, 100*q.PerSec/q.Rate, q.Sanitized, q.Time.Seconds(), spanRate(q), q.Busiest)
	w("| purge of a closed org of %d items, rate lifted | **%.0f items/s**: %d removed in %.1f s | %s of one writer's BatchWriteItem of the same %d items (%.0f items/s, 25 per call) |\n",
		p.Items, p.PerSec, p.Removed, p.Time.Seconds(), ratio(p.PerSec, p.baseRate()), p.Items, p.baseRate())
	w("| WCU per 1,000 items purged | **%.0f** by AWS's rules; DynamoDB Local reports %.0f | |\n", perThousand(p.Rules, p.Removed), perThousand(p.Reported, p.Removed))
	w("| closed org purge at the default rate (%.0f items a second configured), %s timeout, %s stop margin | **%d invocations** for the %d-item org: %.0f items each at the measured %.1f items/s (%d if the rate held) | measured: %d items in %d invocations with a %s deadline (%s each) |\n",
		pq.Rate, pq.Timeout, pq.FnMargin, pq.invocationsFor(p.Items), p.Items, pq.perInvocation(), pq.PerSec, pq.invocationsAtRate(p.Items),
		pq.Items, pq.Invocations, pq.Deadline, intsLine(pq.PerInvocation))
	w("| purge of a deleted lead's history | the lead purge job (`PurgeLeads`) runs in the same invocation before the org purge, in steps with the same 100-item budget under the same rate; not measured on its own here | |\n")
	w("| export of a person's data | see [Privacy export](#privacy-export) | |\n\n")
	w("A sweep with nothing due, on the same org as it grows (the due messages are not due yet at this as-of time):\n\n")
	w("| messages in the org | RCU | reads | WCU | time | RCU ÷ RCU at %d |\n|---:|---:|---|---:|---:|---:|\n", r.Empty[0].Messages)
	for _, n := range r.Empty {
		w("| %d | %.1f | %s | %.0f | %.1f ms | %s |\n", n.Messages, n.RCU, n.Reads, n.WCU, float64(n.Time.Microseconds())/1000, ratio(n.RCU, r.Empty[0].RCU))
	}
	w("\nMethod. A fresh resource prefix; an org signed up through the store (`CreateOrg`, which files its retention\n")
	w("settings: the default 90 days). Its messages are written by `dynamostore.Store.SeedMessages`, a helper for\n")
	w("benchmarks and tests that writes each message's own item exactly as `PutInboundMessage` does (keys, ttl, due-index\n")
	w("keys) with BatchWriteItem and nothing else (no wamid guard, no conversation summary): inbound WhatsApp images with a\n")
	w("caption, a %d-character text with a phone number and an e-mail address, and details, spread over %d leads (the lead\n", len([]rune(retBody)), r.Opts.Leads)
	w("items are not written: the sweep never reads them). %d %% of them, evenly spread, are 91 to 119 days old at the\n", r.Opts.DuePct)
	w("sweep's as-of time, the rest at most 89 days old. The first %d are written by one writer and timed: that is the\n", r.BaseN)
	w("BatchWriteItem baseline; the rest by %d writers (seeding took %s in all, not timed). The sweeps are the retention\n", r.Opts.Workers, r.Seed.Round(time.Second))
	w("function's own runner, built by `functions/retention/app.NewRunner` in this process against DynamoDB Local and\n")
	w("called with `Run(ctx, asOf)` as the scheduled handler calls it; \"rate lifted\" is `Rate` = 10^9 a second (no wait),\n")
	w("the default rate is the function's (`LEADLUENCE_RETENTION_RATE`, %d). The nothing-due sweeps run at an as-of time\n", retention.DefaultRate)
	w("30 days earlier, when no message is past its period. The rate-bound figure is a second org signed up afterwards\n")
	w("with %d messages, all due (the first org has nothing left due by then), swept at the default rate; messages/s is\n", r.Opts.RateN)
	w("sanitized messages over the run's whole time, and the busiest second is the most sanitizing UpdateItem calls\n")
	w("started (as the metering middleware saw them) in any one-second window, sliding. The limiter spaces messages at\n")
	w("least 1/rate apart and never catches up after a slow call, so the rate is a ceiling: on a loaded machine the\n")
	w("sweep runs below it. (A call can start a little after its slot, so a window may show one more than the rate.)\n\n")
	w("Capacity. An SDK middleware on the runner's DynamoDB client sets `ReturnConsumedCapacity=INDEXES` on every call and\n")
	w("sums what the answers report (DynamoDB Local does report it; reads are its figures). The WCU by AWS's rules price\n")
	w("each sanitizing UpdateItem from the message's stored item before the sweep (read from the due index, which\n")
	w("projects every attribute) and after it (read back): ⌈max(before, after) / 1 KB⌉ for the table, plus, for the\n")
	w("GSI3 entry the update removes, ⌈before / 1 KB⌉ (an index write for a deleted entry); the audit record each org\n")
	w("gets is priced as a put. Mean message item: %.0f B before, %.0f B after sanitizing. Writes of the sweep: %s.\n",
		s.BytesBefore, s.BytesAfter, s.Writes)
	w("\nClosed org purge. A fresh resource prefix of its own; an org signed up through the store, then filled through the\n")
	w("store's own writes with the kinds an org holds: %d leads by `CreateLead` (the lead with its phone and email guards), a\n", p.Seed.Leads)
	w("consent entry each (`AppendConsent`), a Lead Ads resubmission each (`AttachEvent`: an activity and its event claim),\n")
	w("%d audit records (`AppendAudit`), and %d messages by `SeedMessages` with their provider id guards by `SeedStatusLogs`\n", p.Seed.Audit, p.Seed.Messages)
	w("(seeding is not timed). A Scan then finds the org's %d items (%s), and one writer puts the same items\n", p.Items, kindsLine(p.Kinds))
	w("back with BatchWriteItem, 25 per call, timed: the baseline. The org is closed by the store's `SetOrgClosed` (what\n")
	w("account closure calls), and the retention function's runner (`functions/retention/app.NewRunner`) is called with\n")
	w("`PurgeClosedOrgs(ctx, asOf)` at an as-of time 91 days after the closure (past `account.ReopenWindow`), rate\n")
	w("lifted, in one call without a deadline. It removed all %d items; a Scan afterwards finds, of what names the org,\n", p.Removed)
	w("only its deletion receipt (counts summing to %d, purge time set) and %d platform audit record(s) of the purge.\n", sum(p.Receipt.Counts), p.Platform)
	w("The write units by AWS's rules price each deleted item by its size before the purge (from the Scan) in the table\n")
	w("and in each GSI that held it (doubled for the table in a transaction), and the receipt and audit writes as sent.\n")
	w("Writes of the purge: %s; reads: %s (%.0f RCU reported by DynamoDB Local).\n\n", p.Writes, p.Reads, p.RCU)
	w("At the default rate (%.0f items a second) the runner calls `PurgeClosedOrg` in steps that aim at 100 items each and\n", pq.Rate)
	w("paces them by the items each removed (a step may remove a few more than it aims at: a message goes with its provider\n")
	w("id partition), and stops when its context's deadline is nearer than its margin. Each call starts with a fresh pace,\n")
	w("so its first step does not wait: over calls as short as these (%s) that shows as a rate above the setting; over a\n", pq.Deadline)
	w("5-minute invocation it is one step in about 140. Measured here: %.1f items/s.\n", pq.PerSec)
	w("A second org of %d items of the same kinds, in the same table, was closed and purged at that rate by calls with a\n", pq.Items)
	w("%s deadline and a 1 s margin, each a fresh `PurgeClosedOrgs` call as each scheduled invocation is, until one\n", pq.Deadline)
	w("reported the job complete: %d invocations removed %s items, and afterwards only the receipt was left. Each call\n", pq.Invocations, intsLine(pq.PerInvocation))
	w("resumes from what is left: the org's remaining items are the checkpoint. The measured rate is the items removed\n")
	w("over the time of the calls that ran to their deadline, %.1f items/s. The function's timeout in infra/topology is %s and its stop margin %s\n", pq.PerSec, pq.Timeout, pq.FnMargin)
	w("(`LEADLUENCE_RETENTION_MARGIN`), so one invocation purges about %.0f items (%.1f items/s × %s) and the %d-item org\n",
		pq.perInvocation(), pq.PerSec, pq.Timeout-pq.FnMargin, p.Items)
	w("takes %d invocations (%d if the steps kept to %.0f items a second: %.0f items each); the function is scheduled hourly,\n",
		pq.invocationsFor(p.Items), pq.invocationsAtRate(p.Items), pq.Rate, pq.Rate*(pq.Timeout-pq.FnMargin).Seconds())
	w("so the org is gone in the invocation %d hours after the first one that finds it due\n", pq.invocationsFor(p.Items)-1)
	w("(later when the content sweep and the lead purge, which run first in the same invocation, use part of its time).\n")
	return b.String()
}

func (r *retentionResult) summary() string {
	s, q := r.Sweep, r.Rated
	var rcu []string
	for _, n := range r.Empty {
		rcu = append(rcu, fmt.Sprintf("%d: %.1f", n.Messages, n.RCU))
	}
	return fmt.Sprintf("retention: %d of %d sanitized at %.0f/s (%s of BatchWrite), %.0f WCU/1000 by the rules (%.0f reported); "+
		"default rate %.1f/s, busiest second %d; nothing-due RCU %s; "+
		"org purge of %d items at %.0f/s (%s of BatchWrite), %.0f WCU/1000 by the rules (%.0f reported); "+
		"default rate %.1f items/s, %d invocations of %s for %d items, %d at %s for %d\n", s.Sanitized, s.Messages, s.PerSec, ratio(s.PerSec, r.baseRate()),
		perThousand(s.Rules, s.Sanitized), perThousand(s.Reported, s.Sanitized), q.PerSec, q.Busiest, strings.Join(rcu, ", "),
		r.Purge.Items, r.Purge.PerSec, ratio(r.Purge.PerSec, r.Purge.baseRate()), perThousand(r.Purge.Rules, r.Purge.Removed), perThousand(r.Purge.Reported, r.Purge.Removed),
		r.PRated.PerSec, r.PRated.Invocations, r.PRated.Deadline, r.PRated.Items, r.PRated.invocationsFor(r.Purge.Items), r.PRated.Timeout, r.Purge.Items)
}

// runRetentionOnly measures the retention figures alone and splices their
// section into out, keeping every other section.
func runRetentionOnly(ctx context.Context, out string, o retentionOptions) (err error) {
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	r, err := measureRetention(ctx, o)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if err := spliceFile(out, "Retention", r.markdown()); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}
