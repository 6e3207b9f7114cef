package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
)

// Client errors other than *GraphError.
var (
	// ErrTransport wraps failures to get an answer at all: connection refused
	// or reset, TLS failures, timeouts, a body cut short. IsRetryable reports
	// true for it.
	ErrTransport = errors.New("meta: graph api transport error")
	// ErrResponseTooLarge means the answer exceeded MaxResponseBytes.
	ErrResponseTooLarge = errors.New("meta: graph api response too large")
	// ErrBadResponse means a 2xx answer was not the JSON expected.
	ErrBadResponse = errors.New("meta: unexpected graph api response")
	// ErrInvalidArgument means the call was refused before reaching Meta
	// (an empty or unsafe id, a payload that does not marshal).
	ErrInvalidArgument = errors.New("meta: invalid argument")
	// ErrTooManyPages means a listing did not end within the client's page bound.
	ErrTooManyPages = errors.New("meta: too many pages")
)

// GraphError is a non-2xx answer from the Graph API, decoded from Meta's
// error object {"error":{"message","type","code","error_subcode","fbtrace_id"}}.
// When the body is not such an object, Code is 0 and Message is the HTTP
// status text.
type GraphError struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string
	Message    string
	FBTraceID  string
	// Transient mirrors Meta's "is_transient" flag.
	Transient bool
}

// Error implements error. It never contains the access token.
func (e *GraphError) Error() string {
	return fmt.Sprintf("graph api: HTTP %d: %s (type %s, code %d, subcode %d, fbtrace_id %s)",
		e.HTTPStatus, e.Message, e.Type, e.Code, e.Subcode, e.FBTraceID)
}

// tokenSubcodes are Meta's authentication subcodes: app not installed (458),
// user checkpointed (459), password changed (460), expired (463),
// unconfirmed user (464), invalid token (467), invalid session (492).
var tokenSubcodes = []int{458, 459, 460, 463, 464, 467, 492}

// retryableCodes are Meta's temporary error codes: unknown (1), service (2),
// app rate limit (4), user rate limit (17), page rate limit (32), app limit
// (341), rate limit (613), ads rate limit (80007), WhatsApp throughput and
// pair rate limits (130429, 131056).
var retryableCodes = []int{1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131056}

// TokenInvalid reports whether the access token is expired, revoked or
// otherwise unusable: code 190 or 102, or an authentication subcode. The
// remedy is a new token, not a retry.
func (e *GraphError) TokenInvalid() bool {
	return e.Code == 190 || e.Code == 102 || slices.Contains(tokenSubcodes, e.Subcode)
}

// Retryable reports whether the same call may succeed later: HTTP 5xx or
// 429, a temporary error code, or Meta's is_transient flag — unless the token
// is invalid, which waiting does not fix.
func (e *GraphError) Retryable() bool {
	if e.TokenInvalid() {
		return false
	}
	return e.HTTPStatus >= 500 || e.HTTPStatus == 429 || e.Transient || slices.Contains(retryableCodes, e.Code)
}

// Permanent reports whether neither a retry nor a new token will help
// (unknown object, missing permission, invalid parameter, ...).
func (e *GraphError) Permanent() bool {
	return !e.Retryable() && !e.TokenInvalid()
}

// IsRetryable reports whether err, returned by a Client method, is worth
// retrying: a retryable *GraphError, any ErrTransport (including the
// caller's deadline or cancellation striking mid-call), a net timeout or
// context.DeadlineExceeded. ErrResponseTooLarge, ErrBadResponse,
// ErrInvalidArgument and invalid tokens are not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if ge, ok := errors.AsType[*GraphError](err); ok {
		return ge.Retryable()
	}
	if errors.Is(err, ErrTransport) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return false
}
