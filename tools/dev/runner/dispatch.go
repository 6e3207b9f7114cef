package runner

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
)

// Dispatch returns one handler over the HTTP functions' handlers: it
// passes each API Gateway event to the handler of the function whose
// topology route matches the event's method and path, as API Gateway
// routes it, for code that calls handlers directly (tests, benchmarks)
// rather than through Router. An event no route of a function in handlers
// matches goes to the handler of fallback (an api answers 404 itself).
func Dispatch(st topology.Stack, handlers map[string]apigw.HandlerFunc, fallback string) apigw.HandlerFunc {
	mux := http.NewServeMux()
	owner := map[string]string{}
	for _, fn := range st.Functions {
		if handlers[fn.Name] == nil {
			continue
		}
		for _, r := range fn.Routes {
			mux.Handle(r.Key(), http.NotFoundHandler())
			owner[r.Key()] = fn.Name
		}
	}
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		fn := fallback
		path := ev.RawPath
		if path == "" {
			path = "/"
		}
		if r, err := http.NewRequest(ev.RequestContext.HTTP.Method, "http://gateway"+path, nil); err == nil {
			if _, pattern := mux.Handler(r); owner[pattern] != "" {
				fn = owner[pattern]
			}
		}
		h := handlers[fn]
		if h == nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("no handler for %s %s (function %q)", ev.RequestContext.HTTP.Method, path, fn)
		}
		return h(ctx, ev)
	}
}
