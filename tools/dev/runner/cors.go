package runner

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/leadluence/backend/infra/topology"
)

// CORS applies the HTTP API's CORS configuration (topology.HTTPAPI.CORS,
// with the allowed origins of topology.CORSOriginsParam) in front of next
// as API Gateway does when the API has one:
//
//   - a preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     is answered here, 204, whatever the route: from an allowed origin
//     asking for an allowed method and headers, with the origin echoed, the
//     allowed methods and headers and the max age; otherwise with no CORS
//     header at all, so the browser refuses the request;
//   - any other request is served by next; from an allowed origin its
//     answer carries the origin and the exposed headers, from another none.
//
// CORS headers a function returns itself are dropped: the gateway's
// configuration is the only source. There is never a wildcard.
func CORS(c topology.CORS, origins []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.ToLower(o)] = true
	}
	methods := strings.Join(c.AllowMethods, ",")
	headers := strings.Join(c.AllowHeaders, ",")
	expose := strings.Join(c.ExposeHeaders, ",")
	maxAge := strconv.Itoa(int(c.MaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		ok := origin != "" && allowed[strings.ToLower(origin)]
		if reqMethod := r.Header.Get("Access-Control-Request-Method"); origin != "" && r.Method == http.MethodOptions && reqMethod != "" {
			h := w.Header()
			if ok && slices.Contains(c.AllowMethods, strings.ToUpper(reqMethod)) && headersAllowed(c.AllowHeaders, r.Header.Values("Access-Control-Request-Headers")) {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", methods)
				h.Set("Access-Control-Allow-Headers", headers)
				h.Set("Access-Control-Max-Age", maxAge)
			}
			h.Add("Vary", "Origin")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(&corsWriter{ResponseWriter: w, origin: origin, allowed: ok, expose: expose}, r)
	})
}

// headersAllowed reports whether every header named in the
// Access-Control-Request-Headers values is in allow (lower case).
func headersAllowed(allow []string, requested []string) bool {
	for _, v := range requested {
		for _, h := range strings.Split(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if h != "" && !slices.Contains(allow, h) {
				return false
			}
		}
	}
	return true
}

// corsWriter sets the CORS headers of an actual (not preflight) request's
// answer before its status is written.
type corsWriter struct {
	http.ResponseWriter
	origin  string
	allowed bool
	expose  string
	wrote   bool
}

func (c *corsWriter) WriteHeader(status int) {
	if !c.wrote {
		c.wrote = true
		h := c.Header()
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				h.Del(k)
			}
		}
		if c.allowed {
			h.Set("Access-Control-Allow-Origin", c.origin)
			if c.expose != "" {
				h.Set("Access-Control-Expose-Headers", c.expose)
			}
		}
		if c.origin != "" {
			h.Add("Vary", "Origin")
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *corsWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	n, err := c.ResponseWriter.Write(b)
	return n, err //nolint:wrapcheck // an http.ResponseWriter passes its writer's error through
}
