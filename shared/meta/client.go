package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults used by NewClient and by a zero Client.
const (
	DefaultBaseURL = "https://graph.facebook.com"
	DefaultVersion = "v21.0"
	// DefaultPageSize is the "limit" asked for on listing calls.
	DefaultPageSize = 100
	// MaxPages bounds how many pages PageForms and Templates follow.
	MaxPages = 50
	// MaxResponseBytes bounds every Graph API answer the client reads.
	MaxResponseBytes = 4 << 20
	// backstopTimeout is the http.Client timeout NewClient uses when given
	// none, so a call without a context deadline still ends.
	backstopTimeout = 60 * time.Second
)

// Field lists asked for on each node.
const (
	leadFields        = "id,created_time,ad_id,adset_id,campaign_id,form_id,field_data,custom_disclaimer_responses,is_organic,platform"
	pageFields        = "id,name"
	phoneNumberFields = "id,display_phone_number,verified_name,quality_rating"
	formFields        = "id,name,status"
	templateFields    = "id,name,language,status,category,components"
)

// Client calls the Graph API. Access tokens travel only in the
// "Authorization: Bearer" header, never in a URL, so they cannot leak into
// access logs or error messages. Deadlines are the caller's: pass a ctx with
// a timeout to bound each call (the *http.Client's own Timeout applies on
// top). A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the Graph API origin, e.g. "https://graph.facebook.com" or a
	// metatest.Server URL; empty means DefaultBaseURL.
	BaseURL string
	// Version is the Graph API version path segment, e.g. "v21.0"; empty
	// means DefaultVersion.
	Version string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// PageSize is the "limit" sent on listing calls; 0 means DefaultPageSize.
	PageSize int
}

// NewClient returns a Client for baseURL and version. A nil hc is replaced by
// an http.Client with a 60 s overall timeout as a backstop.
func NewClient(baseURL, version string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: backstopTimeout}
	}
	return &Client{BaseURL: baseURL, Version: version, HTTP: hc}
}

// Lead is a Lead Ads lead as returned by GET /{leadgen-id}. CreatedTime is
// ISO 8601 as Meta sends it ("2024-05-01T10:00:00+0000"); Platform is "fb"
// or "ig".
type Lead struct {
	ID          string      `json:"id"`
	CreatedTime string      `json:"created_time"`
	AdID        string      `json:"ad_id,omitempty"`
	AdsetID     string      `json:"adset_id,omitempty"`
	CampaignID  string      `json:"campaign_id,omitempty"`
	FormID      string      `json:"form_id,omitempty"`
	Platform    string      `json:"platform,omitempty"`
	IsOrganic   bool        `json:"is_organic"`
	FieldData   []FieldData `json:"field_data"`
	// CustomDisclaimerResponses are the answers to the form's custom
	// disclaimer checkboxes (a consent checkbox, say); absent when the
	// form has none.
	CustomDisclaimerResponses []DisclaimerResponse `json:"custom_disclaimer_responses,omitempty"`
}

// DisclaimerResponse is one custom disclaimer checkbox of a lead form:
// its key (set when the form was made) and whether the person ticked it.
type DisclaimerResponse struct {
	CheckboxKey string `json:"checkbox_key"`
	// IsChecked is what the Graph API returns ("1", "true"; a JSON boolean
	// is read as "true" or "false").
	IsChecked Checked `json:"is_checked"`
}

// Checked is a checkbox state the Graph API gives as a string or a
// boolean.
type Checked string

// UnmarshalJSON reads a string or a boolean.
func (c *Checked) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("is_checked: %w", err)
	}
	switch v := v.(type) {
	case string:
		*c = Checked(v)
	case bool:
		*c = Checked(strconv.FormatBool(v))
	case float64:
		*c = Checked(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return nil
}

// Yes reports whether the box was ticked: "1" or "true" (any case).
func (c Checked) Yes() bool {
	v := strings.ToLower(strings.TrimSpace(string(c)))
	return v == "1" || v == "true"
}

// FieldData is one answered question of a lead form.
type FieldData struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// Created parses CreatedTime.
func (l Lead) Created() (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
		if t, err := time.Parse(layout, l.CreatedTime); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("lead %s created_time %q: %w", l.ID, l.CreatedTime, ErrBadResponse)
}

// Page is a Facebook Page.
type Page struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// PhoneNumber is a WhatsApp Business phone number.
type PhoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
	QualityRating      string `json:"quality_rating"`
}

// Form is a Lead Ads form of a page; Status is ACTIVE, ARCHIVED, ...
type Form struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// SendResult is the answer to a message send: the new message's wamid and
// the recipient's WhatsApp id.
type SendResult struct {
	MessageID string
	WaID      string
}

// Template is a WhatsApp message template of a WhatsApp Business Account.
type Template struct {
	ID         string              `json:"id,omitempty"`
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Status     string              `json:"status"`
	Category   string              `json:"category"`
	Components []TemplateComponent `json:"components,omitempty"`
}

// TemplateComponent is one part of a template (HEADER, BODY, FOOTER,
// BUTTONS); Buttons and Example are kept raw.
type TemplateComponent struct {
	Type    string          `json:"type"`
	Format  string          `json:"format,omitempty"`
	Text    string          `json:"text,omitempty"`
	Buttons json.RawMessage `json:"buttons,omitempty"`
	Example json.RawMessage `json:"example,omitempty"`
}

// paging is Graph API cursor paging.
type paging struct {
	Cursors struct {
		Before string `json:"before"`
		After  string `json:"after"`
	} `json:"cursors"`
	Next string `json:"next"`
}

// nextCursor is the cursor of the following page, "" on the last page.
func (p paging) nextCursor() string {
	if p.Next == "" {
		return ""
	}
	return p.Cursors.After
}

// Lead fetches a lead with the token of the page it was submitted on.
func (c *Client) Lead(ctx context.Context, leadgenID, token string) (Lead, error) {
	var l Lead
	if err := c.get(ctx, []string{leadgenID}, url.Values{"fields": {leadFields}}, token, &l); err != nil {
		return Lead{}, fmt.Errorf("fetch lead %s: %w", leadgenID, err)
	}
	return l, nil
}

// Page fetches a page's id and name; use it to check a page token.
func (c *Client) Page(ctx context.Context, pageID, token string) (Page, error) {
	var p Page
	if err := c.get(ctx, []string{pageID}, url.Values{"fields": {pageFields}}, token, &p); err != nil {
		return Page{}, fmt.Errorf("fetch page %s: %w", pageID, err)
	}
	return p, nil
}

// PhoneNumber fetches a WhatsApp business phone number; use it to check a
// WhatsApp token.
func (c *Client) PhoneNumber(ctx context.Context, phoneNumberID, token string) (PhoneNumber, error) {
	var p PhoneNumber
	if err := c.get(ctx, []string{phoneNumberID}, url.Values{"fields": {phoneNumberFields}}, token, &p); err != nil {
		return PhoneNumber{}, fmt.Errorf("fetch phone number %s: %w", phoneNumberID, err)
	}
	return p, nil
}

// Me fetches the id of the node token acts as (GET /me?fields=id). A Page
// access token acts as its page, so a page token of page P answers P; a
// user or system-user token answers the user. Reading a page's public
// fields (Page) works with any valid token, so use Me to check that a
// token is the page's own.
func (c *Client) Me(ctx context.Context, token string) (string, error) {
	var me struct {
		ID string `json:"id"`
	}
	if err := c.get(ctx, []string{"me"}, url.Values{"fields": {"id"}}, token, &me); err != nil {
		return "", fmt.Errorf("fetch the token's /me: %w", err)
	}
	if me.ID == "" {
		return "", fmt.Errorf("fetch the token's /me: no id in answer: %w", ErrBadResponse)
	}
	return me.ID, nil
}

// App fetches the id of the Meta app that issued token (GET /app?fields=id):
// a Page access token made through another app answers that app's id.
func (c *Client) App(ctx context.Context, token string) (string, error) {
	var app struct {
		ID string `json:"id"`
	}
	if err := c.get(ctx, []string{"app"}, url.Values{"fields": {"id"}}, token, &app); err != nil {
		return "", fmt.Errorf("fetch the token's /app: %w", err)
	}
	if app.ID == "" {
		return "", fmt.Errorf("fetch the token's /app: no id in answer: %w", ErrBadResponse)
	}
	return app.ID, nil
}

// WABAPhoneNumbers lists every phone number of a WhatsApp Business Account
// (GET /{waba-id}/phone_numbers), following cursors for at most MaxPages
// pages; use it to check that a number belongs to the WABA.
func (c *Client) WABAPhoneNumbers(ctx context.Context, wabaID, token string) ([]PhoneNumber, error) {
	nums, err := listAll[PhoneNumber](ctx, c, []string{wabaID, "phone_numbers"}, url.Values{"fields": {phoneNumberFields}}, token)
	if err != nil {
		return nil, fmt.Errorf("list phone numbers of waba %s: %w", wabaID, err)
	}
	return nums, nil
}

// PageForms lists every lead form of a page, following cursors for at most
// MaxPages pages.
func (c *Client) PageForms(ctx context.Context, pageID, token string) ([]Form, error) {
	forms, err := listAll[Form](ctx, c, []string{pageID, "leadgen_forms"}, url.Values{"fields": {formFields}}, token)
	if err != nil {
		return nil, fmt.Errorf("list forms of page %s: %w", pageID, err)
	}
	return forms, nil
}

// FormLeads fetches one page of a form's leads, newest first. When since is
// not zero only leads created strictly after since (whole seconds) are
// returned. after is the cursor from the previous call ("" for the first
// page); next is "" on the last page.
func (c *Client) FormLeads(ctx context.Context, formID, token string, since time.Time, after string) (leads []Lead, next string, err error) {
	q := url.Values{"fields": {leadFields}, "limit": {strconv.Itoa(c.pageSize())}}
	if !since.IsZero() {
		filter, _ := json.Marshal([]map[string]any{{"field": "time_created", "operator": "GREATER_THAN", "value": since.Unix()}})
		q.Set("filtering", string(filter))
	}
	if after != "" {
		q.Set("after", after)
	}
	var page struct {
		Data   []Lead `json:"data"`
		Paging paging `json:"paging"`
	}
	if err := c.get(ctx, []string{formID, "leads"}, q, token, &page); err != nil {
		return nil, "", fmt.Errorf("list leads of form %s: %w", formID, err)
	}
	return page.Data, page.Paging.nextCursor(), nil
}

// SendMessage posts payload (marshalled to JSON unless it is []byte or
// json.RawMessage already, e.g. {"messaging_product":
// "whatsapp","to":...,"type":"text","text":{"body":...}}) to
// /{phone-number-id}/messages and returns the new message's wamid.
func (c *Client) SendMessage(ctx context.Context, phoneNumberID, token string, payload any) (SendResult, error) {
	body, err := marshalPayload(payload)
	if err != nil {
		return SendResult{}, fmt.Errorf("send message from %s: %w", phoneNumberID, err)
	}
	var resp struct {
		Contacts []struct {
			Input string `json:"input"`
			WaID  string `json:"wa_id"`
		} `json:"contacts"`
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := c.do(ctx, http.MethodPost, []string{phoneNumberID, "messages"}, nil, token, body, &resp); err != nil {
		return SendResult{}, fmt.Errorf("send message from %s: %w", phoneNumberID, err)
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		return SendResult{}, fmt.Errorf("send message from %s: no message id in answer: %w", phoneNumberID, ErrBadResponse)
	}
	r := SendResult{MessageID: resp.Messages[0].ID}
	if len(resp.Contacts) > 0 {
		r.WaID = resp.Contacts[0].WaID
	}
	return r, nil
}

// Templates lists every message template of a WhatsApp Business Account,
// following cursors for at most MaxPages pages.
func (c *Client) Templates(ctx context.Context, wabaID, token string) ([]Template, error) {
	ts, err := listAll[Template](ctx, c, []string{wabaID, "message_templates"}, url.Values{"fields": {templateFields}}, token)
	if err != nil {
		return nil, fmt.Errorf("list templates of waba %s: %w", wabaID, err)
	}
	return ts, nil
}

// marshalPayload marshals payload to JSON; []byte and json.RawMessage are
// taken as JSON already (json.Marshal would base64 a []byte).
func marshalPayload(payload any) ([]byte, error) {
	var body []byte
	switch p := payload.(type) {
	case json.RawMessage:
		body = p
	case []byte:
		body = p
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("marshal payload: %w: %w", ErrInvalidArgument, err)
		}
		body = b
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("payload is not JSON: %w", ErrInvalidArgument)
	}
	return body, nil
}

func listAll[T any](ctx context.Context, c *Client, segs []string, q url.Values, token string) ([]T, error) {
	var all []T
	q.Set("limit", strconv.Itoa(c.pageSize()))
	for range MaxPages {
		var page struct {
			Data   []T    `json:"data"`
			Paging paging `json:"paging"`
		}
		if err := c.get(ctx, segs, q, token, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		next := page.Paging.nextCursor()
		if next == "" {
			return all, nil
		}
		q.Set("after", next)
	}
	return nil, fmt.Errorf("more than %d pages: %w", MaxPages, ErrTooManyPages)
}

func (c *Client) pageSize() int {
	if c.PageSize > 0 {
		return c.PageSize
	}
	return DefaultPageSize
}

func (c *Client) get(ctx context.Context, segs []string, q url.Values, token string, out any) error {
	return c.do(ctx, http.MethodGet, segs, q, token, nil, out)
}

// do sends one request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method string, segs []string, q url.Values, token string, body []byte, out any) error {
	endpoint, err := c.endpoint(segs, q)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return fmt.Errorf("build request: %w: %w", ErrInvalidArgument, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, req.URL.Path, ErrTransport, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxResponseBytes {
		return fmt.Errorf("%s %s: %d bytes: %w", method, req.URL.Path, resp.ContentLength, ErrResponseTooLarge)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w: %w", method, req.URL.Path, ErrTransport, err)
	}
	if len(raw) > MaxResponseBytes {
		return fmt.Errorf("%s %s: over %d bytes: %w", method, req.URL.Path, MaxResponseBytes, ErrResponseTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeGraphError(resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w: %w", method, req.URL.Path, ErrBadResponse, err)
	}
	return nil
}

// endpoint builds BaseURL/Version/seg/... with q, refusing unsafe ids.
func (c *Client) endpoint(segs []string, q url.Values) (string, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	version := c.Version
	if version == "" {
		version = DefaultVersion
	}
	var b strings.Builder
	b.WriteString(base)
	for _, s := range append([]string{version}, segs...) {
		if !safeSegment(s) {
			return "", fmt.Errorf("path segment %q: %w", s, ErrInvalidArgument)
		}
		b.WriteByte('/')
		b.WriteString(s)
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String(), nil
}

// safeSegment accepts Graph ids and edge names: letters, digits, '_', '-',
// '.', at most 128 bytes, not "." or "..".
func safeSegment(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

func decodeGraphError(status int, raw []byte) error {
	var env struct {
		Error *struct {
			Message     string `json:"message"`
			Type        string `json:"type"`
			Code        int    `json:"code"`
			Subcode     int    `json:"error_subcode"`
			FBTraceID   string `json:"fbtrace_id"`
			IsTransient bool   `json:"is_transient"`
		} `json:"error"`
	}
	ge := &GraphError{HTTPStatus: status, Message: http.StatusText(status)}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil {
		ge.Code, ge.Subcode, ge.Type = env.Error.Code, env.Error.Subcode, env.Error.Type
		ge.FBTraceID, ge.Transient = env.Error.FBTraceID, env.Error.IsTransient
		if env.Error.Message != "" {
			ge.Message = env.Error.Message
		}
	}
	return ge
}

// unwrapURLError drops *url.Error's wrapper, whose text repeats the URL; the
// caller already names method and path.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
