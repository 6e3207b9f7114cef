package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are packages the webhook must not link, with everything under
// them: it only verifies and enqueues, and each of these costs binary size
// and cold-start time (phonenumbers builds its metadata in init). The
// queue contract it shares with ingest is in shared/intakemsg for this
// reason.
var forbidden = []string{
	"github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams",
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb",
	"github.com/nyaruka/phonenumbers",
	"github.com/leadluence/backend/shared/dynamostore",
	"github.com/leadluence/backend/shared/intake",
	"github.com/leadluence/backend/shared/lead",
}

// TestLinksNeitherStorageNorPhoneNumbers lists the webhook binary's
// dependencies as it is deployed (linux, tag lambda.norpc) and fails on
// any forbidden one, naming the packages that import it.
func TestLinksNeitherStorageNorPhoneNumbers(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			stderr = exit.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	importers := map[string][]string{}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		deps = append(deps, fields[0])
		for _, imp := range fields[1:] {
			importers[imp] = append(importers[imp], fields[0])
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed only %d packages:\n%s", len(deps), out)
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("the webhook links %s (imported by %s)", dep, strings.Join(importers[dep], ", "))
			}
		}
	}
}
