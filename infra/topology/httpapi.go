package topology

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// EnvCORSAllowedOrigins names the deploy-time setting of the origins whose
// web apps may call the HTTP API from a browser (CORSOriginsParam).
const EnvCORSAllowedOrigins = "LEADLUENCE_CORS_ALLOWED_ORIGINS"

// CORSOriginsParam is the deploy-time setting of the browser origins the
// HTTP API answers cross-origin requests from: the CDK stack takes it for
// the API's CORS configuration, the local runner (tools/dev) applies it to
// the API it serves. It is not given to a function.
var CORSOriginsParam = Param{
	Env:         EnvCORSAllowedOrigins,
	Description: "the origins of the web apps that call the API from a browser, comma-separated, each scheme://host[:port] without a path, for example https://app.example.com,https://admin.example.com; no wildcard",
}

// HTTPAPI holds the HTTP API's own settings, the same in the cloud and in
// the local runner: CORS and throttling.
type HTTPAPI struct {
	CORS CORS
	// Throttle is the default stage throttling: it applies to every route
	// (API Gateway counts every client together, per route).
	Throttle Throttle
	// StrictRoutes are route keys ("POST /v1/auth/login") throttled by
	// StrictThrottle instead: the public routes that check a password or a
	// one-time token or send mail, where a flood is guessing or spam. The
	// per-client limits of those routes are the api's own (login throttle,
	// sign-up and reset limits); this bounds them all together.
	StrictRoutes   []string
	StrictThrottle Throttle
}

// Throttle is an API Gateway throttle: a steady rate and a burst.
type Throttle struct {
	RatePerSecond float64
	Burst         int
}

// CORS is the API's cross-origin resource sharing: which methods and
// request headers a browser page of an allowed origin may use, which
// response headers it may read and how long it may cache a preflight
// answer. The allowed origins are a deploy-time setting
// (CORSOriginsParam); an origin not in them gets no CORS headers, and
// there is never a wildcard. Credentials (cookies) are not allowed: the
// API takes bearer tokens.
type CORS struct {
	AllowMethods []string
	// AllowHeaders are the request headers the API reads beyond the
	// CORS-safelisted ones, lower case.
	AllowHeaders []string
	// ExposeHeaders are the response headers a page may read beyond the
	// CORS-safelisted ones, lower case.
	ExposeHeaders []string
	MaxAge        time.Duration
}

// defaultHTTPAPI is the HTTP API of Default().
func defaultHTTPAPI() HTTPAPI {
	return HTTPAPI{
		CORS: CORS{
			AllowMethods: []string{"GET", "POST", "PUT", "PATCH", "DELETE"},
			// Idempotency-Key: retried creates; If-Match: lead versions;
			// X-Api-Key: an API key instead of Authorization.
			AllowHeaders:  []string{"authorization", "content-type", "idempotency-key", "if-match", "x-api-key"},
			ExposeHeaders: []string{"etag", "retry-after"},
			MaxAge:        time.Hour,
		},
		Throttle: Throttle{RatePerSecond: 100, Burst: 200},
		StrictRoutes: []string{
			"POST /v1/auth/signup",
			"POST /v1/auth/login",
			"POST /v1/auth/mfa",
			"POST /v1/auth/password-reset",
			"POST /v1/auth/password-reset/confirm",
			"POST /v1/auth/verify-email",
			"POST /v1/invitations/accept",
			"POST /v1/org/reopen",
		},
		StrictThrottle: Throttle{RatePerSecond: 10, Burst: 20},
	}
}

// ParseOrigins reads a CORSOriginsParam value: comma-separated origins,
// each http(s)://host[:port] with nothing after it. It returns them lower
// case, as browsers send them, without repeats; an empty value, a
// wildcard or anything that is not an origin is an error.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		o := strings.ToLower(strings.TrimSpace(part))
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("%s: origin %q: %w", EnvCORSAllowedOrigins, part, err)
		}
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no origin in %q", EnvCORSAllowedOrigins, s)
	}
	return out, nil
}

// OriginPattern is the regular expression one allowed origin matches.
const OriginPattern = `^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`

var originRE = regexp.MustCompile(OriginPattern)

func checkOrigin(o string) error {
	if strings.Contains(o, "*") {
		return fmt.Errorf("no wildcard: name each origin")
	}
	u, err := url.Parse(o)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("want scheme://host[:port], nothing after it")
	}
	if !originRE.MatchString(o) {
		return fmt.Errorf("want scheme://host[:port] with a plain host name")
	}
	return nil
}
