// Package oneclick serves the one-click unsubscribe link every email to a
// lead carries (RFC 8058): POST /v1/unsubscribe/{token}, public, with the
// body List-Unsubscribe=One-Click that mailbox providers send. The token is
// the authority (package unsubscribe): a valid one records the lead's email
// marketing opt-out and answers 200, also when the lead is gone (the answer
// tells nothing); a bad or tampered one answers 404. There is no GET: a
// link a scanner follows must not unsubscribe anyone.
package oneclick

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/httpapi"
	"github.com/leadluence/backend/shared/unsubscribe"
)

// Unsubscriber records the opt-out a token names (unsubscribe.Service).
type Unsubscriber interface {
	Unsubscribe(ctx context.Context, token string) error
}

// Deps are what the route needs.
type Deps struct {
	Unsubscribe Unsubscriber
}

// maxBody bounds the request body: RFC 8058's is 26 bytes.
const maxBody = 1 << 10

type unsubscribeIn struct {
	Token string `path:"token" maxLength:"256" doc:"The token of the email's List-Unsubscribe link."`
	// RawBody is List-Unsubscribe=One-Click as RFC 8058 has mailbox
	// providers send it; its content is not needed and not read.
	RawBody []byte `contentType:"application/x-www-form-urlencoded"`
}

// UnsubscribeOut confirms the unsubscribe.
type UnsubscribeOut struct {
	Body struct {
		Status string `json:"status" enum:"unsubscribed"`
	}
}

// Register adds the route.
func Register(api huma.API, kit *httpapi.Kit, d Deps) {
	huma.Register(api, huma.Operation{
		OperationID: "unsubscribe", Method: http.MethodPost, Path: unsubscribe.PathPrefix + "{token}", Tags: []string{"unsubscribe"}, Security: httpapi.PublicSecurity,
		Summary: "One-click unsubscribe from an email's List-Unsubscribe link (RFC 8058)",
		Description: "Records the email marketing opt-out of the lead the token names, once. No bearer token: the signed token is the " +
			"authority. Answers 200 for any valid token, 404 for one that is not.",
		MaxBodyBytes: maxBody, Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *unsubscribeIn) (*UnsubscribeOut, error) {
		err := d.Unsubscribe.Unsubscribe(ctx, in.Token)
		if errors.Is(err, unsubscribe.ErrBadToken) {
			return nil, httpapi.NotFound("unsubscribe link")
		}
		if err != nil {
			return nil, kit.Internal(ctx, "unsubscribe", err)
		}
		out := &UnsubscribeOut{}
		out.Body.Status = "unsubscribed"
		return out, nil
	})
}
