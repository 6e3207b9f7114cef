package stack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/infra/stack"
	"github.com/leadluence/backend/infra/topology"
)

func TestValidate(t *testing.T) {
	consumer := func(timeout, window time.Duration) topology.Function {
		return topology.Function{
			Name: "ingest", Dir: "functions/ingest", MemoryMB: 256, Timeout: timeout,
			Consumes: &topology.QueueTrigger{Queue: topology.QueueIntake, BatchSize: 10, MaxBatchingWindow: window},
		}
	}
	// setConsumer replaces the topology's intake consumer.
	setConsumer := func(s *topology.Stack, fn topology.Function) {
		for i, f := range s.Functions {
			if f.Consumes != nil && f.Consumes.Queue == fn.Consumes.Queue {
				s.Functions[i] = fn
				return
			}
		}
		s.Functions = append(s.Functions, fn)
	}
	tests := []struct {
		name    string
		change  func(*topology.Stack)
		wantErr string // substring; empty means valid
	}{
		{name: "default topology", change: func(*topology.Stack) {}},
		{name: "extended topology", change: func(s *topology.Stack) { *s = extendedTopology() }},
		{
			name: "visibility exactly 6 × timeout",
			change: func(s *topology.Stack) {
				setConsumer(s, consumer(time.Minute, 0))
			},
		},
		{
			name: "visibility under 6 × timeout",
			change: func(s *topology.Stack) {
				setConsumer(s, consumer(61*time.Second, 0))
			},
			wantErr: `queue "intake": visibility timeout 6m0s is shorter than 6m6s`,
		},
		{
			name: "batching window counts too",
			change: func(s *topology.Stack) {
				setConsumer(s, consumer(time.Minute, time.Second))
			},
			wantErr: "shorter than 6m1s",
		},
		{
			name: "unknown queue",
			change: func(s *topology.Stack) {
				s.Functions[0].Access.SendTo = append(s.Functions[0].Access.SendTo, "nope")
			},
			wantErr: `uses unknown queue "nope"`,
		},
		{
			name: "two consumers of one queue",
			change: func(s *topology.Stack) {
				b := consumer(time.Second, 0)
				b.Name = "ingest2"
				s.Functions = append(s.Functions, b)
			},
			wantErr: `consumed by both "ingest" and "ingest2"`,
		},
		{
			name: "duplicate route",
			change: func(s *topology.Stack) {
				s.Functions[0].Routes = append(s.Functions[0].Routes, s.Functions[0].Routes[0])
			},
			wantErr: `route "GET /openapi.json": served by both`,
		},
		{
			name: "schedule in seconds",
			change: func(s *topology.Stack) {
				s.Functions[0].Schedules = []topology.Schedule{{Name: "tick", Every: 30 * time.Second}}
			},
			wantErr: "want whole minutes",
		},
		{
			name:    "timeout over 15 minutes",
			change:  func(s *topology.Stack) { s.Functions[0].Timeout = 16 * time.Minute },
			wantErr: "timeout 16m0s",
		},
		{
			name: "ciphertext param without its purpose granted",
			change: func(s *topology.Stack) {
				s.Functions[1].Access.KeyDecryptPurposes = []string{topology.PurposeMetaAppSecret}
			},
			wantErr: `param "LEADLUENCE_META_VERIFY_TOKEN_CIPHERTEXT" holds ciphertext for purpose "meta-verify-token"`,
		},
		{
			name: "purposes without decrypt",
			change: func(s *topology.Stack) {
				s.Functions[1].Access.KeyDecrypt = false
			},
			wantErr: "KeyDecryptPurposes without KeyDecrypt",
		},
		{
			name: "param clashing with a resource setting",
			change: func(s *topology.Stack) {
				s.Functions[1].Params = append(s.Functions[1].Params, topology.Param{Env: topology.EnvKeyID, Description: "x"})
			},
			wantErr: `param "LEADLUENCE_KEY_ID" is also set`,
		},
		{
			name: "param declared twice",
			change: func(s *topology.Stack) {
				s.Functions[1].Params = append(s.Functions[1].Params, s.Functions[1].Params[0])
			},
			wantErr: "declared twice",
		},
		{
			name: "param name not an env name",
			change: func(s *topology.Stack) {
				s.Functions[1].Params = append(s.Functions[1].Params, topology.Param{Env: "meta-secret", Description: "x"})
			},
			wantErr: "upper-case environment variable name",
		},
		{
			name: "shared param with two purposes",
			change: func(s *topology.Stack) {
				s.Functions[0].Access.KeyDecryptPurposes = []string{"other"}
				s.Functions[0].Params = []topology.Param{{Env: topology.EnvMetaAppSecretCiphertext, Purpose: "other", Description: "x"}}
			},
			wantErr: "functions sharing a param share its value",
		},
		{
			name:    "email events to an unknown queue",
			change:  func(s *topology.Stack) { s.EmailEvents.Queue = "emails" },
			wantErr: `email events: unknown queue "emails"`,
		},
		{
			name: "email events to a queue nobody reads",
			change: func(s *topology.Stack) {
				s.Queues = append(s.Queues, topology.Queue{Name: "unread", VisibilityTimeout: time.Minute, MaxReceiveCount: 5, Retention: 4 * 24 * time.Hour})
				s.EmailEvents.Queue = "unread"
			},
			wantErr: `queue "unread" is consumed by no function`,
		},
		{
			name:    "email events with a bad configuration set name",
			change:  func(s *topology.Stack) { s.EmailEvents.ConfigurationSet = "leadluence emails" },
			wantErr: "configuration set",
		},
		{
			name:    "email events with an unknown type",
			change:  func(s *topology.Stack) { s.EmailEvents.Events = append(s.EmailEvents.Events, "OPENED") },
			wantErr: `event type "OPENED"`,
		},
		{
			name:    "alias with prefix",
			change:  func(s *topology.Stack) { s.Key.Alias = "alias/leadluence" },
			wantErr: "key alias",
		},
	}
	if fn := topology.Default().Functions[1]; fn.Name != "webhook" {
		t.Fatalf("the param cases change Functions[1], which is %q, not the webhook", fn.Name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the default topology with one change
			topo := topology.Default()
			tt.change(&topo)
			// WHEN it is validated
			err := stack.Validate(topo)
			// THEN it is accepted, or rejected with the expected reason
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate accepted it, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
