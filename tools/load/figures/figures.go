// Package figures holds what a `make load` run measured (Result, written as
// JSON) and renders it: the table printed at the end of a run, the Load
// section of docs/benchmarks.md and its latency figure (an SVG drawn by
// tools/plot). tools/bench renders the same section from the JSON file, so
// a full `make bench` keeps the last load run's figures.
package figures

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leadluence/backend/tools/plot"
)

// Files of the load run under the repository root: its figures as JSON and
// the latency figure the Load section shows.
const (
	JSONPath = "docs/load.json"
	SVGPath  = "docs/img/load-latency.svg"
	// SVGLink is SVGPath as docs/benchmarks.md refers to it.
	SVGLink = "img/load-latency.svg"
)

// Quantiles are the points of each operation's latency distribution kept
// in Result (and plotted), in percent.
var Quantiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9, 100}

// Result is one load run.
type Result struct {
	// Date is when the load started (UTC); Machine describes the host.
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"`
	// Load is the machine's load average (1 minute) at the start and end.
	LoadAvgStart float64 `json:"load_avg_start"`
	LoadAvgEnd   float64 `json:"load_avg_end"`
	// Rate is the scheduled requests per second (all operations), Duration
	// how long requests were scheduled, MaxInFlight the cap on requests in
	// flight (a request due while it is reached is not sent: "dropped").
	Rate        float64       `json:"rate"`
	Duration    time.Duration `json:"duration_ns"`
	MaxInFlight int           `json:"max_in_flight"`
	Orgs        int           `json:"orgs"`
	// Setup is how long starting the system and seeding the orgs took.
	Setup time.Duration `json:"setup_ns"`
	// Scheduled, Sent and Completed count requests; Elapsed is from the
	// first scheduled request to the last answer.
	Scheduled int           `json:"scheduled"`
	Sent      int           `json:"sent"`
	Completed int           `json:"completed"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// MaxInFlightSeen is the most requests that were in flight at once.
	MaxInFlightSeen int `json:"max_in_flight_seen"`
	// Ops are the operations, in the order of the mix.
	Ops []Op `json:"ops"`
	// PerSecond is the requests answered in each second of the run, and
	// ErrorsPerSecond the errors among them.
	PerSecond       []int `json:"per_second"`
	ErrorsPerSecond []int `json:"errors_per_second"`
	// StatusWebhooks counts the status webhooks (sent, delivered, read)
	// the Meta simulator posted by itself for the messages sent, and those
	// the webhook did not answer 200 on a try.
	StatusWebhooks       int `json:"status_webhooks"`
	StatusWebhookRetries int `json:"status_webhook_retries"`
	// Ingested counts leads the intake made from this run's webhook
	// deliveries, checked through the API after the run, and Delivered the
	// deliveries that were to make a new lead.
	Delivered int `json:"delivered_new_leads"`
	Ingested  int `json:"ingested_new_leads"`
	// Command is how the run was started.
	Command string `json:"command"`
}

// Op is one operation's figures.
type Op struct {
	Name string `json:"name"`
	// Route is the HTTP method and path template.
	Route  string `json:"route"`
	Weight int    `json:"weight"`
	Count  int    `json:"count"`
	// Errors counts failed requests by kind (e.g. "500", "429 too_many_attempts",
	// "timeout", "dropped"); RateLimited the 429s among them.
	Errors      map[string]int `json:"errors,omitempty"`
	RateLimited int            `json:"rate_limited"`
	// Latency is from the request's scheduled time to its whole answer,
	// in milliseconds, at each of Quantiles (successes and failures alike).
	Latency []float64 `json:"latency_ms"`
}

// ErrorCount is the op's failed requests.
func (o Op) ErrorCount() int {
	n := 0
	for _, c := range o.Errors {
		n += c
	}
	return n
}

// At returns the latency at quantile q (one of Quantiles), in ms.
func (o Op) At(q float64) float64 {
	for i, x := range Quantiles {
		if x == q && i < len(o.Latency) {
			return o.Latency[i]
		}
	}
	return math.NaN()
}

// QuantilesOf returns the latencies at each of Quantiles (nearest rank), in ms.
func QuantilesOf(ds []time.Duration) []float64 {
	out := make([]float64, len(Quantiles))
	if len(ds) == 0 {
		return out
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	for i, q := range Quantiles {
		rank := int(math.Ceil(q / 100 * float64(len(s))))
		d := s[max(rank, 1)-1]
		out[i] = math.Round(float64(d)/float64(time.Millisecond)*10) / 10
	}
	return out
}

// Errors is every failed request of the run.
func (r *Result) Errors() int {
	n := 0
	for _, o := range r.Ops {
		n += o.ErrorCount()
	}
	return n
}

// Load reads a Result from path.
func Load(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read load figures: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read load figures %s: %w", path, err)
	}
	if len(r.Ops) == 0 {
		return nil, errors.New("read load figures " + path + ": no operations")
	}
	return &r, nil
}

// Save writes r to path as indented JSON.
func (r *Result) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode load figures: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write load figures: %w", err)
	}
	return nil
}

// Note is the machine and date line of the run's figure.
func (r *Result) Note() string {
	return fmt.Sprintf("%s, %s, %.0f req/s for %s; shared machine, load avg %.1f", r.Date.Format("2006-01-02 15:04 MST"),
		r.Machine, r.Rate, r.Duration.Round(time.Second), r.LoadAvgStart)
}

// SVG draws each operation's latency against its percentile.
func (r *Result) SVG() ([]byte, error) {
	labels := make([]string, len(Quantiles))
	for i, q := range Quantiles {
		labels[i] = "p" + strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", q), "0"), ".")
	}
	var series []plot.Series
	for _, o := range r.Ops {
		if o.Count > 0 {
			series = append(series, plot.Series{Name: o.Name, Values: o.Latency})
		}
	}
	return plot.Lines(plot.Figure{Title: "make load: latency by percentile, per operation (ms)", Note: r.Note(),
		XTitle: "percentile (not to scale)", YTitle: "ms", Labels: labels, Series: series})
}

// Table is the plain-text table printed at the end of a run.
func (r *Result) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-34s %6s %6s %8s %8s %8s %8s  %s\n", "operation", "route", "count", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "error kinds")
	for _, o := range r.Ops {
		fmt.Fprintf(&b, "%-14s %-34s %6d %6d %8.1f %8.1f %8.1f %8.1f  %s\n", o.Name, o.Route, o.Count, o.ErrorCount(),
			o.At(50), o.At(90), o.At(99), o.At(100), kinds(o.Errors))
	}
	fmt.Fprintf(&b, "scheduled %d at %.0f/s for %s, sent %d, answered %d, errors %d, most in flight %d (cap %d); status webhooks from the simulator %d (%d retried)\n",
		r.Scheduled, r.Rate, r.Duration, r.Sent, r.Completed, r.Errors(), r.MaxInFlightSeen, r.MaxInFlight, r.StatusWebhooks, r.StatusWebhookRetries)
	fmt.Fprintf(&b, "new leads from webhook deliveries: %d delivered, %d found through the API after the run\n", r.Delivered, r.Ingested)
	return b.String()
}

func kinds(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Markdown is the Load section of docs/benchmarks.md.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Load\n\n")
	w("An open-loop load run of the local system, from `%s` (the figures in `%s`; `make bench` renders this section again from that file), %s, on %s; load average %.2f at the start, %.2f at the end. The machine's 2 cores were shared with other work and with the stand-ins (DynamoDB Local is a JVM), so the times are this machine's, not Lambda's.\n\n",
		r.Command, JSONPath, r.Date.Format("2006-01-02 15:04 MST"), r.Machine, r.LoadAvgStart, r.LoadAvgEnd)
	w("| figure | value |\n|---|---|\n")
	w("| schedule | %.0f requests/s for %s, open loop (each request starts at its time whatever the others do), at most %d in flight |\n", r.Rate, r.Duration.Round(time.Second), r.MaxInFlight)
	w("| requests | %d scheduled, %d sent, %d answered; %d in flight at most |\n", r.Scheduled, r.Sent, r.Completed, r.MaxInFlightSeen)
	w("| errors | **%d** (goal 0) |\n", r.Errors())
	rl := 0
	for _, o := range r.Ops {
		rl += o.RateLimited
	}
	w("| 429s (rate limits, login throttle) | %d |\n", rl)
	w("| status webhooks the simulator posted for the messages sent | %d (%d tries not answered 200) |\n", r.StatusWebhooks, r.StatusWebhookRetries)
	w("| new leads from webhook deliveries | %d delivered, %d readable through the API after the run |\n", r.Delivered, r.Ingested)
	w("| setup (system start, %d orgs signed up and connected, their leads) | %s, not timed |\n\n", r.Orgs, r.Setup.Round(time.Second))
	w("| operation | route | share | requests | errors | p50 | p90 | p99 | max |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	total := 0
	for _, o := range r.Ops {
		total += o.Weight
	}
	for _, o := range r.Ops {
		errs := fmt.Sprint(o.ErrorCount())
		if o.ErrorCount() > 0 {
			errs += " (" + kinds(o.Errors) + ")"
		}
		w("| %s | `%s` | %.0f %% | %d | %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", o.Name, o.Route, 100*float64(o.Weight)/float64(max(total, 1)),
			o.Count, errs, o.At(50), o.At(90), o.At(99), o.At(100))
	}
	w("\n![Latency by percentile of each operation of the load run](%s)\n\n", SVGLink)
	w("Method. `make load` (`tools/load`) starts the system as `make dev` runs it (the `tools/dev` runner as a child\n")
	w("process, with a fresh data folder and the AWS stand-ins on free loopback ports), with its own Meta simulator as the\n")
	w("Graph API (`LEADLUENCE_GRAPH_BASE_URL`), which reports every WhatsApp send back to the webhook as sent, delivered\n")
	w("and read. It signs up %d orgs through the API, connects a page (with a form) and a WhatsApp number to each,\n", r.Orgs)
	w("and has a few leads write in on WhatsApp so their conversations are open. Then it schedules requests at a fixed\n")
	w("rate, cycling through the operations in proportion to their shares and through the orgs: each starts at its time\n")
	w("on its own goroutine unless the in-flight cap is reached (then it is counted as an error, \"dropped\"). Latency is\n")
	w("from the request's scheduled time to its whole answer, so a slow start counts; every request has a 10 s timeout.\n")
	w("An answer other than the operation's success status is an error, by kind (status and problem code). A login goes\n")
	w("to an account (a seeded owner or one signed up during the run) with no login in flight, so the login throttle (5\n")
	w("attempts in 15 minutes per email without a success) is not reached by legitimate traffic; WhatsApp is the only channel sent on, so the\n")
	w("per-org email limit does not apply. Webhook deliveries are signed with the app secret (X-Hub-Signature-256):\n")
	w("WhatsApp texts from new numbers (each a new lead) and from the seeded leads, and Lead Ads leads (the simulator\n")
	w("holds the lead the intake fetches). After the run, the tool waits up to 30 s for the intake and counts, through\n")
	w("the API, the new leads the deliveries made. Then it stops the system.\n")
	return b.String()
}

// Splice puts section (a "## <name>" section) into doc in place of the
// section of that name, or else before the hand-measured part that starts
// at marker (at the end when there is none).
func Splice(doc, name, section, marker string) string {
	head := "\n## " + name + "\n"
	i := strings.Index(doc, head)
	if i < 0 {
		if k := strings.Index(doc, marker); k >= 0 && marker != "" {
			return strings.TrimRight(doc[:k], "\n") + "\n" + strings.TrimRight(section, "\n") + "\n\n" + doc[k:]
		}
		return strings.TrimRight(doc, "\n") + "\n" + section
	}
	rest := doc[i+len(head):]
	end := len(rest)
	if j := strings.Index(rest, "\n## "); j >= 0 {
		end = j
	}
	if k := strings.Index(rest, marker); k >= 0 && marker != "" && k < end {
		return doc[:i] + strings.TrimRight(section, "\n") + "\n\n" + rest[k:]
	}
	return doc[:i] + section + rest[end:]
}
