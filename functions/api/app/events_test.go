package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/logging"
)

func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "api", name))
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

// TestRoutesMatchTopology proves that the API serves exactly the routes the
// topology declares (and so the CDK stack and the local runner expose), and
// that the public ones are exactly those without a bearer requirement.
func TestRoutesMatchTopology(t *testing.T) {
	e := newEnv(t)
	srv, err := app.NewServer(context.Background(), e.cfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	served := srv.Routes()
	fn, _ := topology.Default().Function("api")
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
		t.Fatalf("served routes differ from the topology:\nserved   %v\ndeclared %v", served, declared)
	}
	openapiPublic := []string{"GET /openapi.json"}
	for path, item := range srv.OpenAPI().Paths {
		ops := map[string]bool{}
		if item.Get != nil {
			ops["GET"] = len(item.Get.Security) == 0
		}
		if item.Post != nil {
			ops["POST"] = len(item.Post.Security) == 0
		}
		if item.Patch != nil {
			ops["PATCH"] = len(item.Patch.Security) == 0
		}
		if item.Delete != nil {
			ops["DELETE"] = len(item.Delete.Security) == 0
		}
		if item.Put != nil {
			ops["PUT"] = len(item.Put.Security) == 0
		}
		// Every operation says who may call it: the document carries
		// `security: []` on the public ones rather than nothing.
		for m, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
			if op != nil && op.Security == nil {
				t.Errorf("%s %s declares no security: set httpapi.BearerSecurity or httpapi.PublicSecurity", m, path)
			}
		}
		for m, isPublic := range ops {
			if isPublic {
				openapiPublic = append(openapiPublic, m+" "+path)
			}
		}
	}
	sort.Strings(openapiPublic)
	sort.Strings(public)
	if !slices.Equal(openapiPublic, public) {
		t.Fatalf("public routes differ:\nserved   %v\ndeclared %v", openapiPublic, public)
	}
}

// TestOpenAPIWithoutAWS proves that app.OpenAPI (what `make lint` lints and
// the TypeScript client is generated from) is the document the API serves.
func TestOpenAPIWithoutAWS(t *testing.T) {
	e := newEnv(t)
	srv, err := app.NewServer(context.Background(), e.cfg, logging.New(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	offline, err := app.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(srv.OpenAPI())
	got, _ := json.Marshal(offline)
	if string(got) != string(want) {
		t.Errorf("app.OpenAPI() differs from the served document (%d vs %d bytes)", len(got), len(want))
	}
	var doc struct {
		Servers []map[string]any `json:"servers"`
		Info    struct {
			License map[string]any `json:"license"`
		} `json:"info"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 || doc.Info.License["name"] == nil {
		t.Errorf("document servers %v, license %v: want both", doc.Servers, doc.Info.License)
	}
}
