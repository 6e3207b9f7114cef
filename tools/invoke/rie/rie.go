// Package rie runs a Lambda bootstrap under the AWS Lambda Runtime
// Interface Emulator (aws-lambda-rie), bound to loopback, and invokes it.
// `make invoke` (tools/invoke) and `make bench` (tools/bench)
// share it.
//
// The emulator starts the bootstrap lazily, on the first invocation, in a
// process group of its own, and exits on SIGTERM without stopping it; so
// Stop kills the bootstrap's group and the emulator's group itself.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/leadluence/backend/tools/child"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leadluence/backend/infra/topology"
)

// InvokePath is the emulator's invocation endpoint.
const InvokePath = "/2015-03-31/functions/function/invocations"

// rieModule is the package built into <root>/.cache/bin/aws-lambda-rie,
// pinned by tools/toolchain/go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// Binary returns the path of aws-lambda-rie under <root>/.cache/bin. The
// devstack installs it on Start; if it is missing (a stack started by an
// older checkout, say) Binary builds it from tools/toolchain.
func Binary(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, ".cache", "bin", "aws-lambda-rie")
	if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: find go: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(bin), ".rie-build-")
	if err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "aws-lambda-rie")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, rieModule)
	cmd.Dir = filepath.Join(root, "tools", "toolchain")
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: %w\n%s", err, bytes.TrimSpace(b))
	}
	if err := os.Rename(out, bin); err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: install: %w", err)
	}
	return bin, nil
}

// FunctionEnv returns the environment to run fn in: a minimal host
// environment (PATH, HOME, TMPDIR), the variables Lambda sets for fn (name,
// memory, timeout, version, TZ), then each of layers in order, later
// layers winning. Nothing else of the caller's environment is passed on,
// so real AWS credentials or profiles cannot leak into the function.
func FunctionEnv(fn topology.Function, layers ...map[string]string) map[string]string {
	env := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	timeout := int(fn.Timeout.Seconds())
	if timeout <= 0 {
		timeout = 3
	}
	memory := fn.MemoryMB
	if memory <= 0 {
		memory = 128
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = fn.Name
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(memory)
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(timeout)
	env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
	env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + fn.Name
	env["AWS_LAMBDA_LOG_STREAM_NAME"] = "local"
	env["TZ"] = ":UTC"
	for _, l := range layers {
		for k, v := range l {
			env[k] = v
		}
	}
	return env
}

// Options says what to run.
type Options struct {
	// RIE is the path of aws-lambda-rie (see Binary).
	RIE string
	// Bootstrap is the function's executable.
	Bootstrap string
	// Env is the emulator's whole environment, which it passes on to the
	// bootstrap (see FunctionEnv).
	Env map[string]string
	// Output receives the emulator's and the function's stdout and stderr.
	// Nil discards them.
	Output io.Writer
	// LogLevel is the emulator's own log level; empty means "warn".
	LogLevel string
}

// Process is a running emulator.
type Process struct {
	// Addr is the emulator's host:port on 127.0.0.1.
	Addr string
	// Started is when the emulator process was started.
	Started time.Time

	cmd    *exec.Cmd
	out    *quietOnStop
	client *http.Client
	c      *child.Process
	done   chan struct{} // c.Done: closed once the emulator has been reaped

	stopOnce sync.Once
	stopErr  error
}

// Start starts the emulator on free loopback ports, for both its invoke
// endpoint and the runtime API it serves the bootstrap, and returns at
// once; call WaitReady before Invoke. The bootstrap itself is started by
// the emulator on the first invocation.
func Start(opts Options) (*Process, error) {
	if _, err := os.Stat(opts.Bootstrap); err != nil {
		return nil, fmt.Errorf("start rie: bootstrap: %w", err)
	}
	bootstrap, err := filepath.Abs(opts.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("start rie: bootstrap: %w", err)
	}
	invokePort, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start rie: %w", err)
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start rie: %w", err)
	}
	level := opts.LogLevel
	if level == "" {
		level = "warn"
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(invokePort))
	cmd := exec.Command(opts.RIE,
		"--log-level", level,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = envList(opts.Env)
	out := &quietOnStop{w: opts.Output}
	if out.w == nil {
		out.w = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	// The bootstrap inherits the output pipe; once it is killed the pipe
	// closes, but never wait on it for long.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = ProcAttr()

	p := &Process{
		Addr: addr,
		cmd:  cmd,
		out:  out,
		client: &http.Client{Transport: &http.Transport{
			DialContext:  (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConns: 2,
		}},
	}
	c, err := child.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start rie %s: %w", opts.RIE, err)
	}
	p.c, p.done, p.Started = c, c.Done, c.Started
	return p, nil
}

// StartReady starts the emulator and waits until it answers (see Start and
// WaitReady). When the emulator exits before answering, as it does when
// another process took one of its ports in the meantime, it tries again on
// new ports, three times in all.
func StartReady(ctx context.Context, opts Options, poll time.Duration) (*Process, error) {
	var lastErr error
	for range 3 {
		p, err := Start(opts)
		if err != nil {
			return nil, err
		}
		err = p.WaitReady(ctx, poll)
		if err == nil {
			return p, nil
		}
		lastErr = errors.Join(err, p.Stop())
		if !p.Exited() || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// WaitReady polls the emulator until it answers HTTP on Addr (a GET of a
// path it does not serve, which starts nothing), it exits, or ctx is done.
func (p *Process) WaitReady(ctx context.Context, poll time.Duration) error {
	url := "http://" + p.Addr + "/"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for rie: %w", err)
		}
		if resp, err := p.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			if p.c.Err == nil {
				return fmt.Errorf("wait for rie on %s: it exited with status 0", p.Addr)
			}
			return fmt.Errorf("wait for rie on %s: it exited: %w", p.Addr, p.c.Err)
		case <-ctx.Done():
			return fmt.Errorf("wait for rie on %s: %w", p.Addr, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Invoke posts payload to the emulator and returns the function's response
// payload. An HTTP status other than 200 is an error quoting the body.
func (p *Process) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.Addr+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke via rie on %s: %w", p.Addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke: rie answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// Exited reports whether the emulator process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop kills the emulator, the bootstrap it started and anything in their
// process groups, and waits until the emulator has been reaped. It is safe
// to call more than once.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.client.CloseIdleConnections()
		p.out.stopping()
		defer p.out.flush()
		pid := p.cmd.Process.Pid
		var errs []error
		if !p.Exited() {
			// Freeze the emulator so it cannot start a bootstrap while its
			// children are being found and killed, then let it run again
			// briefly so that it reaps them (no zombies left to init).
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			kids := children(pid)
			for _, child := range kids {
				pgid, err := syscall.Getpgid(child)
				if err != nil {
					continue // already gone
				}
				target := child
				if pgid == child {
					target = -pgid
				}
				if err := syscall.Kill(target, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("stop rie: kill bootstrap %d: %w", child, err))
				}
			}
			_ = syscall.Kill(pid, syscall.SIGCONT)
			waitGone(kids, time.Second)
		}
		// Setpgid: the emulator's group id is its pid.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("stop rie: kill group %d: %w", pid, err))
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("stop rie: pid %d not reaped after SIGKILL", pid))
		}
		p.stopErr = errors.Join(errs...)
	})
	return p.stopErr
}

// quietOnStop passes output through line by line, except that once Stop
// has begun it drops the emulator's own log lines, which only report the
// bootstrap being killed ("(rapid) ... exited: signal: killed").
type quietOnStop struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
	partial []byte
}

func (q *quietOnStop) Write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.partial = append(q.partial, b...)
	for {
		i := bytes.IndexByte(q.partial, '\n')
		if i < 0 {
			break
		}
		line := q.partial[:i+1]
		if !q.stopped || !bytes.Contains(line, []byte("(rapid)")) {
			if _, err := q.w.Write(line); err != nil {
				return len(b), fmt.Errorf("copy rie output: %w", err)
			}
		}
		q.partial = q.partial[i+1:]
	}
	return len(b), nil
}

func (q *quietOnStop) stopping() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
}

// flush writes what is left of an unterminated last line.
func (q *quietOnStop) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.partial) > 0 && !bytes.Contains(q.partial, []byte("(rapid)")) {
		_, _ = q.w.Write(q.partial)
	}
	q.partial = nil
}

// waitGone waits until none of pids exists any more (reaped by their
// parent), or until timeout.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// ProcAttr returns the attributes the emulator is started with: a process
// group of its own and, on Linux, SIGKILL when the thread that started it
// exits (so start and wait for the child on a goroutine locked to its OS
// thread, as Start does).
func ProcAttr() *syscall.SysProcAttr { return child.Attr() }

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// envList turns env into KEY=VALUE strings, sorted for stable output.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// children returns the pids of pid's direct children, read from /proc
// (empty where /proc is unavailable).
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(tasks) > 0 {
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
		return out
	}
	// Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) >= 2 && fields[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
