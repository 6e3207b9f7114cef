package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/danielgtaylor/huma/v2"

	accountapp "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/functions/apidoc"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/logging"
)

// loadEvent reads a sample event of either HTTP function (events/api,
// events/account).
func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "api", name))
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = os.ReadFile(filepath.Join("..", "..", "..", "events", "account", name))
	}
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// TestGoldenEvents feeds the sample events to the Lambda handler exactly as
// Lambda would.
func TestGoldenEvents(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		file        string
		status      int
		contentType string
		check       func(t *testing.T, body map[string]any)
	}{
		{"health.json", 200, "application/json", func(t *testing.T, b map[string]any) {
			checks := b["checks"].(map[string]any)
			for _, name := range []string{"table", "queue_intake", "queue_outbound", "queue_purges", "key"} {
				if checks[name] != "ok" {
					t.Errorf("health check %s = %v", name, checks[name])
				}
			}
		}},
		{"openapi.json", 200, "application/vnd.oai.openapi+json", func(t *testing.T, b map[string]any) {
			if b["openapi"] != "3.1.0" {
				t.Errorf("openapi version %v", b["openapi"])
			}
		}},
		{"signup.json", 201, "application/json", func(t *testing.T, b map[string]any) {
			if b["token_type"] != "Bearer" {
				t.Errorf("signup body %v", b)
			}
		}},
		{"signup.json", 409, "application/problem+json", nil},
		{"signup-base64.json", 201, "application/json", nil},
		{"login-wrong-password.json", 401, "application/problem+json", nil},
		{"leads-list-no-token.json", 401, "application/problem+json", nil},
	}
	for _, tt := range tests {
		resp, err := e.handler(context.Background(), loadEvent(t, tt.file))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Headers["Content-Type"], tt.contentType) {
			t.Fatalf("%s: %d %q, want %d %q; body %s", tt.file, resp.StatusCode, resp.Headers["Content-Type"], tt.status, tt.contentType, resp.Body)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("%s: body is not JSON: %v", tt.file, err)
		}
		if tt.check != nil {
			tt.check(t, body)
		}
	}
}

// TestRoutesMatchTopology proves that each HTTP function (api and
// account) serves exactly the routes the topology declares for it (and so
// the CDK stack and the local runner route to it), and that the public
// ones are exactly those without a bearer requirement.
func TestRoutesMatchTopology(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	apiSrv, err := app.NewServer(ctx, e.cfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	accountSrv, err := accountapp.NewServer(ctx, e.accountCfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	for name, srv := range map[string]*httpapi.Server{"api": apiSrv, "account": accountSrv} {
		served := srv.Routes()
		fn, _ := topology.Default().Function(name)
		var declared, public []string
		for _, r := range fn.Routes {
			declared = append(declared, r.Key())
			if r.Public {
				public = append(public, r.Key())
			}
		}
		sort.Strings(served)
		sort.Strings(declared)
		if !slices.Equal(served, declared) {
			t.Fatalf("%s: served routes differ from the topology:\nserved   %v\ndeclared %v", name, served, declared)
		}
		var openapiPublic []string
		if slices.Contains(served, "GET /openapi.json") {
			openapiPublic = append(openapiPublic, "GET /openapi.json")
		}
		for path, item := range srv.OpenAPI().Paths {
			// Every operation says who may call it: the document carries
			// `security: []` on the public ones rather than nothing.
			for m, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
				if op == nil {
					continue
				}
				if op.Security == nil {
					t.Errorf("%s %s declares no security: set httpapi.BearerSecurity or httpapi.PublicSecurity", m, path)
				}
				if len(op.Security) == 0 {
					openapiPublic = append(openapiPublic, m+" "+path)
				}
			}
		}
		sort.Strings(openapiPublic)
		sort.Strings(public)
		if !slices.Equal(openapiPublic, public) {
			t.Fatalf("%s: public routes differ:\nserved   %v\ndeclared %v", name, openapiPublic, public)
		}
	}
}

// TestOpenAPIWithoutAWS proves that the document the api serves at GET
// /openapi.json is apidoc's (what `make lint` lints and the TypeScript
// client is generated from), and that it describes every operation of
// both functions, each as the function serving it documents it.
func TestOpenAPIWithoutAWS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.do(t, "GET", "/openapi.json", "", nil)
	expect(t, r, 200)
	want, err := apidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if r.Raw != string(want) {
		t.Errorf("the served document differs from apidoc.JSON() (%d vs %d bytes)", len(r.Raw), len(want))
	}
	whole, err := apidoc.Document()
	if err != nil {
		t.Fatal(err)
	}
	apiSrv, err := app.NewServer(ctx, e.cfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	accountSrv, err := accountapp.NewServer(ctx, e.accountCfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for _, srv := range []*httpapi.Server{apiSrv, accountSrv} {
		for path, item := range srv.OpenAPI().Paths {
			for m, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
				if op == nil {
					continue
				}
				parts++
				w := whole.Paths[path]
				var wop *huma.Operation
				if w != nil {
					wop = map[string]*huma.Operation{"GET": w.Get, "POST": w.Post, "PUT": w.Put, "PATCH": w.Patch, "DELETE": w.Delete}[m]
				}
				if wop == nil {
					t.Errorf("%s %s: served but not in the whole document", m, path)
					continue
				}
				if wop.OperationID != op.OperationID {
					t.Errorf("%s %s: operation %s, the whole document says %s", m, path, op.OperationID, wop.OperationID)
				}
			}
		}
	}
	total := 0
	for _, item := range whole.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				total++
			}
		}
	}
	if parts != total {
		t.Errorf("the functions serve %d operations, the whole document has %d", parts, total)
	}
	var doc struct {
		Servers []map[string]any `json:"servers"`
		Info    struct {
			License map[string]any `json:"license"`
		} `json:"info"`
	}
	if err := json.Unmarshal(want, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 || doc.Info.License["name"] == nil {
		t.Errorf("document servers %v, license %v: want both", doc.Servers, doc.Info.License)
	}
}
