package tools_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadluence/backend/infra/topology"
)

// imports lists, for every non-test Go file under root, the packages it
// imports.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err //nolint:wrapcheck // the path is in the parser's message
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[path] = append(out[path], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOnlyWiringBuildsTheStore: domain packages reach the table through
// their ports; the store is built only where a function is wired (and by
// tests and tools): functions/<fn>/app, and functions/httpfn, the wiring
// both HTTP functions share.
func TestOnlyWiringBuildsTheStore(t *testing.T) {
	wiring := regexp.MustCompile(`^\.\./functions/([a-z]+/app|httpfn)/`)
	for _, dir := range []string{"functions", "shared"} {
		for path, imps := range imports(t, filepath.Join("..", dir)) {
			if slices.Contains(imps, module+"shared/dynamostore") && !wiring.MatchString(path) &&
				!strings.HasPrefix(path, "../shared/dynamostore/") {
				t.Errorf("%s imports shared/dynamostore: only functions/<fn>/app and functions/httpfn wire the store", path)
			}
		}
	}
}

// adapters are the packages under shared/ that may import the AWS SDK.
var adapters = []string{"dynamostore", "sesmail", "sqsqueue", "envelope", "secret", "lambdamain", "awsenv"}

// TestOnlyAdaptersImportTheSDK: no package under shared/ other than an
// adapter imports the AWS SDK.
func TestOnlyAdaptersImportTheSDK(t *testing.T) {
	for path, imps := range imports(t, filepath.Join("..", "shared")) {
		pkg := strings.SplitN(strings.TrimPrefix(path, "../shared/"), "/", 2)[0]
		if slices.Contains(adapters, pkg) {
			continue
		}
		for _, p := range imps {
			if strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2") {
				t.Errorf("%s imports %s: only adapters (%s) talk to AWS", path, p, strings.Join(adapters, ", "))
			}
		}
	}
}

// TestAPIDocNamesEveryRoute: docs/api.md's route table names each route
// the topology declares, and no other.
func TestAPIDocNamesEveryRoute(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A table row's first cell holds `METHOD[/METHOD...] /path` items.
	item := regexp.MustCompile("`([A-Z]+(?:/[A-Z]+)*) (/[^`]*)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		for _, m := range item.FindAllStringSubmatch(cells[1], -1) {
			for _, method := range strings.Split(m[1], "/") {
				documented[method+" "+m[2]] = true
			}
		}
	}
	declared := map[string]bool{}
	for _, fn := range topology.Default().Functions {
		for _, r := range fn.Routes {
			declared[r.Key()] = true
			if !documented[r.Key()] {
				t.Errorf("docs/api.md does not name %s", r.Key())
			}
		}
	}
	for k := range documented {
		if !declared[k] {
			t.Errorf("docs/api.md names %s, which no function serves", k)
		}
	}
}
