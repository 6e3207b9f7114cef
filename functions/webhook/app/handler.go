package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/leadluence/backend/shared/intakemsg"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/sqsqueue"
)

// Received is the body of the 200 answer to a notification.
const Received = "EVENT_RECEIVED"

// maxChallenge bounds the hub.challenge echoed in the handshake. Meta sends
// a number of about ten digits.
const maxChallenge = 1024

// sendConcurrency bounds the SendMessage calls of one split set in flight.
const sendConcurrency = 8

type handler struct {
	Deps
	// intake is Deps.Queue at Deps.QueueURL.
	intake *sqsqueue.Queue
	// owners remembers owner lookups; nil when Deps.Owners is.
	owners *ownerCache
	// unowned counts the entries this instance left out (a metric in the
	// log).
	unowned atomic.Int64
}

func (h *handler) serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if path != Path {
		return problem(http.StatusNotFound, "no such route"), nil
	}
	switch ev.RequestContext.HTTP.Method {
	case http.MethodGet:
		return h.handshake(ctx, ev), nil
	case http.MethodPost:
		return h.receive(ctx, ev), nil
	}
	resp := problem(http.StatusMethodNotAllowed, "use GET or POST")
	resp.Headers["Allow"] = "GET, POST"
	return resp, nil
}

// handshake answers Meta's subscription check: the challenge is echoed only
// when the mode is "subscribe" and the verify token matches.
func (h *handler) handshake(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	q, err := query(ev)
	if err != nil {
		h.Log.WarnContext(ctx, "webhook handshake refused", "reason", "malformed query")
		return problem(http.StatusBadRequest, "malformed query string")
	}
	if q.Get("hub.mode") != "subscribe" || !equalSecret([]byte(q.Get("hub.verify_token")), h.VerifyToken) {
		h.Log.WarnContext(ctx, "webhook handshake refused", "reason", "mode or verify token")
		return problem(http.StatusForbidden, "verification failed")
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > maxChallenge {
		h.Log.WarnContext(ctx, "webhook handshake refused", "reason", "challenge missing or too long")
		return problem(http.StatusBadRequest, "hub.challenge missing or too long")
	}
	h.Log.InfoContext(ctx, "webhook subscription verified")
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
		Body:       challenge,
	}
}

// receive verifies and enqueues one notification.
func (h *handler) receive(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	start := time.Now()
	limit := h.MaxBodyBytes
	bodyText := ev.Body
	var body []byte
	if ev.IsBase64Encoded {
		if len(ev.Body) > base64.StdEncoding.EncodedLen(limit) {
			return h.tooLarge(ctx, base64.StdEncoding.DecodedLen(len(ev.Body)))
		}
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			h.Log.WarnContext(ctx, "webhook refused", "reason", "body is not valid base64")
			return problem(http.StatusBadRequest, "body is not valid base64")
		}
		bodyText = string(body)
	} else {
		body = []byte(ev.Body)
	}
	if len(body) > limit {
		return h.tooLarge(ctx, len(body))
	}

	if err := meta.VerifySignature(h.AppSecret, body, header(ev.Headers, meta.SignatureHeader)); err != nil {
		reason := "signature mismatch"
		switch {
		case errors.Is(err, meta.ErrSignatureMissing):
			reason = "signature missing"
		case errors.Is(err, meta.ErrSignatureMalformed):
			reason = "signature malformed"
		}
		h.Log.WarnContext(ctx, "webhook refused", "reason", reason, "bytes", len(body))
		return problem(http.StatusUnauthorized, "invalid "+meta.SignatureHeader)
	}

	if len(body) == 0 {
		// SQS takes no empty message, and there is nothing to keep.
		h.Log.WarnContext(ctx, "webhook refused", "reason", "empty body")
		return problem(http.StatusBadRequest, "empty body")
	}
	object := objectName(body)
	if h.owners != nil {
		f := h.owners.filterUnowned(ctx, body)
		if f.lookupErr != nil {
			h.Log.WarnContext(ctx, "webhook owner lookup failed, entries enqueued unjudged", "object", object, "err", f.lookupErr)
		}
		if f.dropped > 0 {
			// A metric line: counts only, no page, number or content.
			h.Log.InfoContext(ctx, "webhook entries of unowned pages or numbers dropped", "metric", "webhook_unowned_entries",
				"object", object, "dropped", f.dropped, "kept", f.kept, "dropped_total", h.unowned.Add(int64(f.dropped)))
		}
		if f.body == nil {
			return received()
		}
		if f.dropped > 0 {
			body, bodyText = f.body, string(f.body)
		}
	}
	receivedAt := ev.RequestContext.TimeEpoch
	if receivedAt <= 0 {
		receivedAt = h.Now().UnixMilli()
	}
	msgs := plan(body, bodyText, object, receivedAt)
	sendCtx, cancel := reserveAnswerTime(ctx)
	defer cancel()
	if err := h.send(sendCtx, msgs); err != nil {
		h.Log.ErrorContext(ctx, "webhook enqueue failed, Meta will retry", "object", object, "bytes", len(body),
			"messages", len(msgs), "err", err)
		return problem(http.StatusServiceUnavailable, "could not enqueue the event; retry later")
	}
	h.Log.InfoContext(ctx, "webhook enqueued", "object", object, "bytes", len(body), "messages", len(msgs),
		"payload", aws.ToString(msgs[0].attrs[intakemsg.AttrPayload].StringValue), "ms", time.Since(start).Milliseconds())
	return received()
}

// received is the 200 answer to a notification taken in.
func received() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		Body:       Received,
	}
}

// reserveAnswerTime returns ctx with a deadline a little before its own
// (a fifth of the time left, at most a second), so that a queue that does
// not answer ends the send while the handler still has time to answer 503
// itself, instead of Lambda timing the whole invocation out.
func reserveAnswerTime(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(time.Second, time.Until(dl)/5)
	return context.WithDeadline(ctx, dl.Add(-reserve))
}

func (h *handler) tooLarge(ctx context.Context, n int) events.APIGatewayV2HTTPResponse {
	h.Log.WarnContext(ctx, "webhook refused", "reason", "body too large", "bytes", n, "max", h.MaxBodyBytes)
	return problem(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.MaxBodyBytes))
}

// send puts every message on the queue, a split set's concurrently. It fails
// if any message could not be sent; the caller then answers 5xx and Meta
// sends the whole body again (ingest's effects are keyed, so the messages
// that did go through change nothing the second time).
func (h *handler) send(ctx context.Context, msgs []intakeMessage) error {
	if len(msgs) == 1 {
		return h.intake.SendWithAttributes(ctx, msgs[0].body, msgs[0].attrs)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, sendConcurrency)
	)
	for i, m := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := h.intake.SendWithAttributes(ctx, m.body, m.attrs); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err))
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// query returns the event's query parameters, from the raw query string when
// there is one (it keeps every value exactly as sent).
func query(ev events.APIGatewayV2HTTPRequest) (url.Values, error) {
	if ev.RawQueryString != "" {
		q, err := url.ParseQuery(ev.RawQueryString)
		if err != nil {
			return nil, fmt.Errorf("parse query: %w", err)
		}
		return q, nil
	}
	q := url.Values{}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	return q, nil
}

// header returns the named header; API Gateway lower-cases names, other
// callers may not.
func header(headers map[string]string, name string) string {
	if v, ok := headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// equalSecret compares in constant time, length included: both sides are
// hashed first, so not even the token's length leaks through timing.
func equalSecret(got, want []byte) bool {
	g, w := sha256.Sum256(got), sha256.Sum256(want)
	return hmac.Equal(g[:], w[:])
}

// problem is an RFC 9457 error answer.
func problem(status int, detail string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/problem+json"},
		Body:       fmt.Sprintf(`{"title":%q,"status":%d,"detail":%q}`, http.StatusText(status), status, detail),
	}
}
