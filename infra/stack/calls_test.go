package stack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/leadluence/backend/infra/topology"
)

// The deployed stack against what the functions really call: `make test`
// runs the product's tests with the local stack recording every AWS call
// (tools/devstack calllog.go) to a file, one JSON line per distinct call,
// naming the calling function by the app id of its AWS config
// (app/leadluence-<fn> in the User-Agent). The tests here evaluate each
// recorded call against the IAM policy the synthesized template gives that
// function, and look for granted actions no recorded call used.

// envCallLog names the call log (tools/devstack.EnvCallLog).
const envCallLog = "LEADLUENCE_AWS_CALL_LOG"

// appPrefix starts the app id of every function (functions/<fn>/app).
const appPrefix = "leadluence-"

// awsCall is one line of the call log (tools/devstack.Call).
type awsCall struct {
	App              string            `json:"app"`
	Service          string            `json:"service"`
	Operation        string            `json:"operation"`
	Part             string            `json:"part"`
	Table            string            `json:"table"`
	Index            string            `json:"index"`
	Queue            string            `json:"queue"`
	Key              string            `json:"key"`
	Context          map[string]string `json:"context"`
	Identity         string            `json:"identity"`
	ConfigurationSet string            `json:"configurationSet"`
	Template         string            `json:"template"`
}

func (c awsCall) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s", c.Service, c.Operation)
	if c.Part != "" {
		fmt.Fprintf(&b, "/%s", c.Part)
	}
	for _, kv := range [][2]string{{"table", c.Table}, {"index", c.Index}, {"queue", c.Queue}, {"key", c.Key}, {"identity", c.Identity}, {"configuration set", c.ConfigurationSet}, {"template", c.Template}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if len(c.Context) > 0 {
		fmt.Fprintf(&b, " context=%v", c.Context)
	}
	return b.String()
}

// loadCalls reads the call log: $LEADLUENCE_AWS_CALL_LOG, or else the file
// `make test` writes. It fails the test when there is none.
func loadCalls(t *testing.T) []awsCall {
	t.Helper()
	path := os.Getenv(envCallLog)
	if path == "" {
		path = filepath.Join("..", "..", ".cache", "aws-calls.jsonl")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no AWS call log (%v): `make test` writes it while the root module's tests run, before these; "+
			"run `make test`, or the root suite as the Makefile does with %s set", err, envCallLog)
	}
	defer f.Close()
	var calls []awsCall
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c awsCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("call log %s: %v in %q", path, err, sc.Text())
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read call log %s: %v", path, err)
	}
	var byFunctions int
	for _, c := range calls {
		if c.App != "" {
			byFunctions++
		}
	}
	if byFunctions == 0 {
		t.Fatalf("call log %s records no call made by a function: was it written by `make test`?", path)
	}
	return calls
}

// Placeholders the template's pseudo parameters resolve to.
const (
	fakeRegion    = "us-east-1"
	fakeAccount   = "123456789012"
	fakePartition = "aws"
	fakeURLSuffix = "amazonaws.com"
)

// resolve turns a template value (a string or an intrinsic function) into
// a string: pseudo parameters become the placeholders above, a resource's
// Arn the ARN it would have with its logical id as name (or its QueueName),
// a template parameter "{param:<id>}".
func (s *synthesized) resolve(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			return s.ref(ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return s.getAtt(fmt.Sprint(ga[0]), fmt.Sprint(ga[1]))
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = s.resolve(p)
			}
			return strings.Join(out, fmt.Sprint(j[0]))
		}
		if sub, ok := x["Fn::Sub"]; ok {
			str, vars := "", map[string]any{}
			switch y := sub.(type) {
			case string:
				str = y
			case []any:
				str = fmt.Sprint(y[0])
				if len(y) > 1 {
					vars, _ = y[1].(map[string]any)
				}
			}
			return regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(str, func(m string) string {
				name := m[2 : len(m)-1]
				if v, ok := vars[name]; ok {
					return s.resolve(v)
				}
				if id, attr, ok := strings.Cut(name, "."); ok {
					return s.getAtt(id, attr)
				}
				return s.ref(name)
			})
		}
	}
	return jsonOf(v)
}

func (s *synthesized) ref(name string) string {
	switch name {
	case "AWS::Region":
		return fakeRegion
	case "AWS::AccountId":
		return fakeAccount
	case "AWS::Partition":
		return fakePartition
	case "AWS::URLSuffix":
		return fakeURLSuffix
	case "AWS::StackName":
		return s.topo.Name
	}
	if r, ok := s.resources[name]; ok {
		if r.Type == "AWS::SQS::Queue" {
			return "https://sqs." + fakeRegion + "." + fakeURLSuffix + "/" + fakeAccount + "/" + s.queueName(name)
		}
		return name
	}
	return "{param:" + name + "}"
}

func (s *synthesized) getAtt(id, attr string) string {
	r := s.resources[id]
	arn := func(service, resource string) string {
		return "arn:" + fakePartition + ":" + service + ":" + fakeRegion + ":" + fakeAccount + ":" + resource
	}
	switch attr {
	case "Arn":
		switch r.Type {
		case "AWS::DynamoDB::Table":
			return arn("dynamodb", "table/"+id)
		case "AWS::SQS::Queue":
			return arn("sqs", s.queueName(id))
		case "AWS::KMS::Key":
			return arn("kms", "key/"+id)
		case "AWS::Logs::LogGroup":
			return arn("logs", "log-group:"+id+":*")
		}
		return arn(strings.ToLower(strings.Split(r.Type, "::")[1]), id)
	case "QueueName":
		return s.queueName(id)
	case "QueueUrl":
		return s.ref(id)
	}
	return id + "." + attr
}

func (s *synthesized) queueName(id string) string {
	if n, ok := s.resources[id].Properties["QueueName"].(string); ok {
		return n
	}
	return id
}

// policyStatement is one statement of a role policy, resolved.
type policyStatement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []string
	// Conditions is operator -> condition key -> values.
	Conditions map[string]map[string][]string
}

func (p policyStatement) String() string {
	c := ""
	if len(p.Conditions) > 0 {
		c = " if " + jsonOf(p.Conditions)
	}
	sid := p.Sid
	if sid == "" {
		sid = "(no sid)"
	}
	return fmt.Sprintf("%s %s %v on %v%s", sid, p.Effect, p.Actions, p.Resources, c)
}

// rolePolicy returns the resolved statements of every policy attached to
// the role of fn.
func (s *synthesized) rolePolicy(t *testing.T, fn topology.Function) []policyStatement {
	t.Helper()
	_, _, roleID, _ := s.function(t, fn)
	var out []policyStatement
	for _, p := range s.ofType("AWS::IAM::Policy") {
		if !strings.Contains(jsonOf(p.Properties["Roles"]), `"`+roleID+`"`) {
			continue
		}
		doc := p.Properties["PolicyDocument"].(map[string]any)
		for _, raw := range doc["Statement"].([]any) {
			st := raw.(map[string]any)
			ps := policyStatement{Effect: fmt.Sprint(st["Effect"]), Actions: stringList(st["Action"])}
			if sid, ok := st["Sid"].(string); ok {
				ps.Sid = sid
			}
			switch r := st["Resource"].(type) {
			case []any:
				for _, x := range r {
					ps.Resources = append(ps.Resources, s.resolve(x))
				}
			default:
				ps.Resources = []string{s.resolve(r)}
			}
			if cond, ok := st["Condition"].(map[string]any); ok {
				ps.Conditions = map[string]map[string][]string{}
				for op, kv := range cond {
					ps.Conditions[op] = map[string][]string{}
					for k, v := range kv.(map[string]any) {
						var vals []string
						switch y := v.(type) {
						case []any:
							for _, e := range y {
								vals = append(vals, s.resolve(e))
							}
						default:
							vals = []string{s.resolve(y)}
						}
						ps.Conditions[op][k] = vals
					}
				}
			}
			out = append(out, ps)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy statements for the role of %s", fn.Name)
	}
	return out
}

// request is a recorded call as IAM sees it: the action, the resources it
// is authorized on, and the condition keys it carries.
type request struct {
	Action    string
	Resources []string
	Keys      map[string][]string
}

// iamRequests maps a call to what IAM authorizes. ok is false when the
// call names no resource of the stack (a test calling a queue that does not
// exist, say); why says which.
func (s *synthesized) iamRequests(c awsCall) (reqs []request, ok bool, why string) {
	arn := func(service, resource string) string {
		return "arn:" + fakePartition + ":" + service + ":" + fakeRegion + ":" + fakeAccount + ":" + resource
	}
	switch c.Service {
	case "dynamodb":
		if !strings.HasSuffix(c.Table, s.topo.Table.Name) {
			return nil, false, "table " + c.Table + " is not the topology's table " + s.topo.Table.Name
		}
		tableID, _ := s.onlyOf("AWS::DynamoDB::Table")
		res := arn("dynamodb", "table/"+tableID)
		if c.Index != "" {
			res += "/index/" + c.Index
		}
		action := c.Operation
		// A transaction is authorized item by item.
		switch c.Part {
		case "Put", "Update", "Delete", "Get":
			action = c.Part + "Item"
		case "ConditionCheck":
			action = "ConditionCheckItem"
		}
		return []request{{Action: "dynamodb:" + action, Resources: []string{res}}}, true, ""
	case "sqs":
		name := c.Queue[strings.LastIndex(c.Queue, "/")+1:]
		q := s.topologyQueue(name)
		if q == "" {
			return nil, false, "queue " + name + " is no topology queue"
		}
		action := strings.TrimSuffix(c.Operation, "Batch")
		return []request{{Action: "sqs:" + action, Resources: []string{arn("sqs", s.topo.Name+"-"+q)}}}, true, ""
	case "kms":
		if alias, isAlias := strings.CutPrefix(c.Key, "alias/"); isAlias && !strings.HasSuffix(alias, s.topo.Key.Alias) {
			return nil, false, "key " + c.Key + " is not the topology's alias " + s.topo.Key.Alias
		}
		var keyID string
		for id, r := range s.ofType("AWS::KMS::Key") {
			if s.isProjectKey(r) {
				keyID = id
			}
		}
		keys := map[string][]string{}
		var ctxKeys []string
		for k, v := range c.Context {
			keys["kms:EncryptionContext:"+k] = []string{v}
			ctxKeys = append(ctxKeys, k)
		}
		sort.Strings(ctxKeys)
		if len(ctxKeys) > 0 {
			keys["kms:EncryptionContextKeys"] = ctxKeys
		}
		keys["kms:CallerAccount"] = []string{fakeAccount}
		return []request{{Action: "kms:" + c.Operation, Resources: []string{arn("kms", "key/"+keyID)}, Keys: keys}}, true, ""
	case "ses":
		var res []string
		if c.Identity != "" {
			res = append(res, arn("ses", "identity/"+c.Identity))
		}
		if c.Template != "" {
			res = append(res, arn("ses", "custom-verification-email-template/"+c.Template))
		}
		if c.ConfigurationSet != "" {
			res = append(res, arn("ses", "configuration-set/"+c.ConfigurationSet))
		}
		return []request{{Action: "ses:" + c.Operation, Resources: res}}, true, ""
	}
	return nil, false, "service " + c.Service + " is not modelled"
}

// onlyOf returns the single resource of typ; callers know there is one.
func (s *synthesized) onlyOf(typ string) (string, resource) {
	for id, r := range s.ofType(typ) {
		return id, r
	}
	return "", resource{}
}

// topologyQueue returns the topology queue (or DLQ) name a local queue name
// ends with, the longest one when several do; "" when none does.
func (s *synthesized) topologyQueue(local string) string {
	best := ""
	for _, q := range s.topo.Queues {
		for _, name := range []string{q.Name, q.DLQName()} {
			if (local == name || strings.HasSuffix(local, "-"+name)) && len(name) > len(best) {
				best = name
			}
		}
	}
	return best
}

// allows reports whether statement st grants req on every one of its
// resources (IAM authorizes each resource of a request separately).
func (st policyStatement) allows(req request) bool {
	if !st.matchesAction(req.Action) {
		return false
	}
	for _, r := range req.Resources {
		if !st.matchesResource(r) {
			return false
		}
	}
	return st.conditionsHold(req.Keys)
}

func (st policyStatement) matchesAction(action string) bool {
	for _, a := range st.Actions {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

func (st policyStatement) matchesResource(res string) bool {
	for _, r := range st.Resources {
		if wildcardMatch(r, res) {
			return true
		}
	}
	return false
}

// conditionsHold evaluates the condition operators the stack uses; an
// operator it does not know fails closed.
func (st policyStatement) conditionsHold(keys map[string][]string) bool {
	for op, kv := range st.Conditions {
		set := ""
		if before, after, ok := strings.Cut(op, ":"); ok {
			set, op = before, after
		}
		for k, want := range kv {
			got, present := keys[k]
			var match func(pattern, value string) bool
			switch op {
			case "StringEquals":
				match = func(p, v string) bool { return p == v }
			case "StringLike":
				match = wildcardMatch
			case "Null":
				if len(want) != 1 || (want[0] == "true") != !present {
					return false
				}
				continue
			default:
				return false
			}
			anyOf := func(v string) bool {
				for _, p := range want {
					if match(p, v) {
						return true
					}
				}
				return false
			}
			switch set {
			case "":
				if !present || len(got) != 1 || !anyOf(got[0]) {
					return false
				}
			case "ForAnyValue":
				ok := false
				for _, v := range got {
					ok = ok || anyOf(v)
				}
				if !ok {
					return false
				}
			case "ForAllValues":
				for _, v := range got {
					if !anyOf(v) {
						return false
					}
				}
			default:
				return false
			}
		}
	}
	return true
}

// wildcardMatch matches IAM patterns: * any run of characters, ? one.
func wildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcardMatch(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && wildcardMatch(pattern[1:], s[1:])
}

// unusedAllowed lists granted actions no function code calls, with why each
// is granted anyway. Fn empty means any function; Sid empty any statement;
// Consumer true only functions that consume a queue, on the queue they
// consume.
var unusedAllowed = []struct {
	Fn, Sid, Action string
	Consumer        bool
	Reason          string
}{
	{Sid: "WriteOwnLogs", Action: "logs:*", Reason: "the Lambda runtime writes the function's logs, not its code"},
	{Action: "xray:*", Reason: "active tracing: the Lambda service sends the trace segments"},
	{Sid: "TableKeyViaDynamoDB", Action: "kms:*", Reason: "DynamoDB uses the table's key on the function's behalf (kms:ViaService); no local stand-in encrypts the table"},
	{Action: "sqs:ReceiveMessage", Consumer: true, Reason: "the event source mapping receives the consumed queue's messages, not the function's code"},
	{Action: "sqs:DeleteMessage", Consumer: true, Reason: "the event source mapping deletes the messages the function handled"},
	{Action: "sqs:GetQueueAttributes", Consumer: true, Reason: "the event source mapping reads the consumed queue's attributes"},
	{Action: "sqs:ChangeMessageVisibility", Consumer: true, Reason: "the event source mapping returns failed messages of a batch to the queue"},
	{Action: "sqs:GetQueueUrl", Consumer: true, Reason: "CDK's SQS event source grants it with the consume actions, for the mapping"},
	// The product's tests run the purges through shared/retention and
	// dynamostore directly, without the function's app id.
	{Fn: "retention", Action: "dynamodb:BatchWriteItem", Reason: "the lead and closed-org purges delete in batches (dynamostore batchDelete)"},
	{Fn: "retention", Action: "dynamodb:DeleteItem", Reason: "the purges delete single items and the run's checkpoint (dynamostore orgpurge.go, retention.go)"},
	{Action: "ses:SendRawEmail", Reason: "granted beside ses:SendEmail with Access.SendEmail; the SES v2 client calls SendEmail only (see the SES grants in function.go)"},
}

// TestRecordedCallsAllowed evaluates every call a function made in the
// product's tests against the IAM policy of that function's role: a call
// the policy would deny fails. Calls without a function's app id (test
// set-up, tools) are not the functions' and are skipped.
func TestRecordedCallsAllowed(t *testing.T) {
	calls := loadCalls(t)
	policies := map[string][]policyStatement{}
	for _, fn := range deployed.topo.Functions {
		policies[fn.Name] = deployed.rolePolicy(t, fn)
	}
	denied := map[string]bool{}
	for _, c := range calls {
		if c.App == "" {
			continue
		}
		name := strings.TrimPrefix(c.App, appPrefix)
		policy, ok := policies[name]
		if !ok {
			t.Errorf("call %s by app %q: no function of the topology is named %q", c, c.App, name)
			continue
		}
		reqs, ok, why := deployed.iamRequests(c)
		if !ok {
			t.Logf("%s: %s skipped: %s", name, c, why)
			continue
		}
		for _, req := range reqs {
			if decide(policy, req) {
				continue
			}
			line := fmt.Sprintf("%s: %s (as %s on %v, keys %v)", name, c, req.Action, req.Resources, req.Keys)
			if denied[line] {
				continue
			}
			denied[line] = true
			var considered []string
			for _, st := range policy {
				if st.matchesAction(req.Action) {
					considered = append(considered, "  "+st.String())
				}
			}
			if len(considered) == 0 {
				considered = []string{"  (no statement grants " + req.Action + ")"}
			}
			t.Errorf("denied: %s\nstatements with that action:\n%s", line, strings.Join(considered, "\n"))
		}
	}
}

// decide evaluates req against policy: an explicit Deny wins, else any Allow.
func decide(policy []policyStatement, req request) bool {
	allowed := false
	for _, st := range policy {
		if !st.allows(req) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

// TestNoUnusedGrants fails on an action a function's policy grants that no
// call of that function in the product's tests used, unless unusedAllowed
// lists why it is needed anyway.
func TestNoUnusedGrants(t *testing.T) {
	calls := loadCalls(t)
	reqsOf := map[string][]request{}
	for _, c := range calls {
		if c.App == "" {
			continue
		}
		reqs, ok, _ := deployed.iamRequests(c)
		if ok {
			name := strings.TrimPrefix(c.App, appPrefix)
			reqsOf[name] = append(reqsOf[name], reqs...)
		}
	}
	for _, fn := range deployed.topo.Functions {
		actions := map[string]bool{}
		for _, r := range reqsOf[fn.Name] {
			actions[r.Action] = true
		}
		t.Logf("%s called %v", fn.Name, sortedKeys(actions))
		var consumed string
		if fn.Consumes != nil {
			consumed = "arn:" + fakePartition + ":sqs:" + fakeRegion + ":" + fakeAccount + ":" + deployed.topo.Name + "-" + fn.Consumes.Queue
		}
		for _, st := range deployed.rolePolicy(t, fn) {
			if st.Effect != "Allow" {
				continue
			}
			for _, action := range st.Actions {
				if used(st, action, reqsOf[fn.Name]) || excused(fn.Name, st, action, consumed) {
					continue
				}
				t.Errorf("%s: %s is granted (%s) but no call of %s in the tests used it; remove the grant, "+
					"or list it in unusedAllowed with the reason it is needed", fn.Name, action, st, fn.Name)
			}
		}
	}
}

// used reports whether a request was allowed by st through action.
func used(st policyStatement, action string, reqs []request) bool {
	one := st
	one.Actions = []string{action}
	for _, r := range reqs {
		if one.allows(r) {
			return true
		}
	}
	return false
}

func excused(fn string, st policyStatement, action, consumed string) bool {
	for _, a := range unusedAllowed {
		if (a.Fn != "" && a.Fn != fn) || (a.Sid != "" && a.Sid != st.Sid) || !wildcardMatch(strings.ToLower(a.Action), strings.ToLower(action)) {
			continue
		}
		if a.Consumer && (consumed == "" || !st.matchesResource(consumed)) {
			continue
		}
		return true
	}
	return false
}

// TestPolicyEvaluation pins the evaluator the call checks rely on.
func TestPolicyEvaluation(t *testing.T) {
	key := "arn:aws:kms:us-east-1:123456789012:key/K"
	table := "arn:aws:dynamodb:us-east-1:123456789012:table/T"
	purpose := policyStatement{Effect: "Allow", Actions: []string{"kms:Decrypt"}, Resources: []string{key},
		Conditions: map[string]map[string][]string{"StringEquals": {"kms:EncryptionContext:purpose": {"a", "b"}}}}
	org := policyStatement{Effect: "Allow", Actions: []string{"kms:Decrypt"}, Resources: []string{key},
		Conditions: map[string]map[string][]string{"StringLike": {"kms:EncryptionContext:org_id": {"?*"}}}}
	tbl := policyStatement{Effect: "Allow", Actions: []string{"dynamodb:Get*", "dynamodb:Query"}, Resources: []string{table, table + "/index/*"}}
	ctx := func(k, v string) map[string][]string { return map[string][]string{"kms:EncryptionContext:" + k: {v}} }
	for _, c := range []struct {
		st   policyStatement
		req  request
		want bool
	}{
		{purpose, request{Action: "kms:Decrypt", Resources: []string{key}, Keys: ctx("purpose", "b")}, true},
		{purpose, request{Action: "kms:Decrypt", Resources: []string{key}, Keys: ctx("purpose", "c")}, false},
		{purpose, request{Action: "kms:Decrypt", Resources: []string{key}}, false},
		{org, request{Action: "kms:Decrypt", Resources: []string{key}, Keys: ctx("org_id", "o1")}, true},
		{org, request{Action: "kms:Decrypt", Resources: []string{key}, Keys: ctx("purpose", "a")}, false},
		{org, request{Action: "kms:GenerateDataKey", Resources: []string{key}, Keys: ctx("org_id", "o1")}, false},
		{tbl, request{Action: "dynamodb:GetItem", Resources: []string{table}}, true},
		{tbl, request{Action: "dynamodb:Query", Resources: []string{table + "/index/GSI1"}}, true},
		{tbl, request{Action: "dynamodb:Scan", Resources: []string{table}}, false},
		{tbl, request{Action: "dynamodb:GetItem", Resources: []string{table + "2"}}, false},
	} {
		if got := c.st.allows(c.req); got != c.want {
			t.Errorf("%s allows %+v = %v, want %v", c.st, c.req, got, c.want)
		}
	}
}

// TestFunctionConfigFromTemplate loads each function's configuration
// (shared/config, through tools/configcheck in the root module) from
// exactly the environment the template gives its Lambda function, with
// references and parameters resolved to placeholders: a variable the
// configuration requires that the stack does not set fails here.
func TestFunctionConfigFromTemplate(t *testing.T) {
	envs := map[string]map[string]string{}
	for _, fn := range deployed.topo.Functions {
		_, res, _, _ := deployed.function(t, fn)
		env := map[string]string{}
		if e, ok := res.Properties["Environment"].(map[string]any); ok {
			vars, _ := e["Variables"].(map[string]any)
			for k, v := range vars {
				env[k] = deployed.resolve(v)
			}
		}
		envs[fn.Name] = env
	}
	in, err := json.Marshal(envs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./tools/configcheck")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("a function's configuration does not load from the template's environment (%v):\n%s", err, out)
		for name, env := range envs {
			t.Logf("%s environment: %v", name, env)
		}
		return
	}
	t.Logf("configurations:\n%s", out)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
