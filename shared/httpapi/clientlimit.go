package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/auth"
)

// ClientCounter counts the requests of one client address in a window that
// starts at its first request (dynamostore.Store): one conditional write a
// request, shared by every instance of the api, so parallel requests are
// each counted once and none passes the limit.
type ClientCounter interface {
	// TakeClientAttempt counts one request under key provided fewer than
	// limit were counted in the live window; ok false means the limit is
	// reached and since is when that window started.
	TakeClientAttempt(ctx context.Context, key string, limit int, window time.Duration) (ok bool, since time.Time, err error)
}

// ClientLimit bounds the requests one client address makes to one
// operation in a window.
type ClientLimit struct {
	Limit  int
	Window time.Duration
}

// DefaultClientLimits are the per-client-address limits of the public
// operations that check a password, a code or a one-time token, or send
// mail, by operation id. They are counted before the operation runs, on
// top of the per-account limits of the operations themselves (failed
// logins and codes per account, reset mails per email), and under the
// gateway's route throttle of the same routes (infra/topology
// HTTPAPI.StrictRoutes), which counts every client together.
var DefaultClientLimits = map[string]ClientLimit{
	"signup":                 {Limit: 20, Window: time.Hour},
	"login":                  {Limit: 60, Window: 15 * time.Minute},
	"complete-mfa-login":     {Limit: 60, Window: 15 * time.Minute},
	"request-password-reset": {Limit: 20, Window: time.Hour},
	"confirm-password-reset": {Limit: 30, Window: time.Hour},
	"verify-email":           {Limit: 30, Window: time.Hour},
	"accept-invitation":      {Limit: 30, Window: time.Hour},
	"reopen-org":             {Limit: 20, Window: time.Hour},
}

// limitClients counts a request to an operation of ClientLimits against
// the client's address and answers 429 too_many_requests with Retry-After
// once its limit is reached. The address is stored only as a hash
// (auth.HashAttemptKey). A request with no address, or when no counter
// is configured, is not counted; a counter that fails answers 500 rather
// than let an unbounded number of guesses through.
func (s *Server) limitClients(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	lim, ok := s.cfg.ClientLimits[op.OperationID]
	ip := ctx.RemoteAddr()
	if !ok || s.cfg.Clients == nil || ip == "" {
		next(ctx)
		return
	}
	allowed, since, err := s.cfg.Clients.TakeClientAttempt(ctx.Context(), auth.HashAttemptKey("client-"+op.OperationID, ip), lim.Limit, lim.Window)
	if err != nil {
		s.cfg.Log.ErrorContext(ctx.Context(), "count client request", "operation", op.OperationID, "err", err)
		s.writeErr(ctx, internalProblem())
		return
	}
	if !allowed {
		// No address in the log: it is personal data.
		s.cfg.Log.WarnContext(ctx.Context(), "client limit reached", "operation", op.OperationID)
		retry := int64(time.Until(since.Add(lim.Window)).Seconds() + 0.5)
		if retry < 1 {
			retry = 1
		}
		ctx.SetHeader("Retry-After", strconv.FormatInt(retry, 10))
		s.writeErr(ctx, TooManyFromClient())
		return
	}
	next(ctx)
}

// TooManyFromClient is the 429 of a per-client-address limit.
func TooManyFromClient() *Problem {
	return NewProblem(http.StatusTooManyRequests, "too_many_requests", "too many requests from this address; try again after the Retry-After seconds")
}
