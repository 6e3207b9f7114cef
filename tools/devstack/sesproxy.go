package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// SES identities: aws-ses-v2-local sends mail but knows nothing of email
// identities, so the SES endpoint of the stack is this reverse proxy in
// front of it. It answers the SES v2 identity operations itself, from
// memory (lost on restart), and forwards every other request untouched:
//
//	POST   /v2/email/identities             CreateEmailIdentity
//	GET    /v2/email/identities/{identity}  GetEmailIdentity
//	DELETE /v2/email/identities/{identity}  DeleteEmailIdentity
//	POST   /v2/email/custom-verification-email-templates         CreateCustomVerificationEmailTemplate
//	GET    /v2/email/custom-verification-email-templates/{name}  GetCustomVerificationEmailTemplate
//	DELETE /v2/email/custom-verification-email-templates/{name}  DeleteCustomVerificationEmailTemplate
//	POST   /v2/email/outbound-custom-verification-emails         SendCustomVerificationEmail
//
// SendCustomVerificationEmail creates the identity (pending) when it is
// new and mails the template's subject and content, with the local
// verification link added at the end as SES adds its own, from the
// template's From address through aws-ses-v2-local (so it shows in its
// store like any sent mail). As in SES, the template must exist
// (NotFoundException) and its From address must be a verified identity
// (MessageRejected). What is not checked locally: SES's content rules for
// templates, its limit of templates per account and its one request a
// second, and the redirection after the link (the local link is a POST).
//
// A new identity is pending, as in SES until the link SES mails is
// followed. Following the link is, locally,
//
//	POST /_leadluence/identities/{identity}/verify
//
// on the same port, which marks the identity verified (creating it when
// needed, like an identity verified in the account beforehand). The
// platform's addresses (the domain of the platform sender address,
// LEADLUENCE_EMAIL_FROM, and leadluence.local) count as verified from the
// start, as the platform domain is in SES.
//
// SendEmail is refused (MessageRejected, as SES does) when its From address,
// or the domain of it, is an identity the proxy knows and has not verified.
// Unlike SES, a From address that is no identity at all is let through, so
// tests and tools that send from made-up addresses keep working.

// VerifyPathPrefix is where the local stand-in of an SES verification link
// is served: POST VerifyPathPrefix + identity + "/verify".
const VerifyPathPrefix = "/_leadluence/identities/"

// defaultPlatformDomain is the domain of the default platform sender
// address (no-reply@leadluence.local).
const defaultPlatformDomain = "leadluence.local"

// verificationTemplate is one custom verification email template.
type verificationTemplate struct {
	TemplateName, FromEmailAddress, TemplateSubject, TemplateContent string
	SuccessRedirectionURL, FailureRedirectionURL                     string
}

// sesIdentity is one identity the proxy holds.
type sesIdentity struct {
	verified bool
	created  time.Time
}

// sesProxy serves the SES endpoint: identities itself, the rest through
// aws-ses-v2-local.
type sesProxy struct {
	mu         sync.Mutex
	identities map[string]*sesIdentity
	templates  map[string]verificationTemplate
	platform   map[string]bool // domains and addresses verified from the start
	backendURL *url.URL
	self       string // the proxy's own base URL, for the local verification link
	backend    *httputil.ReverseProxy
	srv        *http.Server
	done       chan struct{}
}

// startSESProxy serves the proxy on ln, forwarding to backend.
func startSESProxy(ln net.Listener, backend *url.URL, platformFrom string) *sesProxy {
	p := &sesProxy{identities: map[string]*sesIdentity{}, templates: map[string]verificationTemplate{},
		platform: map[string]bool{defaultPlatformDomain: true}, backendURL: backend, self: "http://" + ln.Addr().String(), done: make(chan struct{})}
	if platformFrom == "" {
		platformFrom = os.Getenv("LEADLUENCE_EMAIL_FROM")
	}
	if a, err := mail.ParseAddress(platformFrom); err == nil {
		p.platform[strings.ToLower(a.Address)] = true
		p.platform[domain(a.Address)] = true
	}
	p.backend = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(backend)
		r.Out.Host = r.In.Host
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/email/identities", p.create)
	mux.HandleFunc("GET /v2/email/identities/{identity}", p.get)
	mux.HandleFunc("DELETE /v2/email/identities/{identity}", p.delete)
	mux.HandleFunc("POST "+VerifyPathPrefix+"{identity}/verify", p.verify)
	mux.HandleFunc("POST /v2/email/outbound-emails", p.sendEmail)
	mux.HandleFunc("POST /v2/email/custom-verification-email-templates", p.createTemplate)
	mux.HandleFunc("GET /v2/email/custom-verification-email-templates/{name}", p.getTemplate)
	mux.HandleFunc("DELETE /v2/email/custom-verification-email-templates/{name}", p.deleteTemplate)
	mux.HandleFunc("POST /v2/email/outbound-custom-verification-emails", p.sendVerification)
	mux.Handle("/", p.backend)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p
}

// stop closes the listener and every connection, and waits for Serve.
func (p *sesProxy) stop() error {
	err := p.srv.Close()
	<-p.done
	if err != nil {
		return fmt.Errorf("stop ses proxy: %w", err)
	}
	return nil
}

func domain(identity string) string {
	if _, d, ok := strings.Cut(identity, "@"); ok {
		return strings.ToLower(d)
	}
	return strings.ToLower(identity)
}

// isVerified reports whether SES would let the platform send from identity:
// the identity itself or its domain is verified. Call with p.mu held.
func (p *sesProxy) isVerified(identity string) bool {
	identity = strings.ToLower(identity)
	if p.platform[identity] || p.platform[domain(identity)] {
		return true
	}
	for _, k := range []string{identity, domain(identity)} {
		if id, ok := p.identities[k]; ok && id.verified {
			return true
		}
	}
	return false
}

// sesError writes an SES v2 error the way the service does: the type in
// X-Amzn-ErrorType and a JSON body with the message.
func sesError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func identityType(identity string) string {
	if strings.Contains(identity, "@") {
		return "EMAIL_ADDRESS"
	}
	return "DOMAIN"
}

// create is CreateEmailIdentity: request {"EmailIdentity": "..."}, answer
// {"IdentityType", "VerifiedForSendingStatus", "DkimAttributes"}.
func (p *sesProxy) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EmailIdentity string `json:"EmailIdentity"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || strings.TrimSpace(in.EmailIdentity) == "" {
		sesError(w, http.StatusBadRequest, "BadRequestException", "EmailIdentity is required")
		return
	}
	identity := strings.ToLower(strings.TrimSpace(in.EmailIdentity))
	if strings.Contains(identity, "@") {
		if a, err := mail.ParseAddress(identity); err != nil || a.Address != identity {
			sesError(w, http.StatusBadRequest, "BadRequestException", "Invalid email address "+identity)
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.identities[identity]; ok {
		sesError(w, http.StatusBadRequest, "AlreadyExistsException", "Email identity "+identity+" already exist.")
		return
	}
	p.identities[identity] = &sesIdentity{verified: p.isVerified(identity), created: time.Now()}
	writeJSON(w, map[string]any{
		"IdentityType":             identityType(identity),
		"VerifiedForSendingStatus": p.isVerified(identity),
		"DkimAttributes":           map[string]any{"SigningEnabled": false, "Status": "NOT_STARTED", "SigningAttributesOrigin": "AWS_SES"},
	})
}

// known returns the identity the request's path names, or answers SES's
// NotFoundException when it was never created. p.mu must be held.
func (p *sesProxy) known(w http.ResponseWriter, r *http.Request) (string, bool) {
	identity := strings.ToLower(r.PathValue("identity"))
	if _, ok := p.identities[identity]; !ok {
		sesError(w, http.StatusNotFound, "NotFoundException", "Email identity "+identity+" does not exist.")
		return "", false
	}
	return identity, true
}

// get is GetEmailIdentity.
func (p *sesProxy) get(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	identity, ok := p.known(w, r)
	if !ok {
		return
	}
	verified := p.isVerified(identity)
	status := "PENDING"
	if verified {
		status = "SUCCESS"
	}
	writeJSON(w, map[string]any{
		"IdentityType":             identityType(identity),
		"FeedbackForwardingStatus": true,
		"VerifiedForSendingStatus": verified,
		"VerificationStatus":       status,
		"DkimAttributes":           map[string]any{"SigningEnabled": false, "Status": "NOT_STARTED", "SigningAttributesOrigin": "AWS_SES"},
		"MailFromAttributes":       map[string]any{"BehaviorOnMxFailure": "USE_DEFAULT_VALUE", "MailFromDomainStatus": "NOT_STARTED"},
		"Policies":                 map[string]string{},
		"Tags":                     []any{},
	})
}

// delete is DeleteEmailIdentity.
func (p *sesProxy) delete(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	identity, ok := p.known(w, r)
	if !ok {
		return
	}
	delete(p.identities, identity)
	writeJSON(w, map[string]any{})
}

// verify stands in for following the verification link SES mails.
func (p *sesProxy) verify(w http.ResponseWriter, r *http.Request) {
	identity := strings.ToLower(r.PathValue("identity"))
	if identity == "" {
		http.Error(w, "identity required", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.identities[identity]
	if !ok {
		id = &sesIdentity{created: time.Now()}
		p.identities[identity] = id
	}
	id.verified = true
	writeJSON(w, map[string]any{"EmailIdentity": identity, "VerifiedForSendingStatus": true})
}

// sendEmail refuses a SendEmail whose From is a known, unverified
// identity, and forwards the rest.
func (p *sesProxy) sendEmail(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
	if err != nil {
		sesError(w, http.StatusBadRequest, "BadRequestException", "unreadable body")
		return
	}
	var in struct {
		FromEmailAddress string `json:"FromEmailAddress"`
	}
	if json.Unmarshal(body, &in) == nil && in.FromEmailAddress != "" {
		if a, err := mail.ParseAddress(in.FromEmailAddress); err == nil {
			addr := strings.ToLower(a.Address)
			p.mu.Lock()
			_, knownAddr := p.identities[addr]
			_, knownDomain := p.identities[domain(addr)]
			refuse := (knownAddr || knownDomain) && !p.isVerified(addr)
			p.mu.Unlock()
			if refuse {
				sesError(w, http.StatusBadRequest, "MessageRejected",
					"Email address is not verified. The following identities failed the check in region "+strings.ToUpper(region)+": "+addr)
				return
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.backend.ServeHTTP(w, r)
}

// createTemplate is CreateCustomVerificationEmailTemplate: every field is
// required; a name in use is AlreadyExistsException.
func (p *sesProxy) createTemplate(w http.ResponseWriter, r *http.Request) {
	var t verificationTemplate
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&t); err != nil {
		sesError(w, http.StatusBadRequest, "BadRequestException", "unreadable body")
		return
	}
	for name, v := range map[string]string{"TemplateName": t.TemplateName, "FromEmailAddress": t.FromEmailAddress,
		"TemplateSubject": t.TemplateSubject, "TemplateContent": t.TemplateContent,
		"SuccessRedirectionURL": t.SuccessRedirectionURL, "FailureRedirectionURL": t.FailureRedirectionURL} {
		if strings.TrimSpace(v) == "" {
			sesError(w, http.StatusBadRequest, "BadRequestException", name+" is required")
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.templates[t.TemplateName]; ok {
		sesError(w, http.StatusBadRequest, "AlreadyExistsException", "Custom verification email template "+t.TemplateName+" already exists.")
		return
	}
	p.templates[t.TemplateName] = t
	writeJSON(w, map[string]any{})
}

// getTemplate is GetCustomVerificationEmailTemplate.
func (p *sesProxy) getTemplate(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.templates[r.PathValue("name")]
	if !ok {
		sesError(w, http.StatusNotFound, "NotFoundException", "Custom verification email template "+r.PathValue("name")+" does not exist.")
		return
	}
	writeJSON(w, t)
}

// deleteTemplate is DeleteCustomVerificationEmailTemplate.
func (p *sesProxy) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := r.PathValue("name")
	if _, ok := p.templates[name]; !ok {
		sesError(w, http.StatusNotFound, "NotFoundException", "Custom verification email template "+name+" does not exist.")
		return
	}
	delete(p.templates, name)
	writeJSON(w, map[string]any{})
}

// sendVerification is SendCustomVerificationEmail: request {"EmailAddress",
// "TemplateName", "ConfigurationSetName"}, answer {"MessageId"}.
func (p *sesProxy) sendVerification(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EmailAddress, TemplateName string
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.EmailAddress == "" || in.TemplateName == "" {
		sesError(w, http.StatusBadRequest, "BadRequestException", "EmailAddress and TemplateName are required")
		return
	}
	addr := strings.ToLower(strings.TrimSpace(in.EmailAddress))
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
		sesError(w, http.StatusBadRequest, "BadRequestException", "Invalid email address "+addr)
		return
	}
	p.mu.Lock()
	t, ok := p.templates[in.TemplateName]
	fromOK := ok && p.isVerified(t.FromEmailAddress)
	if ok && fromOK {
		if _, known := p.identities[addr]; !known {
			p.identities[addr] = &sesIdentity{verified: p.isVerified(addr), created: time.Now()}
		}
	}
	p.mu.Unlock()
	switch {
	case !ok:
		sesError(w, http.StatusNotFound, "NotFoundException", "Custom verification email template "+in.TemplateName+" does not exist.")
		return
	case !fromOK:
		sesError(w, http.StatusBadRequest, "MessageRejected", "Email address is not verified: "+t.FromEmailAddress)
		return
	}
	link := p.self + VerifyPathPrefix + url.PathEscape(addr) + "/verify"
	mailBody, _ := json.Marshal(map[string]any{
		"FromEmailAddress": t.FromEmailAddress,
		"Destination":      map[string]any{"ToAddresses": []string{addr}},
		"Content": map[string]any{"Simple": map[string]any{
			"Subject": map[string]string{"Data": t.TemplateSubject},
			"Body": map[string]any{"Html": map[string]string{"Data": t.TemplateContent +
				`<p>To confirm, follow this link (locally: POST ` + html.EscapeString(link) + `)</p>`}},
		}},
	})
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.backendURL.String()+"/v2/email/outbound-emails", bytes.NewReader(mailBody))
	if err != nil {
		sesError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	// aws-ses-v2-local wants some AWS authorization; it checks no signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/"+region+"/ses/aws4_request, SignedHeaders=host, Signature=local")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		sesError(w, http.StatusInternalServerError, "InternalFailure", "mail the verification email: "+err.Error())
		return
	}
	defer resp.Body.Close()
	var out struct{ MessageId string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		sesError(w, http.StatusInternalServerError, "InternalFailure", "mail the verification email: "+resp.Status)
		return
	}
	writeJSON(w, map[string]string{"MessageId": out.MessageId})
}

// listenSES claims the public SES port (0: any free loopback port).
func listenSES(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("start ses: listen on the SES port: %w", err)
	}
	return ln, nil
}

// VerifyEmailIdentity follows the local verification "link" of identity
// on the stack's SES endpoint, as a person following SES's link would.
func (s *Stack) VerifyEmailIdentity(ctx context.Context, identity string) error {
	return VerifyEmailIdentity(ctx, s.SES, identity)
}

// VerifyEmailIdentity is Stack.VerifyEmailIdentity for an SES endpoint URL
// (AWS_ENDPOINT_URL_SESV2 of a running stack).
func VerifyEmailIdentity(ctx context.Context, endpoint, identity string) error {
	u := strings.TrimRight(endpoint, "/") + VerifyPathPrefix + url.PathEscape(identity) + "/verify"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("verify email identity: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("verify email identity: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("verify email identity: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
