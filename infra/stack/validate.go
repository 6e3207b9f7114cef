package stack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/leadluence/backend/infra/topology"
)

// Limits the topology must respect; most mirror AWS service limits so a bad
// value fails at synth instead of half-way through a deployment.
const (
	// VisibilityFactor is how many consumer timeouts a queue's visibility
	// timeout must cover, as AWS recommends for Lambda event sources.
	VisibilityFactor = 6

	maxQueueNameLen  = 80
	maxLambdaTimeout = 15 * time.Minute
	maxBatchWindow   = 5 * time.Minute
	maxVisibility    = 12 * time.Hour
	minRetention     = time.Minute
	maxRetention     = 14 * 24 * time.Hour
)

var (
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	envPattern  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	attrPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	httpMethods = map[string]bool{
		"GET": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "HEAD": true, "OPTIONS": true, "ANY": true,
	}
)

// Validate reports every problem in t that would make the stack wrong or
// undeployable: unknown queue references, queues whose visibility timeout is
// shorter than VisibilityFactor times their consumer's timeout (plus its
// batching window), duplicate names or route keys, and values outside AWS
// limits. It returns nil when t can be deployed.
func Validate(t topology.Stack) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if t.Name == "" {
		add("stack name is empty")
	}
	validateTable(t.Table, add)
	if t.Key.Alias == "" || strings.HasPrefix(t.Key.Alias, "alias/") || strings.HasPrefix(t.Key.Alias, "aws/") {
		add("key alias %q: want a name without the alias/ prefix, not under aws/", t.Key.Alias)
	}

	queues := map[string]topology.Queue{}
	for _, q := range t.Queues {
		if _, dup := queues[q.Name]; dup {
			add("queue %q: defined twice", q.Name)
		}
		queues[q.Name] = q
		validateQueue(t.Name, q, add)
	}

	consumers := map[string]string{}
	routes := map[string]string{}
	paramPurposes := map[string]string{} // param env -> purpose, across functions
	fnNames := map[string]bool{}
	dlqNames := map[string]bool{}
	for _, q := range t.Queues {
		dlqNames[q.DLQName()] = true
	}
	for _, fn := range t.Functions {
		if fnNames[fn.Name] {
			add("function %q: defined twice", fn.Name)
		}
		fnNames[fn.Name] = true
		validateFunction(fn, add)
		for _, p := range fn.Params {
			if other, seen := paramPurposes[p.Env]; seen && other != p.Purpose {
				add("param %q: purpose %q in %q, %q elsewhere: functions sharing a param share its value", p.Env, p.Purpose, fn.Name, other)
			}
			paramPurposes[p.Env] = p.Purpose
		}

		for _, q := range fn.QueuesUsed() {
			if _, ok := queues[q]; !ok && !dlqNames[q] {
				add("function %q: uses unknown queue %q", fn.Name, q)
			}
		}
		for _, r := range fn.Routes {
			if other, dup := routes[r.Key()]; dup {
				add("route %q: served by both %q and %q", r.Key(), other, fn.Name)
			}
			routes[r.Key()] = fn.Name
			if !httpMethods[r.Method] {
				add("route %q: unknown method %q", r.Key(), r.Method)
			}
			if !strings.HasPrefix(r.Path, "/") {
				add("route %q: path must start with /", r.Key())
			}
		}
		for _, x := range fn.Access.TableActions {
			granted := (fn.Access.TableRead && contains(tableReadActions, "dynamodb:"+x)) ||
				(fn.Access.TableWrite && contains(tableWriteActions, "dynamodb:"+x))
			if !granted {
				add("function %q: table action %q is not one TableRead or TableWrite grants", fn.Name, x)
			}
		}
		if c := fn.Consumes; c != nil {
			if other, dup := consumers[c.Queue]; dup {
				add("queue %q: consumed by both %q and %q", c.Queue, other, fn.Name)
			}
			consumers[c.Queue] = fn.Name
			validateTrigger(fn, queues, add)
		}
		schedules := map[string]bool{}
		for _, s := range fn.Schedules {
			if schedules[s.Name] || s.Name == "" {
				add("function %q: schedule name %q is empty or used twice", fn.Name, s.Name)
			}
			schedules[s.Name] = true
			if s.Every < time.Minute || s.Every%time.Minute != 0 {
				add("function %q: schedule %q every %s: want whole minutes, at least one", fn.Name, s.Name, s.Every)
			}
		}
	}
	if ee := t.EmailEvents; ee != nil {
		validateEmailEvents(*ee, queues, consumers, add)
	}
	if len(routes) > 0 {
		validateAPI(t.API, routes, add)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid topology: %w", errors.Join(errs...))
	}
	return nil
}

func validateTable(t topology.Table, add func(string, ...any)) {
	for _, a := range []string{t.PartitionKey, t.SortKey, t.TTLAttribute} {
		if !attrPattern.MatchString(a) {
			add("table %q: attribute name %q is empty or invalid", t.Name, a)
		}
	}
	seen := map[string]bool{}
	for _, ix := range t.Indexes {
		if seen[ix.Name] || !attrPattern.MatchString(ix.Name) {
			add("table %q: index name %q is invalid or used twice", t.Name, ix.Name)
		}
		seen[ix.Name] = true
		if !attrPattern.MatchString(ix.PartitionKey) {
			add("index %q: partition key %q is empty or invalid", ix.Name, ix.PartitionKey)
		}
		if ix.SortKey != "" && !attrPattern.MatchString(ix.SortKey) {
			add("index %q: sort key %q is invalid", ix.Name, ix.SortKey)
		}
	}
}

func validateQueue(stack string, q topology.Queue, add func(string, ...any)) {
	if !namePattern.MatchString(q.Name) {
		add("queue %q: want lower-case letters, digits and dashes", q.Name)
	}
	if n := len(stack) + 1 + len(q.DLQName()); n > maxQueueNameLen {
		add("queue %q: physical name %s-%s is %d characters, over %d", q.Name, stack, q.DLQName(), n, maxQueueNameLen)
	}
	if q.VisibilityTimeout < time.Second || q.VisibilityTimeout > maxVisibility || q.VisibilityTimeout%time.Second != 0 {
		add("queue %q: visibility timeout %s: want whole seconds up to %s", q.Name, q.VisibilityTimeout, maxVisibility)
	}
	if q.MaxReceiveCount < 1 || q.MaxReceiveCount > 1000 {
		add("queue %q: max receive count %d: want 1..1000", q.Name, q.MaxReceiveCount)
	}
	if q.Retention < minRetention || q.Retention > maxRetention || q.Retention%time.Second != 0 {
		add("queue %q: retention %s: want whole seconds within %s..%s", q.Name, q.Retention, minRetention, maxRetention)
	}
}

func validateFunction(fn topology.Function, add func(string, ...any)) {
	if !namePattern.MatchString(fn.Name) {
		add("function %q: want lower-case letters, digits and dashes", fn.Name)
	}
	if fn.MemoryMB < 128 || fn.MemoryMB > 10240 {
		add("function %q: memory %d MB: want 128..10240", fn.Name, fn.MemoryMB)
	}
	if fn.Timeout < time.Second || fn.Timeout > maxLambdaTimeout || fn.Timeout%time.Second != 0 {
		add("function %q: timeout %s: want whole seconds up to %s", fn.Name, fn.Timeout, maxLambdaTimeout)
	}
	validateParams(fn, add)
}

// validateParams checks fn's deploy-time parameters: env names that are
// unique and set by nothing else, and a decrypt grant for every ciphertext.
func validateParams(fn topology.Function, add func(string, ...any)) {
	purposes := map[string]bool{}
	for _, p := range fn.Access.KeyDecryptPurposes {
		if p == "" {
			add("function %q: empty key decrypt purpose", fn.Name)
		}
		purposes[p] = true
	}
	if len(purposes) > 0 && !fn.Access.KeyDecrypt {
		add("function %q: KeyDecryptPurposes without KeyDecrypt", fn.Name)
	}
	resourceEnv := topology.ResourceEnv(fn, topology.Resolved{QueueURLs: map[string]string{}})
	seen := map[string]bool{}
	for _, p := range fn.Params {
		if !envPattern.MatchString(p.Env) {
			add("function %q: param %q: want an upper-case environment variable name", fn.Name, p.Env)
		}
		if seen[p.Env] {
			add("function %q: param %q declared twice", fn.Name, p.Env)
		}
		seen[p.Env] = true
		if _, clash := resourceEnv[p.Env]; clash {
			add("function %q: param %q is also set by Env or the resource settings", fn.Name, p.Env)
		}
		if p.Purpose != "" && !purposes[p.Purpose] {
			add("function %q: param %q holds ciphertext for purpose %q, which Access.KeyDecryptPurposes does not grant", fn.Name, p.Env, p.Purpose)
		}
	}
}

func validateTrigger(fn topology.Function, queues map[string]topology.Queue, add func(string, ...any)) {
	c := fn.Consumes
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		add("function %q: batch size %d: want 1..10000", fn.Name, c.BatchSize)
	}
	if c.BatchSize > 10 && c.MaxBatchingWindow == 0 {
		add("function %q: batch size %d needs a batching window", fn.Name, c.BatchSize)
	}
	if c.MaxBatchingWindow < 0 || c.MaxBatchingWindow > maxBatchWindow || c.MaxBatchingWindow%time.Second != 0 {
		add("function %q: batching window %s: want whole seconds up to %s", fn.Name, c.MaxBatchingWindow, maxBatchWindow)
	}
	q, ok := queues[c.Queue]
	if !ok {
		return // reported as an unknown queue
	}
	if need := MinVisibility(fn); q.VisibilityTimeout < need {
		add("queue %q: visibility timeout %s is shorter than %s (%d × %q timeout %s + batching window %s)",
			q.Name, q.VisibilityTimeout, need, VisibilityFactor, fn.Name, fn.Timeout, c.MaxBatchingWindow)
	}
}

// MinVisibility is the shortest visibility timeout the queue consumed by fn
// may have: VisibilityFactor times the function's timeout plus its batching
// window, so a message is not handed to a second invocation while the first
// may still be working on it, retries included.
func MinVisibility(fn topology.Function) time.Duration {
	need := VisibilityFactor * fn.Timeout
	if fn.Consumes != nil {
		need += fn.Consumes.MaxBatchingWindow
	}
	return need
}

// sesEventTypes are the event types an SES configuration set can publish.
var sesEventTypes = map[string]bool{
	"SEND": true, "REJECT": true, "BOUNCE": true, "COMPLAINT": true, "DELIVERY": true, "OPEN": true, "CLICK": true,
	"RENDERING_FAILURE": true, "DELIVERY_DELAY": true, "SUBSCRIPTION": true,
}

// configSetPattern is SES's rule for configuration set names.
var configSetPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateEmailEvents checks the SES event route: a valid configuration
// set name, known event types, and a queue of the topology that some
// function consumes (else the events would pile up unread).
func validateEmailEvents(ee topology.EmailEvents, queues map[string]topology.Queue, consumers map[string]string, add func(string, ...any)) {
	if !configSetPattern.MatchString(ee.ConfigurationSet) {
		add("email events: configuration set %q: want 1-64 letters, digits, - or _", ee.ConfigurationSet)
	}
	if _, ok := queues[ee.Queue]; !ok {
		add("email events: unknown queue %q", ee.Queue)
	} else if consumers[ee.Queue] == "" {
		add("email events: queue %q is consumed by no function", ee.Queue)
	}
	if len(ee.Events) == 0 {
		add("email events: no event types")
	}
	seen := map[string]bool{}
	for _, e := range ee.Events {
		if !sesEventTypes[e] || seen[e] {
			add("email events: event type %q is unknown or listed twice", e)
		}
		seen[e] = true
	}
}

// validateAPI checks the HTTP API's CORS and throttling: positive
// throttles, the strict one no looser than the stage's, strict routes that
// exist, known CORS methods and a preflight cache API Gateway accepts.
func validateAPI(a topology.HTTPAPI, routes map[string]string, add func(string, ...any)) {
	for name, th := range map[string]topology.Throttle{"throttle": a.Throttle, "strict throttle": a.StrictThrottle} {
		if th.RatePerSecond <= 0 || th.Burst <= 0 {
			add("api %s %+v: want a positive rate and burst", name, th)
		}
	}
	if a.StrictThrottle.RatePerSecond > a.Throttle.RatePerSecond || a.StrictThrottle.Burst > a.Throttle.Burst {
		add("api strict throttle %+v is looser than the stage's %+v", a.StrictThrottle, a.Throttle)
	}
	for _, k := range a.StrictRoutes {
		if _, ok := routes[k]; !ok {
			add("api strict route %q: no such route", k)
		}
	}
	for _, m := range a.CORS.AllowMethods {
		if !httpMethods[m] {
			add("api CORS method %q: unknown", m)
		}
	}
	if len(a.CORS.AllowMethods) == 0 {
		add("api CORS allows no method")
	}
	if a.CORS.MaxAge < 0 || a.CORS.MaxAge > 24*time.Hour || a.CORS.MaxAge%time.Second != 0 {
		add("api CORS max age %s: want whole seconds, at most a day", a.CORS.MaxAge)
	}
}
