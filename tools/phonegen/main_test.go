package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTablesAreCurrent regenerates the numbering plans and wants
// shared/phone/plans_gen.go to be exactly that, so that an upgrade of
// github.com/nyaruka/phonenumbers cannot leave shared/phone reading with
// the old plans.
func TestTablesAreCurrent(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "shared", "phone", "plans_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("shared/phone/plans_gen.go is stale: run `make phonegen` and commit the result")
	}
}
