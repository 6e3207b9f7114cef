package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// HealthOut reports whether each dependency answered.
type HealthOut struct {
	Status string            `json:"status" enum:"ok,degraded"`
	Checks map[string]string `json:"checks" doc:"Dependency name to \"ok\" or \"unreachable\"."`
}

// healthOperation is the health route's operation id: it needs no
// platform secret (Config.Prepare).
const healthOperation = "health"

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{
		OperationID: healthOperation, Method: http.MethodGet, Path: "/v1/health", Tags: []string{"health"}, Security: PublicSecurity,
		Summary:   "Whether the table, queues and key are reachable",
		Responses: map[string]*huma.Response{"503": {Description: "A dependency is unreachable"}},
	}, s.health)
}

func (s *Server) health(ctx context.Context, _ *struct{}) (*struct {
	Status int
	Body   HealthOut
}, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := HealthOut{Status: "ok", Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.cfg.Checks {
		wg.Go(func() {
			err := c.Run(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// The reason is logged, not returned: this route is public.
				s.cfg.Log.WarnContext(ctx, "health check failed", "check", c.Name, "err", err)
				out.Checks[c.Name] = "unreachable"
				out.Status = "degraded"
				return
			}
			out.Checks[c.Name] = "ok"
		})
	}
	wg.Wait()
	status := http.StatusOK
	if out.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	return &struct {
		Status int
		Body   HealthOut
	}{Status: status, Body: out}, nil
}
