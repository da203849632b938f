// Package client is a typed client of outpostd's JSON API (/api/v1), for
// the outpost CLI and TUI. It talks either to the box's unix socket, where
// root is the admin "root@console" without a token, or to a URL with a
// bearer token.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Options says how to reach outpostd. Exactly one of Socket and URL is
// used; URL wins when both are set.
type Options struct {
	// Socket is the path of outpostd's unix socket.
	Socket string
	// URL is the base URL of outpostd (https://box:8443, or http:// in dev).
	URL string
	// Token is sent as a bearer token.
	Token string
	// CAFile is a PEM bundle to trust for URL's certificate (outpostd
	// makes a self-signed one on first start).
	CAFile string
	// Insecure skips certificate verification.
	Insecure bool
	// Timeout bounds each request except uploads; 0 is 60 s.
	Timeout time.Duration
}

// Client calls the API. It is safe for concurrent use.
type Client struct {
	base    string
	target  string
	socket  bool
	hc      *http.Client
	timeout time.Duration

	mu    sync.Mutex
	token string
}

// New returns a client for o. It does not connect.
func New(o Options) (*Client, error) {
	c := &Client{token: o.Token, timeout: o.Timeout}
	if c.timeout <= 0 {
		c.timeout = 60 * time.Second
	}
	tr := &http.Transport{
		Proxy:               nil, // outpostd is local: never go through a proxy
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	switch {
	case o.URL != "":
		u, err := url.Parse(strings.TrimRight(o.URL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("bad URL %q: want https://host[:port] (or http:// for a dev box)", o.URL)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.Insecure}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		c.base, c.target = u.String(), u.String()
	case o.Socket != "":
		path := o.Socket
		d := &net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		// The host is a placeholder: the dialer ignores it.
		c.base, c.target, c.socket = "http://outpostd", "unix:"+path, true
	default:
		return nil, errors.New("no socket and no URL to reach outpostd")
	}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// Target names where the client connects, for messages.
func (c *Client) Target() string { return c.target }

// IsSocket reports whether the client uses the unix socket.
func (c *Client) IsSocket() bool { return c.socket }

// SetToken changes the bearer token (after a login).
func (c *Client) SetToken(tok string) {
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
}

// Token returns the bearer token.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// APIError is an error the API answered with.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the API's error code: invalid, not_found, conflict,
	// unauthorized, forbidden, too_large or internal.
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("outpostd answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// UnreachableError says outpostd could not be reached at all.
type UnreachableError struct {
	Target string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach outpostd at %s: %v", e.Target, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status of an API error, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any       // JSON-encoded when not nil
	raw    io.Reader // sent as is when not nil (uploads)
	size   int64     // length of raw, -1 if unknown
	// long lifts the per-request timeout (uploads).
	long bool
}

// do performs r and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	if !r.long {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return err
	}
	switch {
	case r.raw != nil:
		req.Header.Set("Content-Type", "application/octet-stream")
		if r.size >= 0 {
			req.ContentLength = r.size
		}
	case r.body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return ctx.Err()
		}
		return &UnreachableError{Target: c.target, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &UnreachableError{Target: c.target, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("outpostd answered %s %s with bad JSON: %w", r.method, r.path, err)
	}
	return nil
}

// unwrapURL drops url.Error's "Get "http://outpostd/...":" prefix, which
// names a placeholder host in socket mode.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError turns an error answer into an *APIError. Answers that are
// not the API's JSON (a mux 404, a proxy) keep their text.
func decodeError(status int, b []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		return &APIError{Status: status, Code: e.Error.Code, Message: e.Error.Message}
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &APIError{Status: status, Code: codeFor(status), Message: msg}
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	}
	return "internal"
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, request{method: http.MethodGet, path: path, query: q}, out)
}

func (c *Client) send(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, request{method: method, path: path, body: body}, out)
}
