package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/choreohq/choreo/internal/httpwire"
)

// The publish requests do not go through net/http: its client (two
// goroutines per connection, channel hand-offs and header maps per
// request) costs about as much CPU as the server it drives, and a load
// generator must measure the server, not itself. Each worker has a conn
// instead, a lean HTTP/1.1 client on one keep-alive connection.

// Timeouts of connecting, within the request's own.
const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	tcpKeepAlive        = 30 * time.Second
)

// defaultIdleCheck is how long a connection may have been idle before it
// is checked for a close by the server before being reused.
const defaultIdleCheck = time.Millisecond

// aLongTimeAgo is a deadline that has passed: setting it interrupts the
// reads and writes blocked on a connection.
var aLongTimeAgo = time.Unix(1, 0)

// A target is where a run's publish requests go: the address to dial, the
// TLS settings, and the head every request starts with. It is read-only
// once made, and shared by the run's conns.
type target struct {
	addr     string        // host:port to dial
	tls      *tls.Config   // nil for http
	timeout  time.Duration // bound on each request, connecting included
	head     []byte        // request line and headers, up to "Content-Length: "
	headroom int           // room left in front of a body for head, a length and CRLFCRLF
	// idleCheck is how long a connection may sit idle before it is
	// checked for a close by the server before being reused.
	idleCheck time.Duration
}

// newTarget returns the target of POST requests to path under cfg.URL,
// with Content-Type ctype and cfg.Header. The request line, Host header
// and basic authentication from the URL's user information are those
// net/http would send.
func newTarget(cfg Config, path, ctype string) (*target, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/") + path)
	if err != nil {
		return nil, err
	}
	t := &target{timeout: cfg.Timeout, idleCheck: defaultIdleCheck}
	host, port := u.Hostname(), u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		// The verification net/http does by default: the system's roots,
		// the certificate checked against the URL's host.
		t.tls = &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}}
	default:
		return nil, fmt.Errorf("not an http or https URL: %q", cfg.URL)
	}
	t.addr = net.JoinHostPort(host, port)

	h := make(map[string]string, len(cfg.Header)+2)
	h["User-Agent"] = "choreo-bench"
	if u.User != nil {
		pw, _ := u.User.Password()
		h["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
	}
	for k, v := range cfg.Header {
		k = textproto.CanonicalMIMEHeaderKey(k)
		switch k {
		case "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Trailer":
			// Set by the client, as with net/http.
			continue
		}
		h[k] = strings.Trim(v, " \t")
	}
	h["Content-Type"] = ctype
	b := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), hostHeader(u.Host))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b = fmt.Appendf(b, "%s: %s\r\n", k, h[k])
	}
	t.head = append(b, "Content-Length: "...)
	t.headroom = len(t.head) + 20 + len("\r\n\r\n")
	return t, nil
}

// reserve returns b emptied, with room in front for the head of a
// request: append the body to it, then call frame.
func (t *target) reserve(b []byte) []byte {
	if cap(b) < t.headroom {
		b = make([]byte, t.headroom, t.headroom+4096)
	}
	return b[:t.headroom]
}

// frame writes the head of the request whose body follows the room
// reserve left in b, just in front of the body, and returns the whole
// request: a sub-slice of b.
func (t *target) frame(b []byte) []byte {
	var n [20]byte
	length := strconv.AppendInt(n[:0], int64(len(b)-t.headroom), 10)
	start := t.headroom - len(t.head) - len(length) - len("\r\n\r\n")
	i := start + copy(b[start:], t.head)
	i += copy(b[i:], length)
	copy(b[i:], "\r\n\r\n")
	return b[start:]
}

// conn is a lean HTTP/1.1 client on one keep-alive connection to a
// target, dialed when first needed and again once it has closed or
// broken. A conn is used by one goroutine at a time, except for
// interrupt, which any goroutine may call.
type conn struct {
	t   *target
	nc  net.Conn // nil when not connected
	raw net.Conn // the TCP connection under nc
	// check tells whether raw, idle, can carry another request.
	check httpwire.IdleCheck
	br    *bufio.Reader
	idle  time.Time // when nc last finished a request
	resp  response
	body  []byte // the kept body of the last response of another status than asked for

	// stopped is set by interrupt: every request fails from then on.
	stopped atomic.Bool
	mu      struct {
		sync.Mutex
		nc net.Conn // the connection interrupt is to stop
	}
}

// newConn returns a conn to t, not connected yet.
func newConn(t *target) *conn {
	return &conn{t: t}
}

// watch makes ctx's end interrupt c, and returns the function that stops
// watching, which waits for an interruption under way.
func (c *conn) watch(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		defer close(done)
		c.interrupt()
	})
	return func() {
		if !stopWatch() {
			<-done
		}
	}
}

// interrupt makes the request under way, if any, fail at once, and every
// later one fail without being sent. It is safe to call from any
// goroutine.
func (c *conn) interrupt() {
	c.stopped.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.nc != nil {
		c.mu.nc.SetDeadline(aLongTimeAgo)
	}
}

// close closes the connection, if open.
func (c *conn) close() { c.drop() }

// roundTrip sends req, a whole HTTP/1.1 request made by the target's
// frame, with one write, and reads the response. It returns the status;
// the body of a response with status ok is read and discarded (at most
// maxBody bytes), and the first maxErrorBody bytes of any other are
// returned, valid until the next call.
//
// An error means no response was had; the connection is then dropped,
// and the next call dials again. A request is not sent twice, with one
// exception: when the connection was reused and the write failed with
// nothing written, so that the server cannot have seen the request, it is
// sent again on a new connection. A connection that has been idle is first
// checked for a close by the server (EOF, reset, or bytes out of turn),
// so that the usual case, a server dropping idle keep-alive connections,
// costs no failed request. Requests cut short by interrupt return ctx's
// error when ctx has ended.
func (c *conn) roundTrip(ctx context.Context, req []byte, ok int) (status int, body []byte, err error) {
	status, body, err = c.try(ctx, req, ok)
	if err != nil {
		c.drop()
		if c.stopped.Load() && ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, err
	}
	return status, body, nil
}

// try is roundTrip but for dropping the connection after an error.
func (c *conn) try(ctx context.Context, req []byte, ok int) (int, []byte, error) {
	now := time.Now()
	deadline := now.Add(c.t.timeout)
	reused := c.nc != nil
	if reused && c.br.Buffered() > 0 {
		// Bytes the server sent out of turn: reading them as this
		// request's response would shift every response after it.
		c.drop()
		reused = false
	}
	if reused && now.Sub(c.idle) >= c.t.idleCheck {
		// The last request's deadline may have passed: set this one's
		// first, or the check would fail for it.
		if c.nc.SetDeadline(deadline) != nil || !c.usable() {
			c.drop()
			reused = false
		}
	}
	if c.nc == nil {
		if err := c.dial(ctx, deadline); err != nil {
			return 0, nil, err
		}
	}
	n, err := c.write(req, deadline)
	if err != nil && n == 0 && reused && !isTimeout(err) && !c.stopped.Load() {
		// Nothing of req went out on a connection the server has closed:
		// it cannot have seen the request, send it on a new connection.
		c.drop()
		if err := c.dial(ctx, deadline); err != nil {
			return 0, nil, err
		}
		n, err = c.write(req, deadline)
	}
	if err != nil {
		err = fmt.Errorf("writing the request: %w", err)
		if n == 0 || isTimeout(err) || c.stopped.Load() {
			return 0, nil, err
		}
		// The server may have answered before it stopped reading (with
		// a 413, say): take its answer if there is one, then drop the
		// connection.
		status, body, rerr := c.read(ok)
		if rerr != nil {
			return 0, nil, err
		}
		c.drop()
		return status, body, nil
	}
	return c.read(ok)
}

// write sets the request's deadline and writes req.
func (c *conn) write(req []byte, deadline time.Time) (int, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	// After the deadline is set, so that an interrupt cannot be undone
	// by it.
	if c.stopped.Load() {
		return 0, errInterrupted
	}
	return c.nc.Write(req)
}

// read reads a response for roundTrip.
func (c *conn) read(ok int) (int, []byte, error) {
	if err := readHead(c.br, &c.resp); err != nil {
		return 0, nil, fmt.Errorf("reading the response: %w", err)
	}
	var body []byte
	if c.resp.Status == ok {
		if _, err := readBody(c.br, &c.resp, nil, maxBody, false); err != nil {
			return 0, nil, fmt.Errorf("reading the response body: %w", err)
		}
	} else {
		// As with net/http and a body read in part: what was read
		// counts, and the connection is not reused.
		var err error
		c.body, err = readBody(c.br, &c.resp, c.body[:0], maxErrorBody, true)
		if err != nil {
			c.resp.Close = true
		}
		body = c.body
	}
	if c.resp.Close {
		c.drop()
	} else {
		c.idle = time.Now()
	}
	return c.resp.Status, body, nil
}

// dial connects to the target, by the request's deadline.
func (c *conn) dial(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}
	raw, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	nc := raw
	if c.t.tls != nil {
		tc := tls.Client(raw, c.t.tls)
		hctx, hcancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			raw.Close()
			return err
		}
		nc = tc
	}
	c.mu.Lock()
	if c.stopped.Load() {
		c.mu.Unlock()
		raw.Close()
		return errInterrupted
	}
	c.mu.nc = nc
	c.mu.Unlock()
	c.nc, c.raw = nc, raw
	c.check.Reset(raw)
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, readBufSize)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

// drop closes the connection, if open, without waiting for anything: for
// TLS, without a close_notify alert, which HTTP/1.1 framing does not need.
func (c *conn) drop() {
	if c.nc == nil {
		return
	}
	c.mu.Lock()
	c.mu.nc = nil
	c.mu.Unlock()
	c.raw.Close()
	c.nc, c.raw = nil, nil
	c.check.Reset(nil)
	c.br.Reset(nil)
}

// usable reports whether the idle connection can carry a request: the
// server has neither closed it nor sent anything out of turn.
func (c *conn) usable() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	return c.check.Usable()
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
