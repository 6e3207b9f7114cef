package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/tools/child"
)

// loadAppSecret signs the run's webhooks: the runner takes it as the Meta
// app secret (LEADLUENCE_META_APP_SECRET) and the simulator signs with it.
const loadAppSecret = "load-app-secret" //nolint:gosec // G101: a local-only value

// dataDir is the run's data folder, relative to the repository root
// (the runner's -data); it is wiped before the run and, unless -keep,
// after it.
const dataDir = ".cache/load-run"

// system is the running local system: the runner child and the simulator.
type system struct {
	root    string
	base    string // http://127.0.0.1:<port>
	hookURL string
	// ctlURL is the runner's control (tools/dev demo.go): POST /plan.
	ctlURL  string
	sim     *metatest.Server
	proc    *child.Process
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	keep    bool
}

// freeAddr returns a free loopback address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startSystem starts the simulator and the runner and waits until the API
// answers its health check.
func startSystem(ctx context.Context, root, devBin string, keep bool) (*system, error) {
	if _, err := os.Stat(devBin); err != nil {
		return nil, fmt.Errorf("the dev runner %s: %w (make load builds it: go build -o %s ./tools/dev)", devBin, err, devBin)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ctl, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &system{root: root, base: "http://" + addr, ctlURL: "http://" + ctl, keep: keep}
	s.hookURL = s.base + "/webhooks/meta"
	if err := os.RemoveAll(filepath.Join(root, dataDir)); err != nil {
		return nil, fmt.Errorf("wipe %s: %w", dataDir, err)
	}
	if err := os.MkdirAll(filepath.Join(root, dataDir), 0o755); err != nil {
		return nil, fmt.Errorf("make %s: %w", dataDir, err)
	}
	s.logPath = filepath.Join(root, ".cache", "load-dev.log")
	if s.logFile, err = os.Create(s.logPath); err != nil {
		return nil, fmt.Errorf("runner log: %w", err)
	}
	// The simulator reports every accepted send to the webhook, as
	// WhatsApp does, a little faster than make dev's (which slows them so
	// each tick shows).
	s.sim = metatest.New(metatest.Options{AppSecret: []byte(loadAppSecret), StatusWebhook: metatest.StatusWebhook{URL: s.hookURL}})
	s.cmd = exec.Command(devBin, "-addr", addr, "-data", dataDir, "-demo-addr", ctl, "-free-ports")
	s.cmd.Dir = root
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	s.cmd.Env = append(os.Environ(),
		"LEADLUENCE_GRAPH_BASE_URL="+s.sim.URL, "LEADLUENCE_GRAPH_VERSION="+s.sim.Version(),
		"LEADLUENCE_META_APP_SECRET="+loadAppSecret, "LEADLUENCE_PUBLIC_BASE_URL="+s.base)
	say("starting the system (%s, stand-ins on free ports, data in %s; its output in %s) ...", s.base, dataDir, s.logPath)
	if s.proc, err = child.Start(s.cmd); err != nil {
		s.sim.Close()
		s.logFile.Close()
		return nil, fmt.Errorf("start the dev runner: %w", err)
	}
	if err := s.waitHealthy(ctx); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// waitHealthy polls GET /v1/health until it answers 200.
func (s *system) waitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	begin := time.Now()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/health", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				say("system up in %s", time.Since(begin).Round(100*time.Millisecond))
				return nil
			}
		}
		select {
		case <-s.proc.Done:
			if s.proc.Err == nil {
				return fmt.Errorf("the dev runner exited before it served (see %s)", s.logPath)
			}
			return fmt.Errorf("the dev runner exited before it served (see %s): %w", s.logPath, s.proc.Err)
		case <-ctx.Done():
			return fmt.Errorf("the system did not answer /v1/health: %w (see %s)", ctx.Err(), s.logPath)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop interrupts the runner (it stops its stand-ins), kills its process
// group if it has not exited within 30 s, closes the simulator and wipes
// the data folder unless kept.
func (s *system) stop() error {
	var err error
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.proc.Done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.proc.Done
			err = errors.New("the dev runner did not stop within 30 s of SIGINT: killed")
		}
	}
	s.sim.Close()
	s.logFile.Close()
	if !s.keep {
		if rerr := os.RemoveAll(filepath.Join(s.root, dataDir)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", dataDir, rerr))
		}
	}
	return err
}

// machine describes the host: CPUs and model, OS and architecture.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	s := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if model != "" {
		s += " (" + model + ")"
	}
	return s + ", " + runtime.GOOS + "/" + runtime.GOARCH + ", " + runtime.Version()
}

// loadAvg is the one-minute load average, or 0 where it is not known.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// setPlan puts an org on a plan through the runner's control.
func (s *system) setPlan(ctx context.Context, orgID, plan string) error {
	body, err := json.Marshal(map[string]string{"org_id": orgID, "plan": plan})
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	// The runner starts its control right after the API: a refused
	// connection is tried again for a while.
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ctlURL+"/plan", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("put org %s on %s: %w", orgID, plan, err)
		}
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("put org %s on %s: %w", orgID, plan, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("put org %s on %s: %d %s", orgID, plan, resp.StatusCode, msg)
	}
	return nil
}
