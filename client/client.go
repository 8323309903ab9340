package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultMaxResponseBytes bounds a response body, and each record of a
	// subscription, when WithMaxResponseBytes is not given.
	DefaultMaxResponseBytes = 64 << 20
	// maxErrorBytes bounds the body of an error response.
	maxErrorBytes = 64 << 10
	// maxDrainBytes is how much of an unread body is read so that its
	// connection can be reused.
	maxDrainBytes = 64 << 10
)

// Client calls choreo's HTTP API. It is safe for concurrent use.
type Client struct {
	base        string // scheme://host[/prefix], no trailing slash
	hc          *http.Client
	ownHC       bool // hc was made here; Close closes its idle connections
	header      http.Header
	maxResponse int64
	reconnects  int // consecutive failed subscription connects before giving up; 0 = no limit
	minBackoff  time.Duration
	maxBackoff  time.Duration
}

// An Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc. Subscriptions
// are long-lived requests: hc should have no Timeout (use contexts).
// By default the client uses its own http.Client whose transport keeps up
// to 128 idle connections to the server.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc, c.ownHC = hc, false
		}
	}
}

// WithHeader adds a header to every request.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithToken sends token as a bearer token (Authorization: Bearer token)
// with every request.
func WithToken(token string) Option {
	return func(c *Client) { c.header.Set("Authorization", "Bearer "+token) }
}

// WithMaxResponseBytes bounds the size of a response body the client
// reads, and of each record of a subscription. Zero or less means
// DefaultMaxResponseBytes (64 MiB).
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n <= 0 {
			n = DefaultMaxResponseBytes
		}
		c.maxResponse = n
	}
}

// WithReconnect sets how a subscription reconnects after its connection
// drops: after at most attempts consecutive failed attempts it gives up
// with the last error (zero, the default, tries until its context ends),
// waiting between attempts from 100 ms doubling up to maxBackoff (zero
// means 5 s).
func WithReconnect(attempts int, maxBackoff time.Duration) Option {
	return func(c *Client) {
		c.reconnects = max(attempts, 0)
		if maxBackoff <= 0 {
			maxBackoff = 5 * time.Second
		}
		c.maxBackoff = maxBackoff
		c.minBackoff = min(c.minBackoff, maxBackoff)
	}
}

// New returns a client of the API at baseURL, e.g. "http://localhost:7070"
// (a path prefix is kept: "https://example.com/choreo").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base URL %q: want an http or https URL", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q has no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: want no query or fragment", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:        u.String(),
		header:      make(http.Header),
		maxResponse: DefaultMaxResponseBytes,
		minBackoff:  100 * time.Millisecond,
		maxBackoff:  5 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 128
		tr.MaxIdleConnsPerHost = 128
		c.hc, c.ownHC = &http.Client{Transport: tr}, true
	}
	return c, nil
}

// Close closes the idle connections of the client's own transport (not of
// one given with WithHTTPClient). The client still works afterwards; it
// opens new connections as needed.
func (c *Client) Close() error {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// newRequest builds a request for path (already escaped) and query.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body []byte) (*http.Request, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v[:len(v):len(v)] // shared; an append copies
	}
	return req, nil
}

// do sends req and returns the body of a 2xx response, read whole and
// bounded; a non-2xx response is an *Error.
func (c *Client) do(req *http.Request) ([]byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, apiError(resp, b)
	}
	return readBounded(resp.Body, resp.ContentLength, c.maxResponse)
}

// readBounded reads a body of at most max bytes.
func readBounded(r io.Reader, length, max int64) ([]byte, error) {
	if length > max {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrResponseTooLarge, length, max)
	}
	var buf bytes.Buffer
	if length > 0 {
		buf.Grow(int(length))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%w: over the limit of %d bytes", ErrResponseTooLarge, max)
	}
	return buf.Bytes(), nil
}

// closeBody reads what is left of a body, within reason, and closes it,
// so that the connection goes back to the pool.
func closeBody(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, maxDrainBytes)) //nolint:errcheck // best effort
	b.Close()
}

// protocolError reports a response that does not follow the API.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
