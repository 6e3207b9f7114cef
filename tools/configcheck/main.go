// Command configcheck loads each function's configuration (shared/config)
// from an environment given on stdin, and reports every variable missing or
// invalid:
//
//	echo '{"api": {"LEADLUENCE_TABLE": "t", ...}, ...}' | go run ./tools/configcheck
//
// The input names each function (topology Function.Name) with the
// environment it gets. infra/stack's tests run it with the environments the
// synthesized template gives the deployed functions, so a variable the
// configuration requires and the stack does not set fails there rather than
// at a cold start. It exits 1 when a configuration does not load or a
// function is unknown.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/leadluence/backend/shared/config"
)

// loaders loads each function's configuration, the type its
// functions/<fn>/app.New takes (main_test.go checks they agree).
var loaders = map[string]func(environ map[string]string) (any, error){
	"api":       load[config.API],
	"account":   load[config.Account],
	"webhook":   load[config.Webhook],
	"ingest":    load[config.Ingest],
	"backfill":  load[config.Backfill],
	"sender":    load[config.Sender],
	"retention": load[config.Retention],
	"importer":  load[config.Importer],
}

func load[T any](environ map[string]string) (any, error) {
	return config.LoadFrom[T](environ)
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var envs map[string]map[string]string
	if err := json.NewDecoder(in).Decode(&envs); err != nil {
		fmt.Fprintf(out, "configcheck: read environments: %v\n", err)
		return 2
	}
	names := make([]string, 0, len(envs))
	for name := range envs {
		names = append(names, name)
	}
	sort.Strings(names)
	code := 0
	for _, name := range names {
		load, ok := loaders[name]
		if !ok {
			fmt.Fprintf(out, "%s: no configuration known for this function (tools/configcheck loaders)\n", name)
			code = 1
			continue
		}
		if _, err := load(envs[name]); err != nil {
			fmt.Fprintf(out, "%s: %v\n", name, err)
			code = 1
			continue
		}
		fmt.Fprintf(out, "%s: ok\n", name)
	}
	return code
}
