package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/infra/stack"
	"github.com/leadluence/backend/infra/topology"
)

// synthesized is one stack built from a topology, synthesized once.
type synthesized struct {
	topo        topology.Stack
	context     map[string]any // deploy-time parameters given as CDK context
	stack       awscdk.Stack
	template    assertions.Template
	annotations assertions.Annotations
	resources   map[string]resource // logical id -> resource
	parameters  map[string]map[string]any
}

// resource is one CloudFormation resource of the template.
type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

var (
	// deployed is the stack of topology.Default(), the one `cdk synth` builds.
	deployed *synthesized
	// extended adds a queue consumer and a scheduled function, so the
	// queue-trigger and schedule constructs are covered before those
	// functions exist, and is built with the deploy-time parameters given as
	// CDK context (paramContext), where deployed has none.
	extended *synthesized
	// buildTime is how long building and synthesizing both stacks took.
	buildTime time.Duration
)

// TestMain starts jsii once, builds both stacks once and closes jsii at the
// end: starting the jsii runtime costs seconds, a synthesis about as much.
func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack tests:", err)
		code = 1
	}
	jsii.Close()
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "stack-test-")
	if err != nil {
		return 0, fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	start := time.Now()
	deployed, err = build(topology.Default(), tmp, "default", nil)
	if err != nil {
		return 0, err
	}
	extended, err = build(extendedTopology(), tmp, "extended", paramContext)
	if err != nil {
		return 0, err
	}
	buildTime = time.Since(start)
	return m.Run(), nil
}

// paramContext is what `cdk deploy -c NAME=VALUE` passes for the webhook's
// deploy-time parameters in the extended stack.
var paramContext = map[string]any{
	topology.EnvMetaAppSecretCiphertext:   "AQICAHhZYXBwLXNlY3JldC1jaXBoZXJ0ZXh0LWZvci10ZXN0cw==",
	topology.EnvMetaVerifyTokenCiphertext: "AQICAHhZdmVyaWZ5LXRva2VuLWNpcGhlcnRleHQtZm9yLXRlc3Rz",
	topology.EnvEmailFrom:                 "no-reply@mail.example.com",
	topology.EnvCORSAllowedOrigins:        "https://app.example.com, https://Admin.example.com:8443",
}

// build synthesizes topo the way infra/main.go does: feature flags from
// cdk.json plus extra context, the cdk-nag checks, New. Each function gets
// an empty bootstrap.
func build(topo topology.Stack, tmp, name string, extra map[string]any) (*synthesized, error) {
	assets := filepath.Join(tmp, name, "assets")
	for _, fn := range topo.Functions {
		dir := filepath.Join(assets, fn.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("asset dir %s: %w", fn.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), nil, 0o755); err != nil {
			return nil, fmt.Errorf("bootstrap %s: %w", fn.Name, err)
		}
	}
	context, err := cdkContext()
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		context[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		Context: &context,
		Outdir:  jsii.String(filepath.Join(tmp, name, "cdk.out")),
	})
	stack.Nag(app)
	st := stack.New(app, topo.Name, &stack.Props{
		Topology: topo,
		AssetDir: func(fn topology.Function) string { return filepath.Join(assets, fn.Name) },
	})
	s := &synthesized{
		topo:        topo,
		context:     extra,
		stack:       st,
		template:    assertions.Template_FromStack(st, nil),
		annotations: assertions.Annotations_FromStack(st),
	}
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		return nil, fmt.Errorf("encode %s template: %w", name, err)
	}
	var tpl struct {
		Resources  map[string]resource       `json:"Resources"`
		Parameters map[string]map[string]any `json:"Parameters"`
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		return nil, fmt.Errorf("decode %s template: %w", name, err)
	}
	s.resources = tpl.Resources
	s.parameters = tpl.Parameters
	return s, nil
}

// cdkContext is the "context" of the repository's cdk.json: the feature flags
// the CLI hands to the CDK app (infra/main.go).
func cdkContext() (map[string]any, error) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse cdk.json: %w", err)
	}
	return cfg.Context, nil
}

func extendedTopology() topology.Stack {
	t := topology.Default()
	t.Functions = append(t.Functions,
		topology.Function{
			Name: "sweeper", Dir: "functions/retention", MemoryMB: 256, Timeout: 5 * time.Minute,
			Access: topology.Access{TableRead: true, TableWrite: true},
			Schedules: []topology.Schedule{
				{Name: "sanitize", Every: time.Hour},
				{Name: "purge", Every: 24 * time.Hour},
				{Name: "sweep", Every: 15 * time.Minute},
			},
		},
	)
	return t
}

// --- helpers over the synthesized template ---

// ofType returns the resources of type typ, by logical id.
func (s *synthesized) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// only returns the single resource of type typ whose properties satisfy
// match, failing the test unless there is exactly one.
func (s *synthesized) only(t *testing.T, typ string, what string, match func(resource) bool) (string, resource) {
	t.Helper()
	var ids []string
	for id, r := range s.ofType(typ) {
		if match(r) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s: want exactly one %s, found %v", what, typ, ids)
	}
	return ids[0], s.resources[ids[0]]
}

// isProjectKey reports whether r is the project key (topology Key), not
// the key of the email events topic.
func (s *synthesized) isProjectKey(r resource) bool {
	return r.Properties["Description"] == s.topo.Key.Description
}

// queueID is the logical id of the queue with the given physical name.
func (s *synthesized) queueID(t *testing.T, name string) string {
	t.Helper()
	id, _ := s.only(t, "AWS::SQS::Queue", "queue "+name, func(r resource) bool {
		return r.Properties["QueueName"] == s.topo.Name+"-"+name
	})
	return id
}

// function finds the Lambda function, role and role policy of fn.
func (s *synthesized) function(t *testing.T, fn topology.Function) (fnID string, fnRes resource, roleID string, policy resource) {
	t.Helper()
	fnID, fnRes = s.only(t, "AWS::Lambda::Function", "function "+fn.Name, func(r resource) bool {
		return strings.HasPrefix(fmt.Sprint(r.Properties["Description"]), fn.Name+" (")
	})
	roleID = getAtt(fnRes.Properties["Role"])
	_, policy = s.only(t, "AWS::IAM::Policy", "policy of "+fn.Name, func(r resource) bool {
		return strings.Contains(jsonOf(r.Properties["Roles"]), `"`+roleID+`"`)
	})
	return fnID, fnRes, roleID, policy
}

// statement is one IAM policy statement, normalized.
type statement struct {
	Actions   []string
	Resources []string // as JSON
	Condition string   // as JSON, empty when absent
}

func statements(policy resource) []statement {
	doc := policy.Properties["PolicyDocument"].(map[string]any)
	var out []statement
	for _, raw := range doc["Statement"].([]any) {
		st := raw.(map[string]any)
		s := statement{Actions: stringList(st["Action"])}
		switch r := st["Resource"].(type) {
		case []any:
			for _, x := range r {
				s.Resources = append(s.Resources, jsonOf(x))
			}
		default:
			s.Resources = []string{jsonOf(r)}
		}
		if c, ok := st["Condition"]; ok {
			s.Condition = jsonOf(c)
		}
		out = append(out, s)
	}
	return out
}

// actionsOn returns the actions granted on the resource referenced by
// logical id (any GetAtt/Ref to it), split by whether a condition applies.
func actionsOn(policy resource, logicalID string) (plain, conditional []string) {
	for _, st := range statements(policy) {
		for _, r := range st.Resources {
			if refersTo(r, logicalID) {
				if st.Condition == "" {
					plain = append(plain, st.Actions...)
				} else {
					conditional = append(conditional, st.Actions...)
				}
				break
			}
		}
	}
	sort.Strings(plain)
	sort.Strings(conditional)
	return plain, conditional
}

func refersTo(js, logicalID string) bool {
	return strings.Contains(js, `"`+logicalID+`"`)
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// getAtt returns the logical id of {"Fn::GetAtt": [id, attr]} or {"Ref": id}.
func getAtt(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if ref, ok := m["Ref"].(string); ok {
		return ref
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		return fmt.Sprint(ga[0])
	}
	return ""
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// assertNoPanic turns a failed awscdk assertion (a jsii error, raised in Go
// as a panic) into a test failure.
func assertNoPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func props(m map[string]any) *map[string]any { return &m }

// --- tests ---

func TestBuildTime(t *testing.T) {
	t.Logf("building and synthesizing both stacks took %s", buildTime.Round(time.Millisecond))
}

func TestTable(t *testing.T) {
	// GIVEN the default topology's table
	tt := deployed.topo.Table
	// WHEN the stack is synthesized
	keyID, _ := deployed.only(t, "AWS::KMS::Key", "project key", deployed.isProjectKey)
	_, table := deployed.only(t, "AWS::DynamoDB::Table", "table", func(resource) bool { return true })

	// THEN it has the topology's keys and indexes, TTL, PITR, on-demand
	// billing, encryption with the project key, deletion protection and RETAIN
	gsis := []any{}
	for _, ix := range tt.Indexes {
		gsis = append(gsis, map[string]any{
			"IndexName": ix.Name,
			"KeySchema": []any{
				map[string]any{"AttributeName": ix.PartitionKey, "KeyType": "HASH"},
				map[string]any{"AttributeName": ix.SortKey, "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "ALL"},
		})
	}
	assertNoPanic(t, "table properties", func() {
		deployed.template.HasResource(jsii.String("AWS::DynamoDB::Table"), props(map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": assertions.Match_ObjectLike(props(map[string]any{
				"KeySchema": []any{
					map[string]any{"AttributeName": tt.PartitionKey, "KeyType": "HASH"},
					map[string]any{"AttributeName": tt.SortKey, "KeyType": "RANGE"},
				},
				"GlobalSecondaryIndexes":           assertions.Match_ArrayEquals(&gsis),
				"BillingMode":                      "PAY_PER_REQUEST",
				"TimeToLiveSpecification":          map[string]any{"AttributeName": tt.TTLAttribute, "Enabled": true},
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"DeletionProtectionEnabled":        true,
				"SSESpecification": map[string]any{
					"SSEEnabled":     true,
					"SSEType":        "KMS",
					"KMSMasterKeyId": map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}},
				},
			})),
		}))
	})
	for _, ad := range table.Properties["AttributeDefinitions"].([]any) {
		if typ := ad.(map[string]any)["AttributeType"]; typ != "S" {
			t.Errorf("attribute %v: type %v, want S", ad.(map[string]any)["AttributeName"], typ)
		}
	}
}

func TestKey(t *testing.T) {
	// GIVEN the default topology's key
	k := deployed.topo.Key
	// WHEN the stack is synthesized
	// THEN there is one project key, rotated, retained, with the alias (the
	// only other key is the email events topic's, see TestEmailEvents)
	deployed.only(t, "AWS::KMS::Key", "project key", deployed.isProjectKey)
	deployed.template.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(2))
	assertNoPanic(t, "key", func() {
		deployed.template.HasResource(jsii.String("AWS::KMS::Key"), props(map[string]any{
			"DeletionPolicy": "Retain",
			"Properties": assertions.Match_ObjectLike(props(map[string]any{
				"EnableKeyRotation": true,
				"Description":       k.Description,
			})),
		}))
	})
	assertNoPanic(t, "alias", func() {
		deployed.template.HasResourceProperties(jsii.String("AWS::KMS::Alias"), props(map[string]any{
			"AliasName": "alias/" + k.Alias,
		}))
	})
}

func TestQueues(t *testing.T) {
	// GIVEN every queue of the topology
	for _, q := range deployed.topo.Queues {
		t.Run(q.Name, func(t *testing.T) {
			// WHEN the stack is synthesized
			qid := deployed.queueID(t, q.Name)
			dlqID := deployed.queueID(t, q.DLQName())
			queue, dlq := deployed.resources[qid], deployed.resources[dlqID]

			// THEN the queue has the topology's visibility, retention and
			// redrive to its DLQ after MaxReceiveCount receives
			want := map[string]any{
				"VisibilityTimeout":      float64(q.VisibilityTimeout / time.Second),
				"MessageRetentionPeriod": float64(q.Retention / time.Second),
				"SqsManagedSseEnabled":   true,
				"RedrivePolicy": map[string]any{
					"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{dlqID, "Arn"}},
					"maxReceiveCount":     float64(q.MaxReceiveCount),
				},
			}
			for k, v := range want {
				if diff := cmp.Diff(v, queue.Properties[k]); diff != "" {
					t.Errorf("queue %s (-want +got):\n%s", k, diff)
				}
			}
			// AND the DLQ keeps messages 14 days, encrypted
			if got := dlq.Properties["MessageRetentionPeriod"]; got != float64(stack.DLQRetention/time.Second) {
				t.Errorf("DLQ retention = %v, want %v", got, stack.DLQRetention/time.Second)
			}
			if dlq.Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("DLQ is not encrypted: %v", dlq.Properties)
			}
			// AND both deny any request not made over TLS
			for _, id := range []string{qid, dlqID} {
				assertNoPanic(t, "TLS-only policy on "+id, func() {
					deployed.template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), props(map[string]any{
						"Queues": []any{map[string]any{"Ref": id}},
						"PolicyDocument": assertions.Match_ObjectLike(props(map[string]any{
							// Other statements may follow: the intake queue's
							// lets the email events topic send (TestEmailEvents).
							"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
								"Action":    "sqs:*",
								"Effect":    "Deny",
								"Principal": map[string]any{"AWS": "*"},
								"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
								"Resource":  map[string]any{"Fn::GetAtt": []any{id, "Arn"}},
							}}),
						})),
					}))
				})
			}
		})
	}
}

func TestDLQAlarms(t *testing.T) {
	// GIVEN every queue of the topology
	for _, q := range deployed.topo.Queues {
		// WHEN the stack is synthesized
		dlqID := deployed.queueID(t, q.DLQName())
		// THEN an alarm fires as soon as one message is visible in its DLQ
		assertNoPanic(t, "alarm on "+q.DLQName(), func() {
			deployed.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), props(map[string]any{
				"Namespace":          "AWS/SQS",
				"MetricName":         "ApproximateNumberOfMessagesVisible",
				"ComparisonOperator": "GreaterThanThreshold",
				"Threshold":          0,
				"EvaluationPeriods":  1,
				"Dimensions": []any{map[string]any{
					"Name":  "QueueName",
					"Value": map[string]any{"Fn::GetAtt": []any{dlqID, "QueueName"}},
				}},
			}))
		})
	}
	deployed.template.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(float64(len(deployed.topo.Queues))))
}

func TestFunctions(t *testing.T) {
	for _, s := range []*synthesized{deployed, extended} {
		// GIVEN every function of the topology
		for _, fn := range s.topo.Functions {
			t.Run(fn.Name, func(t *testing.T) {
				// WHEN the stack is synthesized
				_, f, _, _ := s.function(t, fn)
				p := f.Properties

				// THEN it is a Go bootstrap on provided.al2023/arm64 with the
				// topology's memory and timeout, JSON logs and active tracing
				want := map[string]any{
					"Runtime":       "provided.al2023",
					"Architectures": []any{"arm64"},
					"Handler":       "bootstrap",
					"MemorySize":    float64(fn.MemoryMB),
					"Timeout":       float64(fn.Timeout / time.Second),
					"TracingConfig": map[string]any{"Mode": "Active"},
				}
				for k, v := range want {
					if diff := cmp.Diff(v, p[k]); diff != "" {
						t.Errorf("%s (-want +got):\n%s", k, diff)
					}
				}
				logging := p["LoggingConfig"].(map[string]any)
				if logging["LogFormat"] != "JSON" {
					t.Errorf("LogFormat = %v, want JSON", logging["LogFormat"])
				}
				// AND it logs to its own log group with a retention
				lg := s.resources[getAtt(logging["LogGroup"])]
				if lg.Type != "AWS::Logs::LogGroup" || lg.Properties["RetentionInDays"] != float64(30) {
					t.Errorf("log group = %+v, want AWS::Logs::LogGroup with 30 days retention", lg)
				}

				// AND its environment is topology.ResourceEnv, resolved to the
				// stack's own table, key and queues
				tableID, _ := s.only(t, "AWS::DynamoDB::Table", "table", func(resource) bool { return true })
				keyID, _ := s.only(t, "AWS::KMS::Key", "key", s.isProjectKey)
				resolved := topology.Resolved{
					TableName: jsonOf(map[string]any{"Ref": tableID}),
					KeyID:     jsonOf(map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}}),
					QueueURLs: map[string]string{},
				}
				for _, q := range s.topo.Queues {
					resolved.QueueURLs[q.Name] = jsonOf(map[string]any{"Ref": s.queueID(t, q.Name)})
					resolved.QueueURLs[q.DLQName()] = jsonOf(map[string]any{"Ref": s.queueID(t, q.DLQName())})
				}
				if s.topo.EmailEvents != nil {
					csID, _ := s.only(t, "AWS::SES::ConfigurationSet", "configuration set", func(resource) bool { return true })
					resolved.ConfigurationSet = jsonOf(map[string]any{"Ref": csID})
				}
				if v, ok := s.context[topology.EnvEmailFrom]; ok {
					resolved.EmailFrom = v.(string)
				} else if s.topo.SendsOrVerifiesEmail() {
					resolved.EmailFrom = jsonOf(map[string]any{"Ref": stack.ParamID(topology.EnvEmailFrom)})
				}
				wantEnv := map[string]string{}
				for k, v := range topology.ResourceEnv(fn, resolved) {
					if !strings.HasPrefix(v, "{") {
						v = jsonOf(v)
					}
					wantEnv[k] = v
				}
				// AND each deploy-time parameter comes from CDK context when
				// given, else from a CloudFormation parameter
				for _, p := range fn.Params {
					if v, ok := s.context[p.Env]; ok {
						wantEnv[p.Env] = jsonOf(v)
					} else {
						wantEnv[p.Env] = jsonOf(map[string]any{"Ref": stack.ParamID(p.Env)})
					}
				}
				gotEnv := map[string]string{}
				if env, ok := p["Environment"].(map[string]any); ok {
					for k, v := range env["Variables"].(map[string]any) {
						gotEnv[k] = jsonOf(v)
					}
				}
				if diff := cmp.Diff(wantEnv, gotEnv); diff != "" {
					t.Errorf("environment (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestRoutes(t *testing.T) {
	for _, s := range []*synthesized{deployed, extended} {
		// GIVEN the routes of the topology
		var want []string
		owner := map[string]topology.Function{}
		for _, fn := range s.topo.Functions {
			for _, r := range fn.Routes {
				want = append(want, r.Key())
				owner[r.Key()] = fn
			}
		}
		sort.Strings(want)

		// WHEN the stack is synthesized
		routes := s.ofType("AWS::ApiGatewayV2::Route")
		var got []string
		for _, r := range routes {
			got = append(got, fmt.Sprint(r.Properties["RouteKey"]))
		}
		sort.Strings(got)

		// THEN there is exactly one API route per topology route
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: route keys (-topology +stack):\n%s", s.topo.Name, diff)
		}
		// AND each is a Lambda proxy (payload 2.0) to the function that owns it
		for _, r := range routes {
			key := fmt.Sprint(r.Properties["RouteKey"])
			target := jsonOf(r.Properties["Target"])
			integID := regexp.MustCompile(`"Ref":"([A-Za-z0-9]+)"`).FindStringSubmatch(target)
			if integID == nil {
				t.Errorf("route %s: target %s names no integration", key, target)
				continue
			}
			integ := s.resources[integID[1]]
			fnID, _, _, _ := s.function(t, owner[key])
			if integ.Properties["IntegrationType"] != "AWS_PROXY" || integ.Properties["PayloadFormatVersion"] != "2.0" ||
				getAtt(integ.Properties["IntegrationUri"]) != fnID {
				t.Errorf("route %s: integration %v, want AWS_PROXY 2.0 to %s", key, integ.Properties, fnID)
			}
		}
	}
	// AND the API URL is an output
	assertNoPanic(t, "ApiUrl output", func() {
		deployed.template.HasOutput(jsii.String("ApiUrl"), props(map[string]any{}))
	})
}

func TestStage(t *testing.T) {
	// GIVEN the default topology
	// WHEN the stack is synthesized
	_, st := deployed.only(t, "AWS::ApiGatewayV2::Stage", "stage", func(resource) bool { return true })

	// THEN the $default stage auto-deploys, is throttled and writes JSON
	// access logs with who/what/outcome/timing but no headers or bodies
	if st.Properties["StageName"] != "$default" || st.Properties["AutoDeploy"] != true {
		t.Errorf("stage = %v, want auto-deployed $default", st.Properties)
	}
	api := deployed.topo.API
	throttle, _ := st.Properties["DefaultRouteSettings"].(map[string]any)
	if throttle["ThrottlingRateLimit"] != api.Throttle.RatePerSecond || throttle["ThrottlingBurstLimit"] != float64(api.Throttle.Burst) {
		t.Errorf("stage default throttling = %v, want the topology's %+v", throttle, api.Throttle)
	}
	// AND the strict routes (sign-up, login, password reset, accepting an
	// invitation) have the stricter throttle, the others none of their own
	routeSettings, _ := st.Properties["RouteSettings"].(map[string]any)
	if len(api.StrictRoutes) == 0 || len(routeSettings) != len(api.StrictRoutes) {
		t.Errorf("stage route settings %v, want one per strict route %v", routeSettings, api.StrictRoutes)
	}
	for _, k := range []string{"POST /v1/auth/signup", "POST /v1/auth/login", "POST /v1/auth/password-reset", "POST /v1/invitations/accept"} {
		rs, _ := routeSettings[k].(map[string]any)
		if rs["ThrottlingRateLimit"] != api.StrictThrottle.RatePerSecond || rs["ThrottlingBurstLimit"] != float64(api.StrictThrottle.Burst) {
			t.Errorf("route %s settings = %v, want the strict throttle %+v", k, rs, api.StrictThrottle)
		}
	}
	if api.StrictThrottle.RatePerSecond >= api.Throttle.RatePerSecond {
		t.Errorf("strict throttle %+v is not stricter than %+v", api.StrictThrottle, api.Throttle)
	}
	// AND the stage is created after the routes its settings name
	var stageID string
	for id, r := range deployed.ofType("AWS::ApiGatewayV2::Stage") {
		_ = r
		stageID = id
	}
	tmpl := deployed.template.ToJSON()
	deps := jsonOf((*tmpl)["Resources"].(map[string]any)[stageID].(map[string]any)["DependsOn"])
	for id, r := range deployed.ofType("AWS::ApiGatewayV2::Route") {
		if _, ok := routeSettings[fmt.Sprint(r.Properties["RouteKey"])]; ok && !strings.Contains(deps, `"`+id+`"`) {
			t.Errorf("stage does not depend on route %s (%v)", id, r.Properties["RouteKey"])
		}
	}
	logs, _ := st.Properties["AccessLogSettings"].(map[string]any)
	if lg := deployed.resources[getAtt(logs["DestinationArn"])]; lg.Type != "AWS::Logs::LogGroup" || lg.Properties["RetentionInDays"] == nil {
		t.Errorf("access log destination = %v, want a log group with retention", logs["DestinationArn"])
	}
	var format map[string]string
	if err := json.Unmarshal([]byte(fmt.Sprint(logs["Format"])), &format); err != nil {
		t.Fatalf("access log format is not JSON: %v", err)
	}
	for _, k := range []string{"requestId", "ip", "routeKey", "status", "latency"} {
		if format[k] == "" {
			t.Errorf("access log format lacks %q: %v", k, format)
		}
	}
	for k, v := range format {
		if l := strings.ToLower(v); strings.Contains(l, "header") || strings.Contains(l, "body") || strings.Contains(l, "authorizer") {
			t.Errorf("access log field %s=%s may leak request content", k, v)
		}
	}
}

func TestCORS(t *testing.T) {
	// GIVEN the allowed origins as CDK context (extended) or not (deployed)
	// WHEN the stacks are synthesized
	_, withContext := extended.only(t, "AWS::ApiGatewayV2::Api", "HTTP API", func(resource) bool { return true })
	_, withParam := deployed.only(t, "AWS::ApiGatewayV2::Api", "HTTP API", func(resource) bool { return true })

	// THEN the API allows exactly the configured origins, lower case, no wildcard
	cors, _ := withContext.Properties["CorsConfiguration"].(map[string]any)
	if diff := cmp.Diff([]string{"https://app.example.com", "https://admin.example.com:8443"}, stringList(cors["AllowOrigins"])); diff != "" {
		t.Errorf("AllowOrigins (-want +got):\n%s", diff)
	}
	// AND the topology's methods, the headers the API reads, the headers a
	// page may read and the preflight max age; no credentials
	c := extended.topo.API.CORS
	want := map[string]any{
		"AllowMethods":  c.AllowMethods,
		"AllowHeaders":  c.AllowHeaders,
		"ExposeHeaders": c.ExposeHeaders,
	}
	for k, v := range want {
		if diff := cmp.Diff(v, stringList(cors[k])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	for _, h := range []string{"authorization", "content-type", "idempotency-key"} {
		if !contains(stringList(cors["AllowHeaders"]), h) {
			t.Errorf("AllowHeaders %v lack %s", cors["AllowHeaders"], h)
		}
	}
	if cors["MaxAge"] != c.MaxAge.Seconds() || cors["MaxAge"] == float64(0) || cors["AllowCredentials"] != false {
		t.Errorf("MaxAge/AllowCredentials = %v/%v, want %v/false", cors["MaxAge"], cors["AllowCredentials"], c.MaxAge.Seconds())
	}
	// AND without context the origins come from a CommaDelimitedList
	// parameter without default whose every item must be an origin
	id := stack.ParamID(topology.EnvCORSAllowedOrigins)
	param, ok := deployed.parameters[id]
	if !ok {
		t.Fatalf("no CloudFormation parameter %s; have %v", id, deployed.parameters)
	}
	if _, hasDefault := param["Default"]; hasDefault || param["Type"] != "CommaDelimitedList" {
		t.Errorf("parameter %s = %v, want a CommaDelimitedList without default", id, param)
	}
	re := regexp.MustCompile(fmt.Sprint(param["AllowedPattern"]))
	for item, ok := range map[string]bool{"https://app.example.com": true, "http://localhost:5173": true, "*": false, "https://*.example.com": false, "https://app.example.com/": false, "null": false} {
		if re.MatchString(item) != ok {
			t.Errorf("parameter %s pattern %s: %q matches = %v, want %v", id, re, item, !ok, ok)
		}
	}
	if got := jsonOf(withParam.Properties["CorsConfiguration"]); !strings.Contains(got, `"Ref":"`+id+`"`) {
		t.Errorf("CorsConfiguration %s does not take the origins from %s", got, id)
	}
	if _, ok := extended.parameters[id]; ok {
		t.Errorf("parameter %s exists although the origins came as context", id)
	}
}

func TestCORSContextMustBeOrigins(t *testing.T) {
	for _, bad := range []string{"*", "https://app.example.com,*", "app.example.com", "https://app.example.com/path", ""} {
		// GIVEN allowed origins as context that are not a list of origins
		app := awscdk.NewApp(&awscdk.AppProps{
			Outdir:  jsii.String(t.TempDir()),
			Context: &map[string]any{topology.EnvCORSAllowedOrigins: bad},
		})
		// WHEN the stack is built
		var recovered any
		func() {
			defer func() { recovered = recover() }()
			stack.New(app, "Bad", &stack.Props{
				Topology: topology.Default(),
				AssetDir: func(topology.Function) string { return t.TempDir() },
			})
		}()
		// THEN it fails, naming the setting
		if recovered == nil || !strings.Contains(fmt.Sprint(recovered), topology.EnvCORSAllowedOrigins) {
			t.Errorf("New with origins %q as context: recovered %v", bad, recovered)
		}
	}
}

func TestAPIFunctionPolicy(t *testing.T) {
	// GIVEN the api function of the default topology
	fn, _ := deployed.topo.Function("api")
	// WHEN the stack is synthesized
	_, _, _, policy := deployed.function(t, fn)
	keyID, _ := deployed.only(t, "AWS::KMS::Key", "key", deployed.isProjectKey)
	tableID, _ := deployed.only(t, "AWS::DynamoDB::Table", "table", func(resource) bool { return true })

	// THEN no statement grants a dynamodb, kms or sqs wildcard
	wildcard := regexp.MustCompile(`^(dynamodb|kms|sqs):.*\*|^\*$`)
	for _, st := range statements(policy) {
		for _, a := range st.Actions {
			if wildcard.MatchString(a) {
				t.Errorf("wildcard action %q on %v", a, st.Resources)
			}
		}
		for _, r := range st.Resources {
			if r == `"*"` && !strings.HasPrefix(st.Actions[0], "xray:") {
				t.Errorf("actions %v on Resource *", st.Actions)
			}
		}
	}

	// AND the key is usable directly only as Access says, data keys only
	// for an org's encryption context, and otherwise only through DynamoDB
	plain, conditional := actionsOn(policy, keyID)
	if diff := cmp.Diff([]string{"kms:DescribeKey"}, plain); diff != "" {
		t.Errorf("unconditional key actions (-want +got):\n%s", diff)
	}
	var forOrgs, viaDynamo []string
	orgBound := `{"StringLike":{"kms:EncryptionContext:org_id":"?*"}}`
	for _, st := range statements(policy) {
		switch {
		case st.Condition == "":
		case st.Condition == orgBound:
			forOrgs = append(forOrgs, st.Actions...)
		case strings.Contains(st.Condition, "kms:ViaService"):
			viaDynamo = append(viaDynamo, st.Actions...)
		default:
			t.Errorf("unexpected condition %s", st.Condition)
		}
	}
	// (the api seals nothing: the account function seals integration
	// tokens and MFA secrets and creates the platform secrets)
	if diff := cmp.Diff([]string{"kms:Decrypt"}, unique(forOrgs)); diff != "" {
		t.Errorf("key actions for an org's context (-want +got):\n%s", diff)
	}
	if len(viaDynamo) == 0 || len(conditional) == 0 {
		t.Errorf("no key actions through DynamoDB for the encrypted table")
	}

	// AND the table (with each index by name) is readable and writable
	tableActions, _ := actionsOn(policy, tableID)
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} {
		if !contains(tableActions, a) {
			t.Errorf("table actions %v lack %s", tableActions, a)
		}
	}
	for _, ix := range deployed.topo.Table.Indexes {
		if !strings.Contains(jsonOf(policy.Properties), "/index/"+ix.Name+`"`) {
			t.Errorf("index %s is not granted by name", ix.Name)
		}
	}

	// AND it may send only to the queues in SendTo and inspect only those in Inspect
	for _, q := range deployed.topo.Queues {
		got, _ := actionsOn(policy, deployed.queueID(t, q.Name))
		var want []string
		if contains(fn.Access.SendTo, q.Name) {
			want = append(want, "sqs:SendMessage")
		}
		if contains(fn.Access.Inspect, q.Name) {
			want = append(want, "sqs:GetQueueAttributes")
		}
		if diff := cmp.Diff(unique(want), unique(got)); diff != "" {
			t.Errorf("queue %s actions (-want +got):\n%s", q.Name, diff)
		}
	}
}

// TestSESGrants checks that each function gets exactly the SES actions its
// Access lists, and only on the account's identities in the stack's region
// (email-address identities only for managing them) and on the sender
// verification templates.
func TestSESGrants(t *testing.T) {
	for _, fn := range deployed.topo.Functions {
		t.Run(fn.Name, func(t *testing.T) {
			_, _, _, policy := deployed.function(t, fn)
			var got []string
			for _, st := range statements(policy) {
				for _, a := range st.Actions {
					if !strings.HasPrefix(a, "ses:") {
						continue
					}
					got = append(got, a)
					// Sending also names the stack's configuration set
					// (TestSendEmailOnConfigurationSet).
					ids := st.Resources
					if (a == "ses:SendEmail" || a == "ses:SendRawEmail") && deployed.topo.EmailEvents != nil {
						cs := ":ses:${AWS::Region}:${AWS::AccountId}:configuration-set/" + deployed.topo.EmailEvents.ConfigurationSet + `"`
						ids = slices.DeleteFunc(slices.Clone(ids), func(r string) bool { return strings.Contains(r, cs) })
					}
					// The verification templates, by their prefix only.
					tmpl := ":ses:${AWS::Region}:${AWS::AccountId}:custom-verification-email-template/" + topology.VerificationTemplatePrefix + `*"`
					named := len(ids)
					ids = slices.DeleteFunc(slices.Clone(ids), func(r string) bool { return strings.Contains(r, tmpl) })
					switch tmplOnly := a == "ses:CreateCustomVerificationEmailTemplate" || a == "ses:DeleteCustomVerificationEmailTemplate"; {
					case tmplOnly && (named != 1 || len(ids) != 0):
						t.Errorf("%s on %v, want the sender verification templates only", a, st.Resources)
						continue
					case tmplOnly:
						continue
					case a == "ses:SendCustomVerificationEmail" && named != 2:
						t.Errorf("%s on %v, want an email-address identity and a sender verification template", a, st.Resources)
					}
					if len(ids) != 1 || !strings.Contains(ids[0], ":ses:${AWS::Region}:${AWS::AccountId}:identity/*") {
						t.Errorf("%s on %v, want the account's identities only", a, st.Resources)
					}
					// Managing identities never reaches a domain identity.
					if a != "ses:SendEmail" && a != "ses:SendRawEmail" && !strings.Contains(ids[0], ":identity/*@*\"") {
						t.Errorf("%s on %v, want email-address identities only (identity/*@*)", a, st.Resources)
					}
				}
			}
			var want []string
			if fn.Access.SendEmail {
				want = append(want, "ses:SendEmail", "ses:SendRawEmail")
			}
			if fn.Access.ManageEmailIdentities {
				want = append(want, "ses:CreateCustomVerificationEmailTemplate", "ses:DeleteCustomVerificationEmailTemplate",
					"ses:DeleteEmailIdentity", "ses:GetEmailIdentity", "ses:SendCustomVerificationEmail")
			}
			if diff := cmp.Diff(unique(want), unique(got)); diff != "" {
				t.Errorf("SES actions (-want +got):\n%s", diff)
			}
		})
	}
	// The api verifies orgs' sender addresses and sends the platform's own
	// mail to users (invitations, password resets, email verification).
	if api, _ := deployed.topo.Function("api"); !api.Access.ManageEmailIdentities || !api.Access.SendEmail {
		t.Errorf("api Access %+v: want identity management and sending", api.Access)
	}
}

func TestQueueConsumer(t *testing.T) {
	// GIVEN a topology with a function consuming the intake queue
	fn, _ := extended.topo.Function("ingest")
	trig := fn.Consumes
	// WHEN the stack is synthesized
	fnID, _, _, policy := extended.function(t, fn)
	qid := extended.queueID(t, trig.Queue)

	// THEN an event source maps the queue to the function with the
	// topology's batching and partial batch failure reporting
	assertNoPanic(t, "event source mapping", func() {
		extended.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), props(map[string]any{
			"FunctionName":                   map[string]any{"Ref": fnID},
			"EventSourceArn":                 map[string]any{"Fn::GetAtt": []any{qid, "Arn"}},
			"BatchSize":                      trig.BatchSize,
			"MaximumBatchingWindowInSeconds": int(trig.MaxBatchingWindow / time.Second),
			"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
		}))
	})
	// AND the function may receive and delete from that queue only
	got, _ := actionsOn(policy, qid)
	for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} {
		if !contains(got, a) {
			t.Errorf("consumer actions %v lack %s", got, a)
		}
	}
	// AND the queue's visibility timeout covers 6 consumer timeouts
	vis := extended.resources[qid].Properties["VisibilityTimeout"].(float64)
	if need := stack.MinVisibility(fn); time.Duration(vis)*time.Second < need {
		t.Errorf("visibility %vs < %s", vis, need)
	}
}

func TestVisibilityCoversEveryConsumer(t *testing.T) {
	for _, s := range []*synthesized{deployed, extended} {
		// GIVEN every consumer of the topology
		for _, fn := range s.topo.Functions {
			if fn.Consumes == nil {
				continue
			}
			// WHEN the stack is synthesized
			qid := s.queueID(t, fn.Consumes.Queue)
			vis := time.Duration(s.resources[qid].Properties["VisibilityTimeout"].(float64)) * time.Second
			// THEN its queue's visibility timeout is at least 6 × its timeout
			if vis < stack.VisibilityFactor*fn.Timeout {
				t.Errorf("queue %s: visibility %s < %d × %s", fn.Consumes.Queue, vis, stack.VisibilityFactor, fn.Timeout)
			}
		}
	}
}

func TestSchedules(t *testing.T) {
	// GIVEN a topology with a scheduled function
	fn, _ := extended.topo.Function("sweeper")
	// WHEN the stack is synthesized
	fnID, _, _, _ := extended.function(t, fn)

	// THEN one EventBridge rule per schedule invokes it at rate(Every)
	for _, sch := range fn.Schedules {
		assertNoPanic(t, "rule "+sch.Name, func() {
			extended.template.HasResourceProperties(jsii.String("AWS::Events::Rule"), props(map[string]any{
				"ScheduleExpression": rate(sch.Every),
				"State":              "ENABLED",
				"Targets": []any{assertions.Match_ObjectLike(props(map[string]any{
					"Arn": map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
				}))},
			}))
		})
	}
	rules := extended.ofType("AWS::Events::Rule")
	schedules := 0
	for _, f := range extended.topo.Functions {
		schedules += len(f.Schedules)
	}
	if len(rules) != schedules {
		t.Errorf("%d rules, want %d (one per schedule in the topology)", len(rules), schedules)
	}
	// AND each rule's event names its schedule in its detail, so a
	// function with several tells them apart.
	for _, sch := range fn.Schedules {
		found := false
		for _, r := range rules {
			raw, err := json.Marshal(r.Properties)
			if err != nil {
				t.Fatal(err)
			}
			found = found || strings.Contains(string(raw), `\"schedule\":\"`+sch.Name+`\"`)
		}
		if !found {
			t.Errorf("no rule's event names schedule %q in its detail", sch.Name)
		}
	}
	// AND EventBridge may invoke the function
	assertNoPanic(t, "events permission", func() {
		extended.template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), props(map[string]any{
			"FunctionName": map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
			"Principal":    "events.amazonaws.com",
		}))
	})
}

// rate is the schedule expression EventBridge gets for d.
func rate(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	switch {
	case d%(24*time.Hour) == 0:
		n, unit = int(d/(24*time.Hour)), "day"
	case d%time.Hour == 0:
		n, unit = int(d/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("rate(%d %s)", n, unit)
}

func TestNoUnsuppressedNagFindings(t *testing.T) {
	for _, s := range []*synthesized{deployed, extended} {
		// GIVEN a stack built with the cdk-nag AwsSolutions checks
		// WHEN it is synthesized
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		errs := s.annotations.FindError(jsii.String("*"), nag)
		warns := s.annotations.FindWarning(jsii.String("*"), nag)
		// THEN no finding is left without a suppression
		if n := len(*errs) + len(*warns); n > 0 {
			t.Errorf("%s: %d unsuppressed cdk-nag findings:\n%s", s.topo.Name, n, strings.Join(stack.Findings(s.stack), "\n"))
		}
	}
}

func TestFindingsFailSynth(t *testing.T) {
	// GIVEN an app with the cdk-nag checks and a queue that breaks them
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack.Nag(app)
	st := awscdk.NewStack(app, jsii.String("Bad"), nil)
	awssqs.NewQueue(st, jsii.String("Plain"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})

	// WHEN it is synthesized and its findings are read as infra/main.go does
	app.Synth(nil)
	findings := stack.Findings(app)

	// THEN the unsuppressed findings are reported, so main exits non-zero
	joined := strings.Join(findings, "\n")
	for _, rule := range []string{"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} {
		if !strings.Contains(joined, rule) {
			t.Errorf("findings lack %s:\n%s", rule, joined)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unique(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func TestWebhookFunction(t *testing.T) {
	for _, s := range []*synthesized{deployed, extended} {
		// GIVEN the webhook function of the topology
		fn, ok := s.topo.Function("webhook")
		if !ok {
			t.Fatal("no webhook function in the topology")
		}
		// WHEN the stack is synthesized
		fnID, f, _, policy := s.function(t, fn)
		keyID, _ := s.only(t, "AWS::KMS::Key", "key", s.isProjectKey)

		// THEN it has 256 MB and 10 s
		if f.Properties["MemorySize"] != float64(256) || f.Properties["Timeout"] != float64(10) {
			t.Errorf("memory %v, timeout %v; want 256 MB, 10 s", f.Properties["MemorySize"], f.Properties["Timeout"])
		}
		// AND both /webhooks/meta routes go to it, with no authorizer
		for _, key := range []string{"GET /webhooks/meta", "POST /webhooks/meta"} {
			_, route := s.only(t, "AWS::ApiGatewayV2::Route", key, func(r resource) bool { return r.Properties["RouteKey"] == key })
			if at, ok := route.Properties["AuthorizationType"]; ok && at != "NONE" {
				t.Errorf("%s: authorization %v, want none (Meta has no token)", key, at)
			}
			integ := s.resources[regexp.MustCompile(`"Ref":"([A-Za-z0-9]+)"`).FindStringSubmatch(jsonOf(route.Properties["Target"]))[1]]
			if getAtt(integ.Properties["IntegrationUri"]) != fnID {
				t.Errorf("%s does not reach the webhook function", key)
			}
		}

		// AND its only direct use of the key is kms:Decrypt, for its two
		// purposes only (reading the table uses the key only through
		// DynamoDB: kms:ViaService)
		for _, st := range statements(policy) {
			for _, r := range st.Resources {
				if !refersTo(r, keyID) {
					continue
				}
				if strings.Contains(st.Condition, "kms:ViaService") && !slices.Contains(st.Actions, "kms:Encrypt") && !slices.Contains(st.Actions, "kms:GenerateDataKey") {
					continue
				}
				if diff := cmp.Diff([]string{"kms:Decrypt"}, st.Actions); diff != "" {
					t.Errorf("key actions (-want +got):\n%s", diff)
				}
				want := jsonOf(map[string]any{"StringEquals": map[string]any{
					"kms:EncryptionContext:purpose": []any{topology.PurposeMetaAppSecret, topology.PurposeMetaVerifyToken},
				}})
				if st.Condition != want {
					t.Errorf("key condition %s, want %s", st.Condition, want)
				}
			}
		}
		plain, conditional := actionsOn(policy, keyID)
		if len(plain) != 0 || len(conditional) != 3 {
			t.Errorf("key actions: plain %v, conditional %v; want kms:Decrypt for its purposes and, via DynamoDB, kms:Decrypt and kms:DescribeKey", plain, conditional)
		}

		// AND it may read owner items of the table (GetItem only), send to
		// the intake queue and touch nothing else: no other table action,
		// no other queue, no wildcard
		tableID, _ := s.only(t, "AWS::DynamoDB::Table", "table", func(resource) bool { return true })
		if got, cond := actionsOn(policy, tableID); !slices.Equal(unique(got), []string{"dynamodb:GetItem"}) || len(cond) != 0 {
			t.Errorf("table actions %v %v, want only dynamodb:GetItem", got, cond)
		}
		for _, q := range s.topo.Queues {
			got, _ := actionsOn(policy, s.queueID(t, q.Name))
			var want []string
			if q.Name == topology.QueueIntake {
				want = []string{"sqs:SendMessage"}
			}
			if diff := cmp.Diff(unique(want), unique(got)); diff != "" {
				t.Errorf("queue %s actions (-want +got):\n%s", q.Name, diff)
			}
			got, _ = actionsOn(policy, s.queueID(t, q.DLQName()))
			if len(got) != 0 {
				t.Errorf("DLQ %s actions %v, want none", q.DLQName(), got)
			}
		}
		for _, st := range statements(policy) {
			for _, a := range st.Actions {
				if a == "*" || (strings.HasSuffix(a, "*") && !strings.HasPrefix(a, "xray:")) {
					t.Errorf("wildcard action %q", a)
				}
			}
		}
	}
}

func TestParamsWithoutContext(t *testing.T) {
	// GIVEN the default topology and no deploy-time values in CDK context
	fn, _ := deployed.topo.Function("webhook")
	// WHEN the stack is synthesized
	// THEN each param is a CloudFormation parameter without a default, so
	// deploying without a value fails before anything changes
	for _, p := range fn.Params {
		param, ok := deployed.parameters[stack.ParamID(p.Env)]
		if !ok {
			t.Errorf("no CloudFormation parameter %s for %s; have %v", stack.ParamID(p.Env), p.Env, deployed.parameters)
			continue
		}
		if _, hasDefault := param["Default"]; hasDefault || param["Type"] != "String" || param["MinLength"] != float64(1) {
			t.Errorf("parameter %s = %v, want a String without default, at least 1 character", p.Env, param)
		}
		// AND a ciphertext must at least be base64
		pattern, _ := param["AllowedPattern"].(string)
		re := regexp.MustCompile(pattern)
		if pattern == "" || !re.MatchString(paramContext[p.Env].(string)) || re.MatchString("not base64!") || re.MatchString("") {
			t.Errorf("parameter %s AllowedPattern %q does not check base64", p.Env, pattern)
		}
		// AND its description says how to make the value
		if d, _ := param["Description"].(string); !strings.Contains(d, "tools/encrypt") || !strings.Contains(d, "-c "+p.Env) {
			t.Errorf("parameter %s description %q does not say how to make it", p.Env, d)
		}
	}
}

func TestParamsFromContext(t *testing.T) {
	// GIVEN the webhook's params as CDK context (`cdk deploy -c NAME=VALUE`)
	fn, _ := extended.topo.Function("webhook")
	// WHEN the stack is synthesized
	_, f, _, _ := extended.function(t, fn)
	env := f.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	for _, p := range fn.Params {
		// THEN the function gets the value itself
		if env[p.Env] != paramContext[p.Env] {
			t.Errorf("%s = %v, want the context value", p.Env, env[p.Env])
		}
		// AND there is no CloudFormation parameter to fill
		if _, ok := extended.parameters[stack.ParamID(p.Env)]; ok {
			t.Errorf("CloudFormation parameter %s exists although the value came as context", stack.ParamID(p.Env))
		}
	}
}

func TestParamContextMustBeBase64(t *testing.T) {
	// GIVEN a ciphertext param given as context that is not base64
	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(t.TempDir()),
		Context: &map[string]any{topology.EnvMetaAppSecretCiphertext: "dev-app-secret"},
	})
	// WHEN the stack is built
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		stack.New(app, "Bad", &stack.Props{
			Topology: topology.Default(),
			AssetDir: func(topology.Function) string { return t.TempDir() },
		})
	}()
	// THEN it fails, naming the variable and how to make a proper value
	msg := fmt.Sprint(recovered)
	if recovered == nil || !strings.Contains(msg, topology.EnvMetaAppSecretCiphertext) || !strings.Contains(msg, "tools/encrypt") {
		t.Fatalf("New with a plain-text secret as context: recovered %v", recovered)
	}
}

func TestParamID(t *testing.T) {
	if got := stack.ParamID("LEADLUENCE_META_APP_SECRET_CIPHERTEXT"); got != "LeadluenceMetaAppSecretCiphertext" {
		t.Errorf("ParamID = %q", got)
	}
}

func TestEmailEvents(t *testing.T) {
	// GIVEN the default topology's SES event publishing
	ee := deployed.topo.EmailEvents
	if ee == nil {
		t.Fatal("default topology has no EmailEvents")
	}
	// WHEN the stack is synthesized
	topicID, topic := deployed.only(t, "AWS::SNS::Topic", "email events topic", func(resource) bool { return true })
	keyID, _ := deployed.only(t, "AWS::KMS::Key", "email events key", func(r resource) bool { return !deployed.isProjectKey(r) })
	csID, _ := deployed.only(t, "AWS::SES::ConfigurationSet", "configuration set", func(resource) bool { return true })
	qid := deployed.queueID(t, ee.Queue)

	// THEN the topic is encrypted with its own rotated key, which SES may
	// use for this configuration set only
	if got := getAtt(topic.Properties["KmsMasterKeyId"]); got != keyID {
		t.Errorf("topic KmsMasterKeyId refers to %q, want %q", got, keyID)
	}
	assertNoPanic(t, "topic key", func() {
		deployed.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), props(map[string]any{
			"EnableKeyRotation": true,
			"KeyPolicy": assertions.Match_ObjectLike(props(map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(props(map[string]any{
					"Sid":       "SESPublishesEmailEvents",
					"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey"},
					"Principal": map[string]any{"Service": "ses.amazonaws.com"},
					"Condition": assertions.Match_ObjectLike(props(map[string]any{
						"StringEquals": assertions.Match_ObjectLike(props(map[string]any{
							"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
						})),
					})),
				}))}),
			})),
		}))
	})
	// AND the topic policy denies plain HTTP and lets SES publish
	_, policy := deployed.only(t, "AWS::SNS::TopicPolicy", "topic policy", func(resource) bool { return true })
	if !refersTo(jsonOf(policy.Properties["Topics"]), topicID) {
		t.Errorf("topic policy applies to %s, want %s", jsonOf(policy.Properties["Topics"]), topicID)
	}
	doc := jsonOf(policy.Properties["PolicyDocument"])
	for _, want := range []string{`"aws:SecureTransport":"false"`, `"Effect":"Deny"`, `"Service":"ses.amazonaws.com"`, `"sns:Publish"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("topic policy lacks %s: %s", want, doc)
		}
	}
	// AND the configuration set has the topology's name and publishes the
	// topology's events to the topic
	assertNoPanic(t, "configuration set", func() {
		deployed.template.HasResourceProperties(jsii.String("AWS::SES::ConfigurationSet"), props(map[string]any{
			"Name": ee.ConfigurationSet,
		}))
	})
	events := make([]any, len(ee.Events))
	for i, e := range ee.Events {
		events[i] = strings.ToLower(e) // CloudFormation spells SES event types in lower case
	}
	assertNoPanic(t, "event destination", func() {
		deployed.template.HasResourceProperties(jsii.String("AWS::SES::ConfigurationSetEventDestination"), props(map[string]any{
			"ConfigurationSetName": map[string]any{"Ref": csID},
			"EventDestination": assertions.Match_ObjectLike(props(map[string]any{
				"Enabled":            true,
				"MatchingEventTypes": assertions.Match_ArrayEquals(&events),
				"SnsDestination":     map[string]any{"TopicARN": map[string]any{"Ref": topicID}},
			})),
		}))
	})
	// AND the queue is subscribed without raw delivery (bodies are SNS
	// envelopes) and its policy lets the topic send to it
	assertNoPanic(t, "subscription", func() {
		deployed.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), props(map[string]any{
			"Protocol": "sqs",
			"TopicArn": map[string]any{"Ref": topicID},
			"Endpoint": map[string]any{"Fn::GetAtt": []any{qid, "Arn"}},
		}))
	})
	_, sub := deployed.only(t, "AWS::SNS::Subscription", "subscription", func(resource) bool { return true })
	if raw, ok := sub.Properties["RawMessageDelivery"]; ok && raw != false {
		t.Errorf("RawMessageDelivery = %v, want off", raw)
	}
	var queuePolicy string
	for _, r := range deployed.ofType("AWS::SQS::QueuePolicy") {
		if refersTo(jsonOf(r.Properties["Queues"]), qid) {
			queuePolicy += jsonOf(r.Properties["PolicyDocument"])
		}
	}
	if !strings.Contains(queuePolicy, `"sqs:SendMessage"`) || !strings.Contains(queuePolicy, `"Service":"sns.amazonaws.com"`) || !refersTo(queuePolicy, topicID) {
		t.Errorf("queue %s policy does not let the topic send: %s", ee.Queue, queuePolicy)
	}

	// AND exactly the functions that send email name the configuration set
	for _, fn := range deployed.topo.Functions {
		_, fnRes, _, _ := deployed.function(t, fn)
		vars, _ := fnRes.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		got, set := vars[topology.EnvConfigurationSet]
		if set != fn.Access.SendEmail || (set && getAtt(got) != csID) {
			t.Errorf("function %s (SendEmail %v): %s = %v", fn.Name, fn.Access.SendEmail, topology.EnvConfigurationSet, got)
		}
	}
}

// TestEmailFromIsADeploySetting checks that the functions that send email
// or manage sender identities get the platform sender address from the
// deployment (CDK context, else a required CloudFormation parameter), never
// the local default of shared/config.
func TestEmailFromIsADeploySetting(t *testing.T) {
	paramID := stack.ParamID(topology.EnvEmailFrom)
	// GIVEN the default stack, built without the value as context
	// THEN the value is a CloudFormation parameter without a default
	param, ok := deployed.parameters[paramID]
	if !ok {
		t.Fatalf("no CloudFormation parameter %s for %s; parameters %v", paramID, topology.EnvEmailFrom, deployed.parameters)
	}
	if _, hasDefault := param["Default"]; hasDefault || param["Type"] != "String" {
		t.Errorf("parameter %s = %v, want a String without a default", paramID, param)
	}
	for _, s := range []*synthesized{deployed, extended} {
		for _, fn := range s.topo.Functions {
			_, f, _, _ := s.function(t, fn)
			env, _ := f.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			got, set := env[topology.EnvEmailFrom]
			if !fn.Access.SendEmail && !fn.Access.ManageEmailIdentities {
				if set {
					t.Errorf("%s: %s set on a function that neither sends email nor manages identities", fn.Name, topology.EnvEmailFrom)
				}
				continue
			}
			// AND each function that sends or verifies addresses gets it:
			// the parameter, or the context value when given
			var want any = map[string]any{"Ref": paramID}
			if v, ok := s.context[topology.EnvEmailFrom]; ok {
				want = v
			}
			if jsonOf(got) != jsonOf(want) {
				t.Errorf("%s: %s = %v, want %v", fn.Name, topology.EnvEmailFrom, got, want)
			}
		}
	}
	if sender, ok := deployed.topo.Function("sender"); !ok || !sender.Access.SendEmail {
		t.Fatal("the sender function does not send email")
	}
	// AND with the value as context there is no parameter to fill
	if _, ok := extended.parameters[paramID]; ok {
		t.Errorf("CloudFormation parameter %s exists although the value came as context", paramID)
	}
}

// TestSendEmailOnConfigurationSet checks that a function that sends email
// may send with the stack's configuration set: SES authorizes SendEmail on
// the configuration set named in the call as well as on the identity.
func TestSendEmailOnConfigurationSet(t *testing.T) {
	if deployed.topo.EmailEvents == nil {
		t.Skip("no configuration set in the topology")
	}
	wantArn := ":ses:${AWS::Region}:${AWS::AccountId}:configuration-set/" + deployed.topo.EmailEvents.ConfigurationSet
	for _, fn := range deployed.topo.Functions {
		if !fn.Access.SendEmail {
			continue
		}
		_, _, _, policy := deployed.function(t, fn)
		granted := false
		for _, st := range statements(policy) {
			if !contains(st.Actions, "ses:SendEmail") {
				continue
			}
			for _, r := range st.Resources {
				if strings.Contains(r, wantArn+`"`) {
					granted = true
				}
			}
		}
		if !granted {
			t.Errorf("%s: ses:SendEmail not granted on the configuration set (%s): %v", fn.Name, wantArn, statements(policy))
		}
	}
}
