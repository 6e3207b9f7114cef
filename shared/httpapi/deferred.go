package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// Deferred is the API as an http.Handler whose Server is built on the first
// request that needs it rather than at cold start: building it reads the
// platform's secrets (a DynamoDB read and a KMS decrypt each) and registers
// every route with huma, and the first request of a cold start is most
// often the health check, which needs neither. Until the Server exists,
// GET /v1/health is answered by a HealthOnly server with the same checks;
// every other request builds the Server first (one build at a time; the
// others wait for it) and is then served by it, as is every request after.
// A build that fails is not kept: that request is answered 503 and the
// next one tries again. No part of the Server exists before its secrets are
// loaded, so nothing can sign or verify with a missing key.
type Deferred struct {
	health *Server
	build  func(ctx context.Context) (*Server, error)
	log    *slog.Logger

	mu  sync.Mutex // held while building
	srv atomic.Pointer[Server]
}

// NewDeferred returns the handler: health answers GET /v1/health until
// build has succeeded once (health's Log also logs a failed build).
func NewDeferred(health Config, build func(ctx context.Context) (*Server, error)) *Deferred {
	return &Deferred{health: HealthOnly(health), build: build, log: health.Log}
}

// Server returns the Server, building it if it is not built yet.
func (d *Deferred) Server(ctx context.Context) (*Server, error) {
	if s := d.srv.Load(); s != nil {
		return s, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.srv.Load(); s != nil {
		return s, nil
	}
	s, err := d.build(ctx)
	if err != nil {
		return nil, err
	}
	d.srv.Store(s)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (d *Deferred) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s := d.srv.Load(); s != nil {
		s.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/health" {
		d.health.ServeHTTP(w, r)
		return
	}
	s, err := d.Server(r.Context())
	if err != nil {
		d.log.ErrorContext(r.Context(), "build the API", "err", err)
		writeProblem(w, NewProblem(http.StatusServiceUnavailable, "unavailable", "the API could not start; try again"))
		return
	}
	s.ServeHTTP(w, r)
}
