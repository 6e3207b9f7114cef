package topology_test

import (
	"testing"

	"github.com/leadluence/backend/infra/topology"
)

func TestDefaultIsConsistent(t *testing.T) {
	st := topology.Default()
	queues := map[string]topology.Queue{}
	for _, q := range st.Queues {
		queues[q.Name] = q
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
			if _, ok := queues[q]; !ok {
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
		QueueURLs: map[string]string{"intake": "u-in", "outbound": "u-out"}})
	want := map[string]string{
		"LEADLUENCE_TABLE": "tbl", "LEADLUENCE_KEY_ID": "key",
		"LEADLUENCE_QUEUE_URL_INTAKE": "u-in", "LEADLUENCE_QUEUE_URL_OUTBOUND": "u-out",
		"LEADLUENCE_DEFAULT_REGION": "IN",
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
