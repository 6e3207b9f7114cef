package tools_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each function links only what it uses: the packages below, with
// everything under them, are kept out of a function's binary because each
// costs binary size and cold-start time (intake and the use cases pull in
// the Graph client) and the function has no use for them. The webhook only
// verifies, looks up the owners of pages and numbers with the DynamoDB
// client and enqueues (the queue contract it shares with ingest is in
// shared/intakemsg for this reason); retention and sender never parse a
// phone number (the store's use-case port assertions live in a test file,
// and ErrDuplicate in intakemsg, for this reason). No function links
// github.com/nyaruka/phonenumbers or the protobuf runtime (linkedByNone):
// the library decodes every numbering plan in init, and protobuf, with
// fmt, makes the linker keep every exported method of every reachable type
// (docs/benchmarks.md, "Phone-number parsing and the linker");
// shared/phone reads numbers with generated plans instead, and only
// tools/phonegen and tests import the library. Nor does any function link
// the SDK's default config loader (github.com/aws/aws-sdk-go-v2/config) or
// what it brings for credential sources a Lambda never uses (STS, sign-in,
// SSO, SSO-OIDC, instance metadata, the credential-process and shared-file
// providers): functions build their config from the environment with
// shared/awsenv (docs/benchmarks.md, "The AWS config loader left out").
var forbidden = map[string][]string{
	"webhook": {
		"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams",
		"github.com/aws/aws-sdk-go-v2/feature/dynamodb",
		"github.com/leadluence/backend/shared/dynamostore",
		"github.com/leadluence/backend/shared/intake",
		"github.com/leadluence/backend/shared/lead",
	},
	"retention": {
		"github.com/leadluence/backend/shared/intake",
	},
	"sender": {
		"github.com/leadluence/backend/shared/intake",
	},
	// The HTTP API is two functions, each linking only its areas (huma's
	// per-route code is most of an HTTP function's size): the api serves
	// leads, messaging and campaigns, the account function identity, org
	// settings, integrations, data-subject requests and the one-click
	// unsubscribe. Neither links the other (functions/apidoc builds the
	// whole document for tools and tests only).
	"api": {
		"github.com/leadluence/backend/shared/httpapi/identity",
		"github.com/leadluence/backend/shared/httpapi/org",
		"github.com/leadluence/backend/shared/httpapi/integrations",
		"github.com/leadluence/backend/shared/httpapi/privacy",
		"github.com/leadluence/backend/shared/httpapi/oneclick",
		"github.com/leadluence/backend/functions/account",
		"github.com/leadluence/backend/functions/apidoc",
	},
	"account": {
		"github.com/leadluence/backend/shared/httpapi/leads",
		"github.com/leadluence/backend/shared/httpapi/messaging",
		"github.com/leadluence/backend/shared/httpapi/campaigns",
		"github.com/leadluence/backend/functions/api",
		"github.com/leadluence/backend/functions/apidoc",
	},
}

// linkedByNone are forbidden in every function.
var linkedByNone = []string{
	"github.com/nyaruka/phonenumbers",
	"google.golang.org/protobuf",
	"github.com/aws/aws-sdk-go-v2/config",
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds",
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds",
	"github.com/aws/aws-sdk-go-v2/credentials/logincreds",
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds",
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds",
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds",
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
	"github.com/aws/aws-sdk-go-v2/internal/shareddefaults",
	"github.com/aws/aws-sdk-go-v2/service/sts",
	"github.com/aws/aws-sdk-go-v2/service/signin",
	"github.com/aws/aws-sdk-go-v2/service/sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc",
}

// TestFunctionsLinkOnlyWhatTheyUse lists each function's dependencies as
// it is deployed (linux, tag lambda.norpc) and fails on any forbidden one,
// naming the packages that import it.
func TestFunctionsLinkOnlyWhatTheyUse(t *testing.T) {
	entries, err := os.ReadDir("../functions")
	if err != nil {
		t.Fatal(err)
	}
	fns := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fn := e.Name()
		if _, err := os.Stat(filepath.Join("..", "functions", fn, "main.go")); err != nil {
			continue
		}
		fns++
		bad := append(append([]string{}, linkedByNone...), forbidden[fn]...)
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			checkLinks(t, "../functions/"+fn, bad)
		})
	}
	if fns < 6 {
		t.Fatalf("found only %d functions under functions/", fns)
	}
	for fn := range forbidden {
		if _, err := os.Stat(filepath.Join("..", "functions", fn, "main.go")); err != nil {
			t.Errorf("forbidden names function %s, which has no functions/%s/main.go", fn, fn)
		}
	}
}

func checkLinks(t *testing.T, dir string, forbidden []string) {
	cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".")
	cmd.Dir = dir
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
				t.Errorf("%s links %s (imported by %s)", dir, dep, strings.Join(importers[dep], ", "))
			}
		}
	}
}
