package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadluence/backend/shared/dynamostore"
)

func TestDataMapDocIsCurrent(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "data-map.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Render()) {
		t.Fatal("docs/data-map.md is stale: run `make datamap` and commit the result")
	}
}

// TestDataMapCoversTheDataModel: every item row of docs/data-model.md has
// a kind in the registry with its keys, and the other way round.
func TestDataMapCoversTheDataModel(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "data-model.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, items, _ := strings.Cut(string(doc), "\n## Items\n")
	items, _, _ = strings.Cut(items, "\n## ")
	rows := map[string]bool{}
	for _, line := range strings.Split(items, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[2]), "`") {
			continue
		}
		rows[firstCode(cells[2])+" "+firstCode(cells[3])] = true
	}
	if len(rows) == 0 {
		t.Fatal("no item rows found in docs/data-model.md")
	}
	kinds := map[string]bool{}
	for _, k := range dynamostore.DataMap() {
		key := "`" + k.PK + "` `" + k.SK + "`"
		kinds[key] = true
		if !rows[key] {
			t.Errorf("item kind %q (%s) is not a row of docs/data-model.md's item table", k.Name, key)
		}
	}
	for key := range rows {
		if !kinds[key] {
			t.Errorf("docs/data-model.md item %s has no kind in shared/dynamostore/datamap.go", key)
		}
	}
}

// firstCode is the first `quoted` span of a table cell, quotes included.
func firstCode(cell string) string {
	parts := strings.SplitN(cell, "`", 3)
	if len(parts) < 3 {
		return strings.TrimSpace(cell)
	}
	return "`" + parts[1] + "`"
}
