package apigw_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/shared/apigw"
)

func TestHandlerRoundTrip(t *testing.T) {
	var seen *http.Request
	var seenBody string
	h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.Header().Set("Content-Type", "image/png")
		w.WriteHeader(201)
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0xff})
	}))
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/x", RawQueryString: "a=1&b=2", Cookies: []string{"s=1", "t=2"},
		Headers:         map[string]string{"content-type": "application/octet-stream", "x-multi": "a,b"},
		Body:            base64.StdEncoding.EncodeToString([]byte{0, 1, 2}),
		IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", SourceIP: "198.51.100.7"},
		},
	}
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Method != "POST" || seen.URL.Path != "/v1/x" || seen.URL.Query().Get("b") != "2" || seen.RemoteAddr != "198.51.100.7" ||
		seen.Header.Get("Cookie") != "s=1; t=2" || seen.Header.Get("X-Multi") != "a,b" || seenBody != "\x00\x01\x02" {
		t.Fatalf("request %+v body %q", seen, seenBody)
	}
	if _, ok := apigw.Event(seen.Context()); !ok {
		t.Fatal("the event is not in the request context")
	}
	body, _ := base64.StdEncoding.DecodeString(resp.Body)
	if resp.StatusCode != 201 || !resp.IsBase64Encoded || string(body) != "\x89PNG\xff" || len(resp.Cookies) != 2 {
		t.Fatalf("response %+v", resp)
	}

	bad := ev
	bad.Body = "%%%"
	resp, _ = h(context.Background(), bad)
	if resp.StatusCode != 400 || resp.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("undecodable body answered %+v", resp)
	}
}
