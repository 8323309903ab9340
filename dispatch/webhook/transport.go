package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/dispatch"
)

// Defaults of Config.
const (
	DefaultMaxResponseBytes = 1 << 20 // 1 MiB
	DefaultMaxEvents        = 1000
	DefaultTimeout          = 30 * time.Second
	DefaultUserAgent        = "choreo-webhook"
)

// drainBytes is how much of an unread response body is read and thrown
// away so that the connection can be reused; a longer body closes it.
const drainBytes = 64 << 10

// Config configures a Transport. The zero value works: unsigned requests
// through a client tuned for keep-alive connections to many agents.
type Config struct {
	// Secret is the HMAC-SHA256 key requests are signed with. Empty means
	// requests are not signed. New copies it.
	Secret []byte
	// Client sends the requests. Nil means a client of the transport's own,
	// which keeps up to 256 idle connections per agent host, does not
	// follow redirects, bounds dialing and TLS handshakes at 10 s, and
	// uses the proxy the environment names (HTTP_PROXY, NO_PROXY). With
	// its own client, the transport sends the requests to plain-http
	// endpoints that no proxy applies to by a fast path of its own (see
	// the package documentation).
	Client *http.Client
	// DisableFastPath sends every request through net/http's client, even
	// those the fast path would take.
	DisableFastPath bool
	// MaxResponseBytes is the largest response body read. Zero means
	// DefaultMaxResponseBytes (1 MiB).
	MaxResponseBytes int64
	// MaxEvents is the most events one response may hold. Zero means
	// DefaultMaxEvents (1000).
	MaxEvents int
	// Timeout bounds an attempt whose context has no deadline. Zero means
	// DefaultTimeout (30 s). A context deadline always applies.
	Timeout time.Duration
	// UserAgent is the User-Agent header. Empty means DefaultUserAgent.
	UserAgent string
	// Now is the clock for signature timestamps and for the message
	// timestamp when the dispatcher left it zero. Nil means time.Now.
	Now func() time.Time
}

// Validate reports a negative limit, as an error wrapping
// ErrInvalidConfig.
func (c *Config) Validate() error {
	switch {
	case c.MaxResponseBytes < 0:
		return fmt.Errorf("%w: MaxResponseBytes is negative", ErrInvalidConfig)
	case c.MaxEvents < 0:
		return fmt.Errorf("%w: MaxEvents is negative", ErrInvalidConfig)
	case c.Timeout < 0:
		return fmt.Errorf("%w: Timeout is negative", ErrInvalidConfig)
	}
	return nil
}

// Transport delivers actions to webhook agents: it implements
// dispatch.Transport. It is safe for concurrent use.
type Transport struct {
	client    *http.Client
	ownClient bool
	secret    []byte
	signers   sync.Pool // of *signer, keyed with secret
	maxBody   int64
	maxEvents int
	timeout   time.Duration
	userAgent string
	now       func() time.Time
	closed    atomic.Bool
	closeOnce sync.Once

	// The fast path. httpTransport is the own client's transport, whose
	// proxy settings decide which endpoints the fast path may take; nil
	// with Config.Client. lean is the fast path's client, nil when every
	// request goes through client. endpoints maps the agent endpoints seen
	// to their *leanEndpoint, nil for those that go through client;
	// nEndpoints counts them.
	httpTransport *http.Transport
	lean          *leanClient
	endpoints     sync.Map
	nEndpoints    atomic.Int64
}

var _ dispatch.Transport = (*Transport)(nil)

// New returns a Transport for cfg.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		client:    cfg.Client,
		secret:    bytes.Clone(cfg.Secret),
		maxBody:   cfg.MaxResponseBytes,
		maxEvents: cfg.MaxEvents,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
	}
	if t.client == nil {
		t.client, t.ownClient = newClient(), true
		t.httpTransport = t.client.Transport.(*http.Transport)
	}
	if t.maxBody == 0 {
		t.maxBody = DefaultMaxResponseBytes
	}
	if t.maxEvents == 0 {
		t.maxEvents = DefaultMaxEvents
	}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	if t.userAgent == "" {
		t.userAgent = DefaultUserAgent
	}
	if t.now == nil {
		t.now = time.Now
	}
	// A User-Agent net/http would refuse to send leaves every request to
	// net/http, which reports it.
	if t.ownClient && !cfg.DisableFastPath && validHeaderValue(t.userAgent) {
		t.lean = newLeanClient()
	}
	if len(t.secret) > 0 {
		t.signers.New = func() any { return newSigner(t.secret) }
	}
	return t, nil
}

// newClient returns a client for many keep-alive connections to many
// agents, which returns redirects instead of following them.
func newClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4096,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Close closes the idle connections of the transport's own client and of
// its fast path; a client given in Config is left alone. Deliver returns
// ErrClosed after Close. Close is idempotent and does not wait for
// deliveries in flight; their connections are closed when they end.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		if t.ownClient {
			t.client.CloseIdleConnections()
		}
		if t.lean != nil {
			t.lean.closeIdle()
		}
	})
	return nil
}

// Deliver posts d.Message as JSON to d.Agent.Endpoint and returns the
// events of a 2xx response; see the package documentation for the
// headers, the response forms and which errors are retryable. The message
// is sent with MessageID set to the action id, Payload.TriggerEvent to
// d.Trigger when the dispatcher left it empty, Attempt to d.Attempt, and
// Timestamp to the clock's time when they are zero.
func (t *Transport) Deliver(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
	if t.closed.Load() {
		return dispatch.Result{}, ErrClosed
	}
	if d == nil {
		return dispatch.Result{}, dispatch.Permanent(fmt.Errorf("%w: nil delivery", ErrInvalidDelivery))
	}
	m := d.Message
	if d.Action != nil && d.Action.ID != "" {
		m.MessageID = d.Action.ID
	}
	if m.MessageID == "" {
		return dispatch.Result{}, dispatch.Permanent(fmt.Errorf("%w: no action id", ErrInvalidDelivery))
	}
	if m.CorrelationID == "" && d.Action != nil {
		m.CorrelationID = d.Action.CorrelationID
	}
	if m.Action == "" && d.Action != nil {
		m.Action = d.Action.Action
	}
	if m.Attempt == 0 {
		m.Attempt = d.Attempt
	}
	now := t.now()
	if m.Timestamp.IsZero() {
		m.Timestamp = now.UTC()
	}
	if len(m.Payload.TriggerEvent) == 0 && d.Trigger != nil {
		m.Payload.TriggerEvent = d.Trigger.AppendJSON(nil)
	}
	if ep := t.endpoint(d.Agent.Endpoint); ep != nil {
		return t.deliverLean(ctx, ep, &m, now)
	}
	body, err := appendMessage(make([]byte, 0, 512+len(m.Payload.TriggerEvent)), &m)
	if err != nil {
		return dispatch.Result{}, dispatch.Permanent(fmt.Errorf("%w: encoding message: %v", ErrInvalidDelivery, err))
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Agent.Endpoint, bytes.NewReader(body))
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return dispatch.Result{}, fmt.Errorf("%w: agent %q", ErrBadEndpoint, d.Agent.ID)
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{t.userAgent}
	h[HeaderIdempotencyKey] = []string{headerValue(m.MessageID)}
	h[HeaderAction] = []string{headerValue(m.Action)}
	h[HeaderAttempt] = []string{strconv.Itoa(m.Attempt)}
	h[HeaderCorrelation] = []string{headerValue(m.CorrelationID)}
	if len(t.secret) > 0 {
		ts := now.Unix()
		var buf [signatureLen]byte
		h[HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
		h[HeaderSignature] = []string{string(t.sign(buf[:0], ts, body))}
	}

	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the endpoint, which may hold a token
		}
		return dispatch.Result{}, fmt.Errorf("webhook: posting to %s: %w", req.URL.Host, err)
	}
	defer drainClose(resp.Body)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
		return dispatch.Result{}, statusError(resp.StatusCode, excerpt)
	}
	b, err := t.readBody(resp)
	if errors.Is(err, ErrResponseTooLarge) {
		return dispatch.Result{Refused: err}, nil
	}
	if err != nil {
		return dispatch.Result{}, err
	}
	return t.result(b), nil
}

// deliverLean is Deliver's sending of m to ep by the fast path.
func (t *Transport) deliverLean(ctx context.Context, ep *leanEndpoint, m *dispatch.Message, now time.Time) (dispatch.Result, error) {
	buf := leanBufs.Get().(*leanBuf)
	defer putLeanBuf(buf)
	body, err := appendMessage(buf.body[:0], m)
	buf.body = body
	if err != nil {
		return dispatch.Result{}, dispatch.Permanent(fmt.Errorf("%w: encoding message: %v", ErrInvalidDelivery, err))
	}
	var ts int64
	var sig []byte
	var sigBuf [signatureLen]byte
	if len(t.secret) > 0 {
		ts = now.Unix()
		sig = t.sign(sigBuf[:0], ts, body)
	}
	buf.req = ep.appendRequest(buf.req[:0], body, m.MessageID, m.Action, m.Attempt, m.CorrelationID, ts, sig)

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(t.timeout) // the real clock, not t.now
	}
	status, b, err := t.lean.roundTrip(ctx, ep, buf.req, deadline, t.maxBody)
	switch {
	case errors.Is(err, ErrResponseTooLarge): // of a 2xx response
		return dispatch.Result{Refused: err}, nil
	case err != nil:
		return dispatch.Result{}, fmt.Errorf("webhook: posting to %s: %w", ep.host, err)
	case status < 200 || status > 299:
		return dispatch.Result{}, statusError(status, b)
	}
	return t.result(b), nil
}

// signatureLen is the length of an X-Choreo-Signature value.
const signatureLen = len(signaturePrefix) + 2*sha256.Size

// sign appends to dst the signature of body sent at timestamp ts.
func (t *Transport) sign(dst []byte, ts int64, body []byte) []byte {
	s := t.signers.Get().(*signer)
	dst = s.appendSignature(dst, ts, body)
	t.signers.Put(s)
	return dst
}

// statusError returns the error for a response with a status other than
// 2xx whose body starts with excerpt: a *StatusError, marked
// dispatch.Permanent unless it is retryable.
func statusError(status int, excerpt []byte) error {
	serr := &StatusError{StatusCode: status, Body: string(bytes.ToValidUTF8(excerpt, []byte("\uFFFD")))}
	if !serr.Retryable() {
		return dispatch.Permanent(serr)
	}
	return serr
}

// result returns the result of a delivery whose 2xx response had body b:
// the agent took the action, whatever the body holds. Events that cannot
// be taken make the result's Refused; a body that is no attempt at events
// (see meantAsEvents) is a mere acknowledgement.
func (t *Transport) result(b []byte) dispatch.Result {
	evs, err := decodeEvents(b, t.maxEvents)
	if err != nil {
		if !meantAsEvents(b) {
			return dispatch.Result{}
		}
		return dispatch.Result{Refused: err}
	}
	return dispatch.Result{Events: evs}
}

// headerValue returns s, or s percent-encoded when it holds a byte HTTP
// does not allow in a header value (a control character other than tab).
func headerValue(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return url.QueryEscape(s)
		}
	}
	return s
}

// readBody reads a response body of at most t.maxBody bytes.
func (t *Transport) readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > t.maxBody {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrResponseTooLarge, resp.ContentLength, t.maxBody)
	}
	var b []byte
	var err error
	if resp.ContentLength >= 0 {
		b = make([]byte, resp.ContentLength)
		_, err = io.ReadFull(resp.Body, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(resp.Body, t.maxBody+1))
		if err == nil && int64(len(b)) > t.maxBody {
			return nil, fmt.Errorf("%w: over the limit of %d bytes", ErrResponseTooLarge, t.maxBody)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: reading response: %w", err)
	}
	return b, nil
}

// drainClose reads what is left of a body, up to drainBytes, and closes
// it, so that the connection goes back to the pool.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainBytes)
	_ = body.Close()
}
