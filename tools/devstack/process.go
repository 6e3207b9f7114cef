package devstack

import (
	"context"
	"errors"
	"fmt"
	"github.com/leadluence/backend/tools/child"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// layout names the directories a stack works in.
type layout struct {
	work     string // cwd of the children: DataDir or the temp dir
	logs     string // one <service>.log per service
	kms      string // KMS_DATA_PATH
	dynamodb string // -dbPath; "" means -inMemory
}

// serviceSpec says how to run and probe one stand-in.
type serviceSpec struct {
	name    string
	port    int // 0: pick a free port
	logPath string
	command func(port int) *exec.Cmd
	// probePath is requested with GET; any HTTP answer (or a 2xx, when
	// need2xx) means ready. When target is set, the probe is instead an AWS
	// JSON-protocol POST with that X-Amz-Target, and the answer must be a
	// 200 whose body holds want: so a different server that happens to hold
	// the port (another stack's, on a shared machine) is not mistaken for
	// this one.
	probePath string
	need2xx   bool
	target    string
	jsonType  string
	want      string
}

// errForeign means another server answered on the port picked for a child.
var errForeign = errors.New("another server answers on this port")

// startService starts one stand-in and waits for it to answer. When the
// port was picked here and the child dies before answering (typically
// because another process took the port first), it retries on a new port.
func startService(ctx context.Context, spec serviceSpec) (*proc, int, error) {
	attempts := 1
	if spec.port == 0 {
		attempts = 3
	}
	var lastErr error
	for range attempts {
		port := spec.port
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return nil, 0, fmt.Errorf("start %s: %w", spec.name, err)
			}
		}
		p, err := spawn(spec.name, spec.command(port), spec.logPath)
		if err != nil {
			return nil, 0, fmt.Errorf("start %s: %w", spec.name, err)
		}
		err = waitReady(ctx, p, port, spec)
		if err == nil {
			return p, port, nil
		}
		_ = p.stop(stopGrace)
		lastErr = err
		if !p.exitedEarly || ctx.Err() != nil {
			break
		}
	}
	return nil, 0, lastErr
}

// proc is one running child.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFrom int64 // size of the log before this run, for logTail
	c       *child.Process
	done    chan struct{} // c.Done: closed once the child has been reaped

	exitedEarly bool // set by waitReady when the child died before answering
}

// spawn starts cmd in its own process group with stdout and stderr appended
// to logPath.
//
// The child dies with this process (see package child).
func spawn(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	var from int64
	if fi, err := f.Stat(); err == nil {
		from = fi.Size()
	}
	fmt.Fprintf(f, "=== devstack %s %s: %s\n", time.Now().Format(time.RFC3339), name, strings.Join(cmd.Args, " "))
	cmd.Stdin = nil
	cmd.Stdout = f
	cmd.Stderr = f

	c, err := child.Start(cmd)
	f.Close() // the child has its own copy
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFrom: from, c: c, done: c.Done}
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the child's process group, then SIGKILL after grace,
// and waits until the child has been reaped.
func (p *proc) stop(grace time.Duration) error {
	pgid := p.pid() // Setpgid: the group id is the child's pid
	if !p.exited() {
		if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: %w", p.name, err)
		}
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	// Anything the child left in its group goes too.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: kill group: %w", p.name, err)
	}
	return nil
}

// logTail returns the end of what the child wrote in this run, formatted
// for an error message.
func (p *proc) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 4000
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max64(p.logFrom, fi.Size()-max)
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	if len(b) == 0 {
		return ""
	}
	return "\nlast lines of " + p.logPath + ":" + tail(b)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// waitReady polls the service until it answers over HTTP, the child exits,
// readyTimeout passes, or ctx is done.
func waitReady(ctx context.Context, p *proc, port int, spec serviceSpec) error {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, spec.probePath)
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		switch probe(ctx, client, url, spec) {
		case probeReady:
			return nil
		case probeForeign:
			p.exitedEarly = true // retry on another port, as for a lost bind
			return fmt.Errorf("start %s on 127.0.0.1:%d: %w", spec.name, port, errForeign)
		}
		select {
		case <-p.done:
			p.exitedEarly = true
			return fmt.Errorf("start %s: exited before answering on 127.0.0.1:%d (%w)%s", spec.name, port, p.c.Err, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("start %s: %w", spec.name, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("start %s: no answer on %s within %s%s", spec.name, url, readyTimeout, p.logTail())
		case <-tick.C:
		}
	}
}

type probeResult int

const (
	probeNotYet probeResult = iota
	probeReady
	probeForeign
)

func probe(ctx context.Context, client *http.Client, url string, spec serviceSpec) probeResult {
	method, body := http.MethodGet, io.Reader(nil)
	if spec.target != "" {
		method, body = http.MethodPost, strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return probeNotYet
	}
	if spec.target != "" {
		req.Header.Set("X-Amz-Target", spec.target)
		req.Header.Set("Content-Type", spec.jsonType)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=devstack/20260101/us-east-1/probe/aws4_request, SignedHeaders=host, Signature=0")
	}
	resp, err := client.Do(req)
	if err != nil {
		return probeNotYet
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	switch {
	case spec.target != "" && resp.StatusCode == http.StatusOK && strings.Contains(string(b), spec.want):
		return probeReady
	case spec.target != "":
		return probeForeign
	case !spec.need2xx || resp.StatusCode/100 == 2:
		return probeReady
	}
	return probeNotYet
}

// childEnv is the parent's environment without anything that could point a
// stand-in at real AWS or outside services, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "KMS_"),
			name == "SMTP_TRANSPORT", name == "PORT", name == "ACCOUNT_ID",
			name == "REGION", name == "DATA_PATH", name == "SEED_PATH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func logPath(dirs layout, name string) string { return filepath.Join(dirs.logs, name+".log") }
