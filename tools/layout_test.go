// Package tools_test guards the house rules: the line between the product
// and its tooling (layout_test.go), where the store and the AWS SDK may be
// imported and that the API doc names every route (house_test.go). Below:
// the code that is deployed (functions/, shared/) imports nothing from
// tools/ or infra/. Tests may: a _test.go file is not deployed.
package tools_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/leadluence/backend/"

func TestProductImportsNoTooling(t *testing.T) {
	for _, dir := range []string{"functions", "shared"} {
		root := filepath.Join("..", dir)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, module+"tools/") || strings.HasPrefix(p, module+"infra/") || p == module+"infra" {
					t.Errorf("%s imports %s: code that is deployed must not import tooling or the CDK app", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
