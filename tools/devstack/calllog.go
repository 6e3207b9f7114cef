package devstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The AWS call log: when Options.CallLog (or $LEADLUENCE_AWS_CALL_LOG) names
// a file, every service of the stack is reached through a recording reverse
// proxy that appends one JSON line (a Call) per distinct call to that file
// before forwarding the request untouched. `make test` sets it for the
// product's tests, and infra/stack checks each function's recorded calls
// against the IAM policy the deployed stack gives that function.
//
// The calling function is the app id of its AWS config
// (awsenv.WithAppID("leadluence-<fn>")), which the SDK sends in the
// User-Agent as app/leadluence-<fn>; calls without one (test setup, tools)
// are recorded with an empty App.

// EnvCallLog names the file the stack records the AWS calls made through it
// to (Options.CallLog).
const EnvCallLog = "LEADLUENCE_AWS_CALL_LOG"

// Call is one line of the call log: an AWS operation and the resources it
// names. Identical calls are written once.
type Call struct {
	// App is the caller's app id ("leadluence-api"), empty when it has none.
	App string `json:"app,omitempty"`
	// Service is "dynamodb", "sqs", "kms" or "ses".
	Service string `json:"service"`
	// Operation is the API operation: "Query", "SendMessage", "Decrypt",
	// "SendEmail"...
	Operation string `json:"operation"`
	// Part is, for TransactWriteItems and TransactGetItems, the kind of one
	// item of the transaction: Put, Update, Delete, ConditionCheck or Get.
	Part string `json:"part,omitempty"`
	// Table and Index are the DynamoDB table and index named.
	Table string `json:"table,omitempty"`
	Index string `json:"index,omitempty"`
	// Queue is the SQS queue URL.
	Queue string `json:"queue,omitempty"`
	// Key is the KMS KeyId as sent (id, ARN or alias); empty for a Decrypt
	// that names none.
	Key string `json:"key,omitempty"`
	// Context is the KMS encryption context.
	Context map[string]string `json:"context,omitempty"`
	// Identity is the SES identity: the From address of SendEmail, the
	// identity of the email identity operations.
	Identity string `json:"identity,omitempty"`
	// ConfigurationSet is the SES configuration set of SendEmail.
	ConfigurationSet string `json:"configurationSet,omitempty"`
	// Template is the SES custom verification email template named.
	Template string `json:"template,omitempty"`
}

// callLog appends distinct calls to a file.
type callLog struct {
	mu   sync.Mutex
	f    *os.File
	seen map[string]bool
	err  error // first write error, reported by close
}

// openCallLog creates (or empties) the call log at path.
func openCallLog(path string) (*callLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("call log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("call log: %w", err)
	}
	return &callLog{f: f, seen: map[string]bool{}}, nil
}

func (l *callLog) record(c Call) {
	line, err := json.Marshal(c)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[string(line)] {
		return
	}
	l.seen[string(line)] = true
	if _, err := l.f.Write(append(line, '\n')); err != nil && l.err == nil {
		l.err = fmt.Errorf("write call log: %w", err)
	}
}

func (l *callLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = fmt.Errorf("close call log: %w", err)
	}
	return l.err
}

// callRecorder is the recording proxy in front of one service.
type callRecorder struct {
	service string
	log     *callLog
	proxy   *httputil.ReverseProxy
	srv     *http.Server
	url     string
	done    chan struct{}
}

// maxRecordedBody bounds how much of a request body is parsed; larger
// bodies are forwarded whole but recorded without their resources.
const maxRecordedBody = 8 << 20

// startCallRecorder serves a recording proxy for service on a free loopback
// port, forwarding to backend (an http://127.0.0.1:PORT URL).
func startCallRecorder(service, backend string, log *callLog) (*callRecorder, error) {
	target, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("call recorder %s: %w", service, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("call recorder %s: %w", service, err)
	}
	r := &callRecorder{service: service, log: log, done: make(chan struct{}), url: "http://" + ln.Addr().String()}
	r.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

func (r *callRecorder) stop() error {
	err := r.srv.Close()
	<-r.done
	if err != nil {
		return fmt.Errorf("stop %s call recorder: %w", r.service, err)
	}
	return nil
}

// ServeHTTP records the request's calls and forwards it.
func (r *callRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxRecordedBody+1))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadGateway)
			return
		}
		body = b
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), req.Body))
	}
	if len(body) > maxRecordedBody {
		body = nil
	}
	for _, c := range parseCalls(r.service, req, body) {
		c.App = appID(req.Header)
		r.log.record(c)
	}
	r.proxy.ServeHTTP(w, req)
}

// appID returns the app id in the SDK's User-Agent ("app/<id>").
func appID(h http.Header) string {
	for _, name := range []string{"User-Agent", "X-Amz-User-Agent"} {
		for _, tok := range strings.Fields(h.Get(name)) {
			if id, ok := strings.CutPrefix(tok, "app/"); ok {
				return id
			}
		}
	}
	return ""
}

// parseCalls returns what one request calls: one Call, or one per table of
// a batch and per item of a transaction. Requests that are no AWS
// operation (health probes, the local SES verification link) give none.
func parseCalls(service string, req *http.Request, body []byte) []Call {
	if service == "ses" {
		return parseSES(req, body)
	}
	target := req.Header.Get("X-Amz-Target")
	_, op, ok := strings.Cut(target, ".")
	if !ok {
		return nil
	}
	var in struct {
		TableName         string
		IndexName         string
		QueueUrl          string //nolint:revive // the API's field name
		KeyId             string //nolint:revive // the API's field name
		EncryptionContext map[string]string
		RequestItems      map[string]json.RawMessage
		TransactItems     []map[string]struct{ TableName string }
	}
	_ = json.Unmarshal(body, &in)
	base := Call{Service: service, Operation: op}
	switch service {
	case "dynamodb":
		switch {
		case len(in.RequestItems) > 0:
			var out []Call
			for table := range in.RequestItems {
				c := base
				c.Table = table
				out = append(out, c)
			}
			return out
		case len(in.TransactItems) > 0:
			var out []Call
			for _, item := range in.TransactItems {
				for part, v := range item {
					c := base
					c.Part, c.Table = part, v.TableName
					out = append(out, c)
				}
			}
			return out
		}
		base.Table, base.Index = in.TableName, in.IndexName
	case "sqs":
		base.Queue = in.QueueUrl
	case "kms":
		base.Key, base.Context = in.KeyId, in.EncryptionContext
	}
	return []Call{base}
}

// parseSES maps SES v2's REST paths to operations.
func parseSES(req *http.Request, body []byte) []Call {
	path := req.URL.Path
	if !strings.HasPrefix(path, "/v2/") {
		return nil
	}
	var in struct {
		FromEmailAddress     string
		ConfigurationSetName string
		EmailIdentity        string
		EmailAddress         string
		TemplateName         string
	}
	_ = json.Unmarshal(body, &in)
	c := Call{Service: "ses"}
	const identities = "/v2/email/identities"
	const templates = "/v2/email/custom-verification-email-templates"
	switch {
	case path == "/v2/email/outbound-custom-verification-emails" && req.Method == http.MethodPost:
		c.Operation, c.Identity, c.Template, c.ConfigurationSet = "SendCustomVerificationEmail", in.EmailAddress, in.TemplateName, in.ConfigurationSetName
	case path == templates && req.Method == http.MethodPost:
		c.Operation, c.Template = "CreateCustomVerificationEmailTemplate", in.TemplateName
	case strings.HasPrefix(path, templates+"/"):
		c.Template, _ = url.PathUnescape(strings.TrimPrefix(path, templates+"/"))
		switch req.Method {
		case http.MethodGet:
			c.Operation = "GetCustomVerificationEmailTemplate"
		case http.MethodPut:
			c.Operation = "UpdateCustomVerificationEmailTemplate"
		case http.MethodDelete:
			c.Operation = "DeleteCustomVerificationEmailTemplate"
		default:
			c.Operation = req.Method + " " + path
		}
	case path == "/v2/email/outbound-emails" && req.Method == http.MethodPost:
		c.Operation, c.Identity, c.ConfigurationSet = "SendEmail", in.FromEmailAddress, in.ConfigurationSetName
		if a, err := mailAddress(in.FromEmailAddress); err == nil {
			c.Identity = a
		}
	case path == identities && req.Method == http.MethodPost:
		c.Operation, c.Identity = "CreateEmailIdentity", in.EmailIdentity
	case strings.HasPrefix(path, identities+"/"):
		id, _ := url.PathUnescape(strings.TrimPrefix(path, identities+"/"))
		c.Identity = id
		switch req.Method {
		case http.MethodGet:
			c.Operation = "GetEmailIdentity"
		case http.MethodDelete:
			c.Operation = "DeleteEmailIdentity"
		default:
			c.Operation = req.Method + " " + path
		}
	default:
		c.Operation = req.Method + " " + path
	}
	return []Call{c}
}

// mailAddress returns the bare address of an RFC 5322 address.
func mailAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("parse address: %w", err)
	}
	return a.Address, nil
}

// recordCalls puts a recording proxy in front of each service of s, so that
// s's endpoints are the proxies', logging to path.
func (s *Stack) recordCalls(path string) error {
	log, err := openCallLog(path)
	if err != nil {
		return err
	}
	s.callLog = log
	for _, ep := range []struct {
		service string
		url     *string
	}{{"dynamodb", &s.DynamoDB}, {"sqs", &s.SQS}, {"kms", &s.KMS}, {"ses", &s.SES}} {
		r, err := startCallRecorder(ep.service, *ep.url, log)
		if err != nil {
			return err
		}
		s.recorders = append(s.recorders, r)
		*ep.url = r.url
	}
	return nil
}

// stopRecording stops the recording proxies and closes the call log.
func (s *Stack) stopRecording() error {
	var errs []error
	for _, r := range s.recorders {
		errs = append(errs, r.stop())
	}
	if s.callLog != nil {
		errs = append(errs, s.callLog.close())
	}
	return errors.Join(errs...)
}
