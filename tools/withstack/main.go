// Command withstack runs a command against an ephemeral local AWS stack:
//
//	go run ./tools/withstack -- go test -count=1 ./...
//
// It starts the stand-ins (installing them on first use), runs the command
// with the stack's environment (devstack.Stack.Env) plus LEADLUENCE_DEVSTACK=1
// added, so every test package's devstack.RunTests reuses this one stack,
// then stops the stack and exits with the command's exit code. SIGINT and
// SIGTERM are passed on to the command; the stack is stopped once it exits.
// Real AWS credentials and profiles are removed from the command's
// environment. With LEADLUENCE_AWS_CALL_LOG set, the stack records the AWS
// calls made through it to that file (devstack.Options.CallLog); the
// variable is not passed on to the command.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leadluence/backend/tools/devstack"
)

// killAfter is how long the command gets to exit after a passed-on signal
// before it is killed.
const killAfter = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withstack -- <command> [args...]")
		return 2
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// A signal while the stack is starting aborts the start.
		select {
		case sig := <-sigs:
			sigs <- sig
			cancel()
		case <-ctx.Done():
		}
	}()
	stack, err := devstack.Start(ctx, devstack.Options{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "withstack: %v\n", err)
		return 1
	}
	defer func() {
		if err := stack.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "withstack: %v\n", err)
		}
	}()
	cancel()

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = commandEnv(stack)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "withstack: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var werr error
	var kill <-chan time.Time
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case sig := <-sigs:
			// A terminal Ctrl-C reaches the command directly (same process
			// group); passing it on covers signals sent to withstack alone.
			_ = cmd.Process.Signal(sig)
			if kill == nil {
				kill = time.After(killAfter)
			}
		case <-kill:
			_ = cmd.Process.Kill()
		}
	}
	return exitCode(werr)
}

// commandEnv is the current environment without real AWS credentials or
// profiles, plus the stack's Env and LEADLUENCE_DEVSTACK=1.
func commandEnv(s *devstack.Stack) []string {
	extra := s.Env()
	extra["LEADLUENCE_DEVSTACK"] = "1"
	drop := map[string]bool{
		"AWS_PROFILE": true, "AWS_DEFAULT_PROFILE": true, "AWS_SESSION_TOKEN": true, "AWS_SECURITY_TOKEN": true,
		"AWS_ROLE_ARN": true, "AWS_WEB_IDENTITY_TOKEN_FILE": true, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": true,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": true, "AWS_ENDPOINT_URL": true, "AWS_DEFAULT_REGION": true,
		// This stack records the calls; a stack the command starts itself
		// (devstack's own tests) must not empty the log.
		devstack.EnvCallLog: true,
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := extra[name]; ok || drop[name] {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// exitCode maps the command's wait error to withstack's exit status; a
// command killed by a signal gives 128+signal, as shells do.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "withstack: %v\n", err)
	return 1
}
