package dynamostore_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/dynamostore"
)

// itemStructs finds the item structs of the package: struct types with a
// field tagged dynamodbav:"PK".
func itemStructs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				if fld.Tag == nil {
					continue
				}
				tag, _ := strconv.Unquote(fld.Tag.Value)
				if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("dynamodbav"), ","); name == "PK" {
					out[ts.Name.Name] = true
				}
			}
			return true
		})
	}
	return out
}

func TestDataMapCoversEveryItemStruct(t *testing.T) {
	structs := itemStructs(t)
	if len(structs) == 0 {
		t.Fatal("no item structs found")
	}
	covered := map[string]bool{}
	names := map[string]bool{}
	for _, k := range dynamostore.DataMap() {
		if names[k.Name] {
			t.Errorf("item kind %q declared twice", k.Name)
		}
		names[k.Name] = true
		if n := k.StructName(); n != "" {
			if !structs[n] {
				t.Errorf("item kind %q: %s is not an item struct of the package", k.Name, n)
			}
			covered[n] = true
		}
		if len(k.Retention) == 0 {
			t.Errorf("item kind %q has no retention rule (shared/dynamostore/datamap.go)", k.Name)
		}
		if k.PK == "" || k.SK == "" || k.Readers == "" {
			t.Errorf("item kind %q: key pattern or readers missing", k.Name)
		}
	}
	for n := range structs {
		if !covered[n] {
			t.Errorf("item struct %s has no entry in the data map (shared/dynamostore/datamap.go)", n)
		}
	}
}

func TestDataMapClassifiesEveryField(t *testing.T) {
	for _, k := range dynamostore.DataMap() {
		attrs := map[string]bool{}
		for _, a := range k.Attributes() {
			attrs[a] = true
			f, ok := k.Fields[a]
			if !ok {
				t.Errorf("item kind %q: attribute %s has no personal/source classification (shared/dynamostore/datamap.go)", k.Name, a)
				continue
			}
			if f.Source == 0 {
				t.Errorf("item kind %q: attribute %s has no source", k.Name, a)
			}
		}
		for name, f := range k.Fields {
			if !attrs[name] && !f.UpdateOnly {
				t.Errorf("item kind %q: classified attribute %s is not a field of %s (stale, or mark it UpdateOnly)", k.Name, name, k.StructName())
			}
		}
	}
}
