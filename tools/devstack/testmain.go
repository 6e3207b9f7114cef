package devstack

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// installTimeout bounds a cold Start from RunTests (npm ci and go build
// included).
const installTimeout = 10 * time.Minute

// RunTests is for TestMain in packages whose tests need the AWS stand-ins:
//
//	func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }
//
// It reuses the stack described by the environment (FromEnv, as under
// tools/withstack) or else starts an ephemeral one, exports Env() into the
// process environment, runs the tests, stops the stack it started, and
// returns the exit code. If the stack cannot start it prints why to stderr
// and returns 1: tests are never skipped silently.
//
// Real credentials and profiles (AWS_PROFILE, AWS_SESSION_TOKEN, ...) are
// removed from the environment so no test can reach real AWS by accident.
func RunTests(m *testing.M) int {
	if s, ok := FromEnv(); ok {
		if err := s.Export(); err != nil {
			fmt.Fprintln(os.Stderr, "devstack:", err)
			return 1
		}
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	s, err := Start(ctx, Options{Progress: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: cannot start the local AWS stack: %v\n", err)
		return 1
	}

	// On Ctrl-C or SIGTERM, stop the stack before dying so the temp dir
	// goes too (the children would die anyway via the parent-death signal).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		_ = s.Stop()
		fmt.Fprintf(os.Stderr, "devstack: stopped the local AWS stack on %v\n", sig)
		os.Exit(1)
	}()

	if err := s.Export(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		_ = s.Stop()
		return 1
	}
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "devstack: stop the local AWS stack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Export sets the stack's Env() in this process's environment and clears
// the variables that could point the SDK at a real AWS account instead (a
// profile, session or role). Tests, make dev, make invoke and make bench all
// export the stack this way.
func (s *Stack) Export() error {
	for _, k := range realCredentialVars {
		if err := os.Unsetenv(k); err != nil {
			return fmt.Errorf("unset %s: %w", k, err)
		}
	}
	for k, v := range s.Env() {
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return nil
}

// realCredentialVars are removed from environments pointed at the stack.
var realCredentialVars = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION",
}
