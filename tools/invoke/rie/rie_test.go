package rie

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/devstack"
)

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// TestStopLeavesNothing runs a bootstrap that never answers and starts a
// grandchild, and checks that Stop kills the emulator, the bootstrap and
// the grandchild.
func TestStopLeavesNothing(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	root, err := devstack.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bin, err := Binary(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(boot, []byte("#!/bin/sh\nsleep 300 &\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Start(Options{RIE: bin, Bootstrap: boot, Env: FunctionEnv(topology.Function{Name: "stuck", Timeout: 30 * time.Second})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Fatalf("emulator address %s is not loopback", p.Addr)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.WaitReady(rctx, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ictx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := p.Invoke(ictx, []byte(`{}`)); err == nil {
		t.Fatal("invoke of a bootstrap that never answers succeeded")
	}
	pids := []int{p.cmd.Process.Pid}
	for _, c := range children(p.cmd.Process.Pid) {
		pids = append(pids, c)
		pids = append(pids, children(c)...)
	}
	if len(pids) < 3 {
		t.Fatalf("want emulator, bootstrap and sleep running, found pids %v", pids)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still running after Stop", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestFunctionEnvLayers(t *testing.T) {
	t.Setenv("AWS_PROFILE", "real")
	env := FunctionEnv(topology.Function{Name: "api", MemoryMB: 512, Timeout: 15 * time.Second},
		map[string]string{"A": "1", "AWS_LAMBDA_FUNCTION_NAME": "ignored"}, map[string]string{"A": "2"})
	for k, want := range map[string]string{"A": "2", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "AWS_LAMBDA_FUNCTION_TIMEOUT": "15", "AWS_LAMBDA_FUNCTION_NAME": "ignored"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["AWS_PROFILE"]; ok {
		t.Error("the caller's AWS_PROFILE leaked into the function's environment")
	}
}
