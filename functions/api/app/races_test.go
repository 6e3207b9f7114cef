package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// post sends a JSON POST from any goroutine and returns the status and the
// decoded body (status 0 when the request itself failed).
func (e *testEnv) post(path, token string, body any) (int, map[string]any) {
	return e.send(http.MethodPost, path, token, body)
}

// patch is post for PATCH.
func (e *testEnv) patch(path, token string, body any) (int, map[string]any) {
	return e.send(http.MethodPatch, path, token, body)
}

// send is post for any method.
func (e *testEnv) send(method, path, token string, body any) (int, map[string]any) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// parallel runs f n times at once and returns each call's result.
func parallel[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// Wrong guesses sent at the same moment are each counted before their
// verdict: of 2×limit parallel guesses exactly limit are judged (401) and
// the rest wait (429), and the next one, even with the right password, is
// 429.
func TestLoginThrottleParallelGuesses(t *testing.T) {
	e := newEnv(t)
	victim := e.signup(t, "Parallel Guess Co")
	const limit = 5
	statuses := parallel(2*limit, func(int) int {
		st, _ := e.post("/v1/auth/login", "", map[string]string{"email": victim.Email, "password": "guess-guess-guess"})
		return st
	})
	counts := map[int]int{}
	for _, st := range statuses {
		counts[st]++
	}
	if counts[401] != limit || counts[429] != limit {
		t.Fatalf("parallel guesses answered %v, want %d×401 and %d×429", counts, limit, limit)
	}
	expect(t, e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim.Email, "password": password}), 429)
}

// One refresh token presented twice at the same moment is reuse whatever
// the timing: at most one presentation gets new tokens, and afterwards the
// whole family is revoked, so the tokens it got stop working too.
func TestRefreshParallelReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	s := e.signup(t, "Parallel Refresh Co")
	for round := range 8 {
		tok := e.login(t, s.Email).Refresh
		type answer struct {
			status  int
			refresh string
		}
		answers := parallel(3, func(int) answer {
			st, body := e.post("/v1/auth/refresh", "", map[string]string{"refresh_token": tok})
			ref, _ := body["refresh_token"].(string)
			return answer{st, ref}
		})
		ok := 0
		for _, a := range answers {
			switch a.status {
			case 200:
				ok++
				if st, _ := e.post("/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh}); st != 401 {
					t.Fatalf("round %d: the token won in a parallel reuse still refreshes (%d)", round, st)
				}
			case 401:
			default:
				t.Fatalf("round %d: parallel refresh answered %d", round, a.status)
			}
		}
		if ok > 1 {
			t.Fatalf("round %d: %d parallel presentations of one token got new tokens", round, ok)
		}
	}
}

// Two owners demoting or deactivating each other at the same moment never
// leave the org without an active owner.
func TestLastOwnerParallel(t *testing.T) {
	e := newEnv(t)
	ops := map[string]func(caller session, target string) int{
		"demote": func(caller session, target string) int {
			st, _ := e.patch("/v1/users/"+target, caller.Access, map[string]string{"role": "admin"})
			return st
		},
		"deactivate": func(caller session, target string) int {
			st, _ := e.send(http.MethodDelete, "/v1/users/"+target, caller.Access, nil)
			return st
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			for round := range 5 {
				a := e.signup(t, "Two Owners Co")
				b := e.member(t, a, "owner")
				statuses := parallel(2, func(i int) int {
					if i == 0 {
						return op(a, b.UserID)
					}
					return op(b, a.UserID)
				})
				for _, st := range statuses {
					// Done; refused as the last owner; or refused because
					// the caller was demoted (403) or deactivated (401) first.
					if st != 200 && st != 204 && st != 409 && st != 403 && st != 401 {
						t.Fatalf("round %d: %s of each other answered %v", round, name, statuses)
					}
				}
				owners := 0
				for _, s := range []session{a, b} {
					st, body := e.send(http.MethodGet, "/v1/users", s.Access, nil)
					if st != 200 {
						continue // deactivated
					}
					list, _ := body["items"].([]any)
					for _, it := range list {
						if u, _ := it.(map[string]any); u["role"] == "owner" && u["active"] == true {
							owners++
						}
					}
					break
				}
				if owners < 1 {
					t.Fatalf("round %d: %s of each other answered %v and left no active owner", round, name, statuses)
				}
			}
		})
	}
}
