package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/leadluence/backend/shared/auth"
	"github.com/leadluence/backend/shared/httpapi"
)

// TestDeferred checks the handler the api function serves: the health
// check is answered without building the server, a failed build answers
// 503 and is tried again by the next request, and concurrent first
// requests build the server once.
func TestDeferred(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	checks := []httpapi.Check{{Name: "table", Run: func(context.Context) error { return nil }}}
	tokens, err := auth.NewTokens(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var builds, failures atomic.Int32
	failures.Store(1)
	d := httpapi.NewDeferred(httpapi.Config{Log: log, Checks: checks}, func(context.Context) (*httpapi.Server, error) {
		builds.Add(1)
		if failures.Add(-1) >= 0 {
			return nil, errors.New("secret unreadable")
		}
		return httpapi.New(httpapi.Config{Tokens: tokens, Log: log, Checks: checks}), nil
	})
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET %s: %d %q: %v", path, rec.Code, rec.Body, err)
		}
		return rec.Code, body
	}

	if code, body := get("/v1/health"); code != http.StatusOK || body["status"] != "ok" || builds.Load() != 0 {
		t.Fatalf("health before the build: %d %v, %d builds; want 200 ok without a build", code, body, builds.Load())
	}
	if code, body := get("/openapi.json"); code != http.StatusServiceUnavailable || body["code"] != "unavailable" {
		t.Fatalf("request while the build fails: %d %v; want 503 unavailable", code, body)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("GET /openapi.json after a failed build: %d %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds; want 2 (one failed, one kept)", n)
	}
	if code, _ := get("/v1/health"); code != http.StatusOK {
		t.Errorf("health after the build: %d", code)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/leads", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("an unregistered route after the build: %d; want 404 from the server", rec.Code)
	}
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds after more requests; want 2", n)
	}
}
