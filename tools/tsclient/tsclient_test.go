// Package tsclient holds a small TypeScript client of the API (client.ts)
// and the test that keeps the OpenAPI document usable by client teams: it
// generates TypeScript types from the document with openapi-typescript and
// type-checks the client against them with tsc, both pinned in
// tools/toolchain.
package tsclient

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadluence/backend/functions/apidoc"
	"github.com/leadluence/backend/tools/devstack"
)

// TestClientTypeChecks generates api.d.ts from the OpenAPI document and
// runs `tsc --noEmit` over it and client.ts. Node is part of the toolchain
// (make test needs it for the stand-ins), so this never skips.
func TestClientTypeChecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := devstack.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := devstack.NodeBin(ctx, root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := apidoc.Document()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// The client and its tsconfig next to the generated types, in a
	// scratch folder: nothing generated lands in the repository.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"client.ts", "tsconfig.json"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), src, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("openapi-typescript", "openapi.json", "-o", "api.d.ts")
	run("tsc", "--noEmit", "-p", "tsconfig.json")
}
