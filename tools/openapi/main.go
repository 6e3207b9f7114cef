// Command openapi prints the HTTP API's OpenAPI document (what the api
// serves at GET /openapi.json: the routes of both HTTP functions, api and
// account), generated from the code without a running server or any AWS
// call (functions/apidoc): `go run ./tools/openapi > openapi.json`,
// or `-out FILE`. With -embed it writes the gzipped document the api
// embeds (functions/api/app/openapi.json.gz): what `make openapi` runs.
//
// With -lint it writes the document to .cache/openapi.json and lints it
// with the Redocly CLI pinned in tools/toolchain (installed on first use),
// with its recommended rules as errors (recommended-strict): what
// `make lint` runs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/leadluence/backend/functions/apidoc"
	"github.com/leadluence/backend/tools/devstack"
)

func main() {
	out := flag.String("out", "", "write the document to this file instead of stdout")
	lint := flag.Bool("lint", false, "write the document to .cache/openapi.json and lint it with the pinned Redocly CLI")
	embed := flag.Bool("embed", false, "write the gzipped document the api embeds ("+apidoc.EmbeddedPath+")")
	flag.Parse()
	var err error
	switch {
	case *lint:
		err = runLint(context.Background())
	case *embed:
		err = writeEmbedded()
	default:
		err = write(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

// Document returns the OpenAPI document as indented JSON.
func document() ([]byte, error) {
	doc, err := apidoc.Document()
	if err != nil {
		return nil, fmt.Errorf("build the document: %w", err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the document: %w", err)
	}
	return append(b, '\n'), nil
}

func writeEmbedded() error {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	b, err := apidoc.Gzip()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, apidoc.EmbeddedPath), b, 0o644); err != nil {
		return fmt.Errorf("write the embedded document: %w", err)
	}
	return nil
}

func write(out string) error {
	b, err := document()
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(b)
	} else {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write the document: %w", err)
	}
	return nil
}

func runLint(ctx context.Context) error {
	root, err := devstack.Root()
	if err != nil {
		return err
	}
	bin, err := devstack.NodeBin(ctx, root, os.Stderr)
	if err != nil {
		return err
	}
	b, err := document()
	if err != nil {
		return err
	}
	path := filepath.Join(root, ".cache", "openapi.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write the document: %w", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "redocly"), "lint", "--extends", "recommended-strict", "--format", "stylish", path)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("redocly lint %s: %w", path, err)
	}
	return nil
}
