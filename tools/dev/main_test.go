package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sdkNoise matches what the AWS SDK prints when something is off against
// the stand-ins: its WARN lines (a response without the checksum it wanted,
// say) and the body-close failure it logs at debug level and above.
var sdkNoise = regexp.MustCompile(`(?i)\bWARN\b|failed to close HTTP response body|checksum`)

// syncBuffer collects a process's output from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCleanStartPrintsNoSDKWarnings runs `make dev` (the built command)
// from an empty data folder, then again over the data the first run left
// (the everyday restart, which provisions over existing resources), with
// the stand-ins on free ports. Each run goes on until it is ready and its
// queue pollers and schedules have run a little, and is stopped with
// Ctrl-C; the test fails on any SDK warning in what it printed or in the
// functions' log.
func TestCleanStartPrintsNoSDKWarnings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local system twice")
	}
	bin := filepath.Join(t.TempDir(), "leadluence-dev")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	for _, run := range []string{"clean start", "restart"} {
		out := runDev(t, bin, data)
		var noise []string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if sdkNoise.MatchString(sc.Text()) {
				noise = append(noise, sc.Text())
			}
		}
		log, err := os.ReadFile(filepath.Join(data, "functions.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, `"source":"aws-sdk"`) && sdkNoise.MatchString(line) {
				noise = append(noise, "functions.log: "+line)
			}
		}
		if len(noise) > 0 {
			t.Fatalf("make dev printed SDK warnings on its %s:\n%s\n\nwhole output:\n%s", run, strings.Join(noise, "\n"), out)
		}
		t.Logf("%s: no SDK warnings", run)
	}
}

// runDev runs the dev command over data until it is ready and a few
// seconds more, stops it with Ctrl-C and returns what it printed.
func runDev(t *testing.T, bin, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-free-ports", "-data", data,
		"-addr", freeAddr(t), "-meta-addr", freeAddr(t), "-demo-addr", freeAddr(t))
	cmd.Env = os.Environ()
	for _, k := range []string{"LEADLUENCE_DEVSTACK", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS",
		"AWS_ENDPOINT_URL_SESV2", "LEADLUENCE_GRAPH_BASE_URL"} {
		cmd.Env = append(cmd.Env, k+"=")
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for ready := false; !ready; {
		select {
		case err := <-done:
			t.Fatalf("make dev exited before it was ready: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("make dev not ready in time:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
			ready = strings.Contains(out.String(), "Ctrl-C stops everything")
		}
	}
	// The pollers and schedules start with the server; give them a few rounds.
	time.Sleep(5 * time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("make dev exited with %v after Ctrl-C:\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("make dev did not stop within a minute of Ctrl-C:\n%s", out.String())
	}
	return out.String()
}
