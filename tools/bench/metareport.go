package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Goals of the Meta intake figures.
const (
	goalWebhookRatio = 2.0 // webhook CPU / (HMAC-SHA256 + json.Valid), 64 KB batch
	goalWCUNew       = 5.0 // per new Lead Ads lead
	goalWCUDup       = 1.0 // per duplicate delivery
	goalKMSPer       = 5 * time.Minute
)

// metaResult is everything the Meta intake part of a run measured.
type metaResult struct {
	Prefix string
	Setup  time.Duration
	CPU    cpuResult
	WCU    wcuResult
	KMS    kmsResult
	E2E    e2eResult
	Cost   *costResult
	// IngestRSS is the ingest bootstrap's memory run.
	IngestRSS rssRun
	Elapsed   time.Duration
}

// metaMethod is the hand-written method of the Meta intake section.
const metaMethod = `### Method

- **Webhook CPU.** The bench builds the test binary of ` + "`functions/webhook/app`" + ` once and runs its two
  benchmarks (` + "`bench_test.go`" + `): ` + "`BenchmarkWebhook64KB`" + `, the handler from the API Gateway event of a signed
  64 KB WhatsApp batch to the (no-op) SendMessage and the 200, logging included, and
  ` + "`BenchmarkHMACAndValid64KB`" + `, HMAC-SHA256 plus ` + "`json.Valid`" + ` over the same bytes. In each round each
  benchmark runs as its own process twice, with ` + "`-benchtime`" + ` fixed at a small and a large iteration count
  (the order of the two benchmarks alternating between rounds); the CPU per request is the difference of
  the two processes' CPU times (user + system, every thread, so the garbage collector's work counts)
  over the difference of the counts, which cancels process start and benchmark setup. The goal is
  judged on the median of the per-round ratios of CPU per request; the ns/op go test prints (wall time,
  default GOMAXPROCS, parallel GC work not in it) is reported beside it.
- **Capacity per Lead Ads delivery.** An ingest handler is built in-process by
  ` + "`functions/ingest/app.New`" + ` (config from the environment, resources of a fresh prefix, Graph API = the
  simulator) with an SDK middleware on its DynamoDB client that sets ` + "`ReturnConsumedCapacity=INDEXES`" + ` (TOTAL
  plus the table/index split) on every read and write, sums ` + "`ConsumedCapacity.CapacityUnits`" + ` from the
  answers, and records each item every write carries with its size by AWS's rules (attribute names plus
  values; for an Update the item as read back after the call). DynamoDB Local does return
  ConsumedCapacity; whether its figures follow AWS's rules is checked in each run with a few
  calibration writes of known sizes (below). **The WCU figures are computed from the items by AWS's
  rules**: per item ⌈size / 1 KB⌉ (at least 1), twice that for the table in a transaction, plus
  ⌈size / 1 KB⌉ for each GSI that holds the item (every GSI projects all attributes; a transaction's
  index writes are counted at the single rate, which AWS's guide does not spell out and the dynoxide
  emulator project measured against real DynamoDB). DynamoDB Local's own figures are shown beside them.
  Reads are DynamoDB Local's figures (½ or 1 unit per 4 KB, eventually or strongly consistent). A
  failed conditional write carries no ConsumedCapacity; the tables count failed calls.
  A sample is one SQS event with one leadgen payload (the simulator's webhook for a new lead with name,
  phone, email and two more answers) through the whole of ` + "`intake.Processor`" + `: owner lookup, event claim
  check, integration and its sealed token, the Graph lead fetch, the lead with its phone and email
  guards, activity and event claim in one transaction, the integration's last-event touch. After it
  the table is checked: event claimed, a lead with the phone, exactly one activity. Then the same
  payload again: the duplicate.
- **KMS calls per Graph calls.** A fresh ingest handler (one container) with an SDK middleware counting
  calls by service and operation takes N leadgen events of org A's page, in SQS events of the topology's
  batch size, each needing a Graph lead fetch with the page token sealed in the table (envelope
  encryption: a KMS Decrypt opens the data key, which ` + "`shared/envelope`" + ` caches for 5 minutes). Graph calls
  are the simulator's request counts (` + "`metatest.Server.Calls`" + `). Every event is checked to be claimed afterwards.
- **End to end.** All in this process, as ` + "`make dev`" + ` wires it: ` + "`runner.Router`" + ` over the api and webhook
  handlers (built by their ` + "`app.New`" + ` from the environment, the webhook's app secret and verify token KMS
  ciphertext made with ` + "`shared/secret.Encrypt`" + ` under the prefix's key) on a loopback ` + "`httptest`" + ` server; the
  simulator delivers signed webhooks (` + "`metatest.Server.Deliver`" + `, X-Hub-Signature-256) to ` + "`/webhooks/meta`" + `;
  the webhook puts them on the intake queue (the SQS stand-in); ` + "`runner.Poller`" + `s feed them to one ingest
  handler (one instance, called by all pollers at once) with ` + "`WaitTimeSeconds 0`" + ` and a short sleep when
  the queue is empty (the stand-in holds a long poll for more than one message for the whole wait).
  *Latency*: one WhatsApp text from a new number at
  a time, timed from the start of Deliver until ` + "`GET /v1/leads?limit=1`" + `, as the org's owner through the
  router, returns the sender's new lead (polled with a short sleep between GETs, so the figure includes up
  to one GET and one sleep of probe resolution). *Throughput*: many messages from new numbers by
  concurrent senders, from the first Deliver to the last message stored by the ingest handler; then the
  leads are counted through the API. Every wait is bounded in time.
`

// markdown renders the Meta intake section.
func (r *metaResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Meta intake\n\n")
	w("The Meta intake figures, measured in the same run as the figures above (resources under prefix `%s`; setup through the API %s; this part %s).\n\n",
		r.Prefix, r.Setup.Round(time.Millisecond), r.Elapsed.Round(time.Second))

	w("| figure | measured | goal | met? |\n|---|---|---|---|\n")
	if rs := r.CPU.cpuRatios(); len(rs) > 0 {
		wc, fc, _, _ := r.CPU.medians()
		ratio := medianF(rs)
		w("| webhook handler CPU per request, 64 KB WhatsApp batch, ÷ (HMAC-SHA256 + `json.Valid`) | **%.2f×** (median of %d rounds; %.0f µs ÷ %.0f µs CPU; wall ns/op ratio %.2f×) | ≤ %.0f× | %s |\n",
			ratio, len(rs), wc/1e3, fc/1e3, medianF(r.CPU.wallRatios()), goalWebhookRatio, verdict(ratio <= goalWebhookRatio))
	}
	if len(r.WCU.New) > 0 {
		n, d := r.WCU.newTotals(), r.WCU.dupTotals()
		w("| WCU per new Lead Ads lead | **%s** by AWS's rules (DynamoDB Local reports %s); %s | ≤ %g | %s |\n",
			num(n.Estimated), num(n.WriteUnits), formatOps(n.WriteOps), goalWCUNew, verdict(n.Estimated <= goalWCUNew))
		dupWrites := "no writes"
		if len(d.WriteOps) > 0 {
			dupWrites = formatOps(d.WriteOps)
		}
		w("| WCU per duplicate delivery | **%s** by AWS's rules (DynamoDB Local reports %s); %s | ≤ %g | %s |\n",
			num(d.Estimated), num(d.WriteUnits), dupWrites, goalWCUDup, verdict(d.Estimated <= goalWCUDup))
		w("| … reads per new lead / per duplicate | %s RCU (%s) / %s RCU (%s) | | |\n",
			num(n.ReadUnits), formatOps(n.ReadOps), num(d.ReadUnits), formatOps(d.ReadOps))
	}
	if k := r.KMS; k.GraphAll > 0 {
		allowed := int(math.Ceil(float64(k.Took) / float64(goalKMSPer)))
		w("| KMS calls per 1,000 Graph API calls, one org, one container | **%s** (KMS: %s; %d Graph calls in %s) | ≤ 1 per 5 min per container | %s |\n",
			num(float64(k.kmsCalls())*1000/float64(k.GraphAll)), kmsOps(k.Calls), k.GraphAll, k.Took.Round(100*time.Millisecond),
			verdict(k.kmsCalls() <= allowed))
	}
	if e := r.E2E; len(e.Latency) > 0 {
		w("| signed webhook → lead readable through the API, local, p50 / p99 | **%.1f ms / %.1f ms** (n=%d) | — | (reported) |\n",
			ms(percentile(e.Latency, 50)), ms(percentile(e.Latency, 99)), len(e.Latency))
		w("| sustained events/s on this machine | **%.0f events/s** (%d messages, %d senders, %d pollers; %.0f/s between the 10th and 90th percentile) | — | (reported) |\n",
			e.rate(), e.Opts.Load, e.Opts.Senders, e.Opts.Pollers, e.Steady)
	}

	b.WriteString("\n" + metaMethod)
	r.cpuSection(w)
	r.wcuSection(w)
	r.kmsSection(w)
	r.e2eSection(w)
	r.rawSection(w)
	return b.String()
}

func (r *metaResult) cpuSection(w func(string, ...any)) {
	if len(r.CPU.Rounds) == 0 {
		return
	}
	w("\n### Webhook CPU\n\n")
	w("%s; %d rounds.\n\n", r.CPU.Command, len(r.CPU.Rounds))
	wc, fc, wn, fn := r.CPU.medians()
	first := r.CPU.Rounds[0]
	w("| | webhook handler | HMAC-SHA256 + json.Valid | ratio of medians | median of per-round ratios |\n|---|---:|---:|---:|---:|\n")
	w("| CPU per request (user + system), median | %.1f µs | %.1f µs | %.2f× | %.2f× |\n", wc/1e3, fc/1e3, wc/fc, medianF(r.CPU.cpuRatios()))
	w("| wall ns/op (go test), median | %.1f µs | %.1f µs | %.2f× | %.2f× |\n", wn/1e3, fn/1e3, wn/fn, medianF(r.CPU.wallRatios()))
	w("| allocated per request | %d B in %d allocs | %d B in %d allocs | | |\n", first.Webhook.Line.BytesPerOp, first.Webhook.Line.AllocsPerOp,
		first.Floor.Line.BytesPerOp, first.Floor.Line.AllocsPerOp)
}

// newTotals and dupTotals are the median sample of each kind (by write
// units by AWS's rules, then read units); the samples agree unless something varies.
func (w wcuResult) newTotals() capacityTotals { return medianTotals(w.New) }
func (w wcuResult) dupTotals() capacityTotals { return medianTotals(w.Dup) }

func medianTotals(ss []wcuSample) capacityTotals {
	if len(ss) == 0 {
		return capacityTotals{}
	}
	ts := make([]capacityTotals, len(ss))
	for i, s := range ss {
		ts[i] = sumCapacity(s.Calls)
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Estimated != ts[j].Estimated {
			return ts[i].Estimated < ts[j].Estimated
		}
		return ts[i].ReadUnits < ts[j].ReadUnits
	})
	return ts[len(ts)/2]
}

func (r *metaResult) wcuSection(w func(string, ...any)) {
	if len(r.WCU.New) == 0 {
		return
	}
	w("\n### Capacity per Lead Ads delivery\n\n")
	w("Calibration writes of known sizes, this run (one metered client, items of the sizes named):\n\n")
	w("| write | AWS's rules | DynamoDB Local reports |\n|---|---:|---:|\n")
	agreeSingle, agreeTx := true, true
	for _, c := range r.WCU.Calibration {
		w("| %s | %s | %s |\n", c.What, num(c.Rule), num(c.Reported))
		if c.Rule != c.Reported {
			if strings.HasPrefix(c.What, "TransactWriteItems") {
				agreeTx = false
			} else {
				agreeSingle = false
			}
		}
	}
	switch {
	case agreeSingle && agreeTx:
		w("\nDynamoDB Local's figures agree with AWS's rules for these writes.\n")
	case agreeSingle:
		w("\nDynamoDB Local's figures agree with AWS's rules for single-item writes but **not for transactions**, " +
			"which AWS bills per item (each rounded up to 1 KB, then doubled): hence the figures computed by the rules.\n")
	default:
		w("\nDynamoDB Local's figures do **not** agree with AWS's rules: hence the figures computed by the rules.\n")
	}
	w("\nEach row below is one delivery to the ingest handler.\n\n")
	w("| delivery | WCU, AWS's rules | DynamoDB Local: WCU (table + GSIs) | writes | RCU | reads | failed calls | handler time |\n|---|---:|---:|---|---:|---|---:|---:|\n")
	row := func(what string, s wcuSample) {
		t := sumCapacity(s.Calls)
		failed := 0
		for _, c := range s.Calls {
			if c.Err {
				failed++
			}
		}
		w("| %s `%s` | %s | %s (%s + %s) | %s | %s | %s | %d | %.1f ms |\n", what, s.LeadgenID, num(t.Estimated), num(t.WriteUnits), num(t.TableUnits),
			num(t.IndexUnits), formatOps(t.WriteOps), num(t.ReadUnits), formatOps(t.ReadOps), failed, ms(s.Took))
	}
	for i := range r.WCU.New {
		row("new lead", r.WCU.New[i])
		if i < len(r.WCU.Dup) {
			row("duplicate of", r.WCU.Dup[i])
		}
	}
	w("\nThe writes of the first new lead, item by item:\n\n")
	w("| call (DynamoDB Local's figure for the whole call) | item | action | size | in GSIs | WCU, AWS's rules |\n|---|---|---|---:|---:|---:|\n")
	for _, c := range r.WCU.New[0].Calls {
		if !c.Write {
			continue
		}
		for _, it := range c.Items {
			size := "?"
			if it.Bytes > 0 {
				size = fmt.Sprintf("%d B", it.Bytes)
			}
			w("| %s (%s) | `%s` | %s | %s | %d | %s |\n", c.Op, num(c.Units), it.Label, it.Action, size, it.Indexes, num(it.estimate()))
		}
	}
	w("\nThe calls of the first new lead, in order, with DynamoDB Local's units: %s.\n", callOrder(r.WCU.New[0].Calls))
	if len(r.WCU.Dup) > 0 {
		w("The calls of its duplicate: %s.\n", callOrder(r.WCU.Dup[0].Calls))
	}
}

// callOrder lists calls as "GetItem 0.5, TransactWriteItems 14, ...".
func callOrder(calls []capacityCall) string {
	var parts []string
	for _, c := range calls {
		s := fmt.Sprintf("%s %s", c.Op, num(c.Units))
		if c.Err {
			s += " (failed)"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (r *metaResult) kmsSection(w func(string, ...any)) {
	k := r.KMS
	if k.Events == 0 {
		return
	}
	w("\n### KMS calls per Graph calls\n\n")
	w("| events | batch | handler time | events/s (one container, sequential) | Graph lead fetches | all Graph calls | KMS calls | DynamoDB calls per event |\n|---:|---:|---:|---:|---:|---:|---|---|\n")
	var ddb []string
	for op, n := range k.Calls {
		if svc, name, _ := strings.Cut(op, "."); svc == "DynamoDB" {
			ddb = append(ddb, fmt.Sprintf("%s %s", name, num(float64(n)/float64(k.Events))))
		}
	}
	sort.Strings(ddb)
	w("| %d | %d | %.1f s | %.0f | %d | %d | %s | %s |\n", k.Events, k.Batch, k.Took.Seconds(), float64(k.Events)/k.Took.Seconds(),
		k.GraphLeads, k.GraphAll, kmsOps(k.Calls), strings.Join(ddb, ", "))
}

// kmsOps formats the KMS calls as "Decrypt ×1".
func kmsOps(calls map[string]int) string {
	m := map[string]int{}
	for op, n := range calls {
		if svc, name, _ := strings.Cut(op, "."); svc == "KMS" {
			m[name] = n
		}
	}
	return formatOps(m)
}

// rate is the load's events/s from the first Deliver to the last stored.
func (e e2eResult) rate() float64 {
	if e.StoredTook <= 0 {
		return 0
	}
	return float64(e.Stored) / e.StoredTook.Seconds()
}

func (r *metaResult) e2eSection(w func(string, ...any)) {
	e := r.E2E
	if len(e.Latency) == 0 {
		return
	}
	o := e.Opts
	w("\n### End to end\n\n")
	w("Latency: %d WhatsApp messages from new numbers, one at a time, after %d discarded; %d pollers (batch ≤ 10, %s sleep when empty); the probe sleeps %s between GETs.\n\n",
		len(e.Latency), o.Warmups, o.Pollers, o.Idle, o.PollGap)
	w("| | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n")
	w("| Deliver start → lead returned by `GET /v1/leads?limit=1` | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n",
		ms(percentile(e.Latency, 50)), ms(percentile(e.Latency, 90)), ms(percentile(e.Latency, 99)), ms(slices.Max(e.Latency)))
	w("| Deliver start → webhook's 200 (signed, enqueued) | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n",
		ms(percentile(e.Accept, 50)), ms(percentile(e.Accept, 90)), ms(percentile(e.Accept, 99)), ms(slices.Max(e.Accept)))
	w("| one probe `GET /v1/leads?limit=1` | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n",
		ms(percentile(e.GetTook, 50)), ms(percentile(e.GetTook, 90)), ms(percentile(e.GetTook, 99)), ms(slices.Max(e.GetTook)))
	polls := make([]int64, len(e.Polls))
	for i, p := range e.Polls {
		polls[i] = int64(p)
	}
	w("\nGETs per sample: median %d, max %d. p99 of %d samples is the %s slowest (nearest rank).\n",
		median(polls), slices.Max(polls), len(e.Latency), ordinal(len(e.Latency)-int(math.Ceil(0.99*float64(len(e.Latency))))+1))

	w("\nThroughput: %d messages (one per POST) from new numbers by %d concurrent senders, %d pollers.\n\n", o.Load, o.Senders, o.Pollers)
	w("| delivered (200) | in | stored by ingest | in | events/s (stored ÷ first Deliver → last stored) | events/s, 10th → 90th percentile | leads read back through the API | rejected deliveries | failed records | receives (empty) |\n")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	w("| %d | %.2f s | %d | %.2f s | %.0f | %.0f | %d | %d | %d | %d (%d) |\n", o.Load-e.Rejected, e.DeliverTook.Seconds(), e.Stored, e.StoredTook.Seconds(),
		e.rate(), e.Steady, e.Verified, e.Rejected, e.Failed, e.Receives, e.Empty)
	if e.Stored < o.Load {
		w("\n**Incomplete**: only %d of %d messages were stored within %s.\n", e.Stored, o.Load, o.LoadTimeout)
	}
}

func (r *metaResult) rawSection(w func(string, ...any)) {
	w("\n### Raw numbers (Meta intake)\n\n")
	if len(r.CPU.Rounds) > 0 {
		w("Webhook benchmarks, in run order (CPU per request and wall ns/op, µs):\n\n")
		w("| round | webhook CPU | floor CPU | CPU ratio | webhook ns/op | floor ns/op | ns/op ratio |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for i, rd := range r.CPU.Rounds {
			w("| %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", i+1, rd.Webhook.CPUPerOp/1e3, rd.Floor.CPUPerOp/1e3, rd.Webhook.CPUPerOp/rd.Floor.CPUPerOp,
				rd.Webhook.Line.NsPerOp/1e3, rd.Floor.Line.NsPerOp/1e3, rd.Webhook.Line.NsPerOp/rd.Floor.Line.NsPerOp)
		}
	}
	if e := r.E2E; len(e.Latency) > 0 {
		w("\nEnd-to-end latency samples, in run order (ms, Deliver start → readable through the API):\n\n")
		w("```\n")
		for i, d := range e.Latency {
			w("%7.1f", ms(d))
			if i%10 == 9 || i == len(e.Latency)-1 {
				w("\n")
			}
		}
		w("```\n")
	}
}

// summary is the Meta intake lines printed to stdout.
func (r *metaResult) summary() string {
	var b strings.Builder
	if rs := r.CPU.cpuRatios(); len(rs) > 0 {
		fmt.Fprintf(&b, "webhook 64 KB CPU per request / (HMAC + json.Valid): %.2f× (wall ns/op %.2f×; goal ≤ %.0f×)\n",
			medianF(rs), medianF(r.CPU.wallRatios()), goalWebhookRatio)
	}
	if len(r.WCU.New) > 0 {
		n, d := r.WCU.newTotals(), r.WCU.dupTotals()
		fmt.Fprintf(&b, "WCU by AWS's rules per new Lead Ads lead %s (goal ≤ %g; DynamoDB Local reports %s), per duplicate %s (goal ≤ %g); RCU %s / %s\n",
			num(n.Estimated), goalWCUNew, num(n.WriteUnits), num(d.Estimated), goalWCUDup, num(n.ReadUnits), num(d.ReadUnits))
	}
	if k := r.KMS; k.GraphAll > 0 {
		fmt.Fprintf(&b, "KMS: %d call(s) (%s) for %d Graph calls over %d events in %s\n", k.kmsCalls(), kmsOps(k.Calls), k.GraphAll, k.Events, k.Took.Round(100*time.Millisecond))
	}
	if e := r.E2E; len(e.Latency) > 0 {
		fmt.Fprintf(&b, "webhook → readable via API: p50 %.1f ms, p99 %.1f ms (n=%d); throughput %.0f events/s (%d of %d stored, %d pollers, %d senders)\n",
			ms(percentile(e.Latency, 50)), ms(percentile(e.Latency, 99)), len(e.Latency), e.rate(), e.Stored, e.Opts.Load, e.Opts.Pollers, e.Opts.Senders)
	}
	return b.String()
}

// num formats capacity units and counts with at most two decimals and
// without trailing zeros.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

func ordinal(n int) string {
	if n == 1 {
		return "1st"
	}
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
