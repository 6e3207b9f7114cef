package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/leadluence/backend/functions/apidoc"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/httpapi"
)

// TestClientLimitsCoverStrictRoutes proves that every public route the
// gateway throttles strictly (a secret is checked or mail is sent) also
// has a per-client-address limit.
func TestClientLimitsCoverStrictRoutes(t *testing.T) {
	doc, err := apidoc.Document()
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range topology.Default().API.StrictRoutes {
		method, path, _ := strings.Cut(route, " ")
		item := doc.Paths[path]
		if item == nil {
			t.Errorf("%s: not in the API document", route)
			continue
		}
		var id string
		switch method {
		case http.MethodPost:
			if item.Post != nil {
				id = item.Post.OperationID
			}
		case http.MethodPut:
			if item.Put != nil {
				id = item.Put.OperationID
			}
		}
		if _, ok := httpapi.DefaultClientLimits[id]; !ok {
			t.Errorf("%s (operation %q) has no per-client limit in httpapi.DefaultClientLimits", route, id)
		}
	}
}

// TestClientLimitCountsAcrossRequests sends more requests than its limit
// from one address to a public route, in parallel: exactly the limit are
// served, the rest are 429 too_many_requests with Retry-After, and another
// address is still served.
func TestClientLimitCountsAcrossRequests(t *testing.T) {
	e := newEnv(t)
	lim := httpapi.DefaultClientLimits["verify-email"]
	const ip = "198.51.100.23"
	var (
		mu       sync.Mutex
		served   int
		limited  []response
		wg       sync.WaitGroup
		requests = lim.Limit + 10
	)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": "not-a-token"}, clientIPHeader, ip)
			mu.Lock()
			defer mu.Unlock()
			if r.Status == http.StatusTooManyRequests {
				limited = append(limited, r)
			} else {
				served++
			}
		}()
	}
	wg.Wait()
	if served != lim.Limit || len(limited) != requests-lim.Limit {
		t.Fatalf("served %d, limited %d; want %d and %d", served, len(limited), lim.Limit, requests-lim.Limit)
	}
	for _, r := range limited {
		expect(t, r, http.StatusTooManyRequests)
		if r.str("code") != "too_many_requests" || !strings.HasSuffix(r.str("type"), "too_many_requests") {
			t.Fatalf("429 body %s", r.Raw)
		}
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > int(lim.Window.Seconds()) {
			t.Fatalf("Retry-After %q, want 1..%d", r.Header.Get("Retry-After"), int(lim.Window.Seconds()))
		}
	}
	// Another address, and the same address on another limited route, are
	// counted apart.
	expect(t, e.do(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": "not-a-token"}, clientIPHeader, "198.51.100.24"), http.StatusBadRequest)
	expect(t, e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "nobody@example.com"}, clientIPHeader, ip), http.StatusAccepted)
	// The address is never logged.
	if strings.Contains(e.logs.String(), ip) {
		t.Fatal("the client address is in the logs")
	}
}

// TestClientLimitOnLogin proves login counts the requests of one address
// whatever email they name, before any password is checked.
func TestClientLimitOnLogin(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Limit Realty")
	lim := httpapi.DefaultClientLimits["login"]
	const ip = "203.0.113.9"
	for i := range lim.Limit {
		r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": uniqueEmail("sprayed"), "password": "guess-guess-" + strconv.Itoa(i)}, clientIPHeader, ip)
		expect(t, r, http.StatusUnauthorized)
	}
	r := e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": password}, clientIPHeader, ip)
	expect(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// The owner elsewhere is not locked out.
	expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": owner.Email, "password": password}), http.StatusOK)
}
