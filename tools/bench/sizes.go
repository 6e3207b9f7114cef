package main

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/leadluence/backend/infra/topology"
)

// sizeRow is one bootstrap's size.
type sizeRow struct {
	Name  string
	Path  string
	Bytes int64
}

// sizes returns the size of every function's bin/<fn>/bootstrap, checked to
// be a stripped linux/arm64 executable, and of the hello-world.
func sizes(root string, st topology.Stack, helloARM string) ([]sizeRow, error) {
	var rows []sizeRow
	add := func(name, path, rel string) error {
		if err := checkELF(path, "arm64"); err != nil {
			return fmt.Errorf("%w (run `make build` first)", err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("size of %s: %w", name, err)
		}
		rows = append(rows, sizeRow{Name: name, Path: rel, Bytes: fi.Size()})
		return nil
	}
	for _, fn := range st.Functions {
		rel := filepath.Join("bin", fn.Name, "bootstrap")
		if err := add(fn.Name, filepath.Join(root, rel), rel); err != nil {
			return nil, err
		}
	}
	if err := add("hello-world", helloARM, "tools/bench/hello, built into a temp dir"); err != nil {
		return nil, err
	}
	return rows, nil
}

// elfMachines maps GOARCH to the ELF machine of its executables.
var elfMachines = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}

// checkELF checks that path is a stripped linux executable for goarch.
func checkELF(path, goarch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[goarch]; ok && f.Machine != want {
		return fmt.Errorf("%s is built for %s, want %s (%s)", path, f.Machine, want, goarch)
	}
	if f.Section(".symtab") != nil {
		return fmt.Errorf("%s is not stripped (build it with -ldflags \"-s -w\")", path)
	}
	return nil
}

// machineInfo describes where the numbers were measured.
type machineInfo struct {
	CPUs      int
	CPUModel  string
	GoVersion string
	GOOS      string
	GOARCH    string
	Kernel    string
}

// machine describes this machine; fields it cannot find are left empty.
func machine(ctx context.Context) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if b, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
