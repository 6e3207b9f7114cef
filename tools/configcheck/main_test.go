package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestLoadersMatchFunctions checks that every function under functions/ has
// a loader, of the configuration type its app.New takes.
func TestLoadersMatchFunctions(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	newCfg := regexp.MustCompile(`func New\(ctx context\.Context, cfg config\.(\w+)`)
	seen := map[string]bool{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		fn := d.Name()
		if _, err := os.Stat(filepath.Join("..", "..", "functions", fn, "main.go")); err != nil {
			continue // functions/httpfn, functions/apidoc: wiring the functions share
		}
		seen[fn] = true
		src, err := os.ReadFile(filepath.Join("..", "..", "functions", fn, "app", "app.go"))
		if err != nil {
			t.Fatal(err)
		}
		m := newCfg.FindSubmatch(src)
		if m == nil {
			t.Errorf("%s: app.New takes no config.X", fn)
			continue
		}
		load, ok := loaders[fn]
		if !ok {
			t.Errorf("%s: no loader", fn)
			continue
		}
		// The loader's type: load[config.X] returns a config.X.
		cfg, _ := load(map[string]string{})
		if got := reflect.TypeOf(cfg).Name(); got != string(m[1]) {
			t.Errorf("%s: loader loads config.%s, app.New takes config.%s", fn, got, m[1])
		}
	}
	for fn := range loaders {
		if !seen[fn] {
			t.Errorf("loader for %s, which is not under functions/", fn)
		}
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	in := `{"retention": {"LEADLUENCE_TABLE": "t"}, "backfill": {"LEADLUENCE_TABLE": "t"}, "nope": {}}`
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"retention: ok", "backfill: load config:", "LEADLUENCE_KEY_ID", "nope: no configuration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
