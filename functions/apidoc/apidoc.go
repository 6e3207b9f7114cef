// Package apidoc builds the whole HTTP API's OpenAPI document: the routes
// of both HTTP functions (api and account) registered on one server built
// without any AWS call. It is what the api serves at GET /openapi.json
// (embedded, gzipped, in functions/api/app: `make openapi` writes it, and
// a test here fails when it is stale), what `make lint` lints and what the
// TypeScript client is generated from. Only tools and tests import it: a
// function's binary links its own areas only.
package apidoc

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"

	"github.com/danielgtaylor/huma/v2"

	account "github.com/leadluence/backend/functions/account/app"
	api "github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/functions/httpfn"
	"github.com/leadluence/backend/shared/httpapi"
)

// EmbeddedPath is the embedded document's file, relative to the
// repository root.
const EmbeddedPath = "functions/api/app/openapi.json.gz"

// Server returns a server with every route of the API, built without AWS.
func Server() (*httpapi.Server, error) {
	srv, err := httpfn.Offline(api.Register, account.Register)
	if err != nil {
		return nil, fmt.Errorf("build the whole api: %w", err)
	}
	return srv, nil
}

// Document returns the whole API's OpenAPI document.
func Document() (*huma.OpenAPI, error) {
	srv, err := Server()
	if err != nil {
		return nil, err
	}
	return srv.OpenAPI(), nil
}

// JSON returns the document as the api serves it.
func JSON() ([]byte, error) {
	doc, err := Document()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the document: %w", err)
	}
	return append(b, '\n'), nil
}

// Gzip returns the document gzipped as EmbeddedPath holds it.
func Gzip() ([]byte, error) {
	b, err := JSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip the document: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip the document: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip the document: %w", err)
	}
	return buf.Bytes(), nil
}
