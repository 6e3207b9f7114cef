package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunPassesEnvAndExitCode(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	script := `env > "$1"; exit 3`
	if got := run([]string{"--", "sh", "-c", script, "sh", out}); got != 3 {
		t.Fatalf("run exit code = %d, want 3", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	if env["LEADLUENCE_DEVSTACK"] != "1" {
		t.Errorf("LEADLUENCE_DEVSTACK = %q, want 1", env["LEADLUENCE_DEVSTACK"])
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SESV2"} {
		if !strings.HasPrefix(env[k], "http://127.0.0.1:") {
			t.Errorf("%s = %q, want a 127.0.0.1 URL", k, env[k])
		}
	}
	if env["AWS_REGION"] != "us-east-1" {
		t.Errorf("AWS_REGION = %q", env["AWS_REGION"])
	}
	assertClosed(t, env["AWS_ENDPOINT_URL_DYNAMODB"], env["AWS_ENDPOINT_URL_SESV2"])
}

func TestRunUsage(t *testing.T) {
	if got := run([]string{"--"}); got != 2 {
		t.Errorf("run without a command = %d, want 2", got)
	}
}

// TestRunForwardsSIGTERM sends SIGTERM to this process (standing in for
// withstack) while the command runs: the command must get it, and the
// stack must be stopped.
func TestRunForwardsSIGTERM(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--", "sh", "-c", `echo "$AWS_ENDPOINT_URL_DYNAMODB" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 60`, "sh", marker})
	}()
	var endpoint string
	deadline := time.Now().Add(5 * time.Minute)
	for endpoint == "" {
		if time.Now().After(deadline) {
			t.Fatal("command did not start")
		}
		if b, err := os.ReadFile(marker); err == nil {
			endpoint = strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got != 128+int(syscall.SIGTERM) {
			t.Errorf("run exit code = %d, want %d", got, 128+int(syscall.SIGTERM))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	assertClosed(t, endpoint)
}

func assertClosed(t *testing.T, endpoints ...string) {
	t.Helper()
	for _, ep := range endpoints {
		if ep == "" {
			continue
		}
		u, err := url.Parse(ep)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still open after withstack returned", ep)
		}
	}
}
