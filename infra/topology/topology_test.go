package topology_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadluence/backend/infra/topology"
)

func TestDefaultIsConsistent(t *testing.T) {
	st := topology.Default()
	queues := map[string]topology.Queue{}
	declared := map[string]bool{}
	for _, q := range st.Queues {
		queues[q.Name] = q
		declared[q.Name], declared[q.DLQName()] = true, true
		if q.MaxReceiveCount < 1 {
			t.Errorf("queue %s: maxReceiveCount %d", q.Name, q.MaxReceiveCount)
		}
	}
	names := map[string]bool{}
	routes := map[string]string{}
	for _, fn := range st.Functions {
		if names[fn.Name] {
			t.Errorf("function %s declared twice", fn.Name)
		}
		names[fn.Name] = true
		if fn.MemoryMB < 128 || fn.Timeout <= 0 || fn.Dir == "" {
			t.Errorf("function %s: memory %d, timeout %v, dir %q", fn.Name, fn.MemoryMB, fn.Timeout, fn.Dir)
		}
		for _, r := range fn.Routes {
			if other, ok := routes[r.Key()]; ok {
				t.Errorf("route %s served by %s and %s", r.Key(), other, fn.Name)
			}
			routes[r.Key()] = fn.Name
		}
		for _, q := range fn.QueuesUsed() {
			if !declared[q] {
				t.Errorf("function %s uses undeclared queue %s", fn.Name, q)
			}
		}
		if fn.Consumes != nil {
			q := queues[fn.Consumes.Queue]
			// AWS's guidance for Lambda consumers: visibility timeout at
			// least six times the function timeout.
			if q.VisibilityTimeout < 6*fn.Timeout {
				t.Errorf("queue %s: visibility %v < 6 x %s timeout %v", q.Name, q.VisibilityTimeout, fn.Name, fn.Timeout)
			}
		}
	}
}

func TestResourceEnv(t *testing.T) {
	fn, ok := topology.Default().Function("api")
	if !ok {
		t.Fatal("no api function")
	}
	env := topology.ResourceEnv(fn, topology.Resolved{TableName: "tbl", KeyID: "key",
		QueueURLs: map[string]string{"intake": "u-in", "outbound": "u-out", "purges": "u-purge", "imports": "u-imports"}})
	want := map[string]string{
		"LEADLUENCE_TABLE": "tbl", "LEADLUENCE_KEY_ID": "key",
		"LEADLUENCE_QUEUE_URL_INTAKE": "u-in", "LEADLUENCE_QUEUE_URL_OUTBOUND": "u-out", "LEADLUENCE_QUEUE_URL_PURGES": "u-purge",
		"LEADLUENCE_QUEUE_URL_IMPORTS": "u-imports", "LEADLUENCE_DEFAULT_REGION": "IN",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("env has %d vars, want %d: %v", len(env), len(want), env)
	}
	if got := topology.QueueURLEnv("dead-letters"); got != "LEADLUENCE_QUEUE_URL_DEAD_LETTERS" {
		t.Errorf("QueueURLEnv = %q", got)
	}
}

func TestWebhookFunction(t *testing.T) {
	fn, ok := topology.Default().Function("webhook")
	if !ok {
		t.Fatal("no webhook function")
	}
	if fn.Dir != "functions/webhook" || fn.MemoryMB != 256 || fn.Timeout != 10*time.Second {
		t.Errorf("webhook: dir %q, memory %d, timeout %v", fn.Dir, fn.MemoryMB, fn.Timeout)
	}
	var routes []string
	for _, r := range fn.Routes {
		if !r.Public {
			t.Errorf("route %s is not public: Meta holds no bearer token", r.Key())
		}
		routes = append(routes, r.Key())
	}
	if diff := cmp.Diff([]string{"GET /webhooks/meta", "POST /webhooks/meta"}, routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	// It may read the owner items of pages and numbers (GetItem only: the
	// drop of events no org owns), decrypt its own two secrets and send to
	// intake, nothing more.
	want := topology.Access{
		TableRead:          true,
		TableActions:       []string{"GetItem"},
		KeyDecrypt:         true,
		KeyDecryptPurposes: []string{topology.PurposeMetaAppSecret, topology.PurposeMetaVerifyToken},
		SendTo:             []string{topology.QueueIntake},
	}
	if diff := cmp.Diff(want, fn.Access); diff != "" {
		t.Errorf("access (-want +got):\n%s", diff)
	}
	var params []string
	for _, p := range fn.Params {
		params = append(params, p.Env+"="+p.Purpose)
	}
	wantParams := []string{
		topology.EnvMetaAppSecretCiphertext + "=" + topology.PurposeMetaAppSecret,
		topology.EnvMetaVerifyTokenCiphertext + "=" + topology.PurposeMetaVerifyToken,
	}
	if diff := cmp.Diff(wantParams, params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}

	env := topology.ResourceEnv(fn, topology.Resolved{TableName: "tbl", KeyID: "key",
		QueueURLs: map[string]string{"intake": "u-in", "outbound": "u-out"}})
	if diff := cmp.Diff(map[string]string{"LEADLUENCE_KEY_ID": "key", "LEADLUENCE_QUEUE_URL_INTAKE": "u-in", "LEADLUENCE_TABLE": "tbl"}, env); diff != "" {
		t.Errorf("resource env (-want +got):\n%s", diff)
	}
}

func TestParamsAreConsistent(t *testing.T) {
	envName := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	for _, fn := range topology.Default().Functions {
		resourceEnv := topology.ResourceEnv(fn, topology.Resolved{QueueURLs: map[string]string{}})
		purposes := map[string]bool{}
		for _, p := range fn.Access.KeyDecryptPurposes {
			purposes[p] = true
		}
		if len(purposes) > 0 && !fn.Access.KeyDecrypt {
			t.Errorf("function %s: KeyDecryptPurposes without KeyDecrypt", fn.Name)
		}
		seen := map[string]bool{}
		for _, p := range fn.Params {
			if !envName.MatchString(p.Env) || seen[p.Env] {
				t.Errorf("function %s: param %q is not an upper-case env name or is declared twice", fn.Name, p.Env)
			}
			seen[p.Env] = true
			// A param is never also a static or resource setting: the two
			// would fight over the value.
			if _, ok := resourceEnv[p.Env]; ok {
				t.Errorf("function %s: param %s is also in Env or ResourceEnv", fn.Name, p.Env)
			}
			if p.Description == "" {
				t.Errorf("function %s: param %s has no description", fn.Name, p.Env)
			}
			// A ciphertext can only be opened if the purpose is granted.
			if p.Purpose != "" && !purposes[p.Purpose] {
				t.Errorf("function %s: param %s needs purpose %q in Access.KeyDecryptPurposes", fn.Name, p.Env, p.Purpose)
			}
		}
	}
}

func TestEmailEventsReachSender(t *testing.T) {
	st := topology.Default()
	ee := st.EmailEvents
	if ee == nil {
		t.Fatal("GIVEN the default topology THEN it routes SES events: EmailEvents is nil")
	}
	// GIVEN the default topology
	// THEN SES events of the "leadluence" configuration set go to intake
	if diff := cmp.Diff(topology.EmailEvents{
		ConfigurationSet: "leadluence",
		Queue:            topology.QueueIntake,
		Events:           []string{"DELIVERY", "BOUNCE", "COMPLAINT", "REJECT"},
	}, *ee); diff != "" {
		t.Errorf("EmailEvents (-want +got):\n%s", diff)
	}
	res := topology.Resolved{QueueURLs: map[string]string{}, ConfigurationSet: ee.ConfigurationSet}
	for _, fn := range st.Functions {
		// WHEN the resource env of each function is built
		got, set := topology.ResourceEnv(fn, res)[topology.EnvConfigurationSet]
		// THEN exactly the functions that send email learn the configuration set
		if set != fn.Access.SendEmail || (set && got != ee.ConfigurationSet) {
			t.Errorf("function %s (SendEmail %v): %s = %q, set %v", fn.Name, fn.Access.SendEmail, topology.EnvConfigurationSet, got, set)
		}
	}
	// AND without a configuration set (locally) the sender gets no variable
	sender, _ := st.Function("sender")
	if v, set := topology.ResourceEnv(sender, topology.Resolved{})[topology.EnvConfigurationSet]; set {
		t.Errorf("no configuration set: %s = %q, want unset", topology.EnvConfigurationSet, v)
	}
}

func TestParseOrigins(t *testing.T) {
	got, err := topology.ParseOrigins(" https://App.example.com,http://localhost:5173 ,https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://app.example.com", "http://localhost:5173"}, got); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", " , ", "*", "https://*.example.com", "null", "app.example.com", "ftp://app.example.com",
		"https://app.example.com/", "https://app.example.com/x", "https://user@app.example.com", "https://app.example.com?x=1"} {
		if o, err := topology.ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) = %v, want an error", bad, o)
		}
	}
	if _, err := topology.ParseOrigins(topology.Default().API.CORS.AllowMethods[0]); err == nil {
		t.Error("a method parsed as an origin")
	}
}
