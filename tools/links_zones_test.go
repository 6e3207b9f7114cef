package tools_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// zoneCallersExempt call time.LoadLocation in a function's binary without
// the function ever evaluating a zone: the config library parses a
// time.Location field, and no config struct (shared/config) has one.
var zoneCallersExempt = []string{
	"github.com/caarlos0/env/v11.parseLocation",
}

// TestFunctionsWithZonesEmbedTzdata builds each function as it is deployed
// (linux, tag lambda.norpc, with symbols) and fails when code of the
// function's own or of a module dependency calls time.LoadLocation while
// the binary does not embed time/tzdata: the provided.al2023 runtime has
// no zoneinfo, so every zone but UTC would fail to load there.
func TestFunctionsWithZonesEmbedTzdata(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	// The exemption holds while no config field is a zone.
	configs, err := filepath.Glob("../shared/config/*.go")
	if err != nil || len(configs) == 0 {
		t.Fatalf("shared/config sources: %v (%d files)", err, len(configs))
	}
	for _, f := range configs {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, "_test.go") && strings.Contains(string(src), "time.Location") {
			t.Errorf("%s has a time.Location field: the config library loads it with time.LoadLocation, so every function needs time/tzdata (drop the exemption)", f)
		}
	}
	entries, err := os.ReadDir("../functions")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var found atomic.Int32
	t.Cleanup(func() {
		// The api checks timezone names: a listing that finds no caller
		// anywhere is a broken listing, not a fleet without zones.
		if found.Load() == 0 && !t.Failed() {
			t.Error("found no function calling time.LoadLocation; is the objdump listing read right?")
		}
	})
	for _, e := range entries {
		fn := e.Name()
		if _, err := os.Stat(filepath.Join("..", "functions", fn, "main.go")); !e.IsDir() || err != nil {
			continue
		}
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(dir, fn)
			build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, ".")
			build.Dir = "../functions/" + fn
			build.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			callers, err := zoneCallers(bin)
			if err != nil {
				t.Fatal(err)
			}
			callers = slices.DeleteFunc(callers, func(c string) bool { return slices.Contains(zoneCallersExempt, c) })
			if len(callers) == 0 {
				return
			}
			found.Add(1)
			nm, err := exec.Command("go", "tool", "nm", bin).Output()
			if err != nil {
				t.Fatalf("go tool nm: %v", err)
			}
			if !strings.Contains(string(nm), " time/tzdata.") {
				t.Errorf("%s calls time.LoadLocation (in %s) but does not link time/tzdata: import _ \"time/tzdata\" in functions/%s/main.go",
					fn, strings.Join(callers, ", "), fn)
			}
		})
	}
}

// textSym and loadLocationCall read go tool objdump's output: the symbol
// each listing is of, and a call of time.LoadLocation.
var (
	textSym          = regexp.MustCompile(`^TEXT (\S+)\(SB\)`)
	loadLocationCall = regexp.MustCompile(`CALL time\.LoadLocation\(SB\)`)
)

// zoneCallers lists the functions of bin outside the standard library (a
// main package or a module path) whose code calls time.LoadLocation, with
// what the compiler inlined into them.
func zoneCallers(bin string) ([]string, error) {
	out, err := exec.Command("go", "tool", "objdump", "-s", `^(main\.|[a-z0-9-]+\.[a-z0-9.-]+/)`, bin).Output()
	if err != nil {
		return nil, err
	}
	var callers []string
	sym := ""
	for _, line := range strings.Split(string(out), "\n") {
		if m := textSym.FindStringSubmatch(line); m != nil {
			sym = m[1]
			continue
		}
		if loadLocationCall.MatchString(line) && !slices.Contains(callers, sym) {
			callers = append(callers, sym)
		}
	}
	return callers, nil
}
