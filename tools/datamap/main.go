// Command datamap writes docs/data-map.md from the data map registry in
// shared/dynamostore (datamap.go): every item kind of the table, its
// attributes (taken from the item structs), which hold personal data,
// where they come from, which are encrypted, the retention rules and who
// reads the item. Run it with `make datamap`; a test fails when the file
// is stale.
//
//	go run ./tools/datamap -out docs/data-map.md
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("out", "docs/data-map.md", "`file` to write")
	flag.Parse()
	if err := os.WriteFile(*out, Render(), 0o644); err != nil { //nolint:gosec // a document in the repository
		fmt.Fprintln(os.Stderr, "datamap:", err)
		os.Exit(1)
	}
}
