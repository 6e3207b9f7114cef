// Command invoke runs one function's bootstrap under the AWS Lambda Runtime
// Interface Emulator against the local AWS stand-ins, sends it one event and
// prints the response:
//
//	go run ./tools/invoke -fn api -event events/api/health.json
//
// `make invoke FN=api EVENT=...` runs it after `make build` has written
// bin/local/<fn>/bootstrap for the host architecture. It reuses the stack
// that tools/withstack describes in the environment, or else starts an
// ephemeral one and stops it at the end (also on Ctrl-C). It provisions the
// topology's resources under the prefix "invoke-", starts aws-lambda-rie on
// a free 127.0.0.1 port with the function's environment, posts the event and
// prints the response payload, indented, to stdout. The emulator's and the
// function's logs go to stderr (-logs=false hides them).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/leadluence/backend/tools/dev/params"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/invoke/rie"
	"github.com/leadluence/backend/tools/provision"
)

// prefix names the resources invoke provisions, apart from the tests' and
// the local runner's.
const prefix = "invoke-"

// envFlags collects repeated -env KEY=VALUE flags.
type envFlags map[string]string

func (e envFlags) String() string { return fmt.Sprint(map[string]string(e)) }

func (e envFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	e[k] = v
	return nil
}

func main() {
	fnName := flag.String("fn", "api", "function `name` from infra/topology")
	event := flag.String("event", "", "`file` holding the JSON event to send (required)")
	logs := flag.Bool("logs", true, "copy the emulator's and the function's output to stderr")
	extra := envFlags{}
	flag.Var(extra, "env", "extra `KEY=VALUE` for the function's environment (repeatable), e.g. GODEBUG=inittrace=1")
	flag.Parse()
	if *event == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: invoke -fn NAME -event FILE [-env KEY=VALUE]... [-logs=false]")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var stderr io.Writer
	if *logs {
		stderr = os.Stderr
	}
	out, err := run(ctx, *fnName, *event, extra, stderr)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		fmt.Fprintf(os.Stderr, "invoke: %v\n", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		os.Exit(1)
	}
	if isFunctionError(out) {
		os.Exit(1)
	}
}

// run does the work and returns the indented response; every resource it
// starts is stopped before it returns.
func run(ctx context.Context, fnName, eventFile string, extra map[string]string, logs io.Writer) (_ []byte, err error) {
	root, err := devstack.Root()
	if err != nil {
		return nil, err
	}
	st := topology.Default()
	fn, ok := st.Function(fnName)
	if !ok {
		names := make([]string, 0, len(st.Functions))
		for _, f := range st.Functions {
			names = append(names, f.Name)
		}
		return nil, fmt.Errorf("no function %q in infra/topology (have: %s)", fnName, strings.Join(names, ", "))
	}
	bootstrap := filepath.Join(root, "bin", "local", fn.Name, "bootstrap")
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("%w (run `make build` first)", err)
	}
	payload, err := os.ReadFile(eventFile)
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("event %s is not valid JSON", eventFile)
	}
	rieBin, err := rie.Binary(ctx, root)
	if err != nil {
		return nil, err
	}

	stack, ok := devstack.FromEnv()
	if !ok {
		if stack, err = devstack.Start(ctx, devstack.Options{Progress: os.Stderr}); err != nil {
			return nil, err
		}
		defer func() {
			if serr := stack.Stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop local stack: %w", serr))
			}
		}()
	}
	if err := stack.Export(); err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	res, err := provision.Apply(ctx, awsCfg, st, prefix)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}

	// Deploy-time parameters (secrets as KMS ciphertext), made as make dev does.
	vals, err := params.Fill(ctx, kms.NewFromConfig(awsCfg), topology.Stack{Functions: []topology.Function{fn}}, res.KeyID)
	if err != nil {
		return nil, err
	}
	for _, p := range fn.Params {
		if extra == nil {
			extra = map[string]string{}
		}
		extra[p.Env] = vals[p.Env].Env
	}

	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := rie.StartReady(readyCtx, rie.Options{
		RIE:       rieBin,
		Bootstrap: bootstrap,
		Env:       rie.FunctionEnv(fn, stack.Env(), topology.ResourceEnv(fn, res), extra),
		Output:    logs,
	}, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := p.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	invokeCtx, cancel := context.WithTimeout(ctx, fn.Timeout+30*time.Second)
	defer cancel()
	resp, err := p.Invoke(invokeCtx, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, resp, "", "  "); err != nil {
		// Not JSON: print it as it came.
		return append(resp, '\n'), nil
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// isFunctionError reports whether a response payload is the error object
// the Lambda runtime returns when the handler fails.
func isFunctionError(payload []byte) bool {
	var e struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorType    *string `json:"errorType"`
	}
	return json.Unmarshal(payload, &e) == nil && e.ErrorMessage != nil && e.ErrorType != nil
}
