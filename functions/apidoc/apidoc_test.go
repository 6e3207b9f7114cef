package apidoc_test

import (
	"bytes"
	"testing"

	api "github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/functions/apidoc"
)

// TestEmbeddedDocumentIsFresh proves that the document the api serves is
// the whole API's document as the code builds it now.
func TestEmbeddedDocumentIsFresh(t *testing.T) {
	want, err := apidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.Document()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%d bytes, want %d): run `make openapi`", apidoc.EmbeddedPath, len(got), len(want))
	}
}
